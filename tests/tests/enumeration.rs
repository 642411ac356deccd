//! A login response does not reveal whether an account exists: an unknown
//! username and a wrong password get the same status, the same body, the
//! same headers and take about the same time.

use std::time::{Duration, Instant};

use tests::client::{CLI, WEB};
use tests::protection::{assert_too_many_requests, median};
use tests::{Api, Reply, Stack, StoreKind, on_each_store, random_hex};

on_each_store!(
    unknown_user_matches_wrong_password,
    browser_failures_look_alike,
    blocked_users_look_alike,
);

/// Settings that keep the throttle out of the way of repeated failures.
const NO_THROTTLE: &[(&str, &str)] = &[
    ("AUTH__THROTTLE__MAX_FAILURES_PER_USER_IP", "1000"),
    ("AUTH__THROTTLE__MAX_FAILURES_PER_IP", "1000"),
    ("AUTH__THROTTLE__USER_FAILURES_BEFORE_DELAY", "1000"),
];

/// Headers whose value differs from one response to the next by design.
const PER_RESPONSE_HEADERS: &[&str] = &["date", "x-request-id"];

async fn wrong_password(api: &Api, client_id: &str, username: &str) -> Reply {
    let password = format!("Wrong-{}", random_hex(8));
    api.password_login(client_id, username, &password, None)
        .await
}

async fn unknown_user_matches_wrong_password(kind: StoreKind) {
    let stack = Stack::start(kind);
    let api = stack.api();
    let (user, _) = api.new_native_user().await;

    let known = wrong_password(&api, CLI, &user.username).await;
    let unknown = wrong_password(&api, CLI, &tests::unique_username("ghost")).await;
    assert_eq!(known.status, 400, "{}", known.describe());
    assert_eq!(known.error().as_deref(), Some("invalid_grant"));
    assert_same_response(&known, &unknown);
}

async fn browser_failures_look_alike(kind: StoreKind) {
    let stack = Stack::start(kind);
    let api = stack.api();
    let (user, _) = api.new_browser_user().await;

    let known = wrong_password(&api, WEB, &user.username).await;
    let unknown = wrong_password(&api, WEB, &tests::unique_username("ghost")).await;
    assert_eq!(known.status, 400, "{}", known.describe());
    assert!(
        known.set_cookies().is_empty(),
        "a failed login set cookies: {:?}",
        known.headers
    );
    assert_same_response(&known, &unknown);
}

async fn blocked_users_look_alike(kind: StoreKind) {
    let stack = Stack::start(kind);
    let api = stack.api();
    let (user, _) = api.new_native_user().await;
    let ghost = tests::unique_username("ghost");

    for _ in 0..5 {
        wrong_password(&api, CLI, &user.username).await;
        wrong_password(&api, CLI, &ghost).await;
    }
    let known = wrong_password(&api, CLI, &user.username).await;
    let unknown = wrong_password(&api, CLI, &ghost).await;
    assert_too_many_requests(&known);
    assert_too_many_requests(&unknown);
    assert_eq!(known.body, unknown.body);
    assert_eq!(header_names(&known), header_names(&unknown));
}

/// Asserts equal status, body and headers, apart from the headers that
/// differ per response.
fn assert_same_response(known: &Reply, unknown: &Reply) {
    assert_eq!(known.status, unknown.status, "status differs");
    assert_eq!(known.body, unknown.body, "body differs");
    assert_eq!(
        header_names(known),
        header_names(unknown),
        "header set differs"
    );
    for (name, value) in &known.headers {
        if PER_RESPONSE_HEADERS.contains(&name.as_str()) {
            continue;
        }
        let other: Vec<_> = unknown.headers.get_all(name).iter().collect();
        assert_eq!(other, vec![value], "header {name} differs");
    }
}

fn header_names(reply: &Reply) -> Vec<String> {
    let mut names: Vec<String> = reply.headers.keys().map(|k| k.to_string()).collect();
    names.sort();
    names
}

/// Compares medians of interleaved tries, so that a slow moment of the
/// machine hits both kinds alike. The bounds are wide: they catch a login
/// that skips password hashing for unknown users (a ratio of ten or more),
/// not small differences.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_take_similar_time() {
    let stack = Stack::start_with(StoreKind::Redis, NO_THROTTLE);
    let api = stack.api();
    let (user, _) = api.new_native_user().await;

    // Warm-up: the first requests pay for connections and lazy set-up.
    wrong_password(&api, CLI, &user.username).await;
    wrong_password(&api, CLI, &tests::unique_username("ghost")).await;

    let mut known = Vec::new();
    let mut unknown = Vec::new();
    for _ in 0..7 {
        known.push(timed_failure(&api, &user.username).await);
        unknown.push(timed_failure(&api, &tests::unique_username("ghost")).await);
    }
    let (known, unknown) = (median(&known), median(&unknown));
    let ratio = unknown.as_secs_f64() / known.as_secs_f64();
    assert!(
        (0.5..=2.0).contains(&ratio),
        "median unknown user {unknown:?} against wrong password {known:?}"
    );
}

async fn timed_failure(api: &Api, username: &str) -> Duration {
    let started = Instant::now();
    let reply = wrong_password(api, CLI, username).await;
    let elapsed = started.elapsed();
    assert_eq!(reply.status, 400, "{}", reply.describe());
    elapsed
}
