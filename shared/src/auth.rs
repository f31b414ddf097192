//! Who is calling and what they may do.
//!
//! Tokens carry `sub`, `exp`, `accounts` (the account ids the caller may use) and `scope` (space
//! separated: `ledger:read`, `ledger:write`). With [`Authenticator::Jwt`] the functions verify HS256
//! tokens themselves; with [`Authenticator::ApiGateway`] API Gateway has verified the token and the
//! claims are read from the authorizer context of the event. Tokens are never logged.

use std::collections::HashMap;

use http::HeaderMap;
use jiff::{SignedDuration, Timestamp};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use lambda_http::request::RequestContext;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::domain::account::AccountId;

/// What a caller may do with an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Read,
    Write,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "ledger:read",
            Self::Write => "ledger:write",
        }
    }
}

/// The claims of a Fluxo token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    #[serde(default)]
    pub accounts: Vec<String>,
    #[serde(default)]
    pub scope: String,
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub subject: String,
    accounts: Vec<String>,
    scopes: Vec<String>,
}

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No token, a malformed or badly signed one, or an expired one (401).
    #[error("missing, invalid or expired credentials")]
    Unauthenticated,
    /// A valid token without the account or the scope (403).
    #[error("the token does not grant this account and scope")]
    Forbidden,
}

impl Principal {
    /// Checks that the caller may act on `account` with `scope`.
    ///
    /// # Errors
    /// `Forbidden` when the account is not in the token or the scope is missing.
    pub fn authorize(&self, account: &AccountId, scope: Scope) -> Result<(), AuthError> {
        let has_account = self.accounts.iter().any(|a| a == account.as_str());
        let has_scope = self.scopes.iter().any(|s| s == scope.as_str());
        if has_account && has_scope { Ok(()) } else { Err(AuthError::Forbidden) }
    }

    /// The account ids this caller may use.
    pub fn accounts(&self) -> &[String] {
        &self.accounts
    }
}

/// Whom local tokens are from and for (`FLUXO_JWT_ISSUER`, `FLUXO_JWT_AUDIENCE`): each one set is
/// written into the tokens [`issue`] signs and required of every token verified, so a token signed
/// for one environment is refused by another that shares its secret.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenBinding {
    pub issuer: Option<String>,
    pub audience: Option<String>,
}

impl TokenBinding {
    /// What a token must carry: a valid HS256 signature, `sub`, `exp` in the future, `nbf` (when
    /// present) in the past, and the issuer and audience when set. No leeway: the runner signs and
    /// verifies on one clock.
    fn validation(&self) -> Validation {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.validate_nbf = true;
        let mut required = vec!["exp", "sub"];
        if let Some(issuer) = &self.issuer {
            validation.set_issuer(&[issuer]);
            required.push("iss");
        }
        match &self.audience {
            Some(audience) => {
                validation.set_audience(&[audience]);
                required.push("aud");
            }
            None => validation.validate_aud = false,
        }
        validation.set_required_spec_claims(&required);
        validation
    }
}

/// How the functions learn who is calling.
#[derive(Clone)]
pub enum Authenticator {
    /// Verify `Authorization: Bearer` HS256 tokens with a shared secret.
    Jwt { key: DecodingKey, validation: Box<Validation> },
    /// Trust the claims API Gateway's authorizer put in the request context.
    ApiGateway,
}

impl Authenticator {
    /// An HS256 verifier for `secret` that holds tokens to `binding`.
    pub fn jwt(secret: &[u8], binding: &TokenBinding) -> Self {
        Self::Jwt { key: DecodingKey::from_secret(secret), validation: Box::new(binding.validation()) }
    }

    /// Authenticates a request from its headers or its authorizer context.
    ///
    /// # Errors
    /// `Unauthenticated` when no valid claims are found.
    pub fn authenticate(&self, headers: &HeaderMap, context: Option<&RequestContext>) -> Result<Principal, AuthError> {
        match self {
            Self::Jwt { key, validation } => verify(headers, key, validation),
            Self::ApiGateway => context.and_then(authorizer_claims).ok_or(AuthError::Unauthenticated),
        }
    }
}

fn verify(headers: &HeaderMap, key: &DecodingKey, validation: &Validation) -> Result<Principal, AuthError> {
    let header =
        headers.get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()).ok_or(AuthError::Unauthenticated)?;
    let (scheme, token) = header.split_once(' ').ok_or(AuthError::Unauthenticated)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthError::Unauthenticated);
    }
    let claims =
        jsonwebtoken::decode::<Claims>(token.trim(), key, validation).map_err(|_| AuthError::Unauthenticated)?.claims;
    Ok(Principal { subject: claims.sub, accounts: claims.accounts, scopes: split_scopes(&claims.scope) })
}

/// Reads claims from a REST API (Cognito user pool or Lambda authorizer) or HTTP API JWT authorizer.
fn authorizer_claims(context: &RequestContext) -> Option<Principal> {
    let claims: HashMap<String, Value> = match context {
        RequestContext::ApiGatewayV1(ctx) => match ctx.authorizer.fields.get("claims") {
            Some(Value::Object(map)) => map.clone().into_iter().collect(),
            _ => ctx.authorizer.fields.clone(),
        },
        RequestContext::ApiGatewayV2(ctx) => {
            let jwt = ctx.authorizer.as_ref()?.jwt.as_ref()?;
            let mut claims: HashMap<String, Value> =
                jwt.claims.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
            // Access tokens may carry their scopes beside the claims rather than in `scope`.
            if let (None, Some(scopes)) = (claims.get("scope"), jwt.scopes.as_ref()) {
                claims.insert("scope".into(), Value::String(scopes.join(" ")));
            }
            claims
        }
        _ => return None,
    };
    let subject = claims.get("sub")?.as_str()?.to_owned();
    let accounts = claims.get("accounts").or_else(|| claims.get("custom:accounts")).map(list_claim).unwrap_or_default();
    let scopes = claims.get("scope").and_then(Value::as_str).map(split_scopes).unwrap_or_default();
    Some(Principal { subject, accounts, scopes })
}

/// A list claim arrives as a JSON array, or (from authorizers that flatten claims to strings) as a
/// JSON array in a string, as `[a b]`, or as space- or comma-separated ids.
fn list_claim(value: &Value) -> Vec<String> {
    match value {
        Value::Array(items) => items.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
        Value::String(text) => match serde_json::from_str::<Vec<String>>(text) {
            Ok(list) => list,
            Err(_) => {
                // HTTP API JWT authorizers flatten an array claim to `[a b]`: bracketed, space separated.
                let inner = text.trim().strip_prefix('[').and_then(|t| t.strip_suffix(']')).unwrap_or(text);
                inner.split([' ', ',']).filter(|s| !s.is_empty()).map(str::to_owned).collect()
            }
        },
        _ => Vec::new(),
    }
}

fn split_scopes(scope: &str) -> Vec<String> {
    scope.split_whitespace().map(str::to_owned).collect()
}

/// Signs an HS256 token for local use (`fluxo token`, tests), bound to `binding`.
///
/// # Errors
/// When signing fails.
pub fn issue(
    secret: &[u8],
    binding: &TokenBinding,
    subject: &str,
    accounts: &[String],
    scopes: &[Scope],
    ttl: SignedDuration,
) -> Result<String, jsonwebtoken::errors::Error> {
    let exp = Timestamp::now().saturating_add(ttl).unwrap_or(Timestamp::MAX).as_second();
    let claims = Claims {
        sub: subject.to_owned(),
        exp,
        iss: binding.issuer.clone(),
        aud: binding.audience.clone(),
        accounts: accounts.to_vec(),
        scope: scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" "),
    };
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bearer(token: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(http::header::AUTHORIZATION, format!("Bearer {token}").parse().expect("header"));
        headers
    }

    fn open() -> TokenBinding {
        TokenBinding::default()
    }

    fn bound(issuer: &str, audience: &str) -> TokenBinding {
        TokenBinding { issuer: Some(issuer.to_owned()), audience: Some(audience.to_owned()) }
    }

    fn account(id: &str) -> AccountId {
        AccountId::parse(id).expect("id")
    }

    #[test]
    fn a_signed_token_grants_its_accounts_and_scopes_only() {
        let token = issue(b"secret", &open(), "alice", &["shop".into()], &[Scope::Read], SignedDuration::from_hours(1))
            .expect("token");
        let who = Authenticator::jwt(b"secret", &open()).authenticate(&bearer(&token), None).expect("valid");
        assert_eq!(who.authorize(&account("shop"), Scope::Read), Ok(()));
        assert_eq!(who.authorize(&account("shop"), Scope::Write), Err(AuthError::Forbidden));
        assert_eq!(who.authorize(&account("other"), Scope::Read), Err(AuthError::Forbidden));
    }

    #[test]
    fn wrong_secret_expired_and_missing_tokens_are_unauthenticated() {
        let auth = Authenticator::jwt(b"secret", &open());
        let forged = issue(b"other", &open(), "eve", &["shop".into()], &[Scope::Read], SignedDuration::from_hours(1))
            .expect("token");
        let expired =
            issue(b"secret", &open(), "bob", &["shop".into()], &[Scope::Read], SignedDuration::from_secs(-60))
                .expect("token");
        for headers in [bearer(&forged), bearer(&expired), bearer("not.a.jwt"), HeaderMap::new()] {
            assert_eq!(auth.authenticate(&headers, None), Err(AuthError::Unauthenticated));
        }
    }

    #[test]
    fn a_bound_verifier_takes_only_tokens_of_its_issuer_and_audience() {
        let dev = Authenticator::jwt(b"secret", &bound("fluxo-dev", "ledger"));
        let sign = |binding: &TokenBinding| {
            issue(b"secret", binding, "alice", &["shop".into()], &[Scope::Read], SignedDuration::from_hours(1))
                .expect("token")
        };
        assert!(dev.authenticate(&bearer(&sign(&bound("fluxo-dev", "ledger"))), None).is_ok());
        for other in [bound("fluxo-prod", "ledger"), bound("fluxo-dev", "reports"), open()] {
            let token = sign(&other);
            assert_eq!(dev.authenticate(&bearer(&token), None), Err(AuthError::Unauthenticated), "{other:?}");
        }
        // An unbound verifier ignores what a token says of itself.
        let any = Authenticator::jwt(b"secret", &open());
        assert!(any.authenticate(&bearer(&sign(&bound("fluxo-dev", "ledger"))), None).is_ok());
    }

    #[test]
    fn a_token_not_valid_before_a_later_time_is_refused_until_then() {
        let sign = |nbf: i64| {
            let now = Timestamp::now().as_second();
            let claims = serde_json::json!({"sub": "alice", "exp": now + 3600, "nbf": now + nbf, "accounts": ["shop"], "scope": "ledger:read"});
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(b"secret"))
                .expect("token")
        };
        let auth = Authenticator::jwt(b"secret", &open());
        assert_eq!(auth.authenticate(&bearer(&sign(600)), None), Err(AuthError::Unauthenticated));
        assert!(auth.authenticate(&bearer(&sign(-60)), None).is_ok());
    }

    #[test]
    fn list_claims_accept_arrays_and_strings() {
        let want = vec!["a".to_owned(), "b".to_owned()];
        assert_eq!(list_claim(&serde_json::json!(["a", "b"])), want);
        assert_eq!(list_claim(&serde_json::json!("[\"a\",\"b\"]")), want);
        assert_eq!(list_claim(&serde_json::json!("a b")), want);
        assert_eq!(list_claim(&serde_json::json!("a,b")), want);
        assert_eq!(list_claim(&serde_json::json!("[a b]")), want);
    }
}
