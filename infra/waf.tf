# WAF in front of the API stage: a body size limit (the functions' 16 KiB, but for batches), rate limits per client
# address and per bearer token, and AWS's managed rules for bad inputs (Log4j among them), common exploits, addresses with
# a bad reputation and anonymizers. Blocks answer problem+json like the API; logs go to CloudWatch
# without tokens.

resource "aws_wafv2_web_acl" "api" {
  name        = "${local.name}-api"
  description = "Protects the ${local.name} API stage"
  scope       = "REGIONAL"

  default_action {
    allow {}
  }

  # Inspect the first 16 KiB of a body (the most WAF inspects for API Gateway without extra cost);
  # what lies beyond counts as a match of the size rule below.
  association_config {
    request_body {
      api_gateway {
        default_size_inspection_limit = "KB_16"
      }
    }
  }

  custom_response_body {
    key          = "too-large"
    content_type = "APPLICATION_JSON"
    content = jsonencode({
      type   = "urn:fluxo:problem:too-large"
      title  = "Request body too large"
      status = 413
      detail = "request bodies are limited to ${var.body_bytes_max} bytes"
    })
  }

  custom_response_body {
    key          = "throttled"
    content_type = "APPLICATION_JSON"
    content = jsonencode({
      type   = "urn:fluxo:problem:throttled"
      title  = "Too many requests"
      status = 429
      detail = "too many requests from this address; retry later"
    })
  }

  rule {
    name     = "body-size-limit"
    priority = 0

    action {
      block {
        custom_response {
          response_code            = 413
          custom_response_body_key = "too-large"
        }
      }
    }

    # Every route but the batch's. A batch body may reach 256 KiB, past what WAF inspects: the
    # ingest function holds it to that (413), and WAF's managed rules still read its first 16 KiB.
    # A path that only looks like the batch's after decoding stays under this rule.
    statement {
      and_statement {
        statement {
          size_constraint_statement {
            comparison_operator = "GT"
            size                = var.body_bytes_max
            field_to_match {
              body {
                oversize_handling = "MATCH"
              }
            }
            text_transformation {
              priority = 0
              type     = "NONE"
            }
          }
        }
        statement {
          not_statement {
            statement {
              byte_match_statement {
                search_string         = "/entries/batch"
                positional_constraint = "ENDS_WITH"
                field_to_match {
                  uri_path {}
                }
                text_transformation {
                  priority = 0
                  type     = "NONE"
                }
              }
            }
          }
        }
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${local.name}-body-size-limit"
      sampled_requests_enabled   = true
    }
  }

  rule {
    name     = "rate-per-ip"
    priority = 1

    action {
      block {
        custom_response {
          response_code            = 429
          custom_response_body_key = "throttled"
          response_header {
            name  = "Retry-After"
            value = "60"
          }
        }
      }
    }

    statement {
      rate_based_statement {
        limit                 = var.waf_requests_per_ip_per_minute
        evaluation_window_sec = 60
        aggregate_key_type    = "IP"
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${local.name}-rate-per-ip"
      sampled_requests_enabled   = true
    }
  }

  # One bucket per bearer token, whatever addresses it comes from: a merchant's token spread over many
  # clients cannot take the stage either. Requests without the header are left to the rule above.
  rule {
    name     = "rate-per-token"
    priority = 2

    action {
      block {
        custom_response {
          response_code            = 429
          custom_response_body_key = "throttled"
          response_header {
            name  = "Retry-After"
            value = "60"
          }
        }
      }
    }

    statement {
      rate_based_statement {
        limit                 = var.waf_requests_per_token_per_minute
        evaluation_window_sec = 60
        aggregate_key_type    = "CUSTOM_KEYS"
        custom_key {
          header {
            name = "authorization"
            text_transformation {
              priority = 0
              type     = "NONE"
            }
          }
        }
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${local.name}-rate-per-token"
      sampled_requests_enabled   = true
    }
  }

  rule {
    name     = "aws-ip-reputation"
    priority = 3

    override_action {
      none {}
    }

    statement {
      managed_rule_group_statement {
        vendor_name = "AWS"
        name        = "AWSManagedRulesAmazonIpReputationList"
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${local.name}-aws-ip-reputation"
      sampled_requests_enabled   = true
    }
  }

  # Tor exit nodes and anonymizing proxies are blocked. Hosting providers' addresses only count:
  # merchants' own servers, in some cloud, are legitimate callers.
  rule {
    name     = "aws-anonymous-ip"
    priority = 4

    override_action {
      none {}
    }

    statement {
      managed_rule_group_statement {
        vendor_name = "AWS"
        name        = "AWSManagedRulesAnonymousIpList"

        rule_action_override {
          name = "HostingProviderIPList"
          action_to_use {
            count {}
          }
        }
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${local.name}-aws-anonymous-ip"
      sampled_requests_enabled   = true
    }
  }

  # Includes the Log4JRCE rules.
  rule {
    name     = "aws-known-bad-inputs"
    priority = 5

    override_action {
      none {}
    }

    statement {
      managed_rule_group_statement {
        vendor_name = "AWS"
        name        = "AWSManagedRulesKnownBadInputsRuleSet"
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${local.name}-aws-known-bad-inputs"
      sampled_requests_enabled   = true
    }
  }

  rule {
    name     = "aws-common"
    priority = 6

    override_action {
      none {}
    }

    statement {
      managed_rule_group_statement {
        vendor_name = "AWS"
        name        = "AWSManagedRulesCommonRuleSet"

        # The common set blocks bodies over 8 KiB; the API accepts up to 16 KiB and the
        # body-size-limit rule enforces that, so this rule only counts.
        rule_action_override {
          name = "SizeRestrictions_BODY"
          action_to_use {
            count {}
          }
        }
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${local.name}-aws-common"
      sampled_requests_enabled   = true
    }
  }

  visibility_config {
    cloudwatch_metrics_enabled = true
    metric_name                = "${local.name}-api"
    sampled_requests_enabled   = true
  }
}

resource "aws_wafv2_web_acl_association" "api" {
  resource_arn = aws_api_gateway_stage.ledger.arn
  web_acl_arn  = aws_wafv2_web_acl.api.arn
}

# WAF requires the log group's name to start with aws-waf-logs-.
resource "aws_cloudwatch_log_group" "waf" {
  name              = "aws-waf-logs-${local.name}-api"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.ledger.arn
}

resource "aws_wafv2_web_acl_logging_configuration" "api" {
  resource_arn            = aws_wafv2_web_acl.api.arn
  log_destination_configs = [aws_cloudwatch_log_group.waf.arn]

  # Bearer tokens must never reach a log.
  redacted_fields {
    single_header {
      name = "authorization"
    }
  }

  # By default only what WAF blocked or counted is kept: enough to explain a refusal or tune a rule,
  # at a fraction of the cost of logging every request.
  dynamic "logging_filter" {
    for_each = var.waf_log_allowed_requests ? [] : [1]
    content {
      default_behavior = "DROP"

      filter {
        behavior    = "KEEP"
        requirement = "MEETS_ANY"
        condition {
          action_condition {
            action = "BLOCK"
          }
        }
        condition {
          action_condition {
            action = "COUNT"
          }
        }
      }
    }
  }
}
