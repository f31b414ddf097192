//! Conditional reads: ETags and 304.

use super::*;

/// Sends `request` holding `etag` in `If-None-Match`.
async fn holding(request: RequestBuilder, etag: &str) -> Reply {
    Reply::of(request.header("If-None-Match", etag)).await
}

/// The ETag and Cache-Control of a 200, checked as every tagged read sends them.
fn validators(reply: &Reply) -> String {
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.header("cache-control"), Some("private, max-age=0, must-revalidate"));
    reply.header("etag").expect("an ETag").to_owned()
}

/// A 304 for `etag`: its tag again, no body.
fn not_modified(reply: &Reply, etag: &str) {
    assert_eq!(reply.status, 304, "{}", reply.text);
    assert_eq!(reply.header("etag"), Some(etag));
    assert_eq!(reply.header("cache-control"), Some("private, max-age=0, must-revalidate"));
    assert!(reply.text.is_empty(), "a 304 has no body: {}", reply.text);
}

/// GIVEN a daily balance, a range, an entry and a day's listing read once
/// WHEN each is read again holding its ETag THEN 304 without a body
/// WHEN an entry moves the day and reverses the first THEN each answers 200 with a new ETag.
#[tokio::test]
async fn given_a_read_held_by_its_etag_then_304_until_the_answer_changes() {
    let (_app, owner) = shop().await;
    // Today, as the reversal below is: entries that occur now (noon may still be ahead).
    let day = today();
    let now = || from_now(SignedDuration::ZERO);
    let first = owner.record(&credit(100, &now())).await;
    owner.day_when(day, Day::of(0, std::slice::from_ref(&first))).await;
    let range = format!("?from={day}&to={day}");
    let reads = || {
        [
            owner.daily(&day.to_string()),
            owner.range(&range),
            owner.range(&range).header("Accept", "text/csv"),
            owner.get_entry(&id(&first)),
            owner.list(&format!("?date={day}")),
        ]
    };
    let mut tags = Vec::new();
    for request in reads() {
        let reply = Reply::of(request).await;
        tags.push(validators(&reply));
    }
    assert!(tags[0].starts_with("W/"), "a balance's tag is weak, its as_of moves: {}", tags[0]);
    assert!(!tags[3].starts_with("W/"), "an entry's tag is strong: {}", tags[3]);
    assert_ne!(tags[1], tags[2], "JSON and CSV are two representations");
    for (request, etag) in reads().into_iter().zip(&tags) {
        not_modified(&holding(request, etag).await, etag);
    }
    let elsewhere = holding(owner.daily(&day.to_string()), "\"0000\", W/\"1111\"").await;
    assert_eq!(validators(&elsewhere), tags[0], "other tags held: the full answer");

    let second = owner.record(&credit(50, &now())).await;
    Reply::of(owner.reverse(&id(&first), &key())).await.expect(201);
    let reversal = owner.entries_on(day).await.into_iter().find(|e| e["reverses"] == first["id"]).expect("reversal");
    owner.day_when(day, Day::of(0, &[first.clone(), second, reversal])).await;
    for (request, etag) in reads().into_iter().zip(&tags) {
        let changed = holding(request, etag).await;
        assert_ne!(&validators(&changed), etag, "the answer changed, and so did its tag");
    }
}
