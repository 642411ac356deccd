//! Refresh-token reuse. A replay of the previous token inside the grace
//! window from the same client gets the same successor, and any other reuse
//! revokes the whole session.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use tests::{Api, AuthServer, Stack, StoreKind, Tokens, assert_clean_error, on_each_store};

const OTHER_ADDRESS: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

on_each_store!(
    grace_replay_returns_same_successor,
    replay_from_other_ip_revokes_session,
    replay_from_other_user_agent_revokes_session,
    replay_after_grace_window_revokes_session,
    replay_of_older_generation_revokes_session,
    replay_without_grace_window_revokes_session,
    grace_replays_are_capped_and_audited,
    reuse_spares_other_sessions_of_user,
);

async fn grace_replay_returns_same_successor(kind: StoreKind) {
    let stack = Stack::start(kind);
    let api = stack.api();
    let (a, b) = rotate_once(&api).await;

    let replay = api.refresh_native(&a).await;
    assert_eq!(
        replay.status,
        200,
        "replay inside the grace window: {}",
        replay.describe()
    );
    let replayed = replay.tokens();
    assert_eq!(
        replayed.refresh_token, b.refresh_token,
        "the replay got another successor"
    );
    assert_ne!(
        replayed.access_token, b.access_token,
        "the replay got no new access token"
    );

    let next = api.refresh_native(&b.refresh()).await;
    assert_eq!(
        next.status,
        200,
        "the successor stopped working: {}",
        next.describe()
    );
}

async fn replay_from_other_ip_revokes_session(kind: StoreKind) {
    let stack = Stack::start(kind);
    let api = stack.api();
    let (a, b) = rotate_once(&api).await;

    let thief = api.from_address(OTHER_ADDRESS);
    let replay = thief.refresh_native(&a).await;
    assert_eq!(
        replay.status,
        400,
        "replay from another IP: {}",
        replay.describe()
    );
    assert_eq!(assert_clean_error(&replay), "invalid_grant");
    assert_revoked(&api, &b.refresh()).await;

    let log = stack.server.log_text();
    assert!(
        log.lines()
            .any(|line| names_both_addresses(line, &stack.server)),
        "no log line names both requesters' IP addresses:\n{log}"
    );
}

async fn replay_from_other_user_agent_revokes_session(kind: StoreKind) {
    let stack = Stack::start(kind);
    let api = stack.api().with_user_agent("reuse-test-first-agent");
    let (a, b) = rotate_once(&api).await;

    let thief = api.with_user_agent("reuse-test-second-agent");
    let replay = thief.refresh_native(&a).await;
    assert_eq!(
        replay.status,
        400,
        "replay from another user agent: {}",
        replay.describe()
    );
    assert_eq!(assert_clean_error(&replay), "invalid_grant");
    assert_revoked(&api, &b.refresh()).await;

    let log = stack.server.log_text();
    assert!(
        log.lines().any(|line| {
            line.contains("reuse-test-first-agent") && line.contains("reuse-test-second-agent")
        }),
        "no log line names both requesters' user agents:\n{log}"
    );
}

async fn replay_after_grace_window_revokes_session(kind: StoreKind) {
    let stack = Stack::start_with(kind, &[("AUTH__TOKENS__REUSE_GRACE_SECS", "1")]);
    let api = stack.api();
    let (a, b) = rotate_once(&api).await;

    // Past the 1 s window even when the server counts whole seconds.
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let replay = api.refresh_native(&a).await;
    assert_eq!(
        replay.status,
        400,
        "replay after the window: {}",
        replay.describe()
    );
    assert_eq!(assert_clean_error(&replay), "invalid_grant");
    assert_revoked(&api, &b.refresh()).await;
}

async fn replay_of_older_generation_revokes_session(kind: StoreKind) {
    let stack = Stack::start(kind);
    let api = stack.api();
    let (a, b) = rotate_once(&api).await;
    let c = api.refresh_native(&b.refresh()).await;
    assert_eq!(c.status, 200, "{}", c.describe());

    let replay = api.refresh_native(&a).await;
    assert_eq!(
        replay.status,
        400,
        "replay of generation 1 after 3: {}",
        replay.describe()
    );
    assert_eq!(assert_clean_error(&replay), "invalid_grant");
    assert_revoked(&api, &c.tokens().refresh()).await;
}

async fn replay_without_grace_window_revokes_session(kind: StoreKind) {
    let stack = Stack::start_with(kind, &[("AUTH__TOKENS__REUSE_GRACE_SECS", "0")]);
    let api = stack.api();
    let (a, b) = rotate_once(&api).await;

    let replay = api.refresh_native(&a).await;
    assert_eq!(
        replay.status,
        400,
        "replay with the window off: {}",
        replay.describe()
    );
    assert_eq!(assert_clean_error(&replay), "invalid_grant");
    assert_revoked(&api, &b.refresh()).await;
}

async fn grace_replays_are_capped_and_audited(kind: StoreKind) {
    let stack = Stack::start(kind);
    let api = stack.api();
    let (a, b) = rotate_once(&api).await;

    let mut replayed = 0;
    for attempt in 1..=20 {
        let replay = api.refresh_native(&a).await;
        if replay.status != 200 {
            assert_eq!(
                assert_clean_error(&replay),
                "invalid_grant",
                "attempt {attempt}"
            );
            continue;
        }
        replayed += 1;
        assert_eq!(
            replay.tokens().refresh_token,
            b.refresh_token,
            "attempt {attempt}"
        );
    }
    assert!(
        (1..20).contains(&replayed),
        "{replayed} of 20 replays answered"
    );

    let next = api.refresh_native(&b.refresh()).await;
    assert_eq!(
        next.status,
        200,
        "the successor stopped working: {}",
        next.describe()
    );
    let audited = stack
        .server
        .log_text()
        .lines()
        .filter(|line| line.contains(r#""target":"audit""#) && line.contains("replay"))
        .count();
    assert_eq!(audited, replayed, "audit events for {replayed} replays");
}

async fn reuse_spares_other_sessions_of_user(kind: StoreKind) {
    let stack = Stack::start(kind);
    let api = stack.api();
    let (user, first) = api.new_native_user().await;
    let bystander = api.login_native(&user).await;
    let a = first.refresh();
    let b = api.refresh_native(&a).await.tokens().refresh();

    let thief = api.from_address(OTHER_ADDRESS);
    let replay = thief.refresh_native(&a).await;
    assert_eq!(replay.status, 400, "{}", replay.describe());
    assert_revoked(&api, &b).await;

    let other = api.refresh_native(&bystander.refresh()).await;
    assert_eq!(
        other.status,
        200,
        "reuse ended another session: {}",
        other.describe()
    );
}

/// Signs up a native user and refreshes once: returns the first refresh
/// token and the response to its refresh.
async fn rotate_once(api: &Api) -> (String, Tokens) {
    let (_, tokens) = api.new_native_user().await;
    let a = tokens.refresh();
    let reply = api.refresh_native(&a).await;
    assert_eq!(reply.status, 200, "first refresh: {}", reply.describe());
    let b = reply.tokens();
    assert_ne!(b.refresh(), a, "the refresh did not rotate");
    (a, b)
}

/// Asserts that `token` no longer refreshes because its session is revoked.
async fn assert_revoked(api: &Api, token: &str) {
    let reply = api.refresh_native(token).await;
    assert_eq!(
        reply.status,
        400,
        "the session survived reuse: {}",
        reply.describe()
    );
    assert_eq!(assert_clean_error(&reply), "invalid_grant");
}

/// Returns whether a log line carries both 127.0.0.2 and 127.0.0.1 as IP
/// addresses, not counting the server's own `127.0.0.1:PORT`.
fn names_both_addresses(line: &str, server: &AuthServer) -> bool {
    let without_server = line.replace(&format!("127.0.0.1:{}", server.port()), "");
    without_server.contains("127.0.0.2") && without_server.contains("127.0.0.1")
}
