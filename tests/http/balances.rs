//! Daily balances and ranges, as consolidation moves them.

use super::*;

#[tokio::test]
async fn an_entry_moves_its_daily_balance_once_consolidated() {
    let (_app, owner) = shop().await;
    let day = yesterday();
    let first = owner.record(&credit(2500, &local_noon(day))).await;
    let want = Day::of(0, std::slice::from_ref(&first));
    assert_eq!(owner.day_when(day, want).await, want);
    let second = owner.record(&debit(1000, &local_noon(day))).await;
    let want = Day::of(0, &[first, second]);
    assert_eq!(owner.day_when(day, want).await, want);
    let body = Reply::of(owner.daily(&day.to_string())).await.expect(200);
    let members = members(&body);
    let expected = [
        "account_id",
        "as_of",
        "closing_balance",
        "credits",
        "currency",
        "date",
        "debits",
        "entry_count",
        "net",
        "opening_balance",
    ];
    assert_eq!(members, expected);
    assert_eq!((&body["account_id"], &body["currency"]), (&json!(SHOP), &json!("BRL")));
    assert_eq!(body["date"], day.to_string());
    assert!(body["as_of"].as_str().is_some_and(|t| t.parse::<jiff::Timestamp>().is_ok()), "as_of: {body}");
}

#[tokio::test]
async fn a_day_without_entries_has_zero_movement_and_carries_the_previous_balance() {
    let (_app, owner) = shop().await;
    assert_eq!(owner.day(today()).await, Day::quiet(0));
    let entry = owner.record(&credit(900, &local_noon(days_before(today(), 3)))).await;
    let want = Day::of(0, std::slice::from_ref(&entry));
    assert_eq!(owner.day_when(days_before(today(), 3), want).await, want);
    for date in [days_before(today(), 2), today(), today().tomorrow().expect("tomorrow")] {
        assert_eq!(owner.day(date).await, Day::quiet(900), "{date}");
    }
    assert_eq!(owner.day(days_before(today(), 4)).await, Day::quiet(0));
}

#[tokio::test]
async fn backdated_entries_land_on_their_business_date_in_the_account_zone_and_carry_into_later_days() {
    let (_app, owner) = shop().await;
    let d = days_before(today(), 3);
    let late_evening = owner.record(&credit(10_000, &utc(d, 1, 30))).await;
    assert_eq!(business_date(&late_evening), days_before(d, 1), "01:30Z is the evening before in São Paulo");
    let early_morning = owner.record(&debit(2_500, &utc(d, 4, 0))).await;
    assert_eq!(business_date(&early_morning), d, "04:00Z is 01:00 the same day in São Paulo");
    let older_day = earlier_month_day(today());
    let older = owner.record(&credit(1_000, &local_noon(older_day))).await;
    let want_older = Day::of(0, std::slice::from_ref(&older));
    let want_evening = Day::of(1_000, std::slice::from_ref(&late_evening));
    let want_d = Day::of(want_evening.closing, std::slice::from_ref(&early_morning));
    assert_eq!(owner.day_when(d, want_d).await, want_d);
    assert_eq!(owner.day_when(days_before(d, 1), want_evening).await, want_evening);
    assert_eq!(owner.day(older_day).await, want_older);
    assert_eq!(owner.day(days_before(older_day, 1)).await, Day::quiet(0));
    assert_eq!(owner.day(today()).await, Day::quiet(8_500));
    assert_carried(&owner, days_before(older_day, 1), today(), 8_500).await;
}

/// A day at least five days back, in the previous month whenever the backdating window reaches it,
/// so that its entry moves a monthly rollup the later days' balances depend on.
fn earlier_month_day(today: Date) -> Date {
    let end_of_last_month = days_before(today.first_of_month(), 1);
    end_of_last_month.clamp(days_before(today, 28), days_before(today, 5))
}

/// Asserts that every day from `from` to `to` opens at the previous day's close, ending at `closing`.
async fn assert_carried(owner: &Merchant, from: Date, to: Date, closing: i64) {
    let range = Reply::of(owner.range(&format!("?from={from}&to={to}"))).await.expect(200);
    let days: Vec<Day> = range["days"].as_array().expect("days").iter().map(Day::from_json).collect();
    for pair in days.windows(2) {
        assert_eq!(pair[1].opening, pair[0].closing, "a day opens at the previous close: {range}");
    }
    assert_eq!(days.first().map(|d| d.opening), Some(0), "{range}");
    assert_eq!(days.last().map(|d| d.closing), Some(closing), "{range}");
}

#[tokio::test]
async fn balance_ranges_list_every_calendar_day_inclusive_as_json_and_csv() {
    let (_app, owner) = shop().await;
    let (from, to) = (days_before(today(), 6), today());
    let credit_day = days_before(today(), 5);
    let debit_day = days_before(today(), 2);
    owner.record(&credit(300, &local_noon(credit_day))).await;
    let last = owner.record(&debit(100, &local_noon(debit_day))).await;
    let want = Day::of(300, std::slice::from_ref(&last));
    assert_eq!(owner.day_when(debit_day, want).await, want);
    let range = Reply::of(owner.range(&format!("?from={from}&to={to}"))).await.expect(200);
    assert_eq!((&range["account_id"], &range["currency"]), (&json!(SHOP), &json!("BRL")));
    assert_eq!((&range["from"], &range["to"]), (&json!(from.to_string()), &json!(to.to_string())));
    assert!(range["as_of"].is_string(), "as_of: {range}");
    let days = range["days"].as_array().expect("days");
    assert_eq!(days.len(), 7, "one day per calendar day, inclusive");
    for (offset, day) in (0..).zip(days) {
        let date = days_before(to, 6 - offset);
        assert_eq!(day["date"], date.to_string());
        assert_eq!(Day::from_json(day), owner.day(date).await, "{date} agrees with the one-day answer");
    }
    let csv = Reply::of(owner.range(&format!("?from={from}&to={to}")).header("accept", "text/csv")).await;
    assert_eq!(csv.status, 200, "{}", csv.text);
    assert!(csv.header("content-type").is_some_and(|ct| ct.starts_with("text/csv")), "{:?}", csv.headers);
    let mut lines = csv.text.lines();
    assert_eq!(lines.next(), Some("date,opening_balance,credits,debits,net,closing_balance,entry_count"));
    let rows: Vec<String> = days.iter().map(csv_row).collect();
    assert_eq!(lines.map(str::to_owned).collect::<Vec<_>>(), rows);
    let one = Reply::of(owner.range(&format!("?from={to}&to={to}"))).await.expect(200);
    assert_eq!(one["days"].as_array().map(Vec::len), Some(1));
}

fn csv_row(day: &Value) -> String {
    let d = Day::from_json(day);
    let date = day["date"].as_str().expect("date");
    format!("{date},{},{},{},{},{},{}", d.opening, d.credits, d.debits, d.net, d.closing, d.entry_count)
}

#[tokio::test]
async fn balance_ranges_refuse_reversed_or_too_long_spans_and_malformed_dates() {
    let (_app, owner) = shop().await;
    for query in ["?from=2026-11-23&to=2026-11-22", "?from=2025-01-01&to=2026-01-02", "?from=2024-01-01&to=2025-01-01"]
    {
        assert_problem(&Reply::of(owner.range(query)).await, 422);
    }
    let leap_year = Reply::of(owner.range("?from=2024-01-01&to=2024-12-31")).await.expect(200);
    assert_eq!(leap_year["days"].as_array().map(Vec::len), Some(366), "366 days is the longest span");
    let malformed =
        ["", "?from=2026-11-01", "?to=2026-11-01", "?from=2026-1-01&to=2026-11-02", "?from=2026-11-01&to=x"];
    for query in malformed {
        assert_problem(&Reply::of(owner.range(query)).await, 400);
    }
    for date in ["2026-02-30", "yesterday", "2026-11-2", "20261123", "2026-11-23T00:00:00Z"] {
        assert_problem(&Reply::of(owner.daily(date)).await, 400);
    }
}
