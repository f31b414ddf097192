# Every knob of the deployment. Defaults are the production-safe choice; env/dev.tfvars and
# env/prod.tfvars size each environment.

# --- where and what -------------------------------------------------------------------------------

variable "region" {
  description = "AWS region to deploy to."
  type        = string
  default     = "us-east-1"
}

variable "project" {
  description = "Prefix of every resource name."
  type        = string
  default     = "fluxo"
}

variable "environment" {
  description = "Environment name, part of every resource name (dev, staging, prod)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,15}$", var.environment))
    error_message = "environment must be 2 to 16 lowercase letters, digits or dashes, starting with a letter."
  }
}

variable "tags" {
  description = "Extra tags for every resource (cost centre, owner)."
  type        = map(string)
  default     = {}
}

variable "log_retention_days" {
  description = "Retention of every log group (Lambda, API access, WAF), in days."
  type        = number
  default     = 365
}

variable "kms_deletion_window_days" {
  description = "Waiting period before the customer managed key is deleted after a destroy."
  type        = number
  default     = 30
}

# --- API Gateway and WAF --------------------------------------------------------------------------

variable "stage_name" {
  description = "API Gateway stage; the first path segment of the API URL. The functions strip it."
  type        = string
  default     = "api"
}

variable "api_throttle_rate_rps" {
  description = "Stage-wide steady request rate API Gateway lets through, per second (every method)."
  type        = number
  default     = 1000
}

variable "api_throttle_burst" {
  description = "Stage-wide burst API Gateway lets through (token bucket size)."
  type        = number
  default     = 2000
}

variable "manage_api_gateway_account" {
  description = "Set API Gateway's account-wide CloudWatch role in this region (one per account and region: leave false in all but one stack)."
  type        = bool
  default     = true
}

variable "waf_requests_per_ip_per_minute" {
  description = "Requests one client IP may send in a minute before WAF answers 429."
  type        = number
  default     = 6000

  validation {
    condition     = var.waf_requests_per_ip_per_minute >= 10
    error_message = "WAF rate-based rules need a limit of at least 10."
  }
}

variable "waf_requests_per_token_per_minute" {
  description = "Requests one bearer token may send in a minute, from any number of addresses, before WAF answers 429."
  type        = number
  default     = 6000

  validation {
    condition     = var.waf_requests_per_token_per_minute >= 10
    error_message = "WAF rate-based rules need a limit of at least 10."
  }
}

variable "waf_log_allowed_requests" {
  description = "Log every request WAF sees; false logs only blocked and counted ones (WAF logs are the largest log cost)."
  type        = bool
  default     = false
}

variable "body_bytes_max" {
  description = "Largest request body WAF lets through; the functions refuse larger ones too (413)."
  type        = number
  default     = 16384
}

# --- Lambda ---------------------------------------------------------------------------------------

variable "ingest_memory_mb" {
  description = "Memory of ingest (CPU scales with it)."
  type        = number
  default     = 256
}

variable "ingest_timeout_s" {
  description = "Timeout of ingest; under API Gateway's 29 s integration limit."
  type        = number
  default     = 10
}

variable "ingest_reserved_concurrency" {
  description = "Concurrency reserved for ingest: its ceiling, and a floor no other function can take."
  type        = number
  default     = 200
}

variable "report_memory_mb" {
  description = "Memory of report."
  type        = number
  default     = 256
}

variable "report_timeout_s" {
  description = "Timeout of report; under API Gateway's 29 s integration limit."
  type        = number
  default     = 10
}

variable "report_reserved_concurrency" {
  description = "Concurrency reserved for report."
  type        = number
  default     = 300
}

variable "consolidate_memory_mb" {
  description = "Memory of consolidate."
  type        = number
  default     = 512
}

variable "consolidate_timeout_s" {
  description = "Timeout of consolidate; the queue's visibility timeout is six times this."
  type        = number
  default     = 30
}

variable "consolidation_enabled" {
  description = "Whether SQS hands postings to consolidate; false pauses consolidation while ingest keeps recording (docs/operations.md)."
  type        = bool
  default     = true
}

variable "consolidate_reserved_concurrency" {
  description = "Concurrency reserved for consolidate; at least consolidate_max_concurrency."
  type        = number
  default     = 20
}

variable "relay_memory_mb" {
  description = "Memory of relay."
  type        = number
  default     = 256
}

variable "relay_timeout_s" {
  description = "Timeout of relay: a stream batch takes milliseconds; a reconciliation pass reads every account's last days."
  type        = number
  default     = 300
}

variable "relay_reserved_concurrency" {
  description = "Concurrency reserved for relay: one invocation per stream shard and parallelization slot, plus the reconciliation pass."
  type        = number
  default     = 10
}

variable "claims_reserved_concurrency" {
  description = "Concurrency reserved for the Cognito pre token generation trigger."
  type        = number
  default     = 10
}

variable "ingest_provisioned_min" {
  description = "Provisioned concurrency of ingest's live alias at least (0 with max 0 turns it off)."
  type        = number
  default     = 5
}

variable "ingest_provisioned_max" {
  description = "Provisioned concurrency of ingest's live alias at most; at most ingest_reserved_concurrency."
  type        = number
  default     = 100
}

variable "report_provisioned_min" {
  description = "Provisioned concurrency of report's live alias at least."
  type        = number
  default     = 5
}

variable "report_provisioned_max" {
  description = "Provisioned concurrency of report's live alias at most; at most report_reserved_concurrency."
  type        = number
  default     = 150
}

variable "provisioned_utilization_target" {
  description = "Target of LambdaProvisionedConcurrencyUtilization for Application Auto Scaling (0.1 to 0.9)."
  type        = number
  default     = 0.7

  validation {
    condition     = var.provisioned_utilization_target >= 0.1 && var.provisioned_utilization_target <= 0.9
    error_message = "provisioned_utilization_target must be between 0.1 and 0.9."
  }
}

# --- queue and consolidation ----------------------------------------------------------------------

variable "queue_max_receives" {
  description = "Receives of a message before SQS moves it to the dead-letter queue (maxReceiveCount)."
  type        = number
  default     = 5
}

variable "queue_retention_s" {
  description = "How long an unconsumed posting stays on the queue."
  type        = number
  default     = 345600 # 4 days
}

variable "consolidate_batch_size" {
  description = "Postings per consolidate invocation at most."
  type        = number
  default     = 100

  validation {
    condition     = var.consolidate_batch_size >= 1 && var.consolidate_batch_size <= 10000
    error_message = "consolidate_batch_size must be 1 to 10000."
  }
}

variable "consolidate_batch_window_s" {
  description = "How long the poller gathers postings before invoking (SQS needs at least 1 for batches over 10)."
  type        = number
  default     = 1
}

variable "consolidate_max_concurrency" {
  description = "Concurrent consolidate invocations the SQS poller may run (2 to 1000)."
  type        = number
  default     = 5

  validation {
    condition     = var.consolidate_max_concurrency >= 2 && var.consolidate_max_concurrency <= 1000
    error_message = "SQS event source maximum_concurrency must be 2 to 1000."
  }
}

# --- relay ----------------------------------------------------------------------------------------

variable "relay_batch_size" {
  description = "Stream records per relay invocation at most."
  type        = number
  default     = 100
}

variable "relay_batch_window_s" {
  description = "How long Lambda gathers stream records before invoking relay: fuller SQS batches (one SendMessageBatch per 10 postings) for up to this much more lag."
  type        = number
  default     = 1
}

variable "relay_parallelization" {
  description = "Concurrent relay invocations per stream shard (1 to 10); order within a shard does not matter to consolidation."
  type        = number
  default     = 2
}

variable "relay_max_retries" {
  description = "Retries of a failing stream batch before its records go to the relay-failures queue."
  type        = number
  default     = 10
}

variable "reconcile_schedule" {
  description = "EventBridge schedule expression of relay's reconciliation pass."
  type        = string
  default     = "cron(17 3 * * ? *)"
}

variable "reconcile_days" {
  description = "FLUXO_RECONCILE_DAYS: business dates a reconciliation pass checks, back from today; more than the 31-day backdating window."
  type        = number
  default     = 32
}

variable "reconcile_grace" {
  description = "FLUXO_RECONCILE_GRACE: how long after recording an entry in no balance is published again."
  type        = string
  default     = "10m"
}

# --- DynamoDB and backup --------------------------------------------------------------------------

variable "table_name" {
  description = "Name of the ledger table; empty means <project>-<environment>-ledger. Set it to adopt a table restored from a backup (docs/operations.md)."
  type        = string
  default     = ""
}

variable "table_deletion_protection" {
  description = "Refuse to delete the ledger table (turn off deliberately before a destroy)."
  type        = bool
  default     = true
}

variable "pitr_recovery_days" {
  description = "Point-in-time recovery window of the table, 1 to 35 days."
  type        = number
  default     = 35
}

variable "backup_retention_days" {
  description = "How long AWS Backup keeps the daily backups of the table."
  type        = number
  default     = 90
}

variable "backup_schedule" {
  description = "When AWS Backup takes the daily backup (cron, UTC)."
  type        = string
  default     = "cron(0 5 * * ? *)"
}

variable "dr_region" {
  description = "Second region, where every daily backup is copied to a vault of its own (not var.region)."
  type        = string
  default     = "us-west-2"

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.dr_region))
    error_message = "dr_region must be an AWS region name, such as us-west-2."
  }
}

variable "dr_backup_retention_days" {
  description = "How long the copies in the dr_region vault are kept, in days."
  type        = number
  default     = 90
}

variable "backup_copy_vault_arn" {
  description = "A backup vault of another AWS account that receives a copy of every daily backup too; empty copies to no other account (docs/operations.md)."
  type        = string
  default     = ""

  validation {
    condition     = var.backup_copy_vault_arn == "" || can(regex("^arn:aws[a-z-]*:backup:[a-z0-9-]+:[0-9]{12}:backup-vault:[A-Za-z0-9_.-]{2,50}$", var.backup_copy_vault_arn))
    error_message = "backup_copy_vault_arn must be empty or the ARN of a backup vault (arn:aws:backup:<region>:<account>:backup-vault:<name>)."
  }
}

variable "backup_vault_lock" {
  description = "Lock both backup vaults in compliance mode: once backup_vault_lock_changeable_days have passed, nobody (root included) can delete a recovery point early, shorten its retention, or remove the lock. false leaves the vaults deletable with their recovery points (dev)."
  type        = bool
  default     = true
}

variable "backup_vault_lock_changeable_days" {
  description = "Grace period in which a new vault lock can still be changed or removed; after it the lock is permanent (at least 3 days)."
  type        = number
  default     = 3

  validation {
    condition     = var.backup_vault_lock_changeable_days >= 3
    error_message = "AWS Backup needs at least 3 days before a compliance-mode lock takes effect."
  }
}

variable "backup_vault_lock_min_retention_days" {
  description = "Shortest retention a locked vault accepts: no recovery point can be deleted younger than this. At most backup_retention_days and dr_backup_retention_days."
  type        = number
  default     = 30

  validation {
    condition     = var.backup_vault_lock_min_retention_days >= 1
    error_message = "backup_vault_lock_min_retention_days must be at least 1."
  }
}

variable "backup_vault_lock_max_retention_days" {
  description = "Longest retention a locked vault accepts. At least backup_retention_days and dr_backup_retention_days."
  type        = number
  default     = 365
}

variable "restore_test_schedule" {
  description = "When AWS Backup restores the latest backup of the table to a scratch table to prove it restores (cron, UTC)."
  type        = string
  default     = "cron(0 9 ? * MON *)"
}

variable "break_glass_role_name" {
  description = "IAM role (name, with its path if it has one) that alone may disable or schedule the deletion of the KMS keys; managed outside this stack (docs/operations.md)."
  type        = string
  default     = "fluxo-break-glass"

  validation {
    condition     = can(regex("^([A-Za-z0-9+=,.@_-]+/)*[A-Za-z0-9+=,.@_-]{1,64}$", var.break_glass_role_name))
    error_message = "break_glass_role_name must be an IAM role name, optionally after its path (a/b/name)."
  }
}

# --- Cognito --------------------------------------------------------------------------------------

variable "resource_server_identifier" {
  description = "Cognito resource server id; API Gateway checks scopes as <id>/ledger:read and <id>/ledger:write."
  type        = string
  default     = "fluxo"
}

variable "cognito_domain_prefix" {
  description = "Prefix of the Cognito hosted domain (globally unique in the region); empty picks <project>-<environment>-<account id>."
  type        = string
  default     = ""
}

variable "callback_urls" {
  description = "Redirect URLs of the authorization code flow of the app client (no default: each environment names its own; prod takes https only, not on localhost)."
  type        = list(string)

  validation {
    condition     = length(var.callback_urls) > 0
    error_message = "The authorization code flow needs at least one callback URL."
  }
}

variable "logout_urls" {
  description = "Sign-out URLs of the app client (prod takes https only, not on localhost)."
  type        = list(string)
}

variable "cognito_mfa_required" {
  description = "Every user signs in with a second factor (TOTP); false leaves it to each user."
  type        = bool
  default     = true
}

variable "cognito_threat_protection" {
  description = "Cognito threat protection: ENFORCED blocks risky sign-ins and compromised credentials, AUDIT only reports them, OFF has none (and keeps the pool on the Essentials plan)."
  type        = string
  default     = "ENFORCED"

  validation {
    condition     = contains(["ENFORCED", "AUDIT", "OFF"], var.cognito_threat_protection)
    error_message = "Use ENFORCED, AUDIT or OFF."
  }
}

variable "allow_admin_password_auth" {
  description = "Let operators with IAM credentials get tokens with AdminInitiateAuth (smoke tests); keep false in production."
  type        = bool
  default     = false
}

variable "access_token_validity_minutes" {
  description = "Lifetime of access tokens (5 to 1440 minutes)."
  type        = number
  default     = 60
}

variable "cognito_deletion_protection" {
  description = "Refuse to delete the user pool."
  type        = bool
  default     = true
}

# --- alarms ---------------------------------------------------------------------------------------

variable "alarm_email" {
  description = "E-mail subscribed to the alarm topic; empty subscribes nobody (subscribe a pager instead)."
  type        = string
  default     = ""
}

variable "api_5xx_percent_max" {
  description = "Alarm when more than this share of API requests answer 5xx, in percent."
  type        = number
  default     = 1
}

variable "api_latency_p95_ms_max" {
  description = "Alarm when the API's p95 latency is over this, in milliseconds."
  type        = number
  default     = 500
}

variable "consolidation_lag_ms_p99_max" {
  description = "Alarm when the p99 consolidation lag (applied at minus recorded at) exceeds this, in milliseconds."
  type        = number
  default     = 60000
}

variable "relay_iterator_age_s_max" {
  description = "Alarm when relay trails the table's stream by more than this many seconds."
  type        = number
  default     = 60
}

variable "queue_age_s_max" {
  description = "Alarm when the oldest posting waiting for consolidation is older than this, in seconds."
  type        = number
  default     = 60
}

variable "xray_sampling_rate" {
  description = "Share of the stage's requests X-Ray records beyond the first each second (0 to 1)."
  type        = number
  default     = 0.01
}

# --- delivery -------------------------------------------------------------------------------------

variable "deployment_config" {
  description = "How CodeDeploy moves each function's live alias to a new version: a canary in prod, all at once in dev."
  type        = string
  default     = "CodeDeployDefault.LambdaCanary10Percent5Minutes"

  validation {
    condition = contains([
      "CodeDeployDefault.LambdaAllAtOnce",
      "CodeDeployDefault.LambdaCanary10Percent5Minutes",
      "CodeDeployDefault.LambdaCanary10Percent10Minutes",
      "CodeDeployDefault.LambdaLinear10PercentEvery1Minute",
    ], var.deployment_config)
    error_message = "deployment_config must be one of CodeDeploy's predefined Lambda configurations."
  }
}

variable "github_repository" {
  description = "The GitHub repository (owner/name) whose workflows may assume the deploy role, on main or in this environment."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", var.github_repository))
    error_message = "github_repository must be owner/name."
  }
}

variable "github_oidc_provider_arn" {
  description = "The account's GitHub OIDC provider, when another stack already created it (one per account); empty creates it here."
  type        = string
  default     = ""
}
