# Development: small, cheap, disposable. `terraform plan -var-file=env/dev.tfvars`

environment = "dev"
region      = "us-east-1"

log_retention_days        = 30
table_deletion_protection = false
pitr_recovery_days        = 35
backup_retention_days     = 7

# Backups are copied to the DR region as in prod, kept a week, in vaults left unlocked so that dev
# can be torn down with its recovery points.
dr_region                = "us-west-2"
dr_backup_retention_days = 7
backup_vault_lock        = false

api_throttle_rate_rps             = 100
api_throttle_burst                = 200
waf_requests_per_ip_per_minute    = 1200
waf_requests_per_token_per_minute = 1200

ingest_reserved_concurrency      = 10
report_reserved_concurrency      = 10
consolidate_reserved_concurrency = 2
relay_reserved_concurrency       = 10
claims_reserved_concurrency      = 2

# No provisioned concurrency in dev: cold starts are acceptable and it is billed by the hour.
ingest_provisioned_min = 0
ingest_provisioned_max = 0
report_provisioned_min = 0
report_provisioned_max = 0

consolidate_max_concurrency = 2

allow_admin_password_auth   = true
cognito_deletion_protection = false
kms_deletion_window_days    = 7

# Local apps sign in here; a second factor is left to each user, and no threat protection (Plus plan).
callback_urls             = ["http://localhost:8080/callback"]
logout_urls               = ["http://localhost:8080/"]
cognito_mfa_required      = false
cognito_threat_protection = "OFF"

# Delivery: .github/workflows/deploy.yml assumes fluxo-dev-deploy through OIDC from this repository.
deployment_config = "CodeDeployDefault.LambdaAllAtOnce"
github_repository = "fluxo-ledger/fluxo"
