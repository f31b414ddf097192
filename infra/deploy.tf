# Safe deploys and the pipeline's way in.
#
# `terraform apply` publishes each new package as a version of its function and leaves the `live`
# alias where it is (functions.tf ignores the alias's version after creating it). CodeDeploy then
# moves `live` to the new version: in prod 10% of invocations for 5 minutes, then all of them; in dev
# all at once. If one of the function's alarms fires during the shift, or the deployment fails,
# CodeDeploy moves `live` back to the version it came from. .github/workflows/deploy.yml starts one
# deployment per function (scripts/deploy-functions.sh); docs/operations.md says how to watch and abort one.
#
# GitHub Actions reaches the account through OIDC: a role per environment that only workflows of
# this repository may assume, on its main branch or in its GitHub environment of the same name. No
# access key exists anywhere.

resource "aws_codedeploy_app" "functions" {
  name             = local.name
  compute_platform = "Lambda"
}

locals {
  # The alarms that roll a function's deployment back: its own errors, and what its failure shows as.
  rollback_alarms = {
    ingest      = [aws_cloudwatch_metric_alarm.function_errors["ingest"].alarm_name, aws_cloudwatch_metric_alarm.api_5xx_rate.alarm_name, aws_cloudwatch_metric_alarm.api_latency_p95.alarm_name]
    report      = [aws_cloudwatch_metric_alarm.function_errors["report"].alarm_name, aws_cloudwatch_metric_alarm.api_5xx_rate.alarm_name, aws_cloudwatch_metric_alarm.api_latency_p95.alarm_name]
    consolidate = [aws_cloudwatch_metric_alarm.function_errors["consolidate"].alarm_name, aws_cloudwatch_metric_alarm.dead_letters.alarm_name, aws_cloudwatch_metric_alarm.consolidation_lag_p99.alarm_name]
    relay       = [aws_cloudwatch_metric_alarm.function_errors["relay"].alarm_name, aws_cloudwatch_metric_alarm.relay_failures.alarm_name, aws_cloudwatch_metric_alarm.relay_iterator_age.alarm_name]
  }
}

resource "aws_codedeploy_deployment_group" "function" {
  for_each               = local.functions
  app_name               = aws_codedeploy_app.functions.name
  deployment_group_name  = each.key
  service_role_arn       = aws_iam_role.codedeploy.arn
  deployment_config_name = var.deployment_config

  deployment_style {
    deployment_option = "WITH_TRAFFIC_CONTROL"
    deployment_type   = "BLUE_GREEN"
  }

  auto_rollback_configuration {
    enabled = true
    events  = ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM", "DEPLOYMENT_STOP_ON_REQUEST"]
  }

  alarm_configuration {
    enabled = true
    alarms  = local.rollback_alarms[each.key]
  }
}

data "aws_iam_policy_document" "codedeploy_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["codedeploy.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "codedeploy" {
  name               = "${local.name}-codedeploy"
  assume_role_policy = data.aws_iam_policy_document.codedeploy_assume.json
}

# Moving an alias and reading the alarms, on this stack's functions only.
data "aws_iam_policy_document" "codedeploy" {
  statement {
    sid       = "ShiftTheLiveAlias"
    actions   = ["lambda:GetAlias", "lambda:UpdateAlias", "lambda:GetFunction", "lambda:GetFunctionConfiguration", "lambda:InvokeFunction"]
    resources = [for name, _ in local.functions : "${aws_lambda_function.fluxo[name].arn}:*"]
  }
  statement {
    sid       = "ReadTheRollbackAlarms"
    actions   = ["cloudwatch:DescribeAlarms"]
    resources = [for alarm in distinct(flatten(values(local.rollback_alarms))) : "arn:${local.partition}:cloudwatch:${local.region}:${local.account_id}:alarm:${alarm}"]
  }
}

resource "aws_iam_role_policy" "codedeploy" {
  name   = "shift-aliases"
  role   = aws_iam_role.codedeploy.id
  policy = data.aws_iam_policy_document.codedeploy.json
}

# --- GitHub Actions through OIDC -----------------------------------------------------------------

# The account's GitHub OIDC provider: one per account, so an existing one can be named instead.
resource "aws_iam_openid_connect_provider" "github" {
  count          = var.github_oidc_provider_arn == "" ? 1 : 0
  url            = "https://token.actions.githubusercontent.com"
  client_id_list = ["sts.amazonaws.com"]
}

locals {
  github_oidc_provider_arn = var.github_oidc_provider_arn != "" ? var.github_oidc_provider_arn : aws_iam_openid_connect_provider.github[0].arn
}

# Only this repository's workflows, and only on main or in the GitHub environment named after this
# stack's (whose protection rules, such as prod's required reviewers, GitHub enforces first).
data "aws_iam_policy_document" "deploy_assume" {
  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [local.github_oidc_provider_arn]
    }
    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:aud"
      values   = ["sts.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:sub"
      values = [
        "repo:${var.github_repository}:ref:refs/heads/main",
        "repo:${var.github_repository}:environment:${var.environment}",
      ]
    }
  }
}

resource "aws_iam_role" "deploy" {
  name                 = "${local.name}-deploy"
  description          = "GitHub Actions: terraform plan and apply of this stack, and its CodeDeploy deployments"
  assume_role_policy   = data.aws_iam_policy_document.deploy_assume.json
  max_session_duration = 3600
}

# Terraform manages every kind of resource this stack holds, so the deploy role has AWS's power-user
# policy (everything but IAM and the organization); IAM itself only on this stack's own roles and
# policies, below.
resource "aws_iam_role_policy_attachment" "deploy_power_user" {
  role       = aws_iam_role.deploy.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/PowerUserAccess"
}

data "aws_iam_policy_document" "deploy_iam" {
  statement {
    sid = "ManageThisStacksRoles"
    actions = [
      "iam:CreateRole", "iam:DeleteRole", "iam:GetRole", "iam:UpdateRole", "iam:UpdateAssumeRolePolicy",
      "iam:TagRole", "iam:UntagRole", "iam:ListRolePolicies", "iam:ListAttachedRolePolicies",
      "iam:GetRolePolicy", "iam:PutRolePolicy", "iam:DeleteRolePolicy", "iam:AttachRolePolicy",
      "iam:DetachRolePolicy", "iam:ListInstanceProfilesForRole", "iam:PassRole",
    ]
    resources = ["arn:${local.partition}:iam::${local.account_id}:role/${local.name}-*"]
  }
  statement {
    sid       = "ReadTheOidcProvider"
    actions   = ["iam:GetOpenIDConnectProvider"]
    resources = [local.github_oidc_provider_arn]
  }
}

resource "aws_iam_role_policy" "deploy_iam" {
  name   = "manage-stack-roles"
  role   = aws_iam_role.deploy.id
  policy = data.aws_iam_policy_document.deploy_iam.json
}
