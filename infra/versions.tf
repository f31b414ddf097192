# Terraform and provider versions. The Lambda packages come from `make package`
# (target/lambda/<name>/bootstrap.zip); only the small Cognito trigger in cognito/ is zipped here.

terraform {
  # 1.10 or later: the S3 backend's native lock file.
  required_version = ">= 1.10"

  # Remote state, configured per environment: `terraform init -backend-config=env/$ENV.s3.tfbackend`
  # (bootstrap/ creates the bucket; docs/operations.md).
  backend "s3" {}

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # 6.25 or later, below 7: the schema tests/infra/schema.py checks against (package-lock.json
      # pins @cdktf/provider-aws 21.22.1, which carries hashicorp/aws 6.25.0's), `region` on aws_region.
      version = "~> 6.25"
    }
    archive = {
      source  = "hashicorp/archive"
      version = "~> 2.7"
    }
  }
}

provider "aws" {
  region = var.region

  default_tags {
    tags = local.default_tags
  }
}

# The disaster-recovery region: only the copies of the backups live there (tables.tf), in a vault
# under a key of that region (kms.tf), tagged as everything else.
provider "aws" {
  alias  = "dr"
  region = var.dr_region

  default_tags {
    tags = local.default_tags
  }
}

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

locals {
  default_tags = merge(var.tags, {
    project     = var.project
    environment = var.environment
    managed_by  = "terraform"
  })
  name       = "${var.project}-${var.environment}"
  account_id = data.aws_caller_identity.current.account_id
  region     = data.aws_region.current.region
  partition  = data.aws_partition.current.partition
}
