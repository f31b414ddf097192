//! Rate limits of `fluxo serve`: a token bucket (GCRA, `governor`) per caller and account, checked
//! after the token is verified and before a function sees the request, so a refused request writes
//! nothing. In AWS the same limit is WAF's per-token rule (`infra/waf.tf`).
//!
//! The bucket is keyed on the token's subject and the account of the path when the token grants it;
//! a caller's requests for accounts it is not granted share one bucket, so keys stay bounded by the
//! grants of valid tokens. Requests without a valid token, and routes without an account, are not
//! limited here: they are refused or answered without touching the ledger.

use std::num::NonZeroU32;
use std::time::Duration;

use fluxo::auth::Authenticator;
use fluxo::http::BATCH_BODY_BYTES_MAX;
use fluxo::http::problem::ApiError;
use fluxo::http::route::{Op, Route};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use http::{HeaderMap, HeaderValue};
use lambda_http::Request;

/// How fast one caller may use one account: `per_minute` sustained, `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub per_minute: NonZeroU32,
    pub burst: NonZeroU32,
}

impl Rate {
    /// The time one request's token takes to come back.
    fn interval(self) -> Duration {
        Duration::from_secs(60) / self.per_minute.get()
    }

    /// Whole seconds for `cells` tokens to come back, rounded up.
    fn seconds_for(self, cells: u32) -> u64 {
        (self.interval() * cells).as_secs_f64().ceil() as u64
    }

    /// `RateLimit-Policy`: the burst as the quota, over the seconds it takes to refill.
    fn policy(self) -> String {
        format!("\"caller\";q={};w={}", self.burst, self.seconds_for(self.burst.get()).max(1))
    }
}

/// One bucket per (subject, account).
type Key = (String, String);
type Limiter = RateLimiter<Key, DefaultKeyedStateStore<Key>, DefaultClock, StateInformationMiddleware>;

/// What the limiter decided, with the headers that say so.
pub enum Admission {
    /// Not limited here: no valid token, or no account in the route.
    Unmetered,
    /// Within the limit; the headers go on the response.
    Admitted(HeaderMap),
    /// Over the limit: the 429 to answer instead of running the request.
    Refused(lambda_http::Response<lambda_http::Body>),
}

/// The buckets of every caller, and how to recognise callers.
pub struct Limits {
    limiter: Limiter,
    clock: DefaultClock,
    rate: Rate,
    /// `RateLimit-Policy`, the same on every answer.
    policy: HeaderValue,
    auth: Authenticator,
}

impl Limits {
    /// # Errors
    /// When the policy cannot be a header value, which digits and quotes always can.
    pub fn new(rate: Rate, auth: Authenticator) -> Result<Self, http::header::InvalidHeaderValue> {
        let clock = DefaultClock::default();
        let quota = Quota::per_minute(rate.per_minute).allow_burst(rate.burst);
        let limiter = RateLimiter::dashmap_with_clock(quota, clock.clone()).with_middleware();
        let policy = HeaderValue::from_str(&rate.policy())?;
        Ok(Self { limiter, clock, rate, policy, auth })
    }

    /// Takes one token from the caller's bucket for the account of `req`'s `route` (one per entry
    /// for a batch), or says when they will be back.
    pub fn admit(&self, req: &Request, route: Option<&Route>) -> Admission {
        let Some(key) = self.key(req, route) else { return Admission::Unmetered };
        let cells = match route.map(Route::op) {
            Some(Op::RecordBatch) => self.batch_cost(req.body()),
            _ => NonZeroU32::MIN,
        };
        match self.limiter.check_key_n(&key, cells) {
            Ok(Ok(state)) => {
                let remaining = state.remaining_burst_capacity();
                let reset = self.rate.seconds_for(self.rate.burst.get().saturating_sub(remaining));
                Admission::Admitted(self.headers(remaining, reset))
            }
            Ok(Err(not_until)) => {
                let wait = not_until.wait_time_from(self.clock.now());
                let retry_after = wait.as_secs_f64().ceil().max(1.0) as u64;
                let mut refused = ApiError::Throttled(retry_after).into_response();
                refused.headers_mut().extend(self.headers(0, retry_after));
                Admission::Refused(refused)
            }
            // `batch_cost` is at most the burst, which the bucket can always hold.
            Err(_) => Admission::Unmetered,
        }
    }

    /// What a batch costs: one token per entry, at most the whole burst (so a batch is never refused
    /// for good), at least one. The count is read here without parsing the entries; a body that is
    /// not a batch, or is over the size limit, costs one, and the function refuses it.
    fn batch_cost(&self, body: &[u8]) -> NonZeroU32 {
        if body.len() > BATCH_BODY_BYTES_MAX {
            return NonZeroU32::MIN;
        }
        #[derive(serde::Deserialize)]
        struct Envelope {
            entries: Vec<serde::de::IgnoredAny>,
        }
        let entries = serde_json::from_slice::<Envelope>(body).map_or(1, |e| e.entries.len());
        let entries = u32::try_from(entries).unwrap_or(u32::MAX).min(self.rate.burst.get());
        NonZeroU32::new(entries).unwrap_or(NonZeroU32::MIN)
    }

    /// Forgets the buckets that are full again, which hold nothing a fresh one would not.
    pub fn forget_idle(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }

    /// How many callers' buckets are held.
    #[cfg(test)]
    fn held(&self) -> usize {
        self.limiter.len()
    }

    fn key(&self, req: &Request, route: Option<&Route>) -> Option<Key> {
        let account = route?.account()?.raw();
        if account.is_empty() {
            return None;
        }
        let principal = self.auth.authenticate(req.headers(), None).ok()?;
        let granted = principal.accounts().iter().any(|a| a == account);
        Some((principal.subject, if granted { account.to_owned() } else { String::new() }))
    }

    fn headers(&self, remaining: u32, reset: u64) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("ratelimit-policy", self.policy.clone());
        if let Ok(state) = HeaderValue::from_str(&format!("\"caller\";r={remaining};t={reset}")) {
            headers.insert("ratelimit", state);
        }
        headers
    }
}

#[cfg(test)]
mod tests {
    use fluxo::auth::{Scope, TokenBinding, issue};
    use fluxo::http::route::route;
    use jiff::SignedDuration;

    use super::*;

    impl Limits {
        /// `admit` with the request's route, as the runner's front matches it.
        fn check(&self, req: &Request) -> Admission {
            self.admit(req, route(req).ok().as_ref())
        }
    }

    const SECRET: &[u8] = b"a test secret of at least 32 bytes!!";

    fn limits(per_minute: u32, burst: u32) -> Limits {
        let rate = Rate {
            per_minute: NonZeroU32::new(per_minute).expect("rate"),
            burst: NonZeroU32::new(burst).expect("burst"),
        };
        Limits::new(rate, Authenticator::jwt(SECRET, &TokenBinding::default())).expect("limits")
    }

    fn request(path: &str, subject: &str, accounts: &[&str]) -> Request {
        with_body(path, subject, accounts, "")
    }

    fn with_body(path: &str, subject: &str, accounts: &[&str], body: &str) -> Request {
        let accounts: Vec<String> = accounts.iter().map(|a| (*a).to_owned()).collect();
        let binding = TokenBinding::default();
        let token =
            issue(SECRET, &binding, subject, &accounts, &[Scope::Read, Scope::Write], SignedDuration::from_hours(1))
                .expect("token");
        http::Request::builder()
            .uri(path)
            .header("authorization", format!("Bearer {token}"))
            .method(if body.is_empty() { "GET" } else { "POST" })
            .body(lambda_http::Body::from(body))
            .expect("request")
    }

    fn admitted(admission: Admission) -> HeaderMap {
        match admission {
            Admission::Admitted(headers) => headers,
            Admission::Refused(r) => panic!("refused with {}", r.status()),
            Admission::Unmetered => panic!("unmetered"),
        }
    }

    fn header<'h>(headers: &'h HeaderMap, name: &str) -> &'h str {
        headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default()
    }

    #[test]
    fn a_caller_past_its_burst_is_refused_with_429_and_when_to_come_back() {
        let limits = limits(60, 2);
        let req = request("/v1/accounts/shop/entries", "alice", &["shop"]);
        let first = admitted(limits.check(&req));
        assert_eq!(header(&first, "ratelimit-policy"), "\"caller\";q=2;w=2");
        assert_eq!(header(&first, "ratelimit"), "\"caller\";r=1;t=1");
        assert_eq!(header(&admitted(limits.check(&req)), "ratelimit"), "\"caller\";r=0;t=2");
        let Admission::Refused(refused) = limits.check(&req) else {
            panic!("the third request within a second passed")
        };
        assert_eq!(refused.status(), http::StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(header(refused.headers(), "retry-after"), "1");
        assert_eq!(header(refused.headers(), "ratelimit"), "\"caller\";r=0;t=1");
        assert_eq!(header(refused.headers(), "content-type"), "application/problem+json");
        let lambda_http::Body::Text(body) = refused.body() else { panic!("no problem body") };
        assert!(body.contains("urn:fluxo:problem:throttled"), "{body}");
    }

    #[test]
    fn each_caller_and_account_has_its_own_bucket() {
        let limits = limits(60, 1);
        let alice = request("/v1/accounts/shop/entries", "alice", &["shop", "cafe"]);
        admitted(limits.check(&alice));
        assert!(matches!(limits.check(&alice), Admission::Refused(_)));
        admitted(limits.check(&request("/v1/accounts/cafe/entries", "alice", &["shop", "cafe"])));
        admitted(limits.check(&request("/v1/accounts/shop/entries", "bob", &["shop"])));
        assert_eq!(limits.held(), 3);
    }

    #[test]
    fn accounts_a_caller_is_not_granted_share_one_bucket() {
        let limits = limits(60, 1);
        admitted(limits.check(&request("/v1/accounts/a1/entries", "mallory", &["own"])));
        assert!(matches!(
            limits.check(&request("/v1/accounts/a2/entries", "mallory", &["own"])),
            Admission::Refused(_)
        ));
        admitted(limits.check(&request("/v1/accounts/own/entries", "mallory", &["own"])));
        assert_eq!(limits.held(), 2);
    }

    #[test]
    fn requests_without_a_valid_token_or_an_account_are_not_metered() {
        let limits = limits(60, 1);
        let health = request("/health", "alice", &["shop"]);
        for _ in 0..3 {
            assert!(matches!(limits.check(&health), Admission::Unmetered));
        }
        let mut forged = request("/v1/accounts/shop/entries", "alice", &["shop"]);
        forged.headers_mut().insert("authorization", HeaderValue::from_static("Bearer not-a-token"));
        assert!(matches!(limits.check(&forged), Admission::Unmetered));
        assert_eq!(limits.held(), 0);
    }

    #[test]
    fn a_batch_costs_one_token_per_entry_and_at_most_the_burst() {
        let shop = limits(60, 5);
        let batch = |n: usize| {
            let entries = vec!["{}"; n].join(",");
            with_body("/v1/accounts/shop/entries/batch", "alice", &["shop"], &format!(r#"{{"entries":[{entries}]}}"#))
        };
        assert_eq!(header(&admitted(shop.check(&batch(3))), "ratelimit"), "\"caller\";r=2;t=3");
        assert!(matches!(shop.check(&batch(3)), Admission::Refused(_)), "3 entries passed with 2 tokens left");
        admitted(shop.check(&batch(2)));
        let other = limits(60, 5);
        let big = with_body(
            "/v1/accounts/shop/entries/batch",
            "bob",
            &["shop"],
            &format!(r#"{{"entries":[{}]}}"#, vec!["1"; 50].join(",")),
        );
        assert_eq!(header(&admitted(other.check(&big)), "ratelimit"), "\"caller\";r=0;t=5");
        let malformed = with_body("/v1/accounts/shop/entries/batch", "carol", &["shop"], "{not json");
        assert_eq!(header(&admitted(other.check(&malformed)), "ratelimit"), "\"caller\";r=4;t=1");
        let oversized = format!(r#"{{"entries":[{{}},{{}}]}}{}"#, " ".repeat(BATCH_BODY_BYTES_MAX));
        let oversized = with_body("/v1/accounts/shop/entries/batch", "dave", &["shop"], &oversized);
        assert_eq!(header(&admitted(other.check(&oversized)), "ratelimit"), "\"caller\";r=4;t=1");
    }

    #[test]
    fn buckets_full_again_are_forgotten() {
        let limits = limits(600_000, 1);
        admitted(limits.check(&request("/v1/accounts/shop/entries", "alice", &["shop"])));
        assert_eq!(limits.held(), 1);
        std::thread::sleep(Duration::from_millis(5));
        limits.forget_idle();
        assert_eq!(limits.held(), 0);
    }

    #[test]
    fn the_policy_states_the_burst_over_its_refill_time() {
        let rate = |per_minute, burst| Rate {
            per_minute: NonZeroU32::new(per_minute).expect("rate"),
            burst: NonZeroU32::new(burst).expect("burst"),
        };
        assert_eq!(rate(6000, 200).policy(), "\"caller\";q=200;w=2");
        assert_eq!(rate(100, 10).policy(), "\"caller\";q=10;w=6");
        assert_eq!(rate(6_000_000, 1).policy(), "\"caller\";q=1;w=1");
    }
}
