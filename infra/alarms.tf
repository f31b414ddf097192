# What pages someone, and the one dashboard to look at when it does. Every alarm notifies the
# encrypted SNS topic, on alarm and on recovery; subscribe e-mail (alarm_email) or a pager to it.
# docs/operations.md says what to do for each.

resource "aws_sns_topic" "alarms" {
  name              = "${local.name}-alarms"
  kms_master_key_id = aws_kms_key.ledger.arn
}

resource "aws_sns_topic_subscription" "alarm_email" {
  count     = var.alarm_email == "" ? 0 : 1
  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = var.alarm_email
}

locals {
  alarm_actions = [aws_sns_topic.alarms.arn]
  api_dimensions = {
    ApiName = aws_api_gateway_rest_api.ledger.name
    Stage   = aws_api_gateway_stage.ledger.stage_name
  }
  # DynamoDB operations the functions call, for the ThrottledRequests sum.
  dynamodb_operations = ["GetItem", "PutItem", "UpdateItem", "Query", "BatchGetItem", "TransactWriteItems"]
}

# --- API --------------------------------------------------------------------------------------

resource "aws_cloudwatch_metric_alarm" "api_5xx_rate" {
  alarm_name          = "${local.name}-api-5xx-rate"
  alarm_description   = "More than ${var.api_5xx_percent_max}% of API requests answered 5xx in 3 of the last 5 minutes."
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.api_5xx_percent_max
  evaluation_periods  = 5
  datapoints_to_alarm = 3
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  metric_query {
    id          = "rate"
    expression  = "IF(requests > 0, 100 * errors / requests, 0)"
    label       = "5xx, % of requests"
    return_data = true
  }

  metric_query {
    id = "errors"
    metric {
      namespace   = "AWS/ApiGateway"
      metric_name = "5XXError"
      dimensions  = local.api_dimensions
      period      = 60
      stat        = "Sum"
    }
  }

  metric_query {
    id = "requests"
    metric {
      namespace   = "AWS/ApiGateway"
      metric_name = "Count"
      dimensions  = local.api_dimensions
      period      = 60
      stat        = "Sum"
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "api_latency_p95" {
  alarm_name          = "${local.name}-api-latency-p95"
  alarm_description   = "API p95 latency over ${var.api_latency_p95_ms_max} ms in 3 of the last 5 minutes."
  namespace           = "AWS/ApiGateway"
  metric_name         = "Latency"
  dimensions          = local.api_dimensions
  extended_statistic  = "p95"
  period              = 60
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.api_latency_p95_ms_max
  evaluation_periods  = 5
  datapoints_to_alarm = 3
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# --- queue ------------------------------------------------------------------------------------

resource "aws_cloudwatch_metric_alarm" "dead_letters" {
  alarm_name          = "${local.name}-dead-letters"
  alarm_description   = "A posting reached the dead-letter queue: it failed ${var.queue_max_receives} times and is not in its balance. See docs/operations.md, dead letters."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.dead_letters.name }
  statistic           = "Maximum"
  period              = 60
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  evaluation_periods  = 1
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "queue_age" {
  alarm_name          = "${local.name}-queue-oldest-age"
  alarm_description   = "A posting has waited more than ${var.queue_age_s_max} s for consolidation: balances are behind. Is consolidate failing or throttled?"
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateAgeOfOldestMessage"
  dimensions          = { QueueName = aws_sqs_queue.postings.name }
  statistic           = "Maximum"
  period              = 60
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.queue_age_s_max
  evaluation_periods  = 3
  datapoints_to_alarm = 2
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# --- relay: the stream is the outbox -----------------------------------------------------------

# How far behind the newest stream record relay is. Records are kept 24 hours: well before that,
# someone must look (and the daily reconciliation catches what is lost in any case).
resource "aws_cloudwatch_metric_alarm" "relay_iterator_age" {
  alarm_name          = "${local.name}-relay-iterator-age"
  alarm_description   = "relay is more than ${var.relay_iterator_age_s_max} s behind the table's stream: new entries are not reaching the queue. Is relay failing or throttled? See docs/operations.md."
  namespace           = "AWS/Lambda"
  metric_name         = "IteratorAge"
  dimensions          = { FunctionName = aws_lambda_function.fluxo["relay"].function_name, Resource = "${aws_lambda_function.fluxo["relay"].function_name}:${aws_lambda_alias.live["relay"].name}" }
  statistic           = "Maximum"
  period              = 60
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.relay_iterator_age_s_max * 1000
  evaluation_periods  = 3
  datapoints_to_alarm = 2
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# Stream records relay could not handle after its retries: their entries wait for reconciliation.
resource "aws_cloudwatch_metric_alarm" "relay_failures" {
  alarm_name          = "${local.name}-relay-failures"
  alarm_description   = "Stream records were set aside after relay's retries: their entries are recorded but not on the queue until reconciliation publishes them. See docs/operations.md, When relay sets stream records aside."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.relay_failures.name }
  statistic           = "Maximum"
  period              = 60
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  evaluation_periods  = 1
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# --- ledger metrics (Embedded Metric Format, namespace Fluxo: shared/src/telemetry.rs) -------------

resource "aws_cloudwatch_metric_alarm" "consolidation_lag_p99" {
  alarm_name          = "${local.name}-consolidation-lag-p99"
  alarm_description   = "p99 of (applied at - recorded at) is over ${var.consolidation_lag_ms_p99_max} ms: daily balances lag behind recorded entries."
  namespace           = "Fluxo"
  metric_name         = "consolidation_lag_ms"
  dimensions          = { function = "consolidate" }
  extended_statistic  = "p99"
  period              = 60
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.consolidation_lag_ms_p99_max
  evaluation_periods  = 3
  datapoints_to_alarm = 2
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# Ledger events that must never happen unnoticed: any one of them in a minute alarms.
locals {
  ledger_event_alarms = {
    postings-rejected = {
      metric      = "postings_rejected"
      function    = "consolidate"
      description = "consolidate rejected a posting that can never apply (unknown entry, mismatching message, overflow); it will reach the dead-letter queue."
    }
    relay-republished = {
      metric      = "relay_republished"
      function    = "relay"
      description = "Reconciliation found entries recorded more than FLUXO_RECONCILE_GRACE ago in no balance and published them again: the stream missed them, or they can never apply. See docs/operations.md, When reconciliation publishes entries."
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "ledger_events" {
  for_each            = local.ledger_event_alarms
  alarm_name          = "${local.name}-${each.key}"
  alarm_description   = each.value.description
  namespace           = "Fluxo"
  metric_name         = each.value.metric
  dimensions          = { function = each.value.function }
  statistic           = "Sum"
  period              = 60
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  evaluation_periods  = 1
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# --- functions --------------------------------------------------------------------------------

resource "aws_cloudwatch_metric_alarm" "function_errors" {
  for_each            = local.functions
  alarm_name          = "${local.name}-${each.key}-errors"
  alarm_description   = "${local.name}-${each.key} failed invocations (a crash, a timeout, or an error returned to the runtime)."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = aws_lambda_function.fluxo[each.key].function_name }
  statistic           = "Sum"
  period              = 60
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  evaluation_periods  = 3
  datapoints_to_alarm = 2
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "function_throttles" {
  for_each            = local.functions
  alarm_name          = "${local.name}-${each.key}-throttles"
  alarm_description   = "${local.name}-${each.key} hit its reserved concurrency (${each.value.reserved}): raise it, or find the flood."
  namespace           = "AWS/Lambda"
  metric_name         = "Throttles"
  dimensions          = { FunctionName = aws_lambda_function.fluxo[each.key].function_name }
  statistic           = "Sum"
  period              = 60
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  evaluation_periods  = 3
  datapoints_to_alarm = 2
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# --- DynamoDB ---------------------------------------------------------------------------------

resource "aws_cloudwatch_metric_alarm" "dynamodb_throttled_requests" {
  alarm_name          = "${local.name}-dynamodb-throttled-requests"
  alarm_description   = "DynamoDB throttled requests of the ledger table (on-demand: a hot partition or the table's throughput ceiling)."
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  evaluation_periods  = 3
  datapoints_to_alarm = 2
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  metric_query {
    id          = "throttled"
    expression  = "SUM([${join(", ", [for op in local.dynamodb_operations : lower(op)])}])"
    label       = "ThrottledRequests, all operations"
    return_data = true
  }

  dynamic "metric_query" {
    for_each = toset(local.dynamodb_operations)
    content {
      id = lower(metric_query.value)
      metric {
        namespace   = "AWS/DynamoDB"
        metric_name = "ThrottledRequests"
        dimensions  = { TableName = aws_dynamodb_table.ledger.name, Operation = metric_query.value }
        period      = 60
        stat        = "Sum"
      }
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "dynamodb_throttle_events" {
  for_each            = toset(["ReadThrottleEvents", "WriteThrottleEvents"])
  alarm_name          = "${local.name}-dynamodb-${lower(each.key)}"
  alarm_description   = "DynamoDB ${each.key} on the ledger table."
  namespace           = "AWS/DynamoDB"
  metric_name         = each.key
  dimensions          = { TableName = aws_dynamodb_table.ledger.name }
  statistic           = "Sum"
  period              = 60
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  evaluation_periods  = 3
  datapoints_to_alarm = 2
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# A throttled index write throttles the table write that feeds it.
resource "aws_cloudwatch_metric_alarm" "dynamodb_index_write_throttles" {
  for_each            = toset(["GSI1", "GSI2"])
  alarm_name          = "${local.name}-dynamodb-${lower(each.key)}-write-throttles"
  alarm_description   = "DynamoDB WriteThrottleEvents on index ${each.key} of the ledger table."
  namespace           = "AWS/DynamoDB"
  metric_name         = "WriteThrottleEvents"
  dimensions          = { TableName = aws_dynamodb_table.ledger.name, GlobalSecondaryIndexName = each.key }
  statistic           = "Sum"
  period              = 60
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  evaluation_periods  = 3
  datapoints_to_alarm = 2
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# --- the dashboard ----------------------------------------------------------------------------

locals {
  dashboard_function_names = [for name, _ in local.functions : aws_lambda_function.fluxo[name].function_name]

  dashboard_widgets = [
    {
      type = "metric", x = 0, y = 0, width = 8, height = 6
      properties = {
        title = "API requests and errors", region = local.region, view = "timeSeries", stat = "Sum", period = 60
        metrics = [
          ["AWS/ApiGateway", "Count", "ApiName", local.api_dimensions.ApiName, "Stage", local.api_dimensions.Stage],
          [".", "4XXError", ".", ".", ".", "."],
          [".", "5XXError", ".", ".", ".", "."],
        ]
      }
    },
    {
      type = "metric", x = 8, y = 0, width = 8, height = 6
      properties = {
        title = "API latency (ms)", region = local.region, view = "timeSeries", period = 60
        metrics = [
          ["AWS/ApiGateway", "Latency", "ApiName", local.api_dimensions.ApiName, "Stage", local.api_dimensions.Stage, { stat = "p50" }],
          ["...", { stat = "p95" }],
          ["...", { stat = "p99" }],
          [".", "IntegrationLatency", ".", ".", ".", ".", { stat = "p95" }],
        ]
        annotations = { horizontal = [{ label = "p95 alarm", value = var.api_latency_p95_ms_max }] }
      }
    },
    {
      type = "metric", x = 16, y = 0, width = 8, height = 6
      properties = {
        title = "WAF", region = local.region, view = "timeSeries", stat = "Sum", period = 60
        metrics = [
          ["AWS/WAFV2", "AllowedRequests", "WebACL", aws_wafv2_web_acl.api.name, "Region", local.region, "Rule", "ALL"],
          [".", "BlockedRequests", ".", ".", ".", ".", ".", "."],
        ]
      }
    },
    {
      type = "metric", x = 0, y = 6, width = 8, height = 6
      properties = {
        title   = "Lambda invocations", region = local.region, view = "timeSeries", stat = "Sum", period = 60
        metrics = [for fn in local.dashboard_function_names : ["AWS/Lambda", "Invocations", "FunctionName", fn]]
      }
    },
    {
      type = "metric", x = 8, y = 6, width = 8, height = 6
      properties = {
        title = "Lambda errors and throttles", region = local.region, view = "timeSeries", stat = "Sum", period = 60
        metrics = concat(
          [for fn in local.dashboard_function_names : ["AWS/Lambda", "Errors", "FunctionName", fn]],
          [for fn in local.dashboard_function_names : ["AWS/Lambda", "Throttles", "FunctionName", fn]],
        )
      }
    },
    {
      type = "metric", x = 16, y = 6, width = 8, height = 6
      properties = {
        title = "Lambda duration p95 (ms) and concurrency", region = local.region, view = "timeSeries", period = 60
        metrics = concat(
          [for fn in local.dashboard_function_names : ["AWS/Lambda", "Duration", "FunctionName", fn, { stat = "p95" }]],
          [for fn in local.dashboard_function_names : ["AWS/Lambda", "ConcurrentExecutions", "FunctionName", fn, { stat = "Maximum", yAxis = "right" }]],
        )
      }
    },
    {
      type = "metric", x = 0, y = 28, width = 24, height = 6
      properties = {
        title = "Ledger: entries recorded and consolidated, consolidation lag p99 (ms)", region = local.region, view = "timeSeries", period = 60
        metrics = [
          ["Fluxo", "entries_recorded", "function", "ingest", { stat = "Sum" }],
          [".", "entries_consolidated", ".", "consolidate", { stat = "Sum" }],
          [".", "duplicates_skipped", ".", "consolidate", { stat = "Sum" }],
          [".", "consolidation_lag_ms", ".", "consolidate", { stat = "p99", yAxis = "right" }],
        ]
        annotations = { horizontal = [{ label = "lag alarm", value = var.consolidation_lag_ms_p99_max, yAxis = "right" }] }
      }
    },
    {
      type = "log", x = 0, y = 12, width = 8, height = 6
      properties = {
        title  = "Latest warnings and errors of the functions"
        region = local.region
        view   = "table"
        query = join(" | ", concat(
          [for name, _ in local.functions : "SOURCE '${aws_cloudwatch_log_group.function[name].name}'"],
          ["fields @timestamp, @log, level, fields.message", "filter level = 'ERROR' or level = 'WARN'", "sort @timestamp desc", "limit 50"],
        ))
      }
    },
    {
      type = "metric", x = 8, y = 12, width = 8, height = 6
      properties = {
        title = "Queue: waiting postings, oldest age (s), dead letters", region = local.region, view = "timeSeries", stat = "Maximum", period = 60
        metrics = [
          ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", aws_sqs_queue.postings.name],
          [".", "ApproximateAgeOfOldestMessage", ".", ".", { yAxis = "right" }],
          [".", "ApproximateNumberOfMessagesVisible", ".", aws_sqs_queue.dead_letters.name],
        ]
      }
    },
    {
      type = "metric", x = 16, y = 12, width = 8, height = 6
      properties = {
        title = "DynamoDB capacity used and throttles", region = local.region, view = "timeSeries", stat = "Sum", period = 60
        metrics = [
          ["AWS/DynamoDB", "ConsumedReadCapacityUnits", "TableName", aws_dynamodb_table.ledger.name],
          [".", "ConsumedWriteCapacityUnits", ".", "."],
          [".", "ReadThrottleEvents", ".", ".", { yAxis = "right" }],
          [".", "WriteThrottleEvents", ".", ".", { yAxis = "right" }],
        ]
      }
    },
    {
      type = "alarm", x = 0, y = 18, width = 24, height = 4
      properties = {
        title = "Alarms"
        alarms = concat(
          [
            aws_cloudwatch_metric_alarm.api_5xx_rate.arn,
            aws_cloudwatch_metric_alarm.api_latency_p95.arn,
            aws_cloudwatch_metric_alarm.dead_letters.arn,
            aws_cloudwatch_metric_alarm.queue_age.arn,
            aws_cloudwatch_metric_alarm.dynamodb_throttled_requests.arn,
          ],
          [for a in aws_cloudwatch_metric_alarm.function_errors : a.arn],
          [for a in aws_cloudwatch_metric_alarm.function_throttles : a.arn],
        )
      }
    },
  ]
}

locals {
  # Only where provisioned concurrency is on: a widget without metrics is refused.
  provisioned_widgets = [
    for _ in length(local.provisioned) > 0 ? [1] : [] : {
      type = "metric", x = 0, y = 22, width = 24, height = 6
      properties = {
        title = "Provisioned concurrency utilization (live alias)", region = local.region, view = "timeSeries", stat = "Maximum", period = 60
        metrics = [
          for name in keys(local.provisioned) :
          ["AWS/Lambda", "ProvisionedConcurrencyUtilization", "FunctionName", aws_lambda_function.fluxo[name].function_name, "Resource", "${aws_lambda_function.fluxo[name].function_name}:live"]
        ]
        annotations = { horizontal = [{ label = "scaling target", value = var.provisioned_utilization_target }] }
      }
    }
  ]
}

resource "aws_cloudwatch_dashboard" "ledger" {
  dashboard_name = local.name
  dashboard_body = jsonencode({ widgets = concat(local.dashboard_widgets, local.provisioned_widgets) })
}
