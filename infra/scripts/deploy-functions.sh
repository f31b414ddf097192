#!/usr/bin/env bash
# Moves each function's `live` alias to the version the last `terraform apply` published, through
# CodeDeploy (infra/deploy.tf): canary or all at once as the environment's deployment group says,
# rolled back by CodeDeploy if an alarm fires. One deployment at a time, each waited for; exits
# non-zero as soon as one fails or is rolled back, so later functions keep their old version.
#
# Usage (in infra/, after `terraform apply`, with credentials for the stack's account):
#   scripts/deploy-functions.sh [function ...]        (default: every function)
set -euo pipefail
cd "$(dirname "$0")/.."

app=$(terraform output -raw codedeploy_app)
versions=$(terraform output -json function_versions)
functions=("$@")
if [ ${#functions[@]} -eq 0 ]; then
  mapfile -t functions < <(jq -r 'keys[]' <<<"$versions")
fi

for name in "${functions[@]}"; do
  target=$(jq -er --arg f "$name" '.[$f]' <<<"$versions")
  function_name="$app-$name"
  current=$(aws lambda get-alias --function-name "$function_name" --name live --query FunctionVersion --output text)
  if [ "$current" = "$target" ]; then
    echo "$name: live is already version $target"
    continue
  fi
  appspec=$(jq -cn --arg f "$function_name" --arg from "$current" --arg to "$target" \
    '{version: 0.0, Resources: [{live: {Type: "AWS::Lambda::Function", Properties: {Name: $f, Alias: "live", CurrentVersion: $from, TargetVersion: $to}}}]}')
  revision=$(jq -cn --arg content "$appspec" '{revisionType: "AppSpecContent", appSpecContent: {content: $content}}')
  id=$(aws deploy create-deployment --application-name "$app" --deployment-group-name "$name" \
    --description "live: version $current to $target" --revision "$revision" --query deploymentId --output text)
  echo "$name: live moving from version $current to $target (deployment $id)"
  if ! aws deploy wait deployment-successful --deployment-id "$id"; then
    aws deploy get-deployment --deployment-id "$id" --query 'deploymentInfo.[status,errorInformation.message]' --output text >&2
    echo "$name: deployment $id did not succeed; CodeDeploy has moved live back to version $current" >&2
    exit 1
  fi
  echo "$name: live is version $target"
done
