# Postings move from relay to consolidate on one SQS standard queue. A posting that
# fails `queue_max_receives` times moves to the dead-letter queue, where it waits for a person
# (docs/operations.md). Both queues are encrypted with the ledger key.

resource "aws_sqs_queue" "postings" {
  name                              = "${local.name}-entries"
  kms_master_key_id                 = aws_kms_key.ledger.arn
  kms_data_key_reuse_period_seconds = 300
  message_retention_seconds         = var.queue_retention_s
  receive_wait_time_seconds         = 20

  # AWS's rule for Lambda consumers: at least six times the function timeout (plus the batching
  # window), so a message is not redelivered while a slow or retried batch still holds it.
  visibility_timeout_seconds = 6 * var.consolidate_timeout_s + var.consolidate_batch_window_s

  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dead_letters.arn
    maxReceiveCount     = var.queue_max_receives
  })
}

resource "aws_sqs_queue" "dead_letters" {
  name                              = "${local.name}-entries-dlq"
  kms_master_key_id                 = aws_kms_key.ledger.arn
  kms_data_key_reuse_period_seconds = 300
  # A standard queue keeps a message's first enqueue time when it is dead-lettered, so the DLQ keeps
  # messages for the longest SQS allows: 14 days to look at them and redrive them.
  message_retention_seconds = 1209600
}

# Only the postings queue may dead-letter into the DLQ (and be the target of a redrive from it).
resource "aws_sqs_queue_redrive_allow_policy" "dead_letters" {
  queue_url = aws_sqs_queue.dead_letters.id
  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.postings.arn]
  })
}

# consolidate receives batches and reports only the failed message ids (ReportBatchItemFailures), so
# one poison posting never blocks its batch. maximum_concurrency bounds the pollers so a backlog
# drains at a pace DynamoDB and the other functions can bear.
resource "aws_lambda_event_source_mapping" "consolidate" {
  event_source_arn                   = aws_sqs_queue.postings.arn
  function_name                      = aws_lambda_alias.live["consolidate"].arn
  batch_size                         = var.consolidate_batch_size
  maximum_batching_window_in_seconds = var.consolidate_batch_window_s
  function_response_types            = ["ReportBatchItemFailures"]
  # Pausing consolidation stops the polling: postings wait in the queue with their receive counts
  # untouched, and drain when it is enabled again. (Reserved concurrency 0 would instead throttle
  # every batch back to the queue, count a receive each time, and dead-letter a long pause.)
  enabled = var.consolidation_enabled

  scaling_config {
    maximum_concurrency = var.consolidate_max_concurrency
  }

  lifecycle {
    precondition {
      condition     = var.consolidate_batch_size <= 10 || var.consolidate_batch_window_s >= 1
      error_message = "SQS batches over 10 messages need consolidate_batch_window_s of at least 1."
    }
    precondition {
      condition     = var.consolidate_reserved_concurrency >= var.consolidate_max_concurrency
      error_message = "consolidate_reserved_concurrency must be at least consolidate_max_concurrency, or the poller's invocations are throttled."
    }
  }
}

# --- relay: the table's stream is the outbox ------------------------------------------------------

# Lambda reads the stream and hands relay every new entry item (an INSERT whose sort key is an entry
# slot's; the filter drops applied marks, accounts and rollups before they cost an invocation).
# relay reports the first record it could not publish (ReportBatchItemFailures) and Lambda retries
# from it; a batch that keeps failing is bisected until the record at fault is alone, and after
# the retries its shard and sequence numbers go to the on-failure queue, so one record never blocks
# its shard. The daily reconciliation publishes any entry still in no balance, whatever was lost.
resource "aws_lambda_event_source_mapping" "relay" {
  event_source_arn                   = aws_dynamodb_table.ledger.stream_arn
  function_name                      = aws_lambda_alias.live["relay"].arn
  starting_position                  = "TRIM_HORIZON"
  batch_size                         = var.relay_batch_size
  maximum_batching_window_in_seconds = var.relay_batch_window_s
  parallelization_factor             = var.relay_parallelization
  bisect_batch_on_function_error     = true
  maximum_retry_attempts             = var.relay_max_retries
  function_response_types            = ["ReportBatchItemFailures"]

  filter_criteria {
    filter {
      pattern = jsonencode({
        eventName = ["INSERT"]
        dynamodb  = { Keys = { SK = { S = [{ prefix = "E#" }] } } }
      })
    }
  }

  destination_config {
    on_failure {
      destination_arn = aws_sqs_queue.relay_failures.arn
    }
  }
}

# Where Lambda puts the shard and sequence numbers of stream records relay could not handle after
# its retries (docs/operations.md, "When relay sets stream records aside").
resource "aws_sqs_queue" "relay_failures" {
  name                              = "${local.name}-relay-failures"
  kms_master_key_id                 = aws_kms_key.ledger.arn
  kms_data_key_reuse_period_seconds = 300
  message_retention_seconds         = 1209600
}

# Reconciliation, on a schedule: every entry recorded more than FLUXO_RECONCILE_GRACE ago and still
# in no balance is published again.
resource "aws_cloudwatch_event_rule" "reconcile" {
  name                = "${local.name}-reconcile"
  description         = "Runs relay's reconciliation: publishes again every entry still in no balance."
  schedule_expression = var.reconcile_schedule
}

resource "aws_cloudwatch_event_target" "reconcile" {
  rule = aws_cloudwatch_event_rule.reconcile.name
  arn  = aws_lambda_alias.live["relay"].arn

  # A pass that could not start is not retried: the next scheduled pass does the same work.
  retry_policy {
    maximum_event_age_in_seconds = 60
    maximum_retry_attempts       = 0
  }
}

resource "aws_lambda_permission" "reconcile_schedule" {
  statement_id  = "AllowEventBridgeSchedule"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.fluxo["relay"].function_name
  qualifier     = aws_lambda_alias.live["relay"].name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.reconcile.arn
}
