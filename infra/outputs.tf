# What a client, an operator or a script needs after `terraform apply`.

output "api_url" {
  description = "Base URL of the API (the stage's invoke URL); append /health or /v1/..."
  value       = aws_api_gateway_stage.ledger.invoke_url
}

output "user_pool_id" {
  description = "Cognito user pool of the API's callers."
  value       = aws_cognito_user_pool.ledger.id
}

output "app_client_id" {
  description = "Cognito app client (public, authorization code with PKCE)."
  value       = aws_cognito_user_pool_client.app.id
}

output "cognito_domain" {
  description = "Cognito hosted domain: sign-in pages and OAuth endpoints."
  value       = "https://${aws_cognito_user_pool_domain.ledger.domain}.auth.${local.region}.amazoncognito.com"
}

output "token_endpoint" {
  description = "OAuth 2.0 token endpoint of the user pool."
  value       = "https://${aws_cognito_user_pool_domain.ledger.domain}.auth.${local.region}.amazoncognito.com/oauth2/token"
}

output "scopes" {
  description = "The resource-server scopes to request."
  value       = aws_cognito_resource_server.ledger.scope_identifiers
}

output "queue_url" {
  description = "SQS queue of postings (FLUXO_QUEUE_URL)."
  value       = aws_sqs_queue.postings.url
}

output "dead_letter_queue_url" {
  description = "Dead-letter queue of postings that failed queue_max_receives times."
  value       = aws_sqs_queue.dead_letters.url
}

output "table_name" {
  description = "DynamoDB ledger table (FLUXO_TABLE)."
  value       = aws_dynamodb_table.ledger.name
}

output "backup_vault_arn" {
  description = "AWS Backup vault of the table's daily backups, in the deployment's region."
  value       = aws_backup_vault.ledger.arn
}

output "dr_backup_vault_arn" {
  description = "AWS Backup vault in dr_region holding a copy of every daily backup; restore from it when the region is lost."
  value       = aws_backup_vault.ledger_dr.arn
}

output "alarm_topic_arn" {
  description = "SNS topic every alarm notifies; subscribe a pager to it."
  value       = aws_sns_topic.alarms.arn
}

output "dashboard_url" {
  description = "CloudWatch dashboard of the deployment."
  value       = "https://${local.region}.console.aws.amazon.com/cloudwatch/home?region=${local.region}#dashboards:name=${aws_cloudwatch_dashboard.ledger.dashboard_name}"
}

output "function_versions" {
  description = "The version of each function this apply published: what CodeDeploy moves its live alias to (infra/scripts/deploy-functions.sh)."
  value       = { for name, _ in local.functions : name => aws_lambda_function.fluxo[name].version }
}

output "codedeploy_app" {
  description = "The CodeDeploy application whose deployment groups (one per function) shift the live aliases."
  value       = aws_codedeploy_app.functions.name
}

output "deploy_role_arn" {
  description = "The role GitHub Actions assumes through OIDC to plan, apply and deploy this stack."
  value       = aws_iam_role.deploy.arn
}
