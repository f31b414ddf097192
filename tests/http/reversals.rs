//! Reversals: the opposite entry, once.

use super::*;

#[tokio::test]
async fn given_an_entry_when_it_is_reversed_then_an_opposite_entry_points_back_and_the_original_is_marked() {
    let (_app, owner) = shop().await;
    let day = yesterday();
    let original = owner.record(&credit(700, &local_noon(day))).await;
    let k = key();
    let note = json!({"description": "estorno"});
    let reply = Reply::of(owner.reverse(&id(&original), &k).json(&note)).await;
    let reversal = reply.expect(201);
    assert!(reply.header("location").is_some_and(|l| l.ends_with(&id(&reversal))), "Location of the reversal");
    assert_eq!(reversal["type"], "debit");
    assert_eq!(reversal["amount"], 700);
    assert_eq!(reversal["description"], "estorno");
    assert_eq!(reversal["reverses"], id(&original));
    assert_eq!(reversal["reversed_by"], Value::Null);
    let marked = Reply::of(owner.get_entry(&id(&original))).await.expect(200);
    assert_eq!(marked, with(&original, json!({"reversed_by": id(&reversal)})));
    let again = Reply::of(owner.reverse(&id(&original), &k).json(&note)).await;
    assert_eq!((again.status, again.header("idempotent-replayed")), (200, Some("true")), "{}", again.text);
    assert_eq!(again.text, reply.text);
    let want = Day::of(0, std::slice::from_ref(&original));
    assert_eq!(owner.day_when(day, want).await, want);
    let reversed_on = business_date(&reversal);
    let want = Day::of(700, std::slice::from_ref(&reversal));
    assert_eq!(owner.day_when(reversed_on, want).await, want, "the reversal moves the balance of its own day");
}

#[tokio::test]
async fn reversing_an_entry_twice_is_409_and_reversing_a_reversal_is_422() {
    let (_app, owner) = shop().await;
    let original = owner.record(&debit(250, &local_noon(yesterday()))).await;
    let reversal = Reply::of(owner.reverse(&id(&original), &key())).await.expect(201);
    assert_eq!(reversal["type"], "credit");
    assert_problem(&Reply::of(owner.reverse(&id(&original), &key())).await, 409);
    assert_problem(&Reply::of(owner.reverse(&id(&reversal), &key())).await, 422);
    let marked = Reply::of(owner.get_entry(&id(&original))).await.expect(200);
    assert_eq!(marked["reversed_by"], id(&reversal));
    let unmarked = Reply::of(owner.get_entry(&id(&reversal))).await.expect(200);
    assert_eq!(unmarked, reversal, "refusing to reverse a reversal left it untouched");
    assert_eq!(ids(&owner.entries_on(business_date(&reversal)).await), vec![id(&reversal)]);
}

#[tokio::test]
async fn concurrent_reversals_of_one_entry_record_exactly_one() {
    let (_app, owner) = shop().await;
    let original = owner.record(&credit(640, &local_noon(yesterday()))).await;
    let shared_key = key();
    let mut tasks = JoinSet::new();
    for n in 0..10 {
        let (owner, original_id) = (owner.clone(), id(&original));
        // Half retry one key, half bring keys of their own.
        let k = if n % 2 == 0 { shared_key.clone() } else { key() };
        tasks.spawn(async move { Reply::of(owner.reverse(&original_id, &k)).await });
    }
    let replies = tasks.join_all().await;
    let mut statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
    statuses.sort_unstable();
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 1, "one reversal is created: {statuses:?}");
    assert!(statuses.iter().all(|s| [200, 201, 409].contains(s)), "{statuses:?}");
    for reply in replies.iter().filter(|r| r.status == 409) {
        assert_problem(reply, 409);
    }
    let created = replies.iter().find(|r| r.status == 201).map(Reply::json).expect("a created reversal");
    for reply in replies.iter().filter(|r| r.status == 200) {
        assert_eq!(id(&reply.json()), id(&created), "a replay of the shared key answers the created reversal");
    }
    let marked = Reply::of(owner.get_entry(&id(&original))).await.expect(200);
    assert_eq!(marked["reversed_by"], id(&created));
    assert_eq!(ids(&owner.entries_on(business_date(&created)).await), vec![id(&created)]);
}

#[tokio::test]
async fn reversing_an_unknown_entry_is_404_and_malformed_reversal_requests_write_nothing() {
    let (app, owner) = shop().await;
    let original = owner.record(&credit(900, &local_noon(yesterday()))).await;
    assert_problem(&Reply::of(owner.reverse(UNKNOWN_ENTRY, &key())).await, 404);
    let neighbour = app.merchant("shop-2");
    neighbour.open().await;
    assert_problem(&Reply::of(neighbour.reverse(&id(&original), &key())).await, 404);
    for malformed in ["nope", V4_UUID] {
        assert_problem(&Reply::of(owner.reverse(malformed, &key())).await, 400);
    }
    let path = format!("/entries/{}/reversal", id(&original));
    assert_problem(&Reply::of(owner.request(Method::POST, &path)).await, 400);
    let unknown_field = owner.reverse(&id(&original), &key()).json(&json!({"reason": "typo"}));
    assert_fields(&Reply::of(unknown_field).await, &["reason"]);
    let text = owner.reverse(&id(&original), &key()).header("content-type", "text/plain").body("estorno");
    assert_problem(&Reply::of(text).await, 415);
    let stored = Reply::of(owner.get_entry(&id(&original))).await.expect(200);
    assert_eq!(stored, original, "a refused reversal marked the original");
    assert_eq!(owner.entries_on(today()).await, Vec::<Value>::new(), "a refused reversal wrote an entry");
}
