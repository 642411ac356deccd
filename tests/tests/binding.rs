//! Context binding: a session remembers the IP address and user agent it
//! last saw. A refresh from another one is ignored (`off`), recorded in the
//! audit log (`log`, the default), or ends the session (`strict`).

use tests::protection::{
    OTHER_ADDRESS, events_named, field, list_sessions, unverified_claims, wait_for_events,
    wait_for_next_event,
};
use tests::{Api, AuthServer, BrowserSession, Stack, StoreKind, Tokens, on_each_store};

const OFF: &[(&str, &str)] = &[("AUTH__SECURITY__BINDING", "off")];
const LOG: &[(&str, &str)] = &[("AUTH__SECURITY__BINDING", "log")];
const STRICT: &[(&str, &str)] = &[("AUTH__SECURITY__BINDING", "strict")];

const NEW_AGENT: &str = "binding-test-other-agent/2.0";

on_each_store!(
    off_ignores_new_address,
    off_ignores_new_user_agent,
    log_records_new_address,
    log_records_new_user_agent,
    log_is_default,
    log_compares_with_last_context,
    grace_replay_logs_move_once,
    log_keeps_moved_browser_session,
    strict_revokes_on_new_address,
    strict_revokes_on_new_user_agent,
    strict_keeps_unmoved_session,
    strict_allows_grace_replay,
    strict_browser_move_clears_cookies,
    strict_spares_other_sessions,
);

async fn refresh_ok(api: &Api, refresh: &str) -> Tokens {
    let reply = api.refresh_native(refresh).await;
    assert_eq!(reply.status, 200, "refresh: {}", reply.describe());
    reply.tokens()
}

fn context_changes(server: &AuthServer) -> usize {
    events_named(&server.log_text(), "context_change").len()
}

/// Waits until the server has logged the last request it responded to,
/// so that an absent event is really absent.
async fn settle(server: &AuthServer) {
    let before = events_named(&server.log_text(), "login").len();
    let api = Api::new(server);
    let (user, _) = api.new_native_user().await;
    api.login_native(&user).await;
    wait_for_events(server, "login", before + 1).await;
}

async fn off_ignores_new_address(kind: StoreKind) {
    let stack = Stack::start_with(kind, OFF);
    let api = stack.api();
    let (_, tokens) = api.new_native_user().await;

    let moved = api.from_address(OTHER_ADDRESS);
    let next = refresh_ok(&moved, &tokens.refresh()).await;
    refresh_ok(&api, &next.refresh()).await;

    settle(&stack.server).await;
    assert_eq!(
        context_changes(&stack.server),
        0,
        "binding off logged a change"
    );
}

async fn off_ignores_new_user_agent(kind: StoreKind) {
    let stack = Stack::start_with(kind, OFF);
    let api = stack.api();
    let (_, tokens) = api.new_native_user().await;

    refresh_ok(&api.with_user_agent(NEW_AGENT), &tokens.refresh()).await;

    settle(&stack.server).await;
    assert_eq!(
        context_changes(&stack.server),
        0,
        "binding off logged a change"
    );
}

async fn log_records_new_address(kind: StoreKind) {
    let stack = Stack::start_with(kind, LOG);
    let api = stack.api();
    let (_, tokens) = api.new_native_user().await;
    let session = session_of(&tokens);

    let moved = api.from_address(OTHER_ADDRESS);
    let next = refresh_ok(&moved, &tokens.refresh()).await;
    let event = wait_for_next_event(&stack.server, "context_change", 0).await;
    assert_eq!(field(&event, "session"), session, "{event}");
    assert_eq!(field(&event, "previous_ip"), "127.0.0.1", "{event}");
    assert_eq!(field(&event, "ip"), "127.0.0.2", "{event}");
    assert_eq!(event["revoked"], false, "{event}");

    let listed = list_sessions(&api, &next.access_token).await.json();
    let entry = &listed["sessions"][0];
    assert_eq!(entry["id"].as_str(), Some(session.as_str()), "{listed}");
    assert_eq!(
        entry["ip"].as_str(),
        Some("127.0.0.2"),
        "last address: {listed}"
    );

    refresh_ok(&moved, &next.refresh()).await;
}

async fn log_records_new_user_agent(kind: StoreKind) {
    let stack = Stack::start_with(kind, LOG);
    let api = stack.api();
    let (_, tokens) = api.new_native_user().await;

    let moved = api.with_user_agent(NEW_AGENT);
    let next = refresh_ok(&moved, &tokens.refresh()).await;
    let event = wait_for_next_event(&stack.server, "context_change", 0).await;
    assert_eq!(
        field(&event, "previous_user_agent"),
        tests::client::DEFAULT_USER_AGENT,
        "{event}"
    );
    assert_eq!(field(&event, "user_agent"), NEW_AGENT, "{event}");
    assert_eq!(field(&event, "ip"), "127.0.0.1", "{event}");

    refresh_ok(&moved, &next.refresh()).await;
}

async fn log_is_default(kind: StoreKind) {
    let stack = Stack::start(kind);
    let api = stack.api();
    let (_, tokens) = api.new_native_user().await;

    refresh_ok(&api.from_address(OTHER_ADDRESS), &tokens.refresh()).await;
    let event = wait_for_next_event(&stack.server, "context_change", 0).await;
    assert_eq!(event["revoked"], false, "{event}");
}

async fn log_compares_with_last_context(kind: StoreKind) {
    let stack = Stack::start_with(kind, LOG);
    let api = stack.api();
    let moved = api.from_address(OTHER_ADDRESS);
    let (_, tokens) = api.new_native_user().await;

    let second = refresh_ok(&moved, &tokens.refresh()).await;
    wait_for_events(&stack.server, "context_change", 1).await;
    // Still at the new address: nothing changed since the last refresh.
    let third = refresh_ok(&moved, &second.refresh()).await;
    // Back at the first address: a change again, from the new one.
    refresh_ok(&api, &third.refresh()).await;

    let events = wait_for_events(&stack.server, "context_change", 2).await;
    settle(&stack.server).await;
    let events_now = events_named(&stack.server.log_text(), "context_change");
    assert_eq!(events_now.len(), 2, "events: {events_now:?}");
    assert_eq!(
        field(&events[1], "previous_ip"),
        "127.0.0.2",
        "{}",
        events[1]
    );
    assert_eq!(field(&events[1], "ip"), "127.0.0.1", "{}", events[1]);
}

async fn grace_replay_logs_move_once(kind: StoreKind) {
    let env = [LOG[0], ("AUTH__TOKENS__REUSE_GRACE_SECS", "30")];
    let stack = Stack::start_with(kind, &env);
    let api = stack.api();
    let moved = api.from_address(OTHER_ADDRESS);
    let (_, tokens) = api.new_native_user().await;

    let next = refresh_ok(&moved, &tokens.refresh()).await;
    // The moved client retries the same request, as a lost response would
    // make it do: it gets the same successor and has not moved again.
    let replay = refresh_ok(&moved, &tokens.refresh()).await;
    assert_eq!(replay.refresh_token, next.refresh_token);
    refresh_ok(&moved, &next.refresh()).await;

    settle(&stack.server).await;
    let events = events_named(&stack.server.log_text(), "context_change");
    assert_eq!(events.len(), 1, "one move, events: {events:?}");
}

async fn log_keeps_moved_browser_session(kind: StoreKind) {
    let stack = Stack::start_with(kind, LOG);
    let api = stack.api();
    let (_, mut session) = api.new_browser_user().await;

    let moved = api.from_address(OTHER_ADDRESS);
    let reply = moved.refresh_browser(&session).await;
    assert_eq!(reply.status, 200, "{}", reply.describe());
    session.update(&reply);
    let event = wait_for_next_event(&stack.server, "context_change", 0).await;
    assert_eq!(field(&event, "ip"), "127.0.0.2", "{event}");

    let reply = moved.refresh_browser(&session).await;
    assert_eq!(reply.status, 200, "{}", reply.describe());
}

async fn strict_revokes_on_new_address(kind: StoreKind) {
    let stack = Stack::start_with(kind, STRICT);
    let api = stack.api();
    let (user, tokens) = api.new_native_user().await;

    let reply = api
        .from_address(OTHER_ADDRESS)
        .refresh_native(&tokens.refresh())
        .await;
    assert_revoked_by_binding(&stack, &api, &tokens, &reply).await;

    // The user logs in again and carries on.
    let fresh = api.login_native(&user).await;
    refresh_ok(&api, &fresh.refresh()).await;
}

async fn strict_revokes_on_new_user_agent(kind: StoreKind) {
    let stack = Stack::start_with(kind, STRICT);
    let api = stack.api();
    let (_, tokens) = api.new_native_user().await;

    let reply = api
        .with_user_agent(NEW_AGENT)
        .refresh_native(&tokens.refresh())
        .await;
    assert_revoked_by_binding(&stack, &api, &tokens, &reply).await;
}

/// Asserts that `reply` rejected a refresh with `invalid_grant`, that the
/// session of `tokens` is gone, and that the audit log records the reason.
async fn assert_revoked_by_binding(
    stack: &Stack,
    api: &Api,
    tokens: &Tokens,
    reply: &tests::Reply,
) {
    assert_eq!(reply.status, 400, "strict refresh: {}", reply.describe());
    assert_eq!(reply.error().as_deref(), Some("invalid_grant"));
    assert!(
        reply.json().get("access_token").is_none(),
        "{}",
        reply.describe()
    );

    let session = session_of(tokens);
    // The revoked session's own access token no longer reaches the account
    // endpoints.
    let listed = list_sessions(api, &tokens.access_token).await;
    assert_eq!(listed.status, 401, "{}", listed.describe());
    assert_eq!(listed.error().as_deref(), Some("invalid_token"));
    let again = api.refresh_native(&tokens.refresh()).await;
    assert_eq!(again.status, 400, "{}", again.describe());

    let change = wait_for_next_event(&stack.server, "context_change", 0).await;
    assert_eq!(change["revoked"], true, "{change}");
    let revoked = wait_for_next_event(&stack.server, "session_revoked", 0).await;
    assert_eq!(field(&revoked, "session"), session, "{revoked}");
    assert_eq!(field(&revoked, "reason"), "context_change", "{revoked}");
}

async fn strict_keeps_unmoved_session(kind: StoreKind) {
    let stack = Stack::start_with(kind, STRICT);
    let api = stack.api();
    let (_, tokens) = api.new_native_user().await;

    let mut refresh = tokens.refresh();
    for _ in 0..3 {
        refresh = refresh_ok(&api, &refresh).await.refresh();
    }
    settle(&stack.server).await;
    assert_eq!(context_changes(&stack.server), 0);
}

async fn strict_allows_grace_replay(kind: StoreKind) {
    let env = [STRICT[0], ("AUTH__TOKENS__REUSE_GRACE_SECS", "30")];
    let stack = Stack::start_with(kind, &env);
    let api = stack.api();
    let (_, tokens) = api.new_native_user().await;

    let next = refresh_ok(&api, &tokens.refresh()).await;
    let replay = refresh_ok(&api, &tokens.refresh()).await;
    assert_eq!(replay.refresh_token, next.refresh_token);
    refresh_ok(&api, &next.refresh()).await;

    settle(&stack.server).await;
    assert_eq!(context_changes(&stack.server), 0);
}

async fn strict_browser_move_clears_cookies(kind: StoreKind) {
    let stack = Stack::start_with(kind, STRICT);
    let api = stack.api();
    let (_, session) = api.new_browser_user().await;

    let moved = api.from_address(OTHER_ADDRESS);
    let reply = moved.refresh_browser(&session).await;
    assert_eq!(reply.status, 401, "{}", reply.describe());
    assert_eq!(reply.error().as_deref(), Some("invalid_grant"));
    assert_cookies_cleared(&reply);

    // Back at the first address, the session is still gone.
    let back = api.refresh_browser(&session).await;
    assert_eq!(back.status, 401, "{}", back.describe());
    let csrf = api.csrf(&session, api.origin()).await;
    assert_eq!(csrf.status, 401, "{}", csrf.describe());
}

fn assert_cookies_cleared(reply: &tests::Reply) {
    for name in [tests::cookie::REFRESH_COOKIE, tests::cookie::CSRF_COOKIE] {
        let cookie = reply
            .set_cookie(name)
            .unwrap_or_else(|| panic!("{name} not cleared: {:?}", reply.headers));
        assert!(cookie.is_deletion(), "{name} is not deleted: {cookie:?}");
    }
}

async fn strict_spares_other_sessions(kind: StoreKind) {
    let stack = Stack::start_with(kind, STRICT);
    let api = stack.api();
    let (user, stolen) = api.new_native_user().await;
    let kept = api.login_native(&user).await;
    let browser: BrowserSession = api.login_browser(&user).await;

    let reply = api
        .from_address(OTHER_ADDRESS)
        .refresh_native(&stolen.refresh())
        .await;
    assert_eq!(reply.status, 400, "{}", reply.describe());

    refresh_ok(&api, &kept.refresh()).await;
    let reply = api.refresh_browser(&browser).await;
    assert_eq!(reply.status, 200, "{}", reply.describe());
}

fn session_of(tokens: &Tokens) -> String {
    unverified_claims(&tokens.access_token)["sid"]
        .as_str()
        .expect("an access token with sid")
        .to_owned()
}
