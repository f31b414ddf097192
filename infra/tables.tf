# The ledger table, exactly as the adapters expect it (docs/dynamodb.md): one table, PK/SK strings,
# GSI1 lists entries by business date, sparse GSI2 is the account directory reconciliation walks.
# An entry and its idempotency record are one item, kept as long as the entry: no TTL. Its stream is
# the outbox: relay reads every new entry from it (queue.tf). On-demand, so no capacity to plan;
# protected against deletion; recoverable to any second of the last 35 days, and backed up daily by
# AWS Backup.

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
  }
}

resource "aws_backup_selection" "ledger" {
  name         = "${local.name}-ledger"
  plan_id      = aws_backup_plan.ledger.id
  iam_role_arn = aws_iam_role.backup.arn
  resources    = [aws_dynamodb_table.ledger.arn]
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
