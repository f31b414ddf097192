# Cognito: who may call the API. API Gateway's Cognito authorizer verifies the access token and the
# operation's scope; the functions (FLUXO_AUTH=apigateway) then trust only the claims in the
# authorizer context: `sub`, `scope` and `accounts`.
#
# An access token carries no custom attribute and only prefixed resource-server scopes, so a small
# pre token generation trigger (cognito/pre_token_generation.py) adds the user's `custom:accounts` as
# the `accounts` claim and the bare `ledger:read` / `ledger:write` scopes the functions check. That
# needs the Essentials feature plan; threat protection (compromised credentials, adaptive
# authentication) needs Plus, which the pool takes whenever it is on.

resource "aws_cognito_user_pool" "ledger" {
  name                = local.name
  user_pool_tier      = var.cognito_threat_protection == "OFF" ? "ESSENTIALS" : "PLUS"
  deletion_protection = var.cognito_deletion_protection ? "ACTIVE" : "INACTIVE"

  username_attributes      = ["email"]
  auto_verified_attributes = ["email"]

  # Merchants are onboarded by an operator, who also grants their accounts; nobody signs up alone.
  admin_create_user_config {
    allow_admin_create_user_only = true
  }

  password_policy {
    minimum_length                   = 14
    require_lowercase                = true
    require_uppercase                = true
    require_numbers                  = true
    require_symbols                  = true
    temporary_password_validity_days = 3
  }

  mfa_configuration = var.cognito_mfa_required ? "ON" : "OPTIONAL"
  software_token_mfa_configuration {
    enabled = true
  }

  user_pool_add_ons {
    advanced_security_mode = var.cognito_threat_protection
  }

  # A new email address takes effect only once its owner confirms the code sent to it: until then
  # the user signs in, and recovers the account, with the verified one.
  user_attribute_update_settings {
    attributes_require_verification_before_update = ["email"]
  }

  account_recovery_setting {
    recovery_mechanism {
      name     = "verified_email"
      priority = 1
    }
  }

  # The account ids a user may use, comma or space separated (`custom:accounts`). Only an
  # administrator writes it: the app client's write_attributes leave it out.
  schema {
    name                     = "accounts"
    attribute_data_type      = "String"
    mutable                  = true
    developer_only_attribute = false
    required                 = false

    string_attribute_constraints {
      min_length = 0
      max_length = 2048
    }
  }

  lambda_config {
    pre_token_generation_config {
      lambda_arn     = aws_lambda_function.claims.arn
      lambda_version = "V2_0"
    }
  }
}

resource "aws_cognito_resource_server" "ledger" {
  user_pool_id = aws_cognito_user_pool.ledger.id
  identifier   = var.resource_server_identifier
  name         = "${local.name} ledger"

  scope {
    scope_name        = "ledger:read"
    scope_description = "Read accounts, entries and balances"
  }

  scope {
    scope_name        = "ledger:write"
    scope_description = "Create accounts, record and reverse entries"
  }
}

# Membership grants the scope (the trigger reads the groups).
resource "aws_cognito_user_group" "ledger_read" {
  user_pool_id = aws_cognito_user_pool.ledger.id
  name         = "ledger-read"
  description  = "May read accounts, entries and balances (ledger:read)"
}

resource "aws_cognito_user_group" "ledger_write" {
  user_pool_id = aws_cognito_user_pool.ledger.id
  name         = "ledger-write"
  description  = "May create accounts, record and reverse entries (ledger:write)"
}

resource "aws_cognito_user_pool_domain" "ledger" {
  user_pool_id = aws_cognito_user_pool.ledger.id
  domain       = var.cognito_domain_prefix != "" ? var.cognito_domain_prefix : "${local.name}-${local.account_id}"
}

# A public client for the authorization code flow with PKCE (apps, the hosted sign-in page); with
# allow_admin_password_auth, operators holding IAM credentials can also mint tokens for smoke tests.
resource "aws_cognito_user_pool_client" "app" {
  name         = "${local.name}-app"
  user_pool_id = aws_cognito_user_pool.ledger.id

  generate_secret                      = false
  allowed_oauth_flows_user_pool_client = true
  allowed_oauth_flows                  = ["code"]
  allowed_oauth_scopes                 = concat(["openid", "email"], aws_cognito_resource_server.ledger.scope_identifiers)
  supported_identity_providers         = ["COGNITO"]
  callback_urls                        = var.callback_urls
  logout_urls                          = var.logout_urls

  lifecycle {
    precondition {
      condition     = var.environment != "prod" || alltrue([for url in concat(var.callback_urls, var.logout_urls) : startswith(url, "https://") && !can(regex("^https://(localhost|127\\.|\\[::1\\])", url))])
      error_message = "prod takes only https callback and logout URLs, none on localhost: set callback_urls and logout_urls in env/prod.tfvars."
    }
  }

  explicit_auth_flows = concat(
    ["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    var.allow_admin_password_auth ? ["ALLOW_ADMIN_USER_PASSWORD_AUTH"] : [],
  )

  access_token_validity  = var.access_token_validity_minutes
  id_token_validity      = var.access_token_validity_minutes
  refresh_token_validity = 30
  token_validity_units {
    access_token  = "minutes"
    id_token      = "minutes"
    refresh_token = "days"
  }

  enable_token_revocation       = true
  prevent_user_existence_errors = "ENABLED"

  read_attributes = ["email", "email_verified", "custom:accounts"]
  # custom:accounts is not here: a user must never grant themselves an account.
  write_attributes = ["email"]
}

# --- the pre token generation trigger -------------------------------------------------------------

data "archive_file" "claims" {
  type        = "zip"
  source_file = "${path.module}/cognito/pre_token_generation.py"
  output_path = "${path.module}/.build/pre_token_generation.zip"
}

resource "aws_cloudwatch_log_group" "claims" {
  name              = "/aws/lambda/${local.name}-claims"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.ledger.arn
}

resource "aws_lambda_function" "claims" {
  #checkov:skip=CKV_AWS_117:Reaches no network resource at all; it only reshapes the event Cognito sends.
  #checkov:skip=CKV_AWS_116:Invoked synchronously by Cognito; there is no asynchronous event to dead-letter.
  #checkov:skip=CKV_AWS_272:A 40-line trigger zipped from this repository by Terraform; code signing is the same follow-up as for the Rust functions.
  function_name = "${local.name}-claims"
  description   = "Cognito pre token generation: accounts claim and ledger scopes in access tokens"
  role          = aws_iam_role.claims.arn

  architectures    = ["arm64"]
  runtime          = "python3.13"
  handler          = "pre_token_generation.handler"
  filename         = data.archive_file.claims.output_path
  source_code_hash = data.archive_file.claims.output_base64sha256

  memory_size                    = 128
  timeout                        = 5
  reserved_concurrent_executions = var.claims_reserved_concurrency
  kms_key_arn                    = aws_kms_key.ledger.arn

  environment {
    variables = {
      RESOURCE_SERVER = var.resource_server_identifier
    }
  }

  logging_config {
    log_format = "JSON"
    log_group  = aws_cloudwatch_log_group.claims.name
  }

  tracing_config {
    mode = "Active"
  }

  depends_on = [aws_iam_role_policy.claims]
}

resource "aws_lambda_permission" "claims" {
  statement_id  = "AllowCognitoPreTokenGeneration"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.claims.function_name
  principal     = "cognito-idp.amazonaws.com"
  source_arn    = aws_cognito_user_pool.ledger.arn
}

resource "aws_iam_role" "claims" {
  name               = "${local.name}-claims"
  description        = "Runs ${local.name}-claims"
  assume_role_policy = data.aws_iam_policy_document.lambda_assume.json
}

data "aws_iam_policy_document" "claims" {
  statement {
    sid       = "OwnLogGroup"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.claims.arn}:*"]
  }

  statement {
    sid       = "Tracing"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"]
  }

  statement {
    sid       = "EnvironmentKey"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.ledger.arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["lambda.${local.region}.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "claims" {
  name   = "runtime"
  role   = aws_iam_role.claims.id
  policy = data.aws_iam_policy_document.claims.json
}
