//! Routing and health: what answers without an account.

use super::*;

#[tokio::test]
async fn health_is_200_without_a_token() {
    let app = spawn_app().await;
    let reply = Reply::of(app.http.get(app.url("/health"))).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
}

/// GIVEN a runner whose store and queue answer WHEN `/ready` is asked without a token THEN 200 naming
/// both checks; any other method is 405.
#[tokio::test]
async fn ready_is_200_naming_the_store_and_the_queue_without_a_token() {
    let app = spawn_app().await;
    let reply = Reply::of(app.http.get(app.url("/ready"))).await;
    assert_eq!(reply.json(), json!({"status": "ready", "checks": {"store": "ok", "queue": "ok"}}));
    assert_eq!((reply.status, reply.header("cache-control")), (200, Some("no-store")));
    let post = Reply::of(app.http.post(app.url("/ready"))).await;
    assert_eq!((post.status, post.header("allow")), (405, Some("GET")));
}

#[tokio::test]
async fn unknown_paths_are_404_and_known_paths_with_another_method_are_405_with_allow() {
    let app = spawn_app().await;
    for path in ["/nope", "/v1", "/v1/accounts", "/v1/accounts/shop/", "/v2/accounts/shop"] {
        assert_problem(&Reply::of(app.http.get(app.url(path))).await, 404);
    }
    let cases = [
        (Method::DELETE, "/v1/accounts/shop", "GET, PUT"),
        (Method::POST, "/health", "GET"),
        (Method::PUT, "/v1/accounts/shop/entries", "GET, POST"),
        (Method::DELETE, "/v1/accounts/shop/entries/x", "GET"),
        (Method::GET, "/v1/accounts/shop/entries/x/reversal", "POST"),
        (Method::POST, "/v1/accounts/shop/balances/daily", "GET"),
        (Method::POST, "/v1/accounts/shop/balances/daily/2026-11-23", "GET"),
    ];
    for (method, path, allow) in cases {
        let reply = Reply::of(app.http.request(method, app.url(path))).await;
        assert_problem(&reply, 405);
        assert_eq!(reply.header("allow"), Some(allow), "Allow of {path}");
    }
}
