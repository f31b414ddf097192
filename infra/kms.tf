# One customer managed key for the ledger's data at rest: the table, the queues, the alarm topic,
# every log group, the functions' environment and the backup vault. Rotated yearly by KMS. A second
# key, in var.dr_region, encrypts the copies of the backups there. Nobody but the break-glass role
# may disable either key or schedule its deletion: without its key a table or a backup is lost.

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
  # Administration, use and the break-glass guard, shared with the DR key.
  source_policy_documents = [data.aws_iam_policy_document.key_administration.json]

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

locals {
  # The one principal that may disable a key or schedule its deletion. Built from its name, so the
  # key policies accept it before the role exists; the aws:PrincipalArn of its sessions is this ARN.
  break_glass_role_arn = "arn:${local.partition}:iam::${local.account_id}:role/${var.break_glass_role_name}"
}

# The statements every key of this stack starts from: the account administers it through IAM, and
# only the break-glass role can take it out of service.
data "aws_iam_policy_document" "key_administration" {
  #checkov:skip=CKV_AWS_109:A key policy's Resource "*" means this key only; administration stays with the account's IAM policies.
  #checkov:skip=CKV_AWS_111:A key policy's Resource "*" means this key only; writes are limited by the principals and conditions below.
  #checkov:skip=CKV_AWS_356:A key policy's Resource "*" means this key only; it cannot name its own ARN before it exists.

  # The account's IAM policies decide who may administer and use the key (the function and backup
  # roles name it). The actions are listed rather than kms:*; kms:PutKeyPolicy among them keeps the
  # key manageable whatever else is denied. kms:DisableKey and kms:ScheduleKeyDeletion are not here:
  # the next two statements give them to the break-glass role alone.
  statement {
    sid = "AccountAdministersThroughIam"
    actions = [
      "kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*", "kms:Update*",
      "kms:Revoke*", "kms:DisableKeyRotation", "kms:Get*", "kms:Delete*", "kms:TagResource",
      "kms:UntagResource", "kms:CancelKeyDeletion", "kms:RotateKeyOnDemand", "kms:RetireGrant",
      "kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*",
    ]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  # The break-glass role may disable the key or schedule its deletion (its own IAM policy must allow
  # it too). Named by a condition rather than as the principal, so the policy is valid while the
  # role does not exist yet.
  statement {
    sid       = "BreakGlassRoleMayRetireTheKey"
    actions   = ["kms:DisableKey", "kms:ScheduleKeyDeletion"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:PrincipalArn"
      values   = [local.break_glass_role_arn]
    }
  }

  # And nobody else may, whatever an IAM policy grants: an administrator's mistake, a compromised
  # deployer or `terraform destroy` cannot take the ledger's data with the key. An explicit deny
  # wins over every allow. Replacing this policy (kms:PutKeyPolicy) stays possible, and is logged.
  statement {
    sid       = "OnlyBreakGlassRetiresTheKey"
    effect    = "Deny"
    actions   = ["kms:DisableKey", "kms:ScheduleKeyDeletion"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["*"]
    }
    condition {
      test     = "ArnNotEquals"
      variable = "aws:PrincipalArn"
      values   = [local.break_glass_role_arn]
    }
  }
}

# --- the disaster-recovery key: the backup copies in var.dr_region -------------------------------

resource "aws_kms_key" "ledger_dr" {
  provider                = aws.dr
  description             = "${local.name}: copies of the ledger's backups in ${var.dr_region}"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_deletion_window_days
  # Administration, use and the break-glass guard: the backup role reaches it through its IAM
  # policy (tables.tf), to write copies into the DR vault and to restore from them.
  policy = data.aws_iam_policy_document.key_administration.json
}

resource "aws_kms_alias" "ledger_dr" {
  provider      = aws.dr
  name          = "alias/${local.name}"
  target_key_id = aws_kms_key.ledger_dr.key_id
}
