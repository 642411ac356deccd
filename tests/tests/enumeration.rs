//! A login response does not reveal whether an account exists: an unknown
//! username and a wrong password get the same status, the same body, the
//! same headers and take about the same time.

use tests::client::{CLI, WEB};
use tests::protection::assert_too_many_requests;
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

/// A failed login hashes a password whether or not the user exists (a
/// dummy hash for an unknown user), so both failures cost the same work.
/// Counted through `auth_password_hashes_total` rather than timed: timing
/// ratios flake on a loaded machine, and this is the cause that matters.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_hash_a_password_either_way() {
    let stack = Stack::start_with(StoreKind::Redis, NO_THROTTLE);
    let api = stack.api();
    let (user, _) = api.new_native_user().await;

    let before = hashes_run(&api).await;
    let reply = wrong_password(&api, CLI, &user.username).await;
    assert_eq!(reply.status, 400, "{}", reply.describe());
    let after_known = hashes_run(&api).await;
    assert_eq!(after_known - before, 1.0, "a wrong password is checked");

    let reply = wrong_password(&api, CLI, &tests::unique_username("ghost")).await;
    assert_eq!(reply.status, 400, "{}", reply.describe());
    let after_unknown = hashes_run(&api).await;
    assert_eq!(
        after_unknown - after_known,
        1.0,
        "an unknown user costs one hash too"
    );
}

async fn hashes_run(api: &Api) -> f64 {
    let reply = api.send(api.get("/metrics")).await;
    assert_eq!(reply.status, 200, "{}", reply.describe());
    reply
        .body
        .lines()
        .find_map(|line| line.strip_prefix("auth_password_hashes_total "))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("no auth_password_hashes_total in /metrics:\n{}", reply.body))
}
