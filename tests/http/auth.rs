//! Authentication, authorization and rate limits: tokens, grants, scopes, bound issuers and audiences, and each caller's rate.

use super::*;

/// One request to each kind of route of the shop, carrying `authorization` as the whole header.
fn every_route_with(app: &TestApp, authorization: Option<&str>) -> Vec<RequestBuilder> {
    let day = yesterday();
    let base = format!("/v1/accounts/{SHOP}");
    let account = json!({"name": "Hijacked", "currency": "BRL", "timezone": ZONE});
    let request = |method: Method, path: String| {
        let request = app.http.request(method, app.url(&path));
        match authorization {
            Some(value) => request.header(AUTHORIZATION, value),
            None => request,
        }
    };
    vec![
        request(Method::GET, base.clone()),
        request(Method::PUT, base.clone()).json(&account),
        request(Method::POST, format!("{base}/entries"))
            .header("Idempotency-Key", key())
            .json(&credit(100, &local_noon(day))),
        request(Method::POST, format!("{base}/entries/{UNKNOWN_ENTRY}/reversal")).header("Idempotency-Key", key()),
        request(Method::GET, format!("{base}/entries/{UNKNOWN_ENTRY}")),
        request(Method::GET, format!("{base}/entries?date={day}")),
        request(Method::GET, format!("{base}/balances/daily/{day}")),
        request(Method::GET, format!("{base}/balances/daily?from={day}&to={day}")),
    ]
}

/// Authorization headers that must not authenticate: none, malformed, forged, expired, tampered,
/// another scheme, and a token without its scheme.
fn invalid_authorizations(app: &TestApp) -> Vec<Option<String>> {
    const ALG_NONE: &str = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0";
    let scopes = [Scope::Read, Scope::Write];
    let valid = app.token(&[SHOP], &scopes, hour());
    let forged = issue(
        b"not the runner's secret, 32 bytes",
        &TokenBinding::default(),
        "eve",
        &[SHOP.to_owned()],
        &scopes,
        hour(),
    )
    .expect("token");
    let expired = app.token(&[SHOP], &scopes, SignedDuration::from_secs(-120));
    let wider = app.token(&[SHOP, "shop-2"], &scopes, SignedDuration::from_hours(48));
    let (parts, wider_parts): (Vec<&str>, Vec<&str>) = (valid.split('.').collect(), wider.split('.').collect());
    assert_eq!((parts.len(), wider_parts.len()), (3, 3), "tokens are JWS compact");
    let unsigned = format!("{ALG_NONE}.{}.", parts[1]);
    let spliced = format!("{}.{}.{}", parts[0], wider_parts[1], parts[2]);
    let bearer = |token: &str| Some(format!("Bearer {token}"));
    vec![
        None,
        Some("Bearer".to_owned()),
        bearer("not.a.jwt"),
        bearer(&forged),
        bearer(&expired),
        bearer(&unsigned),
        bearer(&spliced),
        Some(format!("Basic {valid}")),
        Some(valid.clone()),
    ]
}

#[tokio::test]
async fn requests_without_a_valid_token_are_401_and_write_nothing() {
    let (app, owner) = shop().await;
    let entry = owner.record(&credit(100, &local_noon(yesterday()))).await;
    for authorization in invalid_authorizations(&app) {
        for request in every_route_with(&app, authorization.as_deref()) {
            assert_problem(&Reply::of(request).await, 401);
        }
    }
    // The owner's own token works on the same routes: the refusals were about the tokens.
    let owner_token = app.token(&[SHOP], &[Scope::Read, Scope::Write], hour());
    let statuses = [200, 200, 201, 404, 404, 200, 200, 200];
    for (request, status) in every_route_with(&app, Some(&format!("Bearer {owner_token}"))).into_iter().zip(statuses) {
        let reply = Reply::of(request).await;
        assert_eq!(reply.status, status, "{}", reply.text);
    }
    let day = owner.entries_on(yesterday()).await;
    assert_eq!(day.len(), 2, "only the owner's two entries were written: {day:?}");
    assert_eq!(day[0], entry);
    let stored = Reply::of(owner.request(Method::GET, "")).await.expect(200);
    assert_eq!(stored["name"], "Hijacked", "the owner's PUT renamed the account, no other did");
}

#[tokio::test]
async fn tokens_without_the_account_or_the_scope_are_403_and_write_nothing() {
    let (app, owner) = shop().await;
    app.merchant("shop-2").open().await;
    let day = yesterday();
    let entry = owner.record(&credit(100, &local_noon(day))).await;
    let stranger = owner.with_token(app.token(&["shop-2"], &[Scope::Read, Scope::Write], hour()));
    let reader = owner.with_token(app.token(&[SHOP], &[Scope::Read], hour()));
    let writer = owner.with_token(app.token(&[SHOP], &[Scope::Write], hour()));
    let rename = json!({"name": "Renamed", "currency": "BRL", "timezone": ZONE});
    let body = credit(200, &local_noon(day));
    let refused = [
        stranger.request(Method::GET, ""),
        stranger.put_account(&rename),
        stranger.post_entry(&key(), &body),
        stranger.get_entry(&id(&entry)),
        stranger.reverse(&id(&entry), &key()),
        stranger.list(&format!("?date={day}")),
        stranger.daily(&day.to_string()),
        stranger.range(&format!("?from={day}&to={day}")),
        reader.put_account(&rename),
        reader.post_entry(&key(), &body),
        reader.reverse(&id(&entry), &key()),
        writer.request(Method::GET, ""),
        writer.get_entry(&id(&entry)),
        writer.list(&format!("?date={day}")),
        writer.daily(&day.to_string()),
    ];
    for request in refused {
        assert_problem(&Reply::of(request).await, 403);
    }
    // The read-only token does read: the refusals above were about scope, not a broken token.
    let account = Reply::of(reader.request(Method::GET, "")).await.expect(200);
    assert_eq!(account["name"], "Padaria São João", "a refused PUT renamed the account");
    assert_eq!(ids(&owner.entries_on(day).await), vec![id(&entry)], "a refused POST wrote an entry");
    let original = Reply::of(owner.get_entry(&id(&entry))).await.expect(200);
    assert_eq!(original["reversed_by"], Value::Null, "a refused reversal reversed the entry");
}

/// GIVEN a runner bound to an issuer and an audience (`FLUXO_JWT_ISSUER`, `FLUXO_JWT_AUDIENCE`)
/// THEN a token `fluxo token` signs under the same settings is taken, and tokens signed with the same
/// secret for no binding or for another environment are 401.
#[tokio::test]
async fn a_runner_bound_to_an_issuer_and_audience_takes_only_tokens_bound_to_them() {
    let config = Config::new().var("FLUXO_JWT_ISSUER", "fluxo-test").var("FLUXO_JWT_AUDIENCE", "ledger");
    let app = spawn_with(config).await;
    let cli = std::process::Command::new(env!("CARGO_BIN_EXE_fluxo"))
        .args(["token", "--account", SHOP, "--scope", "ledger:read ledger:write"])
        .env("FLUXO_JWT_SECRET", app.secret())
        .env("FLUXO_JWT_ISSUER", "fluxo-test")
        .env("FLUXO_JWT_AUDIENCE", "ledger")
        .output()
        .expect("fluxo token runs");
    assert!(cli.status.success(), "{}", String::from_utf8_lossy(&cli.stderr));
    let bound = String::from_utf8(cli.stdout).expect("a token").trim().to_owned();
    let scopes = [Scope::Read, Scope::Write];
    let sign = |issuer: &str| {
        let binding = TokenBinding { issuer: Some(issuer.to_owned()), audience: Some("ledger".to_owned()) };
        issue(app.secret().as_bytes(), &binding, "eve", &[SHOP.to_owned()], &scopes, hour()).expect("token")
    };
    let get = |token: String| app.http.get(app.url(&format!("/v1/accounts/{SHOP}"))).bearer_auth(token);
    assert_eq!(Reply::of(get(bound)).await.status, 404, "taken: no such account yet");
    for token in [app.token(&[SHOP], &scopes, hour()), sign("fluxo-prod")] {
        assert_problem(&Reply::of(get(token)).await, 401);
    }
    assert_eq!(Reply::of(get(sign("fluxo-test"))).await.status, 404, "the same binding, signed here, is taken");
}

#[tokio::test]
async fn a_caller_over_its_rate_on_an_account_gets_429_and_writes_nothing_while_others_go_on() {
    // One request every three seconds sustained, three at once: the PUT and two entries take the
    // burst. (Three seconds, not one: a loaded machine may take a second between two requests.)
    let config = Config::new().var("FLUXO_RATE_PER_MIN", "20").var("FLUXO_RATE_BURST", "3");
    let app = spawn_with(config).await;
    let owner = app.merchant(SHOP);
    owner.open().await;
    let day = yesterday();
    let (first, second) =
        (owner.record(&credit(100, &local_noon(day))).await, owner.record(&credit(200, &local_noon(day))).await);
    let refused = Reply::of(owner.post_entry(&key(), &credit(300, &local_noon(day)))).await;
    assert_problem(&refused, 429);
    let retry_after: u64 = refused.header("retry-after").and_then(|s| s.parse().ok()).expect("Retry-After in seconds");
    assert!((1..=3).contains(&retry_after), "Retry-After {retry_after}");
    assert_eq!(refused.header("ratelimit-policy"), Some("\"caller\";q=3;w=9"));
    assert_eq!(refused.header("ratelimit"), Some(format!("\"caller\";r=0;t={retry_after}").as_str()));
    // Another caller on the same account, and the same caller's other account, have buckets of their own.
    let scopes = [Scope::Read, Scope::Write];
    let auditor =
        issue(app.secret().as_bytes(), &TokenBinding::default(), "auditor", &[SHOP.to_owned()], &scopes, hour());
    let auditor = owner.with_token(auditor.expect("token"));
    // Listed in id order: two entries recorded in the same millisecond are ordered by their keys.
    let mut recorded = ids(&[first, second]);
    recorded.sort();
    assert_eq!(ids(&auditor.entries_on(day).await), recorded, "the refused entry was not written");
    let neighbour = app.merchant("shop-2");
    assert_eq!(
        Reply::of(neighbour.put_account(&json!({"name": "Next door", "currency": "BRL", "timezone": ZONE})))
            .await
            .status,
        201
    );
    tokio::time::sleep(Duration::from_secs(retry_after)).await;
    let admitted = Reply::of(owner.post_entry(&key(), &credit(300, &local_noon(day)))).await;
    assert_eq!(admitted.status, 201, "after Retry-After the caller is admitted: {}", admitted.text);
    assert!(
        admitted.header("ratelimit").is_some_and(|v| v.starts_with("\"caller\";r=0;t=")),
        "{:?}",
        admitted.header("ratelimit")
    );
}
