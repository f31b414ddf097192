//! Recording entries: the body, idempotency keys, refusals and their limits.

use super::*;

#[tokio::test]
async fn given_an_account_when_an_entry_is_posted_then_201_with_its_location_and_the_entry() {
    let (_app, owner) = shop().await;
    let day = yesterday();
    let at = local_noon(day);
    let body = json!({"type": "credit", "amount": 1500, "description": "café da manhã", "occurred_at": at});
    let reply = Reply::of(owner.post_entry(&key(), &body)).await;
    let entry = reply.expect(201);
    let members = members(&entry);
    let expected = [
        "account_id",
        "amount",
        "business_date",
        "currency",
        "description",
        "id",
        "occurred_at",
        "recorded_at",
        "reversed_by",
        "reverses",
        "type",
    ];
    assert_eq!(members, expected);
    let wanted = json!({
        "id": id(&entry), "account_id": SHOP, "type": "credit", "amount": 1500, "currency": "BRL",
        "description": "café da manhã", "occurred_at": at, "business_date": day.to_string(),
        "recorded_at": entry["recorded_at"], "reverses": null, "reversed_by": null,
    });
    assert_eq!(entry, wanted);
    let recorded_at: jiff::Timestamp = entry["recorded_at"].as_str().and_then(|t| t.parse().ok()).expect("recorded_at");
    assert!(recorded_at <= jiff::Timestamp::now(), "recorded_at {recorded_at} is in the future");
    let location = reply.header("location").expect("a Location header");
    assert!(location.ends_with(&format!("/v1/accounts/{SHOP}/entries/{}", id(&entry))), "Location {location}");
    let path = location.find("/v1/").map(|at| &location[at..]).expect("a path in Location");
    assert_eq!(Reply::of(owner.get_path(path)).await.expect(200), entry);
}

#[tokio::test]
async fn given_no_occurred_at_when_an_entry_is_posted_then_it_occurred_now_and_has_no_description() {
    let (_app, owner) = shop().await;
    let before = today();
    let entry = owner.record(&json!({"type": "debit", "amount": 1})).await;
    let after = today();
    assert_eq!(entry["description"], Value::Null);
    assert!([before, after].contains(&business_date(&entry)), "business date of now: {entry}");
    assert_eq!(entry["occurred_at"], entry["recorded_at"], "occurred_at defaults to the time it was recorded");
}

#[tokio::test]
async fn given_a_recorded_entry_when_the_same_key_and_body_come_again_then_200_replays_it_and_writes_nothing() {
    let (_app, owner) = shop().await;
    let day = yesterday();
    let (k, body) = (key(), debit(420, &local_noon(day)));
    let first = Reply::of(owner.post_entry(&k, &body)).await;
    let entry = first.expect(201);
    assert_eq!(first.header("idempotent-replayed"), None, "a first write is no replay");
    for _ in 0..2 {
        let again = Reply::of(owner.post_entry(&k, &body)).await;
        assert_eq!(again.status, 200, "{}", again.text);
        assert_eq!(again.header("idempotent-replayed"), Some("true"));
        assert_eq!(again.text, first.text, "a replay answers the identical body");
    }
    let reordered = format!(r#"{{ "occurred_at": {}, "amount": 420, "type": "debit" }}"#, body["occurred_at"]);
    let again = Reply::of(owner.post_body(&k, Some("application/json"), reordered)).await;
    assert_eq!((again.status, again.text.as_str()), (200, first.text.as_str()), "the same fields in another layout");
    assert_eq!(ids(&owner.entries_on(day).await), vec![id(&entry)]);
    let want = Day::of(0, std::slice::from_ref(&entry));
    assert_eq!(owner.day_when(day, want).await, want);
}

#[tokio::test]
async fn given_a_used_key_when_another_body_comes_then_409_and_nothing_is_written() {
    let (_app, owner) = shop().await;
    let day = yesterday();
    let k = key();
    let body = credit(100, &local_noon(day));
    let entry = Reply::of(owner.post_entry(&k, &body)).await.expect(201);
    let others = [
        with(&body, json!({"amount": 200})),
        with(&body, json!({"type": "debit"})),
        with(&body, json!({"description": "another"})),
        with(&body, json!({"occurred_at": local_noon(days_before(today(), 2))})),
        with(&body, json!({"currency": "BRL"})),
    ];
    for other in &others {
        assert_problem(&Reply::of(owner.post_entry(&k, other)).await, 409);
    }
    let stored = owner.entries_on(day).await;
    assert_eq!(stored, vec![entry], "a refused request changed the entries");
    assert_eq!(owner.entries_on(days_before(today(), 2)).await, Vec::<Value>::new());
}

#[tokio::test]
async fn missing_or_invalid_idempotency_keys_are_400_and_write_nothing() {
    let (_app, owner) = shop().await;
    let day = yesterday();
    let body = credit(100, &local_noon(day));
    assert_problem(&Reply::of(owner.request(Method::POST, "/entries").json(&body)).await, 400);
    let too_long = "k".repeat(256);
    let bad: Vec<HeaderValue> = vec![
        HeaderValue::from_static(""),
        HeaderValue::from_str(&too_long).expect("header"),
        HeaderValue::from_static("tab\there"),
        HeaderValue::from_bytes("ção".as_bytes()).expect("header"),
    ];
    for value in bad {
        let request = owner.request(Method::POST, "/entries").header("Idempotency-Key", value).json(&body);
        assert_problem(&Reply::of(request).await, 400);
    }
    assert_eq!(owner.entries_on(day).await, Vec::<Value>::new(), "a refused POST wrote an entry");
    // Keys of 255 printable characters, spaces included, are fine.
    Reply::of(owner.post_entry(&"k".repeat(255), &body)).await.expect(201);
    Reply::of(owner.post_entry("order 42 / retry #1", &body)).await.expect(201);
    assert_eq!(owner.entries_on(day).await.len(), 2);
}

#[tokio::test]
async fn posting_to_an_account_that_does_not_exist_is_404_even_with_a_grant() {
    let (app, _owner) = shop().await;
    let ghost = app.merchant("ghost");
    let reply = Reply::of(ghost.post_entry(&key(), &credit(100, &local_noon(yesterday())))).await;
    assert_problem(&reply, 404);
}

#[tokio::test]
async fn concurrent_requests_with_one_key_record_exactly_one_entry() {
    let (_app, owner) = shop().await;
    let day = yesterday();
    let (k, body) = (key(), credit(3300, &local_noon(day)));
    let mut tasks = JoinSet::new();
    for _ in 0..10 {
        let (owner, k, body) = (owner.clone(), k.clone(), body.clone());
        tasks.spawn(async move { Reply::of(owner.post_entry(&k, &body)).await });
    }
    let replies: Vec<Reply> = tasks.join_all().await;
    let created: Vec<&Reply> = replies.iter().filter(|r| r.status == 201).collect();
    assert_eq!(
        created.len(),
        1,
        "exactly one request creates: {:?}",
        replies.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    let entry = created[0].json();
    for reply in replies.iter().filter(|r| r.status != 201) {
        assert_eq!(reply.status, 200, "{}", reply.text);
        assert_eq!(reply.header("idempotent-replayed"), Some("true"));
        assert_eq!(id(&reply.json()), id(&entry));
    }
    assert_eq!(ids(&owner.entries_on(day).await), vec![id(&entry)]);
    let want = Day::of(0, std::slice::from_ref(&entry));
    assert_eq!(owner.day_when(day, want).await, want);
}

/// A refused entry request: its raw body and content type, and the status (with fields) it gets.
struct Refusal {
    body: String,
    content_type: Option<&'static str>,
    status: u16,
    field: Option<&'static str>,
}

fn refusal(body: impl Into<String>, content_type: Option<&'static str>, status: u16) -> Refusal {
    Refusal { body: body.into(), content_type, status, field: None }
}

fn invalid(body: &Value, field: &'static str) -> Refusal {
    invalid_text(body.to_string(), field)
}

/// A 422 for a JSON text no encoder of a `Value` would write.
fn invalid_text(body: String, field: &'static str) -> Refusal {
    Refusal { body, content_type: Some("application/json"), status: 422, field: Some(field) }
}

fn refusals(base: &Value) -> Vec<Refusal> {
    let json = Some("application/json");
    let at = base["occurred_at"].as_str().expect("occurred_at");
    let big = with(base, json!({"description": "x".repeat(17 * 1024)}));
    let old = local_noon(days_before(today(), 40));
    vec![
        refusal(r#"{"type":"credit","#, json, 400),
        refusal("not json", json, 400),
        refusal(r#"{"type":"credit" "amount":1}"#, json, 400),
        refusal(base.to_string(), Some("text/plain"), 415),
        refusal(base.to_string(), None, 415),
        refusal(base.to_string(), Some("application/x-www-form-urlencoded"), 415),
        refusal(big.to_string(), json, 413),
        invalid(&with(base, json!({"extra": 1})), "extra"),
        invalid(&with(base, json!({"amount": "100"})), "amount"),
        invalid(&with(base, json!({"amount": 1.5})), "amount"),
        invalid(&with(base, json!({"amount": 0})), "amount"),
        invalid(&with(base, json!({"amount": -5})), "amount"),
        invalid(&with(base, json!({"amount": 100_000_000_000_001_i64})), "amount"),
        invalid(&with(base, json!({"amount": null})), "amount"),
        invalid(&with(base, json!({"type": "refund"})), "type"),
        invalid(&with(base, json!({"type": null})), "type"),
        invalid(&with(base, json!({"description": "d".repeat(281)})), "description"),
        invalid(&with(base, json!({"description": "ç".repeat(201)})), "description"),
        invalid(&with(base, json!({"description": "line\nbreak"})), "description"),
        invalid(&with(base, json!({"occurred_at": from_now(SignedDuration::from_mins(10))})), "occurred_at"),
        invalid(&with(base, json!({"occurred_at": old})), "occurred_at"),
        invalid(&with(base, json!({"occurred_at": "2026-11-23T09:30:00"})), "occurred_at"),
        invalid(&with(base, json!({"currency": "USD"})), "currency"),
        invalid(&with(base, json!({"currency": "usd"})), "currency"),
        invalid_text(format!(r#"{{"type":"credit","amount":100,"amount":200,"occurred_at":"{at}"}}"#), "amount"),
        invalid_text(format!(r#"{{"type":"credit","amount":1e3,"occurred_at":"{at}"}}"#), "amount"),
        invalid_text("[1]".to_owned(), "body"),
    ]
}

#[tokio::test]
async fn malformed_or_invalid_entry_bodies_are_refused_and_write_nothing() {
    let (_app, owner) = shop().await;
    let day = yesterday();
    let base = credit(100, &local_noon(day));
    let baseline = owner.record(&base).await;
    for case in refusals(&base) {
        let reply = Reply::of(owner.post_body(&key(), case.content_type, case.body.clone())).await;
        let context = format!("{} {:?}", case.body.chars().take(80).collect::<String>(), case.content_type);
        assert_eq!(reply.status, case.status, "{context}: {}", reply.text);
        match case.field {
            Some(field) => assert_fields(&reply, &[field]),
            None => assert_problem(&reply, case.status),
        };
    }
    assert_eq!(owner.entries_on(day).await, vec![baseline], "a refused body wrote an entry");
    assert_eq!(owner.entries_on(today()).await, Vec::<Value>::new(), "a refused body wrote an entry today");
}

#[tokio::test]
async fn values_on_the_edges_of_the_contract_are_accepted() {
    let (_app, owner) = shop().await;
    let day = yesterday();
    let at = local_noon(day);
    let accepted = [
        json!({"type": "credit", "amount": 1, "occurred_at": at}),
        json!({"type": "credit", "amount": 100_000_000_000_000_i64, "occurred_at": at}),
        json!({"type": "debit", "amount": 5, "occurred_at": at, "description": "d".repeat(280)}),
        json!({"type": "debit", "amount": 5, "occurred_at": at, "description": "ç".repeat(200)}),
        json!({"type": "debit", "amount": 5, "occurred_at": at, "description": ""}),
        json!({"type": "debit", "amount": 5, "occurred_at": at, "currency": "BRL"}),
        json!({"type": "credit", "amount": 5, "occurred_at": local_noon(days_before(today(), 30))}),
        json!({"type": "credit", "amount": 5, "occurred_at": from_now(SignedDuration::from_mins(4))}),
    ];
    for body in &accepted {
        let reply = Reply::of(owner.post_body(&key(), Some("application/json; charset=utf-8"), body.to_string())).await;
        let entry = reply.expect(201);
        assert_eq!(entry["amount"], body["amount"]);
    }
}

#[tokio::test]
async fn a_body_of_exactly_16_kib_is_read_and_one_byte_more_is_413() {
    const LIMIT: usize = 16 * 1024;
    let (_app, owner) = shop().await;
    let day = yesterday();
    let body = credit(16, &local_noon(day)).to_string();
    let padded = |len: usize| format!("{body}{}", " ".repeat(len - body.len()));
    let json = Some("application/json");
    let at_limit = Reply::of(owner.post_body(&key(), json, padded(LIMIT))).await.expect(201);
    assert_problem(&Reply::of(owner.post_body(&key(), json, padded(LIMIT + 1))).await, 413);
    assert_eq!(owner.entries_on(day).await, vec![at_limit]);
}

/// Sends `head` and `body_sent` bytes of a body over a fresh TCP connection, then reads until the
/// server closes it or goes quiet; returns what was read.
async fn raw_exchange(address: &str, head: String, body_sent: usize) -> String {
    let authority = address.strip_prefix("http://").expect("an http address").to_owned();
    let exchange = tokio::task::spawn_blocking(move || -> std::io::Result<String> {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(authority)?;
        stream.set_read_timeout(Some(Duration::from_secs(3)))?;
        stream.write_all(head.as_bytes())?;
        stream.write_all(&vec![b' '; body_sent])?;
        let mut answer = Vec::new();
        match stream.read_to_end(&mut answer) {
            Ok(_) => {}
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(e) => return Err(e),
        }
        Ok(String::from_utf8_lossy(&answer).into_owned())
    });
    exchange.await.expect("the exchange task").expect("the raw exchange")
}

#[tokio::test]
async fn a_413_for_a_body_left_unread_announces_that_the_connection_closes() {
    let (app, _owner) = shop().await;
    let token = app.token(&[SHOP], &[Scope::Read, Scope::Write], hour());
    // A client announces a megabyte and has sent the first 20 KiB when the runner refuses it.
    let head = format!(
        "POST /v1/accounts/{SHOP}/entries HTTP/1.1\r\nHost: fluxo\r\nAuthorization: Bearer {token}\r\n\
         Idempotency-Key: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        key(),
        1024 * 1024
    );
    let answer = raw_exchange(&app.address, head, 20 * 1024).await;
    let (head, _) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    assert!(head.starts_with("HTTP/1.1 413"), "{answer}");
    // The rest of the body stays unread and the runner closes the connection: unless it says so, a
    // keep-alive client sends its next request into a closed socket.
    let closes = head.lines().any(|l| l.to_ascii_lowercase().replace(' ', "") == "connection:close");
    assert!(closes, "the 413 does not announce `Connection: close`:\n{head}");
}

#[tokio::test]
async fn idempotency_keys_are_scoped_to_their_account() {
    let (app, owner) = shop().await;
    let neighbour = app.merchant("shop-2");
    neighbour.open().await;
    let (k, body) = (key(), credit(100, &local_noon(yesterday())));
    let mine = Reply::of(owner.post_entry(&k, &body)).await.expect(201);
    let theirs = Reply::of(neighbour.post_entry(&k, &body)).await.expect(201);
    assert_ne!(id(&mine), id(&theirs));
    assert_eq!(theirs["account_id"], "shop-2");
}

#[tokio::test]
async fn an_entry_is_found_by_id_in_its_own_account_only() {
    let (app, owner) = shop().await;
    let neighbour = app.merchant("shop-2");
    neighbour.open().await;
    let entry = owner.record(&credit(100, &local_noon(yesterday()))).await;
    assert_eq!(Reply::of(owner.get_entry(&id(&entry))).await.expect(200), entry);
    assert_problem(&Reply::of(neighbour.get_entry(&id(&entry))).await, 404);
    assert_problem(&Reply::of(owner.get_entry(UNKNOWN_ENTRY)).await, 404);
    for malformed in ["not-an-id", V4_UUID, "0190A6B2-7C3E-7ABC-8DEF-0123456789AB0"] {
        assert_problem(&Reply::of(owner.get_entry(malformed)).await, 400);
    }
}
