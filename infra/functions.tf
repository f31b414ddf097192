# The four Rust functions, arm64 on provided.al2023, from `make package`. Each has its own role
# with only the calls its code makes (docs/dynamodb.md lists them), its own log group, reserved
# concurrency (so a flood on one cannot starve another) and a `live` alias that API Gateway, the SQS
# poller and the schedule invoke. ingest and report keep provisioned concurrency on that alias,
# scaled by Application Auto Scaling on utilization, so peaks meet warm execution environments.

locals {
  functions = {
    ingest = {
      description = "Records accounts, entries and reversals (API Gateway)"
      memory_mb   = var.ingest_memory_mb
      timeout_s   = var.ingest_timeout_s
      reserved    = var.ingest_reserved_concurrency
    }
    report = {
      description = "Reads accounts, entries and daily balances (API Gateway)"
      memory_mb   = var.report_memory_mb
      timeout_s   = var.report_timeout_s
      reserved    = var.report_reserved_concurrency
    }
    consolidate = {
      description = "Applies SQS batches of postings to the daily and monthly rollups"
      memory_mb   = var.consolidate_memory_mb
      timeout_s   = var.consolidate_timeout_s
      reserved    = var.consolidate_reserved_concurrency
    }
    relay = {
      description = "Moves new entries from the table's stream to the queue; reconciles daily"
      memory_mb   = var.relay_memory_mb
      timeout_s   = var.relay_timeout_s
      reserved    = var.relay_reserved_concurrency
    }
  }

  # What every function reads (shared/src/config.rs). Credentials and tokens are never here.
  function_environment = {
    FLUXO_BACKEND            = "aws"
    FLUXO_AUTH               = "apigateway"
    FLUXO_TABLE              = aws_dynamodb_table.ledger.name
    FLUXO_QUEUE_URL          = aws_sqs_queue.postings.url
    FLUXO_QUEUE_MAX_RECEIVES = tostring(var.queue_max_receives)
    FLUXO_RECONCILE_DAYS     = tostring(var.reconcile_days)
    FLUXO_RECONCILE_GRACE    = var.reconcile_grace
  }

  # Provisioned concurrency on the synchronous, latency-bound functions; max 0 turns it off.
  provisioned = {
    for name, range in {
      ingest = { min = var.ingest_provisioned_min, max = var.ingest_provisioned_max, reserved = var.ingest_reserved_concurrency }
      report = { min = var.report_provisioned_min, max = var.report_provisioned_max, reserved = var.report_reserved_concurrency }
    } : name => range if range.max > 0
  }

  table_arn   = aws_dynamodb_table.ledger.arn
  indexes_arn = "${aws_dynamodb_table.ledger.arn}/index"
}

resource "aws_cloudwatch_log_group" "function" {
  for_each          = local.functions
  name              = "/aws/lambda/${local.name}-${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.ledger.arn
}

resource "aws_lambda_function" "fluxo" {
  #checkov:skip=CKV_AWS_117:No private resources to reach: DynamoDB and SQS are public AWS endpoints behind IAM and TLS; a VPC would add NAT or endpoint cost and cold-start time without reducing exposure.
  #checkov:skip=CKV_AWS_116:No asynchronous invocations to dead-letter: ingest and report are synchronous behind API Gateway, consolidate's failures go to the SQS queue's DLQ, and a failed relay run is redone by the next scheduled one.
  #checkov:skip=CKV_AWS_272:Packages are built from source by `make package` in CI and deployed from the workspace; Lambda code signing needs an AWS Signer profile and a signed-artifact pipeline, a follow-up.
  for_each = local.functions

  function_name = "${local.name}-${each.key}"
  description   = each.value.description
  role          = aws_iam_role.function[each.key].arn

  architectures    = ["arm64"]
  runtime          = "provided.al2023"
  handler          = "bootstrap"
  filename         = "${path.module}/../target/lambda/${each.key}/bootstrap.zip"
  source_code_hash = filebase64sha256("${path.module}/../target/lambda/${each.key}/bootstrap.zip")
  publish          = true

  memory_size                    = each.value.memory_mb
  timeout                        = each.value.timeout_s
  reserved_concurrent_executions = each.value.reserved
  kms_key_arn                    = aws_kms_key.ledger.arn

  environment {
    variables = local.function_environment
  }

  # JSON logs (AWS_LAMBDA_LOG_FORMAT=JSON) to the function's own group; the runtime's subscriber
  # follows the format and the application level.
  logging_config {
    log_format            = "JSON"
    log_group             = aws_cloudwatch_log_group.function[each.key].name
    application_log_level = "INFO"
    system_log_level      = "WARN"
  }

  tracing_config {
    mode = "Active"
  }

  depends_on = [
    aws_iam_role_policy.function_runtime,
    aws_iam_role_policy.function_data,
  ]
}

resource "aws_lambda_alias" "live" {
  for_each         = local.functions
  name             = "live"
  description      = "What API Gateway, the SQS poller and the schedule invoke"
  function_name    = aws_lambda_function.fluxo[each.key].function_name
  function_version = aws_lambda_function.fluxo[each.key].version

  # Created on the first version; CodeDeploy moves it after that (deploy.tf).
  lifecycle {
    ignore_changes = [function_version, routing_config]
  }
}

# A reconciliation pass that fails is not retried: the next scheduled pass does the same work. (The
# stream's records are retried by their event source mapping, queue.tf.)
resource "aws_lambda_function_event_invoke_config" "relay" {
  function_name                = aws_lambda_function.fluxo["relay"].function_name
  qualifier                    = aws_lambda_alias.live["relay"].name
  maximum_retry_attempts       = 0
  maximum_event_age_in_seconds = 60
}

# --- provisioned concurrency, autoscaled --------------------------------------------------------

# The floor at deploy time; Application Auto Scaling owns the number afterwards.
resource "aws_lambda_provisioned_concurrency_config" "live" {
  for_each                          = local.provisioned
  function_name                     = aws_lambda_function.fluxo[each.key].function_name
  qualifier                         = aws_lambda_alias.live[each.key].name
  provisioned_concurrent_executions = each.value.min

  lifecycle {
    ignore_changes = [provisioned_concurrent_executions]
    precondition {
      condition     = each.value.min <= each.value.max && each.value.max <= each.value.reserved
      error_message = "Provisioned concurrency needs min <= max <= the function's reserved concurrency."
    }
  }
}

resource "aws_appautoscaling_target" "provisioned" {
  for_each           = local.provisioned
  service_namespace  = "lambda"
  scalable_dimension = "lambda:function:ProvisionedConcurrency"
  resource_id        = "function:${aws_lambda_function.fluxo[each.key].function_name}:${aws_lambda_alias.live[each.key].name}"
  min_capacity       = each.value.min
  max_capacity       = each.value.max

  depends_on = [aws_lambda_provisioned_concurrency_config.live]
}

resource "aws_appautoscaling_policy" "provisioned" {
  for_each           = local.provisioned
  name               = "${local.name}-${each.key}-provisioned-utilization"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.provisioned[each.key].service_namespace
  scalable_dimension = aws_appautoscaling_target.provisioned[each.key].scalable_dimension
  resource_id        = aws_appautoscaling_target.provisioned[each.key].resource_id

  target_tracking_scaling_policy_configuration {
    target_value       = var.provisioned_utilization_target
    scale_out_cooldown = 30
    scale_in_cooldown  = 300

    predefined_metric_specification {
      predefined_metric_type = "LambdaProvisionedConcurrencyUtilization"
    }
  }
}

# --- roles: one per function, least privilege ----------------------------------------------------

data "aws_iam_policy_document" "lambda_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "function" {
  for_each           = local.functions
  name               = "${local.name}-${each.key}"
  description        = "Runs ${local.name}-${each.key}"
  assume_role_policy = data.aws_iam_policy_document.lambda_assume.json
}

# What every function needs to run: its own log group, X-Ray, and the ledger key.
data "aws_iam_policy_document" "function_runtime" {
  for_each = local.functions

  statement {
    sid       = "OwnLogGroup"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.function[each.key].arn}:*"]
  }

  statement {
    sid = "Tracing"
    # X-Ray has no resource-level permissions for these two actions.
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"]
  }

  # The table, the queues and the environment are encrypted with the ledger key, used only through
  # those services; report, which writes nothing, may only decrypt.
  statement {
    sid       = "LedgerKey"
    actions   = each.key == "report" ? ["kms:Decrypt", "kms:DescribeKey"] : ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"]
    resources = [aws_kms_key.ledger.arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = [for service in ["dynamodb", "sqs", "lambda"] : "${service}.${local.region}.amazonaws.com"]
    }
  }
}

# ingest: the account read, the entry's conditional put, the reversal transaction, renames. It never
# touches the queue: the table's stream carries each new entry to relay.
data "aws_iam_policy_document" "ingest" {
  statement {
    sid = "RecordEntries"
    actions = [
      "dynamodb:GetItem",
      "dynamodb:PutItem",
      "dynamodb:UpdateItem",
      "dynamodb:ConditionCheckItem",
      "dynamodb:TransactWriteItems",
    ]
    resources = [local.table_arn]
  }
}

# report: reads only, on the table and the entry listing index.
data "aws_iam_policy_document" "report" {
  statement {
    sid       = "ReadLedger"
    actions   = ["dynamodb:GetItem", "dynamodb:Query"]
    resources = [local.table_arn, "${local.indexes_arn}/GSI1"]
  }
}

# consolidate: reads the rollup lock, entries, marks and rollups, writes the rollups in transactions
# and the applied marks by BatchWriteItem; the SQS poller receives and deletes with this role.
data "aws_iam_policy_document" "consolidate" {
  statement {
    sid = "ApplyPostings"
    actions = [
      "dynamodb:GetItem",
      "dynamodb:BatchGetItem",
      "dynamodb:Query",
      "dynamodb:PutItem",
      "dynamodb:UpdateItem",
      "dynamodb:ConditionCheckItem",
      "dynamodb:TransactWriteItems",
      "dynamodb:BatchWriteItem",
    ]
    resources = [local.table_arn]
  }

  statement {
    sid       = "ConsumePostings"
    actions   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"]
    resources = [aws_sqs_queue.postings.arn]
  }
}

# relay: reads the table's stream (through its event source mapping), publishes postings, sets
# failed stream records aside; reconciliation walks the account directory, counts the date index,
# reads rollups and entries. Every function's init reads one absent item (GetItem) to open its
# connection to the table.
data "aws_iam_policy_document" "relay" {
  statement {
    sid       = "ReadTheOutbox"
    actions   = ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams"]
    resources = [aws_dynamodb_table.ledger.stream_arn]
  }

  statement {
    sid       = "Reconcile"
    actions   = ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query"]
    resources = [local.table_arn, "${local.indexes_arn}/GSI1", "${local.indexes_arn}/GSI2"]
  }

  statement {
    sid       = "PublishPostings"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.postings.arn, aws_sqs_queue.relay_failures.arn]
  }

  # The request relay's init makes to open its connection to SQS before the first stream batch.
  statement {
    sid       = "OpenTheQueueConnection"
    actions   = ["sqs:GetQueueAttributes"]
    resources = [aws_sqs_queue.postings.arn]
  }
}

locals {
  function_data_policies = {
    ingest      = data.aws_iam_policy_document.ingest.json
    report      = data.aws_iam_policy_document.report.json
    consolidate = data.aws_iam_policy_document.consolidate.json
    relay       = data.aws_iam_policy_document.relay.json
  }
}

resource "aws_iam_role_policy" "function_runtime" {
  for_each = local.functions
  name     = "runtime"
  role     = aws_iam_role.function[each.key].id
  policy   = data.aws_iam_policy_document.function_runtime[each.key].json
}

resource "aws_iam_role_policy" "function_data" {
  for_each = local.functions
  name     = "data"
  role     = aws_iam_role.function[each.key].id
  policy   = local.function_data_policies[each.key]
}
