# The REST API (a REST API, because WAF cannot attach to an HTTP API), derived from the contract in
# docs/openapi.yaml: a route exists here if and only if it is in the document. The document is
# OpenAPI 3.1 and API Gateway imports 3.0, so the body is not the document passed through: it is a
# 3.0.1 document built from it with only what API Gateway acts on. Per operation: its id, its
# parameters (resolved from `components.parameters`, with their name, place, whether required and
# type, for the request validator), its response codes, the Cognito authorizer with the operation's
# scope, and its Lambda proxy integration (ingest or report, through the `live` alias). Bodies and
# their schemas stay in the document: the functions validate bodies and answer 422 naming the fields,
# which API Gateway's validator cannot. On top come problem+json bodies for the gateway's own refusals.

locals {
  openapi = yamldecode(file("${path.module}/../docs/openapi.yaml"))

  # Which function serves each operation (shared/src/http/route.rs: Op::is_ingest). Every
  # operationId of the document must be in exactly one list; a precondition below checks it.
  ingest_operations = ["putAccount", "recordEntry", "recordBatch", "reverseEntry"]
  report_operations = ["health", "getAccount", "listEntries", "getEntry", "getDailyBalance", "getBalanceRange"]

  # The document's routes the functions serve: those marked `x-fluxo-runner: true` (such as
  # /ready) are the local runner's own, in the contract but not in the API.
  function_paths = {
    for path, item in local.openapi.paths : path => {
      for method, op in item : method => op if !try(op["x-fluxo-runner"], false)
    } if anytrue([for method, op in item : !try(op["x-fluxo-runner"], false)])
  }

  operations = flatten([
    for path, item in local.function_paths : [
      for method, op in item : {
        path   = path
        method = method
        id     = op.operationId
        # Public only where the document says so explicitly (`security: []`), scoped otherwise.
        scoped = can(op["x-fluxo-scope"])
        public = try(length(op.security), -1) == 0
      }
    ]
  ])

  # `$ref: "#/components/<kind>/<name>"` resolved one level, as the document writes them.
  api_parameters = {
    for path, item in local.function_paths : path => {
      for method, op in item : method => [
        for p in try(op.parameters, []) :
        try(local.openapi.components.parameters[trimprefix(p["$ref"], "#/components/parameters/")], p)
      ]
    }
  }

  api_paths = {
    for path, item in local.function_paths : path => {
      for method, op in item : method => {
        operationId = op.operationId
        summary     = try(op.summary, op.operationId)
        parameters = [
          for p in local.api_parameters[path][method] : {
            name     = p.name
            in       = p.in
            required = try(p.required, false)
            schema   = { type = try(p.schema.type, local.openapi.components.schemas[trimprefix(p.schema["$ref"], "#/components/schemas/")].type) }
          }
        ]
        responses = {
          for status, response in op.responses : status => {
            description = try(local.openapi.components.responses[trimprefix(response["$ref"], "#/components/responses/")].description, response.description)
          }
        }
        security = [
          for scope in try([op["x-fluxo-scope"]], []) : { cognito = ["${var.resource_server_identifier}/${scope}"] }
        ]
        "x-amazon-apigateway-integration" = {
          type                = "aws_proxy"
          httpMethod          = "POST"
          uri                 = aws_lambda_alias.live[contains(local.ingest_operations, op.operationId) ? "ingest" : "report"].invoke_arn
          passthroughBehavior = "when_no_match"
          timeoutInMillis     = 29000
        }
      }
    }
  }

  # The gateway's own refusals, as problem+json like the functions' (shared/src/http/problem.rs).
  gateway_problems = {
    UNAUTHORIZED                 = { status = 401, slug = "unauthenticated", title = "Unauthenticated" }
    ACCESS_DENIED                = { status = 403, slug = "forbidden", title = "Forbidden" }
    WAF_FILTERED                 = { status = 403, slug = "forbidden", title = "Forbidden" }
    MISSING_AUTHENTICATION_TOKEN = { status = 404, slug = "not-found", title = "Not found" } # API Gateway's answer to an unknown route or method
    BAD_REQUEST_PARAMETERS       = { status = 400, slug = "bad-request", title = "Bad request" }
    BAD_REQUEST_BODY             = { status = 400, slug = "bad-request", title = "Bad request" }
    REQUEST_TOO_LARGE            = { status = 413, slug = "too-large", title = "Request body too large" }
    UNSUPPORTED_MEDIA_TYPE       = { status = 415, slug = "unsupported-media-type", title = "Unsupported media type" }
    THROTTLED                    = { status = 429, slug = "throttled", title = "Too many requests" }
    QUOTA_EXCEEDED               = { status = 429, slug = "throttled", title = "Too many requests" }
    INTEGRATION_FAILURE          = { status = 502, slug = "unavailable", title = "Service unavailable" }
    INTEGRATION_TIMEOUT          = { status = 504, slug = "unavailable", title = "Service unavailable" }
  }

  gateway_responses = merge(
    {
      for type, p in local.gateway_problems : type => {
        statusCode = p.status
        responseParameters = merge(
          { "gatewayresponse.header.Content-Type" = "'application/problem+json'" },
          p.status == 401 ? { "gatewayresponse.header.WWW-Authenticate" = "'Bearer'" } : {},
        )
        responseTemplates = {
          "application/json" = "{\"type\":\"urn:fluxo:problem:${p.slug}\",\"title\":\"${p.title}\",\"status\":${p.status},\"detail\":$context.error.messageString}"
        }
      }
    },
    {
      for type in ["DEFAULT_4XX", "DEFAULT_5XX"] : type => {
        responseParameters = { "gatewayresponse.header.Content-Type" = "'application/problem+json'" }
        responseTemplates = {
          "application/json" = "{\"type\":\"urn:fluxo:problem:gateway\",\"title\":\"$context.error.responseType\",\"detail\":$context.error.messageString}"
        }
      }
    },
  )

  api_body = {
    # What API Gateway imports, whatever version the document is written in.
    openapi = "3.0.1"
    info    = { title = local.name, version = local.openapi.info.version }
    paths   = local.api_paths
    components = {
      # API Gateway understands only apiKey-typed schemes with its extensions: the Cognito user pool
      # authorizer takes the place of the document's `bearerAuth`.
      securitySchemes = {
        cognito = {
          type                           = "apiKey"
          name                           = "Authorization"
          in                             = "header"
          "x-amazon-apigateway-authtype" = "cognito_user_pools"
          "x-amazon-apigateway-authorizer" = {
            type         = "cognito_user_pools"
            providerARNs = [aws_cognito_user_pool.ledger.arn]
          }
        }
      }
    }
    # Required path, query and header parameters (such as Idempotency-Key) are checked at the edge,
    # with the same 400 the functions give. Bodies are validated by the functions alone.
    "x-amazon-apigateway-request-validators" = {
      params = { validateRequestParameters = true, validateRequestBody = false }
    }
    "x-amazon-apigateway-request-validator" = "params"
    "x-amazon-apigateway-gateway-responses" = local.gateway_responses
  }
}

resource "aws_api_gateway_rest_api" "ledger" {
  name              = local.name
  description       = "Fluxo ledger API, from docs/openapi.yaml"
  body              = jsonencode(local.api_body)
  put_rest_api_mode = "overwrite"

  endpoint_configuration {
    types = ["REGIONAL"]
  }

  lifecycle {
    create_before_destroy = true

    precondition {
      condition = alltrue([
        for op in local.operations : contains(concat(local.ingest_operations, local.report_operations), op.id)
      ])
      error_message = "Every operationId in docs/openapi.yaml must be listed in ingest_operations or report_operations in api.tf."
    }

    precondition {
      condition     = alltrue([for op in local.operations : op.scoped || op.public])
      error_message = "Every operation in docs/openapi.yaml needs an x-fluxo-scope, or `security: []` to be public."
    }
  }
}

resource "aws_api_gateway_deployment" "ledger" {
  rest_api_id = aws_api_gateway_rest_api.ledger.id
  description = "Body ${sha1(aws_api_gateway_rest_api.ledger.body)}"

  triggers = {
    redeployment = sha1(aws_api_gateway_rest_api.ledger.body)
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_cloudwatch_log_group" "api_access" {
  name              = "/aws/apigateway/${local.name}/access"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.ledger.arn
}

# API Gateway writes execution logs (level ERROR, no bodies) to a group of this fixed name; created
# here so it has a retention and the ledger key instead of being created unbounded on first use.
resource "aws_cloudwatch_log_group" "api_execution" {
  name              = "API-Gateway-Execution-Logs_${aws_api_gateway_rest_api.ledger.id}/${var.stage_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.ledger.arn
}

resource "aws_api_gateway_stage" "ledger" {
  #checkov:skip=CKV_AWS_120:No response caching: balances change with every consolidation and answers depend on the caller's claims; DynamoDB serves a report in three requests.
  #checkov:skip=CKV2_AWS_51:Clients authenticate with Cognito tokens; the backend is Lambda through a proxy integration, not an HTTP endpoint that would check a client certificate.
  rest_api_id          = aws_api_gateway_rest_api.ledger.id
  deployment_id        = aws_api_gateway_deployment.ledger.id
  stage_name           = var.stage_name
  xray_tracing_enabled = true

  # One JSON line per request. No header, body or token is logged; `sub` is the caller's opaque id.
  # Only what an operator reads: about a third of a KB a line, a cost per request
  # (BENCHMARKS.md, "Capacity and cost per entry"). The request id joins it to the function's line.
  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.api_access.arn
    format = jsonencode({
      requestId          = "$context.requestId"
      ip                 = "$context.identity.sourceIp"
      caller             = "$context.authorizer.claims.sub"
      requestTime        = "$context.requestTimeEpoch"
      httpMethod         = "$context.httpMethod"
      path               = "$context.path"
      status             = "$context.status"
      responseLatency    = "$context.responseLatency"
      integrationLatency = "$context.integration.latency"
      errorType          = "$context.error.responseType"
      wafStatus          = "$context.waf.status"
    })
  }

  depends_on = [aws_api_gateway_account.logging, aws_cloudwatch_log_group.api_execution]
}

resource "aws_api_gateway_method_settings" "all" {
  #checkov:skip=CKV_AWS_225:No response caching, for the reasons on the stage (CKV_AWS_120): fresh balances, per-caller answers.
  rest_api_id = aws_api_gateway_rest_api.ledger.id
  stage_name  = aws_api_gateway_stage.ledger.stage_name
  method_path = "*/*"

  settings {
    metrics_enabled        = true
    logging_level          = "ERROR"
    data_trace_enabled     = false # would log request and response bodies
    throttling_rate_limit  = var.api_throttle_rate_rps
    throttling_burst_limit = var.api_throttle_burst
    caching_enabled        = false
    cache_data_encrypted   = true
  }
}

resource "aws_lambda_permission" "api" {
  for_each      = toset(["ingest", "report"])
  statement_id  = "AllowApiGateway"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.fluxo[each.key].function_name
  qualifier     = aws_lambda_alias.live[each.key].name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_api_gateway_rest_api.ledger.execution_arn}/${var.stage_name}/*"
}

# --- API Gateway's account-wide CloudWatch role (needed for access and execution logs) -----------

data "aws_iam_policy_document" "api_gateway_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["apigateway.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "api_gateway_logging" {
  count              = var.manage_api_gateway_account ? 1 : 0
  name               = "${local.name}-apigateway-logging"
  assume_role_policy = data.aws_iam_policy_document.api_gateway_assume.json
}

resource "aws_iam_role_policy_attachment" "api_gateway_logging" {
  count      = var.manage_api_gateway_account ? 1 : 0
  role       = aws_iam_role.api_gateway_logging[0].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"
}

resource "aws_api_gateway_account" "logging" {
  count               = var.manage_api_gateway_account ? 1 : 0
  cloudwatch_role_arn = aws_iam_role.api_gateway_logging[0].arn
}

# X-Ray records one request a second of the stage and 1% of the rest, where its default rule records
# 5%: traces cost $5 per million recorded, so the default would be the largest per-request cost after
# the edge (BENCHMARKS.md, "Capacity and cost per entry"). The functions follow the stage's decision.
resource "aws_xray_sampling_rule" "ledger" {
  rule_name      = substr("${local.name}-api", 0, 32)
  priority       = 1000
  version        = 1
  reservoir_size = 1
  fixed_rate     = var.xray_sampling_rate
  url_path       = "*"
  host           = "*"
  http_method    = "*"
  service_type   = "*"
  service_name   = "${aws_api_gateway_rest_api.ledger.name}/${aws_api_gateway_stage.ledger.stage_name}"
  resource_arn   = "*"
}
