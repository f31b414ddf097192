//! Static checks of the Terraform in `infra/` and of the contract it deploys (`docs/openapi.yaml`).
//!
//! No provider can be downloaded here, so nothing is planned: every `infra/*.tf` is parsed with
//! `hcl-rs` and the invariants the design rests on are asserted on the syntax tree. Each test names
//! the promise it keeps: WAF in front of the API, arm64 functions with reserved concurrency, partial
//! batch failures, dead letters, point-in-time recovery, every route of the contract in the API, no
//! wildcard IAM action, and backups that survive the region, the account and the key (copied to a
//! second region, locked in prod, restore-tested weekly, keys only a break-glass role can retire).
// Test code states what it expects with `expect`; the workspace denies it outside tests (Cargo.toml).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use hcl::{Block, Body, Expression, ObjectKey};

/// The routes of the v1 contract (README, `shared/src/http/route.rs`), as method and path template.
const CONTRACT: [(&str, &str); 10] = [
    ("GET", "/health"),
    ("PUT", "/v1/accounts/{account}"),
    ("GET", "/v1/accounts/{account}"),
    ("POST", "/v1/accounts/{account}/entries"),
    ("POST", "/v1/accounts/{account}/entries/batch"),
    ("GET", "/v1/accounts/{account}/entries"),
    ("GET", "/v1/accounts/{account}/entries/{id}"),
    ("POST", "/v1/accounts/{account}/entries/{id}/reversal"),
    ("GET", "/v1/accounts/{account}/balances/daily"),
    ("GET", "/v1/accounts/{account}/balances/daily/{date}"),
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every top-level block of every `infra/*.tf`, with the file it came from.
struct Infra {
    blocks: Vec<(String, Block)>,
}

impl Infra {
    fn load() -> Self {
        let dir = root().join("infra");
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
            .map(|entry| entry.expect("directory entry").path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "tf"))
            .collect();
        files.sort();
        assert!(!files.is_empty(), "no .tf files in {}", dir.display());
        let mut blocks = Vec::new();
        for path in files {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {name}: {e}"));
            let body: Body = hcl::parse(&text).unwrap_or_else(|e| panic!("{name} does not parse: {e}"));
            blocks.extend(body.into_blocks().map(|b| (name.clone(), b)));
        }
        Self { blocks }
    }

    fn files(&self) -> BTreeSet<&str> {
        self.blocks.iter().map(|(file, _)| file.as_str()).collect()
    }

    /// `resource "<kind>" "<name>"` (or `data`) blocks of one kind, by name.
    fn of(&self, block: &str, kind: &str) -> BTreeMap<&str, &Block> {
        self.blocks
            .iter()
            .map(|(_, b)| b)
            .filter(|b| b.identifier() == block && b.labels().first().map(|l| l.as_str()) == Some(kind))
            .filter_map(|b| b.labels().get(1).map(|name| (name.as_str(), b)))
            .collect()
    }

    fn resources(&self, kind: &str) -> BTreeMap<&str, &Block> {
        self.of("resource", kind)
    }

    /// A local value, from whichever `locals` block defines it.
    fn local(&self, name: &str) -> &Expression {
        self.blocks
            .iter()
            .filter(|(_, b)| b.identifier() == "locals")
            .find_map(|(_, b)| attr(b, name))
            .unwrap_or_else(|| panic!("no local `{name}`"))
    }
}

fn attr<'a>(block: &'a Block, key: &str) -> Option<&'a Expression> {
    block.body().attributes().find(|a| a.key() == key).map(|a| a.expr())
}

fn nested<'a>(block: &'a Block, identifier: &str) -> Vec<&'a Block> {
    block.body().blocks().filter(|b| b.identifier() == identifier).collect()
}

/// An expression as HCL text, to look for references in it.
fn text(expr: &Expression) -> String {
    hcl::format::to_string(expr).expect("formatting an expression cannot fail")
}

fn strings(expr: &Expression) -> Vec<String> {
    match expr {
        Expression::Array(items) => items
            .iter()
            .filter_map(|item| match item {
                Expression::String(s) => Some(s.clone()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// An object key written as an identifier or a string literal.
fn key_name(key: &ObjectKey) -> Option<String> {
    match key {
        ObjectKey::Identifier(ident) => Some(ident.as_str().to_owned()),
        ObjectKey::Expression(Expression::String(s)) => Some(s.clone()),
        _ => None,
    }
}

fn object_keys(expr: &Expression) -> BTreeSet<String> {
    match expr {
        Expression::Object(object) => object.keys().filter_map(key_name).collect(),
        _ => BTreeSet::new(),
    }
}

fn object_field<'a>(expr: &'a Expression, field: &str) -> Option<&'a Expression> {
    match expr {
        Expression::Object(object) => {
            object.iter().find_map(|(key, value)| (key_name(key).as_deref() == Some(field)).then_some(value))
        }
        _ => None,
    }
}

#[test]
fn every_concern_has_its_file_and_every_file_parses() {
    // GIVEN the one-file-per-concern layout WHEN infra/ is parsed THEN each concern's file is there.
    let infra = Infra::load();
    let files = infra.files();
    for want in [
        "versions.tf",
        "variables.tf",
        "api.tf",
        "waf.tf",
        "auth.tf",
        "functions.tf",
        "queue.tf",
        "tables.tf",
        "alarms.tf",
        "outputs.tf",
        "deploy.tf",
    ] {
        assert!(files.contains(want), "infra/{want} is missing (found {files:?})");
    }
    for tfvars in ["dev.tfvars", "prod.tfvars"] {
        let path = root().join("infra/env").join(tfvars);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        hcl::parse(&text).unwrap_or_else(|e| panic!("{tfvars} does not parse: {e}"));
    }
}

#[test]
fn the_waf_acl_is_associated_with_the_api_stage() {
    let infra = Infra::load();
    let stages = infra.resources("aws_api_gateway_stage");
    let acls = infra.resources("aws_wafv2_web_acl");
    let associations = infra.resources("aws_wafv2_web_acl_association");
    assert!(!stages.is_empty(), "no API Gateway stage");
    for stage in stages.keys() {
        let stage_arn = format!("aws_api_gateway_stage.{stage}.arn");
        let association =
            associations.values().find(|a| attr(a, "resource_arn").map(text).as_deref() == Some(&stage_arn));
        let association = association.unwrap_or_else(|| panic!("stage {stage} has no WAF web ACL association"));
        let acl_ref = attr(association, "web_acl_arn").map(text).unwrap_or_default();
        let acl = acls
            .iter()
            .find(|(name, _)| acl_ref == format!("aws_wafv2_web_acl.{name}.arn"))
            .map(|(_, acl)| *acl)
            .unwrap_or_else(|| panic!("stage {stage} is associated with {acl_ref:?}, not a web ACL of infra/"));

        // AND the ACL holds the rules the design names.
        assert_eq!(attr(acl, "scope"), Some(&Expression::String("REGIONAL".into())));
        let rules = hcl::format::to_string(acl.body()).expect("format");
        for needle in [
            "AWSManagedRulesCommonRuleSet",
            "AWSManagedRulesKnownBadInputsRuleSet",
            "AWSManagedRulesAmazonIpReputationList",
            "rate_based_statement",
            "size_constraint_statement",
        ] {
            assert!(rules.contains(needle), "web ACL lacks {needle}");
        }
    }
    assert!(!infra.resources("aws_wafv2_web_acl_logging_configuration").is_empty(), "WAF logs nowhere");
}

#[test]
fn every_function_is_arm64_with_reserved_concurrency() {
    let infra = Infra::load();
    let functions = infra.resources("aws_lambda_function");
    assert!(!functions.is_empty(), "no Lambda function");
    for (name, function) in &functions {
        let architectures = attr(function, "architectures").map(strings).unwrap_or_default();
        assert_eq!(architectures, ["arm64"], "aws_lambda_function.{name} is not arm64 only");
        let reserved = attr(function, "reserved_concurrent_executions")
            .unwrap_or_else(|| panic!("aws_lambda_function.{name} has no reserved_concurrent_executions"));
        // -1 (or null) would mean "unreserved": the function could be starved by another's flood.
        assert!(
            !matches!(reserved, Expression::Null) && text(reserved).trim() != "-1",
            "aws_lambda_function.{name} reserves nothing: {}",
            text(reserved)
        );
        let tracing = nested(function, "tracing_config");
        assert!(
            tracing.iter().any(|t| attr(t, "mode") == Some(&Expression::String("Active".into()))),
            "aws_lambda_function.{name} is not traced"
        );
    }

    // AND the four Rust functions are the ones deployed, with the settings their code reads.
    let deployed = object_keys(infra.local("functions"));
    for want in ["ingest", "report", "consolidate", "relay"] {
        assert!(deployed.contains(want), "function {want} is not deployed (local.functions: {deployed:?})");
    }
    let environment = infra.local("function_environment");
    for (key, value) in [("FLUXO_BACKEND", "aws"), ("FLUXO_AUTH", "apigateway")] {
        assert_eq!(object_field(environment, key), Some(&Expression::String(value.into())), "{key}");
    }
    for key in ["FLUXO_TABLE", "FLUXO_QUEUE_URL"] {
        assert!(object_field(environment, key).is_some(), "the functions get no {key}");
    }
}

#[test]
fn consolidation_and_relay_report_batch_item_failures() {
    let infra = Infra::load();
    let mappings = infra.resources("aws_lambda_event_source_mapping");
    assert!(mappings.contains_key("consolidate"), "no event source mapping feeds consolidate");
    assert!(mappings.contains_key("relay"), "no event source mapping feeds relay from the table's stream");
    for (name, mapping) in &mappings {
        let types = attr(mapping, "function_response_types").map(strings).unwrap_or_default();
        assert!(
            types.iter().any(|t| t == "ReportBatchItemFailures"),
            "event source mapping {name} fails whole batches: function_response_types = {types:?}"
        );
    }
    let scaling = nested(mappings["consolidate"], "scaling_config");
    assert!(
        scaling.iter().any(|s| attr(s, "maximum_concurrency").is_some()),
        "the SQS event source mapping has no maximum_concurrency"
    );
    // AND the stream's mapping sets a failing record aside rather than block its shard, and takes
    // only inserted entries.
    let relay = mappings["relay"];
    assert_eq!(attr(relay, "bisect_batch_on_function_error"), Some(&Expression::Bool(true)), "relay does not bisect");
    let failures = nested(relay, "destination_config").into_iter().flat_map(|d| nested(d, "on_failure")).count();
    assert_eq!(failures, 1, "relay's mapping has no on-failure destination");
    let pattern: String = nested(relay, "filter_criteria")
        .into_iter()
        .flat_map(|f| nested(f, "filter"))
        .filter_map(|f| attr(f, "pattern").map(text))
        .collect::<String>()
        .split_whitespace()
        .collect();
    assert!(
        pattern.contains("INSERT") && pattern.contains("E#"),
        "relay's filter takes more than new entries: {pattern}"
    );
}

#[test]
fn the_queue_dead_letters_into_the_dlq_and_outlasts_the_consumer() {
    let infra = Infra::load();
    let queues = infra.resources("aws_sqs_queue");
    let with_redrive: Vec<_> =
        queues.iter().filter_map(|(name, q)| attr(q, "redrive_policy").map(|p| (name, q, p))).collect();
    assert!(!with_redrive.is_empty(), "no queue has a redrive policy");
    for (name, queue, policy) in with_redrive {
        // Compared without spaces, so the formatter's alignment of `=` does not matter.
        let policy: String = text(policy).split_whitespace().collect();
        let target = queues
            .keys()
            .filter(|other| *other != name)
            .find(|other| policy.contains(&format!("deadLetterTargetArn=aws_sqs_queue.{other}.arn")));
        assert!(target.is_some(), "queue {name} dead-letters to no queue of infra/: {policy}");
        assert!(policy.contains("maxReceiveCount"), "queue {name}'s redrive policy has no maxReceiveCount");
        let visibility: String =
            attr(queue, "visibility_timeout_seconds").map(text).unwrap_or_default().split_whitespace().collect();
        assert!(
            visibility.contains("6*var.consolidate_timeout_s"),
            "queue {name}'s visibility timeout is not derived from six consolidate timeouts: {visibility:?}"
        );
    }
    for (name, queue) in &queues {
        assert!(
            attr(queue, "kms_master_key_id").is_some() || attr(queue, "sqs_managed_sse_enabled").is_some(),
            "queue {name} is not encrypted"
        );
    }
}

#[test]
fn the_table_is_recoverable_and_shaped_as_the_adapters_expect() {
    let infra = Infra::load();
    let tables = infra.resources("aws_dynamodb_table");
    assert_eq!(tables.len(), 1, "one ledger table");
    let table = tables.values().next().expect("one table");
    let pitr = nested(table, "point_in_time_recovery");
    assert!(pitr.iter().any(|p| attr(p, "enabled") == Some(&Expression::Bool(true))), "point-in-time recovery is off");
    assert_eq!(attr(table, "billing_mode"), Some(&Expression::String("PAY_PER_REQUEST".into())));
    assert!(attr(table, "deletion_protection_enabled").is_some(), "no deletion protection");
    let sse = nested(table, "server_side_encryption");
    assert!(
        sse.iter().any(|s| attr(s, "enabled") == Some(&Expression::Bool(true)) && attr(s, "kms_key_arn").is_some()),
        "the table is not encrypted with the customer managed key"
    );
    assert!(nested(table, "ttl").is_empty(), "idempotency records live in their entries: nothing may expire them");
    assert_eq!(attr(table, "stream_enabled"), Some(&Expression::Bool(true)), "the table's stream is the outbox");
    assert_eq!(attr(table, "stream_view_type"), Some(&Expression::String("NEW_IMAGE".into())));

    // AND the keys and indexes are those of shared/src/adapters/aws/provision.rs.
    let attributes: BTreeMap<String, String> = nested(table, "attribute")
        .iter()
        .filter_map(|a| match (attr(a, "name"), attr(a, "type")) {
            (Some(Expression::String(n)), Some(Expression::String(t))) => Some((n.clone(), t.clone())),
            _ => None,
        })
        .collect();
    for (name, kind) in [("PK", "S"), ("SK", "S"), ("GSI1PK", "S"), ("GSI1SK", "S"), ("GSI2PK", "S"), ("GSI2SK", "S")] {
        assert_eq!(attributes.get(name).map(String::as_str), Some(kind), "attribute {name}");
    }
    let indexes: BTreeMap<String, (String, String, String)> = nested(table, "global_secondary_index")
        .iter()
        .filter_map(|i| {
            let s = |k| match attr(i, k) {
                Some(Expression::String(v)) => Some(v.clone()),
                _ => None,
            };
            Some((s("name")?, (s("hash_key")?, s("range_key")?, s("projection_type")?)))
        })
        .collect();
    for (index, hash, range, projection) in
        [("GSI1", "GSI1PK", "GSI1SK", "INCLUDE"), ("GSI2", "GSI2PK", "GSI2SK", "KEYS_ONLY")]
    {
        assert_eq!(
            indexes.get(index),
            Some(&(hash.to_owned(), range.to_owned(), projection.to_owned())),
            "index {index}"
        );
    }
    // AND the date index carries exactly the attributes the adapter lists from it.
    let listed: Vec<String> = nested(table, "global_secondary_index")
        .iter()
        .filter(|i| attr(i, "name") == Some(&Expression::String("GSI1".into())))
        .filter_map(|i| match attr(i, "non_key_attributes") {
            Some(Expression::Array(values)) => Some(values.iter().filter_map(|v| match v {
                Expression::String(s) => Some(s.clone()),
                _ => None,
            })),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(listed, fluxo::adapters::aws::item::LISTED, "GSI1's non-key attributes");
}

/// The routes of the contract only the local runner serves (`x-fluxo-runner: true` in the document):
/// not in the REST API.
const RUNNER_ONLY: [(&str, &str); 4] =
    [("GET", "/ready"), ("GET", "/openapi.yaml"), ("GET", "/docs"), ("GET", "/docs/redoc.standalone.js")];

/// The `(METHOD, path)` pairs under the top-level `paths:` of an OpenAPI YAML document, by a line
/// scan: path keys are indented two spaces, operation keys four (the layout docs/openapi.yaml keeps).
fn openapi_routes(yaml: &str) -> BTreeSet<(String, String)> {
    const METHODS: [&str; 8] = ["get", "put", "post", "delete", "patch", "head", "options", "trace"];
    let mut routes = BTreeSet::new();
    let mut in_paths = false;
    let mut path: Option<String> = None;
    for line in yaml.lines() {
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        if !line.starts_with(' ') {
            in_paths = line.trim_end() == "paths:";
            path = None;
            continue;
        }
        if !in_paths {
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        let key = line.trim().trim_end_matches(':').trim_matches(|c| c == '"' || c == '\'');
        if indent == 2 && key.starts_with('/') {
            path = Some(key.to_owned());
        } else if indent == 4
            && METHODS.contains(&key)
            && let Some(path) = &path
        {
            routes.insert((key.to_uppercase(), path.clone()));
        }
    }
    routes
}

#[test]
fn every_route_of_the_contract_is_in_the_openapi_document_the_api_is_built_from() {
    let yaml = std::fs::read_to_string(root().join("docs/openapi.yaml")).expect("docs/openapi.yaml");
    assert!(yaml.lines().any(|l| l.trim() == "openapi: 3.1.0"), "the contract is an OpenAPI 3.1 document");
    let routes = openapi_routes(&yaml);
    let contract: BTreeSet<(String, String)> =
        CONTRACT.iter().chain(&RUNNER_ONLY).map(|(m, p)| ((*m).to_owned(), (*p).to_owned())).collect();
    let missing: Vec<_> = contract.difference(&routes).collect();
    let extra: Vec<_> = routes.difference(&contract).collect();
    assert!(missing.is_empty(), "routes of the contract missing from docs/openapi.yaml: {missing:?}");
    assert!(extra.is_empty(), "routes in docs/openapi.yaml that the functions do not serve: {extra:?}");

    // AND the REST API's body is derived from that document: a route exists in the API iff it is there.
    let infra = Infra::load();
    let apis = infra.resources("aws_api_gateway_rest_api");
    assert_eq!(apis.len(), 1, "one REST API");
    let api = apis.values().next().expect("one API");
    let body = attr(api, "body").map(text).unwrap_or_default();
    assert!(body.contains("local.api_body"), "the REST API body is not the rendered document: {body}");
    let source = text(infra.local("openapi"));
    assert!(
        source.contains("yamldecode") && source.contains("docs/openapi.yaml"),
        "local.openapi does not decode docs/openapi.yaml: {source}"
    );
    let body = infra.local("api_body");
    let rendered = text(body);
    assert!(rendered.contains("local.api_paths"), "the API's paths are not the document's");
    // API Gateway imports OpenAPI 3.0 only: the body says 3.0.1 whatever the document's version.
    assert_eq!(object_field(body, "openapi"), Some(&Expression::String("3.0.1".into())), "the body's version");
    // AND the runner's own routes are marked so, and left out of the API.
    assert_eq!(yaml.matches("x-fluxo-runner: true").count(), RUNNER_ONLY.len(), "runner-only routes are marked");
    for (_, path) in RUNNER_ONLY {
        let start = yaml.find(&format!("\n  {path}:\n")).unwrap_or_else(|| panic!("{path} in the document"));
        let end = yaml[start + 1..].find("\n  /").map_or(yaml.len(), |e| start + 1 + e);
        assert!(yaml[start..end].contains("x-fluxo-runner: true"), "{path} is not marked as the runner's");
    }
    let served = text(infra.local("function_paths"));
    assert!(
        served.contains("local.openapi.paths") && served.contains("x-fluxo-runner"),
        "local.function_paths does not leave the runner's routes out of the document's: {served}"
    );
    let paths = text(infra.local("api_paths"));
    for needle in [
        "local.function_paths",
        "local.api_parameters",
        "x-amazon-apigateway-integration",
        "aws_proxy",
        "aws_lambda_alias.live",
    ] {
        assert!(paths.contains(needle), "local.api_paths lacks {needle}");
    }
    let parameters = text(infra.local("api_parameters"));
    assert!(parameters.contains("components.parameters"), "parameters are not resolved from the document's components");
    assert!(parameters.contains("local.function_paths"), "parameters come from other paths than the API's");
    assert!(rendered.contains("cognito_user_pools"), "no Cognito authorizer in the API body");

    // AND the scan itself sees a route that is added (so the check can fail).
    let extended = yaml.replacen("\npaths:\n", "\npaths:\n  /v1/other:\n    delete:\n      operationId: other\n", 1);
    assert!(openapi_routes(&extended).contains(&("DELETE".to_owned(), "/v1/other".to_owned())));
}

/// GIVEN the AWS operations each function's code calls (`adapters/aws/dynamo.rs`, `round.rs`,
/// `sqs.rs`, and the connections its `main` opens at init: a `GetItem`, and relay's
/// `GetQueueAttributes`) THEN its role's policy grants every one of them: a missing grant fails only
/// in AWS, at run time.
#[test]
fn each_function_may_call_the_aws_operations_its_code_calls() {
    let calls: [(&str, &[&str]); 4] = [
        ("ingest", &["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:TransactWriteItems"]),
        ("report", &["dynamodb:GetItem", "dynamodb:Query"]),
        (
            "consolidate",
            &[
                "dynamodb:GetItem",
                "dynamodb:BatchGetItem",
                "dynamodb:Query",
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
                "dynamodb:TransactWriteItems",
                "dynamodb:BatchWriteItem",
            ],
        ),
        (
            "relay",
            &[
                "dynamodb:GetItem",
                "dynamodb:BatchGetItem",
                "dynamodb:Query",
                "sqs:SendMessage",
                "sqs:GetQueueAttributes",
            ],
        ),
    ];
    let infra = Infra::load();
    let documents = infra.of("data", "aws_iam_policy_document");
    for (function, operations) in calls {
        let document = documents.get(function).unwrap_or_else(|| panic!("no policy document {function}"));
        let granted: BTreeSet<String> = nested(document, "statement")
            .iter()
            .flat_map(|st| attr(st, "actions").map(strings).unwrap_or_default())
            .collect();
        for operation in operations {
            assert!(granted.contains(*operation), "{function} may not call {operation}: {granted:?}");
        }
    }
}

/// An action that grants a whole service, or everything.
fn is_wildcard(action: &str) -> bool {
    action == "*" || action.ends_with(":*")
}

#[test]
fn no_iam_statement_grants_wildcard_actions() {
    let infra = Infra::load();
    let documents = infra.of("data", "aws_iam_policy_document");
    assert!(!documents.is_empty(), "no policy documents");
    // The documents a key policy is made of, where a resource of "*" means that key.
    let key_policies: BTreeSet<&str> =
        infra.resources("aws_kms_key").keys().flat_map(|key| key_policy(&infra, key)).map(|(name, _)| name).collect();
    assert!(key_policies.contains("kms"), "the ledger key's policy is not found: {key_policies:?}");
    for (name, document) in &documents {
        for statement in nested(document, "statement") {
            let sid = attr(statement, "sid").map(text).unwrap_or_default();
            let actions = attr(statement, "actions").map(strings).unwrap_or_default();
            let wildcards: Vec<_> = actions.iter().filter(|a| is_wildcard(a)).collect();
            assert!(wildcards.is_empty(), "policy {name} statement {sid} grants {wildcards:?}");
            assert!(attr(statement, "not_actions").is_none(), "policy {name} statement {sid} uses not_actions");

            // A statement on every resource is allowed only where no narrower resource exists: X-Ray
            // (no resource-level permissions) and a key policy (where "*" means the key itself).
            let resources = attr(statement, "resources").map(strings).unwrap_or_default();
            if resources.iter().any(|r| r == "*") {
                let xray_only = actions.iter().all(|a| a.starts_with("xray:"));
                let key_policy = key_policies.contains(*name) && actions.iter().all(|a| a.starts_with("kms:"));
                assert!(xray_only || key_policy, "policy {name} statement {sid} grants {actions:?} on every resource");
            }
        }
    }

    // AND every inline policy comes from such a document, so none escapes this check.
    for kind in ["aws_iam_role_policy", "aws_iam_policy", "aws_sqs_queue_policy", "aws_sns_topic_policy"] {
        for (name, policy) in infra.resources(kind) {
            let source = attr(policy, "policy").map(text).unwrap_or_default();
            assert!(
                source.starts_with("data.aws_iam_policy_document.") || source.starts_with("local."),
                "{kind}.{name} writes its policy inline: {source}"
            );
        }
    }

    // AND the check recognises what it must refuse.
    assert!(is_wildcard("*") && is_wildcard("dynamodb:*") && !is_wildcard("dynamodb:GetItem"));
}

/// GIVEN the patterns the contract gives account names and descriptions THEN, over every character
/// of the Basic Multilingual Plane, a description of that one character matches the pattern exactly
/// when the ledger stores it: the contract's generated clients and fuzzers refuse what the ledger
/// refuses (control and Unicode format characters), and nothing else.
#[test]
fn the_contract_patterns_refuse_exactly_the_characters_the_ledger_refuses() {
    let yaml = std::fs::read_to_string(root().join("docs/openapi.yaml")).expect("docs/openapi.yaml");
    let patterns: Vec<&str> = yaml
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pattern: '"))
        .filter_map(|p| p.strip_suffix('\''))
        .filter(|p| p.contains(r"\u007F-\u009F"))
        .collect();
    assert_eq!(patterns.len(), 3, "the name and the two descriptions: {patterns:?}");
    let description = regex::Regex::new(patterns[1]).expect("a pattern the regex crate reads");
    let refused_by_name = |p: &str| p.split(']').next().map(str::to_owned);
    assert!(
        patterns.iter().all(|p| refused_by_name(p) == refused_by_name(patterns[1])),
        "one set of refused characters in every pattern: {patterns:?}"
    );
    let mut disagreements = Vec::new();
    for c in (0..=0xFFFFu32).filter_map(char::from_u32) {
        let text = c.to_string();
        let stored = fluxo::domain::entry::Description::parse(&text).is_ok();
        if description.is_match(&text) != stored {
            disagreements.push(format!("U+{:04X} stored: {stored}", u32::from(c)));
        }
    }
    assert!(disagreements.is_empty(), "the contract and the ledger disagree on {disagreements:?}");
}

/// GIVEN the web ACL THEN one rate rule counts per client address and another per bearer token (its
/// `Authorization` header), both answering 429; AND no usage plan exists without API keys to apply
/// to, since a plan that applies to nobody limits nobody.
#[test]
fn each_caller_has_a_rate_limit_of_its_own_and_no_inert_usage_plan_is_left() {
    let infra = Infra::load();
    let acl = infra.resources("aws_wafv2_web_acl").into_values().next().expect("a web ACL");
    let mut keys = BTreeSet::new();
    for rule in nested(acl, "rule") {
        for statement in nested(rule, "statement") {
            for rate in nested(statement, "rate_based_statement") {
                let unquoted = |e: &Expression| text(e).trim_matches('"').to_owned();
                let aggregate = attr(rate, "aggregate_key_type").map(unquoted).unwrap_or_default();
                let headers: Vec<String> = nested(rate, "custom_key")
                    .iter()
                    .flat_map(|k| nested(k, "header"))
                    .filter_map(|h| attr(h, "name").map(unquoted))
                    .collect();
                keys.insert(format!("{aggregate} {}", headers.join(",")).trim().to_owned());
                let blocks = hcl::format::to_string(rule.body()).expect("format");
                assert!(blocks.contains("response_code = 429"), "a rate rule that does not answer 429: {blocks}");
            }
        }
    }
    let expected = BTreeSet::from(["IP".to_owned(), "CUSTOM_KEYS authorization".to_owned()]);
    assert_eq!(keys, expected, "one rate rule per address and one per token");
    let plans = infra.resources("aws_api_gateway_usage_plan");
    let keys = infra.resources("aws_api_gateway_usage_plan_key");
    assert!(plans.is_empty() || !keys.is_empty(), "usage plans {:?} with no API key", plans.keys());
}

/// GIVEN the web ACL THEN its body rule answers 413 past the functions' 16 KiB on every route but the
/// batch's (whose 256 KiB the ingest function holds it to), AND that exception names a path of the
/// contract, so a renamed route cannot leave it pointing nowhere.
#[test]
fn bodies_over_16_kib_are_refused_at_the_edge_except_on_the_batch_route() {
    let infra = Infra::load();
    let acl = infra.resources("aws_wafv2_web_acl").into_values().next().expect("a web ACL");
    let rule = nested(acl, "rule")
        .into_iter()
        .find(|r| attr(r, "name").map(text).as_deref() == Some("\"body-size-limit\""))
        .expect("a body-size-limit rule");
    let formatted = hcl::format::to_string(rule.body()).expect("format");
    let compact: String = formatted.split_whitespace().collect::<Vec<_>>().join(" ");
    for part in [
        "response_code = 413",
        "comparison_operator = \"GT\" size = var.body_bytes_max",
        "oversize_handling = \"MATCH\"",
        "not_statement { statement { byte_match_statement { search_string = \"/entries/batch\" positional_constraint = \"ENDS_WITH\"",
    ] {
        assert!(compact.contains(part), "the body rule lacks `{part}`: {formatted}");
    }
    let yaml = std::fs::read_to_string(root().join("docs/openapi.yaml")).expect("docs/openapi.yaml");
    let excepted: Vec<_> =
        openapi_routes(&yaml).into_iter().filter(|(_, path)| path.ends_with("/entries/batch")).collect();
    assert_eq!(excepted, [("POST".to_owned(), "/v1/accounts/{account}/entries/batch".to_owned())]);
}

/// GIVEN the policies of the functions' and the Cognito trigger's roles THEN every statement that
/// grants use of a KMS key holds it to `kms:ViaService` (the key is reached through DynamoDB, SQS or
/// Lambda, never called directly), AND report's may only decrypt.
#[test]
fn the_ledger_key_is_used_only_through_its_services_and_report_only_decrypts() {
    let infra = Infra::load();
    let documents = infra.of("data", "aws_iam_policy_document");
    for name in ["function_runtime", "claims"] {
        let document = documents.get(name).unwrap_or_else(|| panic!("no policy document {name}"));
        let statements: Vec<&Block> = nested(document, "statement")
            .into_iter()
            .filter(|st| hcl::format::to_string(st.body()).expect("format").contains("kms:"))
            .collect();
        assert!(!statements.is_empty(), "{name} grants no key");
        for statement in statements {
            let conditions: Vec<String> =
                nested(statement, "condition").iter().filter_map(|c| attr(c, "variable").map(text)).collect();
            assert!(
                conditions.iter().any(|v| v.contains("kms:ViaService")),
                "{name}: a key grant without kms:ViaService"
            );
            if name == "function_runtime" {
                // `each.key == "report" ? [report's actions] : [the others']`.
                let Some(Expression::Conditional(choice)) = attr(statement, "actions") else {
                    panic!("report's key grant is not its own");
                };
                assert!(text(&choice.cond_expr).contains("\"report\""), "{:?}", choice.cond_expr);
                let report = strings(&choice.true_expr);
                assert!(report.contains(&"kms:Decrypt".to_owned()), "report cannot decrypt: {report:?}");
                let writes = ["kms:Encrypt", "kms:GenerateDataKey", "kms:ReEncrypt"];
                assert!(
                    !report.iter().any(|a| writes.iter().any(|w| a.starts_with(w))),
                    "report may write: {report:?}"
                );
            }
        }
    }
}

/// The attributes of an environment's `.tfvars`, as HCL expressions.
fn tfvars(env: &str) -> BTreeMap<String, Expression> {
    let text = std::fs::read_to_string(root().join("infra/env").join(format!("{env}.tfvars"))).expect("tfvars");
    let body = hcl::parse(&text).expect("tfvars parse");
    body.attributes().map(|a| (a.key().to_owned(), a.expr().clone())).collect()
}

/// GIVEN the user pool and prod's settings THEN prod requires a second factor, enforces threat
/// protection (on the Plus plan it needs), takes no localhost or plain-http redirect, and no
/// environment lets an email change take effect before it is verified; the defaults are the strict
/// ones, so an environment that says nothing gets them.
#[test]
fn prod_sign_in_requires_a_second_factor_threat_protection_and_verified_emails() {
    let infra = Infra::load();
    let pool = infra.resources("aws_cognito_user_pool").into_values().next().expect("a user pool");
    let setting = |key: &str| attr(pool, key).map(text).unwrap_or_default();
    assert!(
        setting("mfa_configuration").contains("var.cognito_mfa_required ? \"ON\""),
        "{}",
        setting("mfa_configuration")
    );
    assert!(setting("user_pool_tier").contains("\"PLUS\""), "threat protection needs the Plus plan");
    let add_ons = nested(pool, "user_pool_add_ons");
    let mode = add_ons.first().and_then(|a| attr(a, "advanced_security_mode")).map(text);
    assert_eq!(mode.as_deref(), Some("var.cognito_threat_protection"));
    let updates = nested(pool, "user_attribute_update_settings");
    let verified = updates.first().and_then(|u| attr(u, "attributes_require_verification_before_update")).map(strings);
    assert_eq!(verified, Some(vec!["email".to_owned()]), "an email change must be verified first");
    let default = |name: &str| {
        let variable = infra
            .blocks
            .iter()
            .map(|(_, b)| b)
            .find(|b| b.identifier() == "variable" && b.labels().first().map(|l| l.as_str()) == Some(name));
        variable.and_then(|v| attr(v, "default")).map(text)
    };
    assert_eq!(default("cognito_mfa_required").as_deref(), Some("true"));
    assert_eq!(default("cognito_threat_protection").as_deref(), Some("\"ENFORCED\""));
    let prod = tfvars("prod");
    assert_eq!(prod.get("cognito_mfa_required").map(text).as_deref().unwrap_or("true"), "true");
    assert_eq!(prod.get("cognito_threat_protection").map(text).as_deref().unwrap_or("\"ENFORCED\""), "\"ENFORCED\"");
    for key in ["callback_urls", "logout_urls"] {
        let urls = prod.get(key).map(strings).unwrap_or_else(|| panic!("prod sets no {key}"));
        assert!(!urls.is_empty(), "prod sets no {key}");
        for url in urls {
            assert!(url.starts_with("https://") && !url.contains("localhost"), "prod's {key} has {url}");
        }
    }
    let client = infra.resources("aws_cognito_user_pool_client").into_values().next().expect("an app client");
    let client = hcl::format::to_string(client.body()).expect("format");
    assert!(client.contains("precondition") && client.contains("localhost"), "nothing refuses localhost in prod");
}

// --- backups that survive the region, the account and the key ------------------------------------

/// The default of a variable of `infra/variables.tf`, as HCL text.
fn variable_default(infra: &Infra, name: &str) -> Option<String> {
    infra
        .blocks
        .iter()
        .map(|(_, b)| b)
        .find(|b| b.identifier() == "variable" && b.labels().first().map(|l| l.as_str()) == Some(name))
        .and_then(|v| attr(v, "default"))
        .map(text)
}

/// A variable as an environment sets it: its `.tfvars` value, else its default, as HCL text.
fn setting(infra: &Infra, vars: &BTreeMap<String, Expression>, name: &str) -> String {
    vars.get(name).map(text).or_else(|| variable_default(infra, name)).unwrap_or_else(|| panic!("no variable {name}"))
}

/// The elements of a list expression, each as HCL text (references stay references).
fn texts(expr: &Expression) -> Vec<String> {
    match expr {
        Expression::Array(items) => items.iter().map(text).collect(),
        _ => Vec::new(),
    }
}

/// The name of the document in `data.aws_iam_policy_document.<name>.json`.
fn document_name(reference: &str) -> Option<&str> {
    reference.trim().strip_prefix("data.aws_iam_policy_document.")?.strip_suffix(".json")
}

/// The policy documents a key's policy is made of: the one it names and, through
/// `source_policy_documents`, every document that one is built from.
fn key_policy<'a>(infra: &'a Infra, key: &str) -> Vec<(&'a str, &'a Block)> {
    let documents = infra.of("data", "aws_iam_policy_document");
    let keys = infra.resources("aws_kms_key");
    let policy =
        keys.get(key).and_then(|k| attr(k, "policy")).map(text).unwrap_or_else(|| panic!("key {key} has no policy"));
    let first =
        document_name(&policy).unwrap_or_else(|| panic!("key {key}'s policy is not a policy document: {policy}"));
    let mut pending = vec![first.to_owned()];
    let mut found: Vec<(&str, &Block)> = Vec::new();
    while let Some(name) = pending.pop() {
        assert!(found.len() <= documents.len(), "key {key}'s policy documents source each other in a cycle");
        let (name, document) =
            documents.get_key_value(name.as_str()).unwrap_or_else(|| panic!("key {key}: no policy document {name}"));
        if let Some(sources) = attr(document, "source_policy_documents") {
            pending.extend(texts(sources).iter().filter_map(|s| document_name(s).map(str::to_owned)));
        }
        found.push((name, document));
    }
    found
}

/// Whether an IAM action pattern (`kms:Disable*`, `*`) covers an action; IAM ignores case.
fn covers(pattern: &str, action: &str) -> bool {
    let (pattern, action) = (pattern.to_ascii_lowercase(), action.to_ascii_lowercase());
    match pattern.strip_suffix('*') {
        Some(prefix) => action.starts_with(prefix),
        None => pattern == action,
    }
}

/// A statement's conditions on `aws:PrincipalArn`, as (operator, values as HCL text).
fn principal_arn_conditions(statement: &Block) -> Vec<(String, String)> {
    nested(statement, "condition")
        .iter()
        .filter(|c| attr(c, "variable") == Some(&Expression::String("aws:PrincipalArn".into())))
        .map(|c| {
            let test = match attr(c, "test") {
                Some(Expression::String(test)) => test.clone(),
                _ => String::new(),
            };
            (test, attr(c, "values").map(text).unwrap_or_default())
        })
        .collect()
}

fn is_deny(statement: &Block) -> bool {
    attr(statement, "effect") == Some(&Expression::String("Deny".into()))
}

/// GIVEN the daily backup rule THEN each backup is copied, on a lifecycle of its own, to a vault
/// whose provider is the DR region (which no environment sets to the deployment's region), encrypted
/// with a rotated key of that region the backup role may use; AND a copy to another account's vault
/// follows when one is named.
#[test]
fn the_daily_backup_is_copied_to_a_vault_in_another_region_under_that_regions_key() {
    let infra = Infra::load();
    let plan = infra.resources("aws_backup_plan").into_values().next().expect("a backup plan");
    let rule = nested(plan, "rule")
        .into_iter()
        .find(|r| attr(r, "rule_name") == Some(&Expression::String("daily".into())))
        .expect("a daily backup rule");
    let copies = nested(rule, "copy_action");
    assert_eq!(copies.len(), 1, "the daily rule copies its backups to one other region");
    let copy = copies[0];
    let destination = attr(copy, "destination_vault_arn").map(text).unwrap_or_default();
    let vaults = infra.resources("aws_backup_vault");
    let vault = vaults
        .iter()
        .find(|(name, _)| destination == format!("aws_backup_vault.{name}.arn"))
        .map(|(_, vault)| *vault)
        .unwrap_or_else(|| panic!("the copy goes to {destination:?}, not a vault of infra/"));
    let retention = nested(copy, "lifecycle").first().and_then(|l| attr(l, "delete_after")).map(text);
    assert_eq!(retention.as_deref(), Some("var.dr_backup_retention_days"), "the copies' own lifecycle");

    // AND that vault lives in the DR provider's region, tagged as everything else.
    let provider_ref = attr(vault, "provider").map(text).expect("the copy's vault is in the deployment's region");
    let alias = provider_ref.strip_prefix("aws.").unwrap_or_else(|| panic!("provider {provider_ref}"));
    let providers: Vec<&Block> = infra.blocks.iter().map(|(_, b)| b).filter(|b| b.identifier() == "provider").collect();
    let dr = providers
        .iter()
        .find(|p| attr(p, "alias") == Some(&Expression::String(alias.into())))
        .unwrap_or_else(|| panic!("no provider with alias {alias}"));
    let main = providers.iter().find(|p| attr(p, "alias").is_none()).expect("the default aws provider");
    assert_eq!(attr(dr, "region").map(text).as_deref(), Some("var.dr_region"));
    assert_eq!(attr(main, "region").map(text).as_deref(), Some("var.region"));
    let tags = |p: &Block| nested(p, "default_tags").first().and_then(|t| attr(t, "tags")).map(text);
    assert!(tags(dr).is_some() && tags(dr) == tags(main), "the DR provider tags differently: {:?}", tags(dr));
    let vault_text: String = hcl::format::to_string(vault.body()).expect("format").split_whitespace().collect();
    assert!(vault_text.contains("var.dr_region!=var.region"), "nothing refuses a DR region equal to the region");
    for env in ["dev", "prod"] {
        let vars = tfvars(env);
        let (region, dr_region) = (setting(&infra, &vars, "region"), setting(&infra, &vars, "dr_region"));
        assert_ne!(region, dr_region, "{env} copies its backups into its own region");
    }

    // AND the vault's key is a rotated key of the same region.
    let key_ref = attr(vault, "kms_key_arn").map(text).unwrap_or_default();
    let keys = infra.resources("aws_kms_key");
    let (key_name, key) = keys
        .iter()
        .find(|(name, _)| key_ref == format!("aws_kms_key.{name}.arn"))
        .unwrap_or_else(|| panic!("the DR vault is encrypted with {key_ref:?}, not a key of infra/"));
    assert_eq!(attr(key, "provider").map(text), Some(provider_ref.clone()), "the DR key is not in the DR region");
    assert_eq!(attr(key, "enable_key_rotation"), Some(&Expression::Bool(true)), "the DR key is not rotated");

    // AND the role that runs the copies may encrypt with that key.
    let selection = infra.resources("aws_backup_selection").into_values().next().expect("a backup selection");
    let role_ref = attr(selection, "iam_role_arn").map(text).unwrap_or_default();
    let role = role_ref.strip_prefix("aws_iam_role.").and_then(|r| r.strip_suffix(".arn")).expect("a role of infra/");
    let documents = infra.of("data", "aws_iam_policy_document");
    let key_arn = format!("aws_kms_key.{key_name}.arn");
    let may_use = infra
        .resources("aws_iam_role_policy")
        .values()
        .filter(|p| attr(p, "role").map(text).is_some_and(|r| r.starts_with(&format!("aws_iam_role.{role}."))))
        .filter_map(|p| attr(p, "policy").map(text))
        .filter_map(|policy| document_name(&policy).and_then(|name| documents.get(name)).copied())
        .flat_map(|document| nested(document, "statement"))
        .filter(|st| !is_deny(st) && attr(st, "resources").map(texts).unwrap_or_default().contains(&key_arn))
        .flat_map(|st| attr(st, "actions").map(strings).unwrap_or_default())
        .collect::<Vec<_>>();
    for action in ["kms:GenerateDataKey", "kms:Decrypt"] {
        assert!(may_use.iter().any(|a| covers(a, action)), "the backup role may not {action} with the DR key");
    }

    // AND a second copy goes to another account's vault exactly when one is named.
    let dynamic = nested(rule, "dynamic")
        .into_iter()
        .find(|d| d.labels().first().map(|l| l.as_str()) == Some("copy_action"))
        .expect("no optional copy to another account");
    let for_each = attr(dynamic, "for_each").map(text).unwrap_or_default();
    assert!(for_each.contains("var.backup_copy_vault_arn"), "the other account's copy follows {for_each}");
    assert_eq!(variable_default(&infra, "backup_copy_vault_arn").as_deref(), Some("\"\""), "off unless named");
}

/// GIVEN the environments THEN prod locks both vaults in compliance mode (a lock with
/// `changeable_for_days`, so after the grace period nobody removes it or deletes a recovery point
/// early) with retention bounds that admit its backups and copies, AND dev leaves them unlocked and
/// destroyable.
#[test]
fn prod_locks_both_backup_vaults_in_compliance_mode_and_dev_does_not() {
    let infra = Infra::load();
    let vaults = infra.resources("aws_backup_vault");
    assert_eq!(vaults.len(), 2, "the region's vault and the DR region's: {:?}", vaults.keys());
    let locks = infra.resources("aws_backup_vault_lock_configuration");
    for (name, vault) in &vaults {
        let vault_name = format!("aws_backup_vault.{name}.name");
        let lock = locks
            .values()
            .find(|l| attr(l, "backup_vault_name").map(text).as_deref() == Some(vault_name.as_str()))
            .unwrap_or_else(|| panic!("vault {name} has no lock"));
        // Without changeable_for_days a lock is in governance mode: any administrator removes it.
        for key in ["changeable_for_days", "min_retention_days", "max_retention_days"] {
            assert!(attr(lock, key).is_some(), "vault {name}'s lock has no {key}");
        }
        assert_eq!(attr(lock, "provider").map(text), attr(vault, "provider").map(text), "{name}'s lock is elsewhere");
        let count = attr(lock, "count").map(text).unwrap_or_default();
        assert!(
            count.starts_with("var.backup_vault_lock ?"),
            "vault {name}'s lock is not switched by backup_vault_lock: {count}"
        );
        let destroyable = attr(vault, "force_destroy").map(text).unwrap_or_default();
        assert_eq!(destroyable, "!var.backup_vault_lock", "vault {name}: only an unlocked vault may be emptied");
    }

    let prod = tfvars("prod");
    assert_eq!(setting(&infra, &prod, "backup_vault_lock"), "true", "prod's vaults are not locked");
    assert_eq!(tfvars("dev").get("backup_vault_lock").map(text).as_deref(), Some("false"), "dev must be disposable");
    let number = |name: &str| {
        let value = setting(&infra, &prod, name);
        value.parse::<u64>().unwrap_or_else(|_| panic!("prod's {name} is not a number: {value}"))
    };
    assert!(number("backup_vault_lock_changeable_days") >= 3, "AWS Backup takes 3 days at least");
    let (min, max) = (number("backup_vault_lock_min_retention_days"), number("backup_vault_lock_max_retention_days"));
    for retention in ["backup_retention_days", "dr_backup_retention_days"] {
        let days = number(retention);
        assert!(
            min <= days && days <= max,
            "prod's {retention} ({days}) is outside the lock's {min}..={max}: backups would fail"
        );
    }
}

/// GIVEN every KMS key of the stack THEN its policy denies `kms:DisableKey` and
/// `kms:ScheduleKeyDeletion` to every principal but the break-glass role, no allow grants them to
/// anyone else, AND the account may still replace the policy, so the key never becomes unmanageable.
#[test]
fn both_keys_deny_disabling_and_deletion_to_all_but_the_break_glass_role() {
    let infra = Infra::load();
    let keys = infra.resources("aws_kms_key");
    assert!(keys.contains_key("ledger") && keys.contains_key("ledger_dr"), "the two keys: {:?}", keys.keys());
    let guarded = ["kms:DisableKey", "kms:ScheduleKeyDeletion"];
    let actions = |st: &Block| attr(st, "actions").map(strings).unwrap_or_default();
    let names_break_glass = |values: &str| values.contains("local.break_glass_role_arn");
    for key in keys.keys() {
        let statements: Vec<&Block> =
            key_policy(&infra, key).into_iter().flat_map(|(_, document)| nested(document, "statement")).collect();
        let guard = statements.iter().filter(|st| is_deny(st)).find(|st| {
            let every_action = guarded.iter().all(|g| actions(st).iter().any(|a| covers(a, g)));
            let everyone = nested(st, "principals")
                .iter()
                .any(|p| attr(p, "identifiers").map(strings).unwrap_or_default() == ["*"]);
            let but_break_glass = principal_arn_conditions(st).iter().any(|(test, values)| {
                ["ArnNotEquals", "ArnNotLike", "StringNotEquals", "StringNotLike"].contains(&test.as_str())
                    && names_break_glass(values)
            });
            every_action && everyone && but_break_glass
        });
        assert!(guard.is_some(), "key {key}: no deny of {guarded:?} to all but the break-glass role");

        for statement in statements.iter().filter(|st| !is_deny(st)) {
            let sid = attr(statement, "sid").map(text).unwrap_or_default();
            let granted: Vec<_> = guarded.iter().filter(|g| actions(statement).iter().any(|a| covers(a, g))).collect();
            let held = principal_arn_conditions(statement).iter().any(|(test, values)| {
                ["ArnEquals", "ArnLike", "StringEquals", "StringLike"].contains(&test.as_str())
                    && names_break_glass(values)
            });
            assert!(
                granted.is_empty() || held,
                "key {key}: statement {sid} allows {granted:?} beyond the break-glass role"
            );
        }

        let root = "arn:${local.partition}:iam::${local.account_id}:root";
        let manageable = statements.iter().filter(|st| !is_deny(st) && nested(st, "condition").is_empty()).any(|st| {
            let to_account = nested(st, "principals").iter().any(|p| {
                attr(p, "identifiers").map(texts).unwrap_or_default().iter().any(|i| i.trim_matches('"') == root)
            });
            to_account && actions(st).iter().any(|a| covers(a, "kms:PutKeyPolicy"))
        });
        assert!(manageable, "key {key}: the account may not replace the key policy");
        let locked_out = statements
            .iter()
            .filter(|st| is_deny(st))
            .any(|st| actions(st).iter().any(|a| covers(a, "kms:PutKeyPolicy")));
        assert!(!locked_out, "key {key}: a deny of kms:PutKeyPolicy could leave the key unmanageable");
    }

    // AND the break-glass role is a role of this account, by its configured name.
    let arn = text(infra.local("break_glass_role_arn"));
    assert!(arn.contains("${local.account_id}:role/${var.break_glass_role_name}"), "break_glass_role_arn: {arn}");
    // AND the matcher sees what a policy could hide behind a wildcard.
    assert!(covers("kms:Disable*", "kms:DisableKey") && covers("*", "kms:ScheduleKeyDeletion"));
    assert!(!covers("kms:DisableKeyRotation", "kms:DisableKey") && !covers("kms:Put*", "kms:ScheduleKeyDeletion"));
}

/// GIVEN the restore testing plan THEN it restores, on a schedule, the latest recovery point of the
/// ledger vault into a scratch table for the ledger table, as the backup role, encrypted with the
/// ledger's key, and keeps it for a validation window.
#[test]
fn a_restore_testing_plan_restores_the_ledger_table_from_its_vault() {
    let infra = Infra::load();
    let plans = infra.resources("aws_backup_restore_testing_plan");
    let (plan_name, plan) = plans.iter().next().expect("a restore testing plan");
    assert!(attr(plan, "schedule_expression").is_some(), "the restore test runs on no schedule");
    let selection = nested(plan, "recovery_point_selection");
    let selection = selection.first().expect("the plan selects no recovery point");
    assert_eq!(attr(selection, "algorithm"), Some(&Expression::String("LATEST_WITHIN_WINDOW".into())));
    let vaults = attr(selection, "include_vaults").map(texts).unwrap_or_default();
    assert_eq!(vaults, ["aws_backup_vault.ledger.arn"], "the restore test reads another vault");

    let tests = infra.resources("aws_backup_restore_testing_selection");
    let test = tests
        .values()
        .find(|t| {
            attr(t, "restore_testing_plan_name").map(text).as_deref()
                == Some(format!("aws_backup_restore_testing_plan.{plan_name}.name").as_str())
        })
        .expect("the restore testing plan selects nothing");
    assert_eq!(attr(test, "protected_resource_type"), Some(&Expression::String("DynamoDB".into())));
    let tables = attr(test, "protected_resource_arns").map(texts).unwrap_or_default();
    assert_eq!(tables, ["aws_dynamodb_table.ledger.arn"], "the restore test restores another table");
    let backup_role =
        infra.resources("aws_backup_selection").into_values().next().and_then(|s| attr(s, "iam_role_arn"));
    assert_eq!(attr(test, "iam_role_arn"), backup_role, "the restore test runs as another role than the backups");
    assert!(attr(test, "validation_window_hours").is_some(), "no validation window");
    let overrides = attr(test, "restore_metadata_overrides").expect("the scratch table would use an AWS owned key");
    assert_eq!(object_field(overrides, "encryptionType"), Some(&Expression::String("KMS".into())));
    assert_eq!(object_field(overrides, "kmsMasterKeyArn").map(text).as_deref(), Some("aws_kms_key.ledger.arn"));

    // AND the role may restore.
    let restores = infra.resources("aws_iam_role_policy_attachment").values().any(|a| {
        attr(a, "policy_arn")
            .map(text)
            .is_some_and(|arn| arn.ends_with("service-role/AWSBackupServiceRolePolicyForRestores\""))
    });
    assert!(restores, "the backup role may not restore");
}

// --- delivery: safe deploys, the pipeline's role, remote state -------------------------------------

/// GIVEN the functions and their deployment groups THEN each function's `live` alias is moved by
/// CodeDeploy, not by Terraform (which ignores the alias's version after creating it), with automatic
/// rollback on a failure, a stop and its alarms, the function's own errors among them; prod shifts
/// as a canary and dev all at once.
#[test]
fn every_function_is_shifted_by_codedeploy_and_rolled_back_on_its_alarms() {
    let infra = Infra::load();
    let alias = infra.resources("aws_lambda_alias").remove("live").expect("the live alias");
    let ignored =
        nested(alias, "lifecycle").first().and_then(|l| attr(l, "ignore_changes")).map(text).unwrap_or_default();
    assert!(ignored.contains("function_version"), "Terraform would move the alias back: {ignored}");
    let groups = infra.resources("aws_codedeploy_deployment_group");
    let group = groups.get("function").expect("a deployment group per function");
    assert_eq!(attr(group, "for_each").map(text).as_deref(), Some("local.functions"));
    let style = nested(group, "deployment_style");
    let style = hcl::format::to_string(style.first().expect("deployment_style").body()).expect("format");
    assert!(style.contains("WITH_TRAFFIC_CONTROL") && style.contains("BLUE_GREEN"), "{style}");
    let rollback = nested(group, "auto_rollback_configuration");
    let rollback = rollback.first().expect("auto rollback");
    assert_eq!(attr(rollback, "enabled").map(text).as_deref(), Some("true"));
    let events = attr(rollback, "events").map(strings).unwrap_or_default();
    for event in ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"] {
        assert!(events.iter().any(|e| e == event), "no rollback on {event}: {events:?}");
    }
    let alarms = nested(group, "alarm_configuration");
    let alarms = alarms.first().expect("alarm_configuration");
    assert_eq!(attr(alarms, "enabled").map(text).as_deref(), Some("true"));
    let rollback_alarms = infra.local("rollback_alarms");
    let functions = object_keys(infra.local("functions"));
    assert_eq!(object_keys(rollback_alarms), functions, "every function, and only they, have rollback alarms");
    for name in &functions {
        let own = object_field(rollback_alarms, name).map(texts).unwrap_or_default();
        let errors = format!("aws_cloudwatch_metric_alarm.function_errors[\"{name}\"].alarm_name");
        assert!(own.contains(&errors), "{name} does not roll back on its own errors: {own:?}");
    }
    let config = |env: &str| setting(&infra, &tfvars(env), "deployment_config");
    assert_eq!(config("prod"), "\"CodeDeployDefault.LambdaCanary10Percent5Minutes\"");
    assert_eq!(config("dev"), "\"CodeDeployDefault.LambdaAllAtOnce\"");
}

/// GIVEN the deploy role THEN only GitHub's OIDC tokens for this repository's main branch or its
/// environment of the stack's name may assume it, for STS alone: no other repository, branch or fork.
#[test]
fn the_deploy_role_trusts_only_this_repositorys_main_branch_and_environment() {
    let infra = Infra::load();
    let documents = infra.of("data", "aws_iam_policy_document");
    let trust = documents.get("deploy_assume").expect("the deploy role's trust policy");
    let statements = nested(trust, "statement");
    assert_eq!(statements.len(), 1, "one statement");
    let statement = statements[0];
    assert_eq!(attr(statement, "actions").map(strings), Some(vec!["sts:AssumeRoleWithWebIdentity".to_owned()]));
    let conditions: BTreeMap<String, (String, Vec<String>)> = nested(statement, "condition")
        .into_iter()
        .map(|c| {
            let variable = attr(c, "variable").map(text).unwrap_or_default().trim_matches('"').to_owned();
            let test = attr(c, "test").map(text).unwrap_or_default().trim_matches('"').to_owned();
            (variable, (test, attr(c, "values").map(texts).unwrap_or_default()))
        })
        .collect();
    let audience = conditions.get("token.actions.githubusercontent.com:aud").expect("an audience condition");
    assert_eq!(audience, &("StringEquals".to_owned(), vec!["\"sts.amazonaws.com\"".to_owned()]));
    let (test, subjects) = conditions.get("token.actions.githubusercontent.com:sub").expect("a subject condition");
    assert_eq!(test, "StringEquals", "a pattern would let other branches or repositories in");
    assert_eq!(
        subjects,
        &vec![
            "\"repo:${var.github_repository}:ref:refs/heads/main\"".to_owned(),
            "\"repo:${var.github_repository}:environment:${var.environment}\"".to_owned(),
        ]
    );
}

/// GIVEN versions.tf and each environment's backend file THEN the state is remote, in S3, encrypted
/// and locked with S3's own lock file, on a Terraform that has it.
#[test]
fn each_environment_keeps_its_state_in_s3_encrypted_and_locked() {
    let source = std::fs::read_to_string(root().join("infra/versions.tf")).expect("versions.tf");
    let body: Body = hcl::parse(&source).expect("versions.tf parses");
    let terraform = body.blocks().find(|b| b.identifier() == "terraform").expect("a terraform block");
    let backend = terraform.body().blocks().find(|b| b.identifier() == "backend").expect("a backend");
    assert_eq!(backend.labels().first().map(|l| l.as_str()), Some("s3"));
    assert_eq!(attr(terraform, "required_version").map(text).as_deref(), Some("\">= 1.10\""));
    for env in ["dev", "prod"] {
        let path = root().join("infra/env").join(format!("{env}.s3.tfbackend"));
        let source = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let settings: BTreeMap<String, String> = hcl::parse(&source)
            .expect("tfbackend parses")
            .attributes()
            .map(|a| (a.key().to_owned(), text_of(a.expr())))
            .collect();
        assert_eq!(settings.get("encrypt").map(String::as_str), Some("true"), "{env}");
        assert_eq!(settings.get("use_lockfile").map(String::as_str), Some("true"), "{env}");
        assert!(settings.get("key").is_some_and(|k| k.contains(env)), "{env}'s state key names another environment");
        assert!(
            !settings.contains_key("dynamodb_table"),
            "{env}: the lock table is deprecated; the lock file replaces it"
        );
    }
}

fn text_of(expr: &Expression) -> String {
    text(expr).trim_matches('"').to_owned()
}
