//! Routing on the request path itself, so one handler serves API Gateway REST (v1 payload), HTTP API
//! (v2), `cargo lambda watch` and the local runner alike.

use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};

use super::problem::ApiError;

/// The operations of the v1 contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Health,
    PutAccount,
    GetAccount,
    RecordEntry,
    RecordBatch,
    ListEntries,
    GetEntry,
    ReverseEntry,
    DailyBalance,
    BalanceRange,
}

impl Op {
    /// The largest body this operation reads, in bytes.
    pub fn body_bytes_max(self) -> usize {
        match self {
            Self::RecordBatch => super::BATCH_BODY_BYTES_MAX,
            _ => super::BODY_BYTES_MAX,
        }
    }

    /// Whether the `ingest` function serves this operation; `report` serves the others.
    pub fn is_ingest(self) -> bool {
        matches!(self, Self::PutAccount | Self::RecordEntry | Self::RecordBatch | Self::ReverseEntry)
    }
}

/// A matched route with its raw path parameters, parsed later, after authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub op: Op,
    pub account: String,
    pub entry: String,
    pub date: String,
}

/// Matches a request to a route.
///
/// # Errors
/// 404 for an unknown path, 405 for a known path with another method.
pub fn route(req: &Request) -> Result<Route, ApiError> {
    let path = request_path(req);
    let segments: Vec<&str> = path.strip_prefix('/').unwrap_or(&path).split('/').collect();
    type Table = &'static [(&'static str, Op)];
    let (table, allow, account, entry, date): (Table, &'static str, &str, &str, &str) = match segments.as_slice() {
        ["health"] => (&[("GET", Op::Health)], "GET", "", "", ""),
        ["v1", "accounts", a] => (&[("GET", Op::GetAccount), ("PUT", Op::PutAccount)], "GET, PUT", a, "", ""),
        ["v1", "accounts", a, "entries"] => {
            (&[("GET", Op::ListEntries), ("POST", Op::RecordEntry)], "GET, POST", a, "", "")
        }
        ["v1", "accounts", a, "entries", "batch"] => (&[("POST", Op::RecordBatch)], "POST", a, "", ""),
        ["v1", "accounts", a, "entries", e] => (&[("GET", Op::GetEntry)], "GET", a, e, ""),
        ["v1", "accounts", a, "entries", e, "reversal"] => (&[("POST", Op::ReverseEntry)], "POST", a, e, ""),
        ["v1", "accounts", a, "balances", "daily"] => (&[("GET", Op::BalanceRange)], "GET", a, "", ""),
        ["v1", "accounts", a, "balances", "daily", d] => (&[("GET", Op::DailyBalance)], "GET", a, "", d),
        _ => return Err(ApiError::NotFound("route")),
    };
    let method = req.method().as_str();
    let op = table.iter().find(|(m, _)| *m == method).map(|(_, op)| *op).ok_or(ApiError::MethodNotAllowed(allow))?;
    Ok(Route { op, account: account.into(), entry: entry.into(), date: date.into() })
}

/// The request path without an API Gateway stage prefix.
pub fn request_path(req: &Request) -> String {
    let raw = req.raw_http_path();
    let path = if raw.is_empty() { req.uri().path() } else { raw };
    let stage = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV1(ctx)) => ctx.stage.clone(),
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.stage.clone(),
        _ => None,
    };
    match stage.filter(|s| s != "$default") {
        Some(stage) => match path.strip_prefix(&format!("/{stage}")) {
            Some(rest) if rest.starts_with('/') => rest.to_owned(),
            _ => path.to_owned(),
        },
        None => path.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use http::Method;

    use super::*;

    fn req(method: Method, path: &str) -> Request {
        let mut r = Request::new(lambda_http::Body::Empty);
        *r.method_mut() = method;
        *r.uri_mut() = path.parse().expect("uri");
        r
    }

    #[test]
    fn every_route_of_the_contract_matches() {
        let cases = [
            (Method::GET, "/health", Op::Health),
            (Method::PUT, "/v1/accounts/a", Op::PutAccount),
            (Method::GET, "/v1/accounts/a", Op::GetAccount),
            (Method::POST, "/v1/accounts/a/entries", Op::RecordEntry),
            (Method::POST, "/v1/accounts/a/entries/batch", Op::RecordBatch),
            (Method::GET, "/v1/accounts/a/entries?date=2026-01-01", Op::ListEntries),
            (Method::GET, "/v1/accounts/a/entries/e", Op::GetEntry),
            (Method::POST, "/v1/accounts/a/entries/e/reversal", Op::ReverseEntry),
            (Method::GET, "/v1/accounts/a/balances/daily/2026-01-01", Op::DailyBalance),
            (Method::GET, "/v1/accounts/a/balances/daily?from=x", Op::BalanceRange),
        ];
        for (method, path, op) in cases {
            assert_eq!(route(&req(method, path)).map(|r| r.op).ok(), Some(op), "{path}");
        }
    }

    #[test]
    fn unknown_paths_are_404_and_wrong_methods_405() {
        assert!(matches!(route(&req(Method::GET, "/v1/accounts")), Err(ApiError::NotFound(_))));
        assert!(matches!(route(&req(Method::GET, "/v1/accounts/a/")), Err(ApiError::NotFound(_))));
        assert!(matches!(route(&req(Method::DELETE, "/v1/accounts/a")), Err(ApiError::MethodNotAllowed("GET, PUT"))));
        assert!(matches!(route(&req(Method::POST, "/health")), Err(ApiError::MethodNotAllowed("GET"))));
        // `batch` is no entry id: the batch route takes it, and only for POST.
        assert!(matches!(
            route(&req(Method::GET, "/v1/accounts/a/entries/batch")),
            Err(ApiError::MethodNotAllowed("POST"))
        ));
    }
}
