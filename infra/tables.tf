# The ledger table, exactly as the adapters expect it (docs/dynamodb.md): one table, PK/SK strings,
# GSI1 lists entries by business date, sparse GSI2 is the account directory reconciliation walks.
# An entry and its idempotency record are one item, kept as long as the entry: no TTL. Its stream is
# the outbox: relay reads every new entry from it (queue.tf). On-demand, so no capacity to plan;
# protected against deletion; recoverable to any second of the last 35 days, backed up daily by AWS
# Backup and each backup copied to a vault in a second region (and optionally another account); a
# weekly restore test proves the latest backup restores.

resource "aws_dynamodb_table" "ledger" {
  name         = var.table_name != "" ? var.table_name : "${local.name}-ledger"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "PK"
  range_key    = "SK"

  attribute {
    name = "PK"
    type = "S"
  }
  attribute {
    name = "SK"
    type = "S"
  }
  attribute {
    name = "GSI1PK"
    type = "S"
  }
  attribute {
    name = "GSI1SK"
    type = "S"
  }
  attribute {
    name = "GSI2PK"
    type = "S"
  }
  attribute {
    name = "GSI2SK"
    type = "S"
  }

  # Entries of an account and business date, in id order: the entry listing. It carries the listed
  # attributes only (shared/src/adapters/aws/item.rs, LISTED): an entry's applied mark and its
  # idempotency record stay out, so consolidating an entry writes no index.
  global_secondary_index {
    name               = "GSI1"
    hash_key           = "GSI1PK"
    range_key          = "GSI1SK"
    projection_type    = "INCLUDE"
    non_key_attributes = ["type", "amount", "currency", "description", "occurred_at", "business_date", "recorded_at", "reverses", "reversed_by"]
  }

  # The account directory: account items only (sparse), GSI2PK = ACCOUNTS, GSI2SK = the account id.
  # Written once per account; read by the daily reconciliation.
  global_secondary_index {
    name            = "GSI2"
    hash_key        = "GSI2PK"
    range_key       = "GSI2SK"
    projection_type = "KEYS_ONLY"
  }

  # The outbox: each new entry item reaches relay through the stream (24 hours of records).
  stream_enabled   = true
  stream_view_type = "NEW_IMAGE"

  point_in_time_recovery {
    enabled                 = true
    recovery_period_in_days = var.pitr_recovery_days
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = aws_kms_key.ledger.arn
  }

  deletion_protection_enabled = var.table_deletion_protection
}

# --- AWS Backup: daily copies kept longer than PITR's 35 days, in an encrypted vault ---------------

resource "aws_backup_vault" "ledger" {
  name        = "${local.name}-ledger"
  kms_key_arn = aws_kms_key.ledger.arn
  # An unlocked vault (dev) is disposable with its recovery points; a locked one cannot be emptied.
  force_destroy = !var.backup_vault_lock
}

# The copies that survive losing the region: same name, in var.dr_region, under that region's key.
resource "aws_backup_vault" "ledger_dr" {
  provider      = aws.dr
  name          = "${local.name}-ledger"
  kms_key_arn   = aws_kms_key.ledger_dr.arn
  force_destroy = !var.backup_vault_lock

  lifecycle {
    precondition {
      condition     = var.dr_region != var.region
      error_message = "dr_region must differ from region: a copy in the same region does not survive losing it."
    }
  }
}

resource "aws_backup_plan" "ledger" {
  name = "${local.name}-ledger"

  rule {
    rule_name         = "daily"
    target_vault_name = aws_backup_vault.ledger.name
    schedule          = var.backup_schedule
    start_window      = 60
    completion_window = 360

    lifecycle {
      delete_after = var.backup_retention_days
    }

    # Each backup, once complete, is copied to the DR region's vault and kept there on its own
    # lifecycle. DynamoDB copies need AWS Backup's advanced DynamoDB backup (docs/operations.md).
    copy_action {
      destination_vault_arn = aws_backup_vault.ledger_dr.arn

      lifecycle {
        delete_after = var.dr_backup_retention_days
      }
    }

    # And, when backup_copy_vault_arn names one, to a vault of another account: copies that survive
    # losing this account's credentials too.
    dynamic "copy_action" {
      for_each = var.backup_copy_vault_arn == "" ? [] : [var.backup_copy_vault_arn]
      content {
        destination_vault_arn = copy_action.value

        lifecycle {
          delete_after = var.dr_backup_retention_days
        }
      }
    }
  }
}

# --- vault lock: in compliance mode nobody, root included, deletes a recovery point early ---------
#
# After changeable_for_days the lock (and these retention bounds) can no longer be changed or
# removed, and the vault cannot be deleted while it holds a recovery point. Off in dev, so dev can
# be torn down.

resource "aws_backup_vault_lock_configuration" "ledger" {
  count               = var.backup_vault_lock ? 1 : 0
  backup_vault_name   = aws_backup_vault.ledger.name
  changeable_for_days = var.backup_vault_lock_changeable_days
  min_retention_days  = var.backup_vault_lock_min_retention_days
  max_retention_days  = var.backup_vault_lock_max_retention_days

  lifecycle {
    # A backup whose retention is outside the lock's bounds fails: check before the lock is permanent.
    precondition {
      condition     = var.backup_vault_lock_min_retention_days <= var.backup_retention_days && var.backup_retention_days <= var.backup_vault_lock_max_retention_days
      error_message = "backup_retention_days must lie between backup_vault_lock_min_retention_days and backup_vault_lock_max_retention_days."
    }
  }
}

resource "aws_backup_vault_lock_configuration" "ledger_dr" {
  provider            = aws.dr
  count               = var.backup_vault_lock ? 1 : 0
  backup_vault_name   = aws_backup_vault.ledger_dr.name
  changeable_for_days = var.backup_vault_lock_changeable_days
  min_retention_days  = var.backup_vault_lock_min_retention_days
  max_retention_days  = var.backup_vault_lock_max_retention_days

  lifecycle {
    precondition {
      condition     = var.backup_vault_lock_min_retention_days <= var.dr_backup_retention_days && var.dr_backup_retention_days <= var.backup_vault_lock_max_retention_days
      error_message = "dr_backup_retention_days must lie between backup_vault_lock_min_retention_days and backup_vault_lock_max_retention_days."
    }
  }
}

resource "aws_backup_selection" "ledger" {
  name         = "${local.name}-ledger"
  plan_id      = aws_backup_plan.ledger.id
  iam_role_arn = aws_iam_role.backup.arn
  resources    = [aws_dynamodb_table.ledger.arn]
}

# --- restore testing: every week the latest backup is restored to a scratch table ----------------
#
# AWS Backup restores the newest recovery point of the ledger vault from the last week into a new
# table (awsbackup-restore-test-...), keeps it validation_window_hours for inspection, then deletes
# it. A failed restore is a restore job with status FAILED (docs/operations.md). Names take letters,
# digits and underscores only.

resource "aws_backup_restore_testing_plan" "ledger" {
  name                = "${replace(local.name, "-", "_")}_ledger"
  schedule_expression = var.restore_test_schedule
  start_window_hours  = 4

  recovery_point_selection {
    algorithm             = "LATEST_WITHIN_WINDOW"
    include_vaults        = [aws_backup_vault.ledger.arn]
    recovery_point_types  = ["SNAPSHOT"]
    selection_window_days = 7
  }
}

resource "aws_backup_restore_testing_selection" "ledger" {
  name                      = "${replace(local.name, "-", "_")}_ledger_table"
  restore_testing_plan_name = aws_backup_restore_testing_plan.ledger.name
  protected_resource_type   = "DynamoDB"
  protected_resource_arns   = [aws_dynamodb_table.ledger.arn]
  iam_role_arn              = aws_iam_role.backup.arn
  validation_window_hours   = 2

  # The scratch table holds the ledger's data: encrypt it with the ledger's key, not the AWS owned
  # key a restore test would pick by default.
  restore_metadata_overrides = {
    encryptionType  = "KMS"
    kmsMasterKeyArn = aws_kms_key.ledger.arn
  }
}

data "aws_iam_policy_document" "backup_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["backup.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "backup" {
  name               = "${local.name}-backup"
  assume_role_policy = data.aws_iam_policy_document.backup_assume.json
}

resource "aws_iam_role_policy_attachment" "backup" {
  role       = aws_iam_role.backup.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup"
}

resource "aws_iam_role_policy_attachment" "restore" {
  role       = aws_iam_role.backup.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForRestores"
}

# Backups, copies and restores read and write under both keys: the ledger key (the vault, the table,
# a restored table) and the DR key (the copies, and a table restored from them in the DR region).
# Both key policies leave their use to IAM; grants are for the AWS resources Backup creates.
data "aws_iam_policy_document" "backup_keys" {
  statement {
    sid       = "UseTheLedgerKeys"
    actions   = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]
    resources = [aws_kms_key.ledger.arn, aws_kms_key.ledger_dr.arn]
  }

  statement {
    sid       = "GrantTheKeysToBackedUpResources"
    actions   = ["kms:CreateGrant"]
    resources = [aws_kms_key.ledger.arn, aws_kms_key.ledger_dr.arn]
    condition {
      test     = "Bool"
      variable = "kms:GrantIsForAWSResource"
      values   = ["true"]
    }
  }
}

resource "aws_iam_role_policy" "backup_keys" {
  name   = "ledger-keys"
  role   = aws_iam_role.backup.id
  policy = data.aws_iam_policy_document.backup_keys.json
}
