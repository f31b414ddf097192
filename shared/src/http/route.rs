//! Routing on the request path itself, so one handler serves API Gateway REST (v1 payload), HTTP API
//! (v2), `cargo lambda watch` and the local runner alike.

use std::marker::PhantomData;

use jiff::civil::Date;
use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};

use super::problem::ApiError;
use crate::domain::account::AccountId;
use crate::domain::calendar::parse_date;
use crate::domain::entry::EntryId;

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

/// A path segment that names a `T`. It stays raw until the caller is authenticated, so a stranger
/// learns nothing from which ids parse; [`Param::parse`] then reads it, or refuses it with 400.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param<T> {
    raw: String,
    names: PhantomData<fn() -> T>,
}

/// What a path segment can name, and how it is read.
pub trait Segment: Sized {
    /// The parameter's name in refusals ("account id must be ...").
    const NAME: &'static str;

    /// # Errors
    /// The segment's own parse error, as text for the refusal.
    fn read(raw: &str) -> Result<Self, String>;
}

impl Segment for AccountId {
    const NAME: &'static str = "account id";

    fn read(raw: &str) -> Result<Self, String> {
        Self::parse(raw).map_err(|e| e.to_string())
    }
}

impl Segment for EntryId {
    const NAME: &'static str = "entry id";

    fn read(raw: &str) -> Result<Self, String> {
        Self::parse(raw).map_err(|e| e.to_string())
    }
}

impl Segment for Date {
    const NAME: &'static str = "date";

    fn read(raw: &str) -> Result<Self, String> {
        parse_date(raw).map_err(|e| e.to_string())
    }
}

impl<T: Segment> Param<T> {
    fn new(raw: &str) -> Self {
        Self { raw: raw.to_owned(), names: PhantomData }
    }

    /// The segment as the path spelled it, for logs and rate-limit keys.
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// # Errors
    /// 400 naming the parameter when the segment is not a `T`.
    pub fn parse(&self) -> Result<T, ApiError> {
        T::read(&self.raw).map_err(|e| ApiError::BadRequest(format!("{} {e}", T::NAME)))
    }
}

/// A matched route: its operation and the path parameters that operation has, raw until parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Health,
    PutAccount { account: Param<AccountId> },
    GetAccount { account: Param<AccountId> },
    RecordEntry { account: Param<AccountId> },
    RecordBatch { account: Param<AccountId> },
    ListEntries { account: Param<AccountId> },
    GetEntry { account: Param<AccountId>, entry: Param<EntryId> },
    ReverseEntry { account: Param<AccountId>, entry: Param<EntryId> },
    DailyBalance { account: Param<AccountId>, date: Param<Date> },
    BalanceRange { account: Param<AccountId> },
}

impl Route {
    /// The operation this route performs.
    pub fn op(&self) -> Op {
        match self {
            Self::Health => Op::Health,
            Self::PutAccount { .. } => Op::PutAccount,
            Self::GetAccount { .. } => Op::GetAccount,
            Self::RecordEntry { .. } => Op::RecordEntry,
            Self::RecordBatch { .. } => Op::RecordBatch,
            Self::ListEntries { .. } => Op::ListEntries,
            Self::GetEntry { .. } => Op::GetEntry,
            Self::ReverseEntry { .. } => Op::ReverseEntry,
            Self::DailyBalance { .. } => Op::DailyBalance,
            Self::BalanceRange { .. } => Op::BalanceRange,
        }
    }

    /// The account the path names; `None` for `/health`.
    pub fn account(&self) -> Option<&Param<AccountId>> {
        match self {
            Self::Health => None,
            Self::PutAccount { account }
            | Self::GetAccount { account }
            | Self::RecordEntry { account }
            | Self::RecordBatch { account }
            | Self::ListEntries { account }
            | Self::GetEntry { account, .. }
            | Self::ReverseEntry { account, .. }
            | Self::DailyBalance { account, .. }
            | Self::BalanceRange { account } => Some(account),
        }
    }

    /// The path this route matches, as [`route`] reads it.
    pub fn path(&self) -> String {
        let base = self.account().map(|a| format!("/v1/accounts/{}", a.raw())).unwrap_or_default();
        match self {
            Self::Health => "/health".to_owned(),
            Self::PutAccount { .. } | Self::GetAccount { .. } => base,
            Self::RecordEntry { .. } | Self::ListEntries { .. } => format!("{base}/entries"),
            Self::RecordBatch { .. } => format!("{base}/entries/batch"),
            Self::GetEntry { entry, .. } => format!("{base}/entries/{}", entry.raw()),
            Self::ReverseEntry { entry, .. } => format!("{base}/entries/{}/reversal", entry.raw()),
            Self::BalanceRange { .. } => format!("{base}/balances/daily"),
            Self::DailyBalance { date, .. } => format!("{base}/balances/daily/{}", date.raw()),
        }
    }
}

/// Matches a request to a route.
///
/// # Errors
/// 404 for an unknown path, 405 for a known path with another method.
pub fn route(req: &Request) -> Result<Route, ApiError> {
    let path = request_path(req);
    let segments: Vec<&str> = path.strip_prefix('/').unwrap_or(&path).split('/').collect();
    let method = req.method().as_str();
    let (route, allow) = match (segments.as_slice(), method) {
        (["health"], m) => (only(m, "GET", || Route::Health), "GET"),
        (["v1", "accounts", a], m) => {
            let account = Param::new(a);
            let route = match m {
                "GET" => Some(Route::GetAccount { account }),
                "PUT" => Some(Route::PutAccount { account }),
                _ => None,
            };
            (route, "GET, PUT")
        }
        (["v1", "accounts", a, "entries"], m) => {
            let account = Param::new(a);
            let route = match m {
                "GET" => Some(Route::ListEntries { account }),
                "POST" => Some(Route::RecordEntry { account }),
                _ => None,
            };
            (route, "GET, POST")
        }
        (["v1", "accounts", a, "entries", "batch"], m) => {
            (only(m, "POST", || Route::RecordBatch { account: Param::new(a) }), "POST")
        }
        (["v1", "accounts", a, "entries", e], m) => {
            (only(m, "GET", || Route::GetEntry { account: Param::new(a), entry: Param::new(e) }), "GET")
        }
        (["v1", "accounts", a, "entries", e, "reversal"], m) => {
            (only(m, "POST", || Route::ReverseEntry { account: Param::new(a), entry: Param::new(e) }), "POST")
        }
        (["v1", "accounts", a, "balances", "daily"], m) => {
            (only(m, "GET", || Route::BalanceRange { account: Param::new(a) }), "GET")
        }
        (["v1", "accounts", a, "balances", "daily", d], m) => {
            (only(m, "GET", || Route::DailyBalance { account: Param::new(a), date: Param::new(d) }), "GET")
        }
        _ => return Err(ApiError::NotFound("route")),
    };
    route.ok_or(ApiError::MethodNotAllowed(allow))
}

/// The route when the request's method is the one this path takes.
fn only(method: &str, wanted: &str, route: impl FnOnce() -> Route) -> Option<Route> {
    (method == wanted).then(route)
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
            let matched = route(&req(method, path)).expect("a route");
            assert_eq!(matched.op(), op, "{path}");
            assert_eq!(matched.path(), path.split('?').next().unwrap_or(path), "{path}");
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
