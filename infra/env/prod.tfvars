# Production: sized for 50 req/s of reports with no loss as the floor, with room for peaks of
# several hundred; docs/architecture.md (sizing) shows the arithmetic and what 5,000 req/s needs.
# `terraform plan -var-file=env/prod.tfvars`

environment = "prod"
region      = "us-east-1"

log_retention_days        = 365
table_deletion_protection = true
pitr_recovery_days        = 35
backup_retention_days     = 90

# Every daily backup is copied to a second region; both vaults are locked in compliance mode three
# days after the first apply: from then on no recovery point can be deleted before 30 days, by
# anyone, and the lock itself cannot be removed.
dr_region                            = "us-west-2"
dr_backup_retention_days             = 90
backup_vault_lock                    = true
backup_vault_lock_changeable_days    = 3
backup_vault_lock_min_retention_days = 30
backup_vault_lock_max_retention_days = 365
# backup_copy_vault_arn = "arn:aws:backup:us-west-2:<backup account>:backup-vault:fluxo-prod-ledger"

api_throttle_rate_rps             = 1000
api_throttle_burst                = 2000
waf_requests_per_ip_per_minute    = 6000
waf_requests_per_token_per_minute = 6000

ingest_memory_mb = 256
report_memory_mb = 256

ingest_reserved_concurrency      = 200
report_reserved_concurrency      = 300
consolidate_reserved_concurrency = 20
relay_reserved_concurrency       = 10
claims_reserved_concurrency      = 10

ingest_provisioned_min         = 5
ingest_provisioned_max         = 100
report_provisioned_min         = 5
report_provisioned_max         = 150
provisioned_utilization_target = 0.7

consolidate_batch_size      = 100
consolidate_batch_window_s  = 1
consolidate_max_concurrency = 10

allow_admin_password_auth   = false
cognito_deletion_protection = true

# alarm_email = "oncall@example.com"

# The merchant app's own addresses (https, never localhost: a precondition refuses them). Every user
# has a second factor; risky sign-ins and compromised credentials are blocked.
callback_urls             = ["https://app.fluxo.example/callback"]
logout_urls               = ["https://app.fluxo.example/"]
cognito_mfa_required      = true
cognito_threat_protection = "ENFORCED"

# Delivery: .github/workflows/deploy.yml assumes fluxo-prod-deploy through OIDC from this repository.
deployment_config = "CodeDeployDefault.LambdaCanary10Percent5Minutes"
github_repository = "fluxo-ledger/fluxo"
