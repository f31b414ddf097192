//! Listing a date's entries in pages.

use super::*;

/// Walks a date's listing in pages of `limit`, returning the pages' ids.
async fn pages(owner: &Merchant, date: Date, limit: usize) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut query = format!("?date={date}&limit={limit}");
    for _ in 0..20 {
        let page = Reply::of(owner.list(&query)).await.expect(200);
        out.push(ids(page["items"].as_array().expect("items")));
        match page["next_cursor"].as_str() {
            Some(cursor) => query = format!("?date={date}&limit={limit}&cursor={cursor}"),
            None => return out,
        }
    }
    panic!("the listing did not end");
}

#[tokio::test]
async fn listing_in_pages_of_three_returns_each_of_seven_entries_exactly_once_in_a_stable_order() {
    let (_app, owner) = shop().await;
    let day = yesterday();
    let mut recorded = Vec::new();
    for amount in 1..=7 {
        recorded.push(id(&owner.record(&credit(amount, &local_noon(day))).await));
    }
    let elsewhere = owner.record(&credit(99, &local_noon(days_before(today(), 2)))).await;
    let walk = pages(&owner, day, 3).await;
    assert_eq!(walk.iter().map(Vec::len).collect::<Vec<_>>(), [3, 3, 1]);
    let mut listed: Vec<String> = walk.concat();
    assert_eq!(pages(&owner, day, 3).await, walk, "a second walk lists in the same order");
    assert_eq!(pages(&owner, day, 7).await, vec![listed.clone()], "one full page has no next cursor");
    assert!(!listed.contains(&id(&elsewhere)), "an entry of another date was listed");
    listed.sort();
    recorded.sort();
    assert_eq!(listed, recorded, "every entry once, no other");
}

#[tokio::test]
async fn listing_refuses_bad_limits_dates_and_cursors() {
    let (_app, owner) = shop().await;
    let day = yesterday();
    let other_day = days_before(today(), 2);
    for amount in [10, 20] {
        owner.record(&credit(amount, &local_noon(day))).await;
        owner.record(&credit(amount, &local_noon(other_day))).await;
    }
    for limit in ["0", "501", "abc", "1.5", "-1", ""] {
        assert_fields(&Reply::of(owner.list(&format!("?date={day}&limit={limit}"))).await, &["limit"]);
    }
    for limit in ["1", "500"] {
        Reply::of(owner.list(&format!("?date={day}&limit={limit}"))).await.expect(200);
    }
    for query in ["", "?limit=3", "?date=", "?date=2026-13-01", "?date=2026-02-30", "?date=20261123", "?date=yesterday"]
    {
        assert_problem(&Reply::of(owner.list(query)).await, 400);
    }
    let first = Reply::of(owner.list(&format!("?date={day}&limit=1"))).await.expect(200);
    let cursor = first["next_cursor"].as_str().expect("a next cursor");
    let second = Reply::of(owner.list(&format!("?date={day}&limit=1&cursor={cursor}"))).await.expect(200);
    assert_eq!(second["items"].as_array().map(Vec::len), Some(1), "the cursor itself is good");
    for bad in ["garbage!!", "bm90LWEtY3Vyc29y", "djF8MjAyNi0xMS0yM3xub3BlCg"] {
        assert_problem(&Reply::of(owner.list(&format!("?date={day}&cursor={bad}"))).await, 400);
    }
    let foreign = owner.list(&format!("?date={other_day}&limit=1&cursor={cursor}"));
    assert_problem(&Reply::of(foreign).await, 400);
}
