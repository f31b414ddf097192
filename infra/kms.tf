# One customer managed key for the ledger's data at rest: the table, the queues, the alarm topic,
# every log group, the functions' environment and the backup vault. Rotated yearly by KMS.

resource "aws_kms_key" "ledger" {
  description             = "${local.name}: ledger data at rest (DynamoDB, SQS, SNS, logs, Lambda environment, backups)"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_deletion_window_days
  policy                  = data.aws_iam_policy_document.kms.json
}

resource "aws_kms_alias" "ledger" {
  name          = "alias/${local.name}"
  target_key_id = aws_kms_key.ledger.key_id
}

data "aws_iam_policy_document" "kms" {
  #checkov:skip=CKV_AWS_109:A key policy's Resource "*" means this key only; administration stays with the account's IAM policies.
  #checkov:skip=CKV_AWS_111:A key policy's Resource "*" means this key only; writes are limited by the principals and conditions below.
  #checkov:skip=CKV_AWS_356:A key policy's Resource "*" means this key only; it cannot name its own ARN before it exists.

  # The account's IAM policies decide who may administer and use the key (the function roles name
  # it). The actions are listed rather than kms:*; kms:PutKeyPolicy among them keeps the key
  # manageable.
  statement {
    sid = "AccountAdministersThroughIam"
    actions = [
      "kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*", "kms:Update*",
      "kms:Revoke*", "kms:Disable*", "kms:Get*", "kms:Delete*", "kms:TagResource", "kms:UntagResource",
      "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion", "kms:RotateKeyOnDemand", "kms:RetireGrant",
      "kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*",
    ]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  # CloudWatch Logs encrypts this stack's log groups (Lambda, API access logs, WAF).
  statement {
    sid       = "CloudWatchLogsEncryptsLogGroups"
    actions   = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.${local.region}.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:*"]
    }
  }

  # CloudWatch alarms publish to the encrypted alarm topic.
  statement {
    sid       = "CloudWatchAlarmsPublishToTopic"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}
