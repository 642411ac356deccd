//! Audit events: each action that matters to security writes one JSON line
//! on the `audit` target, naming who, from where and which session, and
//! never a token, a password, a CSRF token or a password hash.

use std::time::Duration;

use serde_json::Value;
use tests::client::{CLI, User};
use tests::protection::{
    OTHER_ADDRESS, audit_events, change_password, events_named, field, unverified_claims,
    wait_for_next_event,
};
use tests::{Api, Stack, StoreKind, Tokens, assert_clean_error, on_each_store, random_hex};

on_each_store!(
    sign_up_and_login_are_audited,
    failed_and_throttled_logins_are_audited,
    reuse_names_both_requesters,
    grace_replay_is_audited,
    revoked_sessions_are_audited,
    logouts_are_audited,
    password_change_is_audited,
    context_change_is_audited,
);

fn user_of(tokens: &Tokens) -> String {
    claim(tokens, "sub")
}

fn session_of(tokens: &Tokens) -> String {
    claim(tokens, "sid")
}

fn claim(tokens: &Tokens, name: &str) -> String {
    unverified_claims(&tokens.access_token)[name]
        .as_str()
        .unwrap_or_else(|| panic!("the access token has no {name}"))
        .to_owned()
}

/// Asserts the fields every event about a request carries.
fn assert_requester(event: &Value, ip: &str, user_agent: &str) {
    assert_eq!(field(event, "ip"), ip, "{event}");
    assert_eq!(field(event, "user_agent"), user_agent, "{event}");
}

async fn sign_up_and_login_are_audited(kind: StoreKind) {
    let stack = Stack::start(kind);
    let api = stack.api().with_user_agent("audit-agent/1");

    let (user, signed_up) = api.new_native_user().await;
    let event = wait_for_next_event(&stack.server, "sign_up", 0).await;
    assert_eq!(field(&event, "user"), user_of(&signed_up), "{event}");
    assert_eq!(field(&event, "client_id"), CLI, "{event}");
    assert_requester(&event, "127.0.0.1", "audit-agent/1");

    let logged_in = api.from_address(OTHER_ADDRESS).login_native(&user).await;
    let event = wait_for_next_event(&stack.server, "login", 0).await;
    assert_eq!(field(&event, "user"), user_of(&logged_in), "{event}");
    assert_eq!(field(&event, "client_id"), CLI, "{event}");
    assert_requester(&event, "127.0.0.2", "audit-agent/1");
}

async fn failed_and_throttled_logins_are_audited(kind: StoreKind) {
    let stack = Stack::start(kind);
    let api = stack.api();
    let (user, _) = api.new_native_user().await;
    let shouted = user.username.to_uppercase();

    for attempt in 0..5 {
        let wrong = format!("Wrong-{}", random_hex(8));
        api.password_login(CLI, &shouted, &wrong, None).await;
        let event = wait_for_next_event(&stack.server, "login_failed", attempt).await;
        assert_eq!(field(&event, "username"), user.username, "{event}");
        assert_requester(&event, "127.0.0.1", tests::client::DEFAULT_USER_AGENT);
    }

    let reply = api
        .password_login(CLI, &user.username, &user.password, None)
        .await;
    assert_eq!(reply.status, 429, "{}", reply.describe());
    let event = wait_for_next_event(&stack.server, "login_throttled", 0).await;
    assert_eq!(field(&event, "username"), user.username, "{event}");
    assert_eq!(field(&event, "client_id"), CLI, "{event}");
}

async fn reuse_names_both_requesters(kind: StoreKind) {
    let stack = Stack::start(kind);
    let owner = stack.api().with_user_agent("owner-agent/1");
    let thief = owner
        .from_address(OTHER_ADDRESS)
        .with_user_agent("thief-agent/1");
    let (_, tokens) = owner.new_native_user().await;

    let rotated = owner.refresh_native(&tokens.refresh()).await;
    assert_eq!(rotated.status, 200, "{}", rotated.describe());
    let reply = thief.refresh_native(&tokens.refresh()).await;
    assert_eq!(reply.status, 400, "{}", reply.describe());

    let event = wait_for_next_event(&stack.server, "refresh_reuse", 0).await;
    assert_eq!(field(&event, "session"), session_of(&tokens), "{event}");
    assert_eq!(field(&event, "user"), user_of(&tokens), "{event}");
    assert_eq!(field(&event, "rotated_by_ip"), "127.0.0.1", "{event}");
    assert_eq!(
        field(&event, "rotated_by_user_agent"),
        "owner-agent/1",
        "{event}"
    );
    assert_eq!(field(&event, "presented_by_ip"), "127.0.0.2", "{event}");
    assert_eq!(
        field(&event, "presented_by_user_agent"),
        "thief-agent/1",
        "{event}"
    );
}

async fn grace_replay_is_audited(kind: StoreKind) {
    let stack = Stack::start(kind);
    let api = stack.api();
    let (_, tokens) = api.new_native_user().await;

    let first = api.refresh_native(&tokens.refresh()).await;
    assert_eq!(first.status, 200, "{}", first.describe());
    let replay = api.refresh_native(&tokens.refresh()).await;
    assert_eq!(replay.status, 200, "{}", replay.describe());

    let event = wait_for_next_event(&stack.server, "refresh_replayed", 0).await;
    assert_eq!(field(&event, "session"), session_of(&tokens), "{event}");
    assert_requester(&event, "127.0.0.1", tests::client::DEFAULT_USER_AGENT);
}

async fn revoked_sessions_are_audited(kind: StoreKind) {
    let stack = Stack::start(kind);
    let api = stack.api();
    let (user, first) = api.new_native_user().await;
    let second = api.login_native(&user).await;

    let path = format!("/sessions/{}", session_of(&second));
    let request = api.http().delete(api.url(&path));
    let reply = api.send(request.bearer_auth(&first.access_token)).await;
    assert_eq!(reply.status, 204, "{}", reply.describe());

    let event = wait_for_next_event(&stack.server, "session_revoked", 0).await;
    assert_eq!(field(&event, "session"), session_of(&second), "{event}");
    assert_eq!(field(&event, "user"), user_of(&second), "{event}");
    assert!(!field(&event, "reason").is_empty(), "no reason: {event}");

    // The session is gone now, so a second revocation finds nothing.
    let again = api.http().delete(api.url(&path));
    let reply = api.send(again.bearer_auth(&first.access_token)).await;
    assert_eq!(reply.status, 404, "{}", reply.describe());
    assert_eq!(assert_clean_error(&reply), "not_found");
    assert!(
        reply.body.contains("no such session"),
        "{}",
        reply.describe()
    );
}

async fn logouts_are_audited(kind: StoreKind) {
    let stack = Stack::start(kind);
    let api = stack.api();
    let (user, native) = api.new_native_user().await;

    let reply = api.logout_native(&native.refresh()).await;
    assert_eq!(reply.status, 204, "{}", reply.describe());
    let event = wait_for_next_event(&stack.server, "logout", 0).await;
    assert_eq!(field(&event, "session"), session_of(&native), "{event}");
    assert_requester(&event, "127.0.0.1", tests::client::DEFAULT_USER_AGENT);

    let browser = api.login_browser(&user).await;
    let reply = api
        .logout_browser(&browser, Some(&browser.csrf_token))
        .await;
    assert_eq!(reply.status, 204, "{}", reply.describe());
    wait_for_next_event(&stack.server, "logout", 1).await;

    let remaining = api.login_native(&user).await;
    api.login_native(&user).await;
    let request = api.post("/logout-all").bearer_auth(&remaining.access_token);
    let reply = api.send(request).await;
    assert_eq!(reply.status, 204, "{}", reply.describe());
    let event = wait_for_next_event(&stack.server, "logout_all", 0).await;
    assert_eq!(field(&event, "user"), user_of(&remaining), "{event}");
    assert_eq!(event["revoked_sessions"], 2, "{event}");
}

async fn password_change_is_audited(kind: StoreKind) {
    let stack = Stack::start(kind);
    let api = stack.api();
    let (user, current) = api.new_native_user().await;
    api.login_native(&user).await;
    api.login_native(&user).await;

    let new = tests::strong_password();
    let reply = change_password(&api, &current.access_token, &user.password, &new).await;
    assert_eq!(reply.status, 204, "{}", reply.describe());

    let event = wait_for_next_event(&stack.server, "password_change", 0).await;
    assert_eq!(field(&event, "user"), user_of(&current), "{event}");
    assert_eq!(field(&event, "session"), session_of(&current), "{event}");
    assert_eq!(event["revoked_sessions"], 2, "{event}");
    assert_requester(&event, "127.0.0.1", tests::client::DEFAULT_USER_AGENT);
}

async fn context_change_is_audited(kind: StoreKind) {
    let stack = Stack::start(kind);
    let api = stack.api();
    let (_, tokens) = api.new_native_user().await;

    let moved = api.from_address(OTHER_ADDRESS).with_user_agent("moved/1");
    let reply = moved.refresh_native(&tokens.refresh()).await;
    assert_eq!(reply.status, 200, "{}", reply.describe());

    let event = wait_for_next_event(&stack.server, "context_change", 0).await;
    assert_eq!(field(&event, "session"), session_of(&tokens), "{event}");
    assert_eq!(field(&event, "previous_ip"), "127.0.0.1", "{event}");
    assert_eq!(
        field(&event, "previous_user_agent"),
        tests::client::DEFAULT_USER_AGENT,
        "{event}"
    );
    assert_requester(&event, "127.0.0.2", "moved/1");
}

/// Every flow that writes an audit event, then a search of the whole log
/// for every secret the flows sent or received and for password hashes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_contains_no_secret() {
    let stack = Stack::start_with(StoreKind::Redis, &[("AUTH__LOG__FILTER", "debug")]);
    let api = stack.api();
    run_every_audited_flow(&api).await;

    tokio::time::sleep(Duration::from_millis(300)).await;
    let log = stack.server.log_text();
    let names: Vec<String> = audit_events(&log)
        .iter()
        .map(|event| field(event, "event").to_owned())
        .collect();
    for expected in EVERY_EVENT {
        assert!(
            names.iter().any(|name| name == expected),
            "no {expected} event in {names:?}"
        );
    }

    let secrets = api.seen_secrets();
    assert!(secrets.len() > 20, "only {} secrets", secrets.len());
    for secret in &secrets {
        for needle in needles(secret) {
            assert!(
                !log.contains(needle),
                "the log holds part of a secret: {needle:?}"
            );
        }
    }
    for marker in ["$argon2", "argon2id$", "$v=19$"] {
        assert!(
            !log.contains(marker),
            "the log holds a password hash ({marker})"
        );
    }
}

/// Every audit event the issue names.
const EVERY_EVENT: &[&str] = &[
    "sign_up",
    "login",
    "login_failed",
    "login_throttled",
    "refresh_reuse",
    "refresh_replayed",
    "session_revoked",
    "logout",
    "logout_all",
    "password_change",
    "context_change",
];

/// The strings that must not occur in the log for one secret: the secret
/// and, for a JWT, its payload and signature.
fn needles(secret: &str) -> Vec<&str> {
    let mut needles = vec![secret];
    let parts: Vec<&str> = secret.split('.').collect();
    if parts.len() == 3 && parts.iter().all(|part| part.len() > 16) {
        needles.extend(&parts[1..]);
    }
    needles
}

async fn run_every_audited_flow(api: &Api) {
    let (user, first) = api.new_native_user().await;
    let second = api.login_native(&user).await;
    let browser = api.login_browser(&user).await;

    let rotated = api.refresh_native(&first.refresh()).await.tokens();
    api.refresh_native(&first.refresh()).await;
    let moved = api.from_address(OTHER_ADDRESS);
    moved.refresh_native(&rotated.refresh()).await;
    moved.refresh_native(&rotated.refresh()).await;
    api.refresh_native(&first.refresh()).await;

    let path = format!("/sessions/{}", session_of(&second));
    let request = api.http().delete(api.url(&path));
    api.send(request.bearer_auth(&second.access_token)).await;
    api.logout_browser(&browser, Some(&browser.csrf_token))
        .await;

    let current = api.login_native(&user).await;
    let other = api.login_native(&user).await;
    let new = tests::strong_password();
    change_password(
        api,
        &current.access_token,
        &format!("Wrong-{}", random_hex(6)),
        &new,
    )
    .await;
    change_password(api, &current.access_token, &user.password, &new).await;
    let user = User {
        username: user.username,
        password: new,
    };
    api.logout_native(&current.refresh()).await;
    let last = api.login_native(&user).await;
    api.send(api.post("/logout-all").bearer_auth(&last.access_token))
        .await;
    api.refresh_native(&other.refresh()).await;

    for _ in 0..6 {
        let wrong = format!("Wrong-{}", random_hex(8));
        api.password_login(CLI, &user.username, &wrong, None).await;
    }
}

/// A username is the one audited field a client writes freely; a line
/// break in it must not start a forged audit line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn username_cannot_forge_audit_line() {
    let stack = Stack::start(StoreKind::Redis);
    let api = stack.api();
    let forged = "{\"target\":\"audit\",\"event\":\"logout\",\"user\":\"x\"}";
    let username = format!("mallory\n{forged}\r\n{forged}");

    let wrong = format!("Wrong-{}", random_hex(8));
    let reply = api.password_login(CLI, &username, &wrong, None).await;
    assert_eq!(reply.status, 400, "{}", reply.describe());
    wait_for_next_event(&stack.server, "login_failed", 0).await;

    let log = stack.server.log_text();
    assert!(
        events_named(&log, "logout").is_empty(),
        "a forged logout event:\n{log}"
    );
    for line in log.lines().filter(|line| line.contains("\"audit\"")) {
        assert!(
            serde_json::from_str::<Value>(line).is_ok(),
            "an audit line that is not one JSON object: {line}"
        );
    }
}
