//! Accounts: creating, renaming, refusing a change of currency or time zone.

use super::*;

#[tokio::test]
async fn given_a_new_account_when_it_is_put_then_201_and_get_returns_it() {
    let app = spawn_app().await;
    let owner = app.merchant(SHOP);
    let created = owner.open().await;
    assert_eq!(created["id"], SHOP);
    assert_eq!(created["name"], "Padaria São João");
    assert_eq!(created["currency"], "BRL");
    assert_eq!(created["timezone"], ZONE);
    let created_at = created["created_at"].as_str().expect("created_at");
    assert!(created_at.parse::<jiff::Timestamp>().is_ok(), "created_at {created_at:?} is not RFC 3339");
    let fetched = Reply::of(owner.request(Method::GET, "")).await.expect(200);
    assert_eq!(fetched, created);
}

#[tokio::test]
async fn given_an_account_when_it_is_put_again_or_renamed_then_200_and_only_the_name_changes() {
    let (_app, owner) = shop().await;
    let created = Reply::of(owner.request(Method::GET, "")).await.expect(200);
    let same = json!({"name": "Padaria São João", "currency": "BRL", "timezone": ZONE});
    assert_eq!(Reply::of(owner.put_account(&same)).await.expect(200), created);
    let renamed = Reply::of(owner.put_account(&with(&same, json!({"name": "Padaria Nova"})))).await.expect(200);
    assert_eq!(renamed, with(&created, json!({"name": "Padaria Nova"})));
    assert_eq!(Reply::of(owner.request(Method::GET, "")).await.expect(200), renamed);
}

#[tokio::test]
async fn given_an_account_when_its_currency_or_timezone_would_change_then_409_and_it_stays() {
    let (_app, owner) = shop().await;
    let created = Reply::of(owner.request(Method::GET, "")).await.expect(200);
    let changes = [
        json!({"name": "Padaria São João", "currency": "USD", "timezone": ZONE}),
        json!({"name": "Padaria São João", "currency": "BRL", "timezone": "Europe/Lisbon"}),
        json!({"name": "Renamed too", "currency": "EUR", "timezone": "Europe/Lisbon"}),
    ];
    for change in &changes {
        assert_problem(&Reply::of(owner.put_account(change)).await, 409);
    }
    assert_eq!(Reply::of(owner.request(Method::GET, "")).await.expect(200), created);
}

#[tokio::test]
async fn every_route_of_an_unknown_account_is_404() {
    let app = spawn_app().await;
    let ghost = app.merchant("ghost");
    let day = yesterday();
    let requests = [
        ghost.request(Method::GET, ""),
        ghost.post_entry(&key(), &credit(100, &local_noon(day))),
        ghost.get_entry(UNKNOWN_ENTRY),
        ghost.reverse(UNKNOWN_ENTRY, &key()),
        ghost.list(&format!("?date={day}")),
        ghost.daily(&day.to_string()),
        ghost.range(&format!("?from={day}&to={day}")),
    ];
    for request in requests {
        assert_problem(&Reply::of(request).await, 404);
    }
}

#[tokio::test]
async fn malformed_account_ids_are_400_and_64_characters_are_fine() {
    let app = spawn_app().await;
    let too_long = "a".repeat(65);
    let day = yesterday();
    let account = json!({"name": "Shop", "currency": "BRL", "timezone": ZONE});
    for bad in [too_long.as_str(), "a.b", "a%20b", "a%2Fb", "%C3%A7", "a+b"] {
        let merchant = app.merchant(bad);
        let requests = [
            merchant.request(Method::GET, ""),
            merchant.put_account(&account),
            merchant.post_entry(&key(), &credit(100, &local_noon(day))),
            merchant.daily(&day.to_string()),
        ];
        for request in requests {
            assert_problem(&Reply::of(request).await, 400);
        }
    }
    let longest = "A-_9".repeat(16);
    Reply::of(app.merchant(&longest).put_account(&account)).await.expect(201);
}

#[tokio::test]
async fn invalid_currency_or_timezone_is_422_naming_the_fields_and_creates_nothing() {
    let app = spawn_app().await;
    let owner = app.merchant(SHOP);
    let cases = [
        (json!({"name": "Shop", "currency": "brl", "timezone": "Mars/Olympus"}), vec!["currency", "timezone"]),
        (json!({"name": "Shop", "currency": "XXXX", "timezone": ZONE}), vec!["currency"]),
        (json!({"name": "Shop", "currency": 986, "timezone": ZONE}), vec!["currency"]),
        (json!({"name": "Shop", "currency": "BRL", "timezone": "America/Nowhere"}), vec!["timezone"]),
        (json!({"currency": "BRL", "timezone": ZONE}), vec!["name"]),
        (json!({"name": "Shop", "currency": "BRL", "timezone": ZONE, "owner": "x"}), vec!["owner"]),
    ];
    for (body, fields) in &cases {
        assert_fields(&Reply::of(owner.put_account(body)).await, fields);
    }
    assert_problem(&Reply::of(owner.request(Method::GET, "")).await, 404);
}
