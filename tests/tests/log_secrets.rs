//! The server log of a full run contains none of the passwords, access
//! tokens, refresh tokens, CSRF tokens or configured secrets it handled.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use tests::client::{CLI, WEB};
use tests::{Api, BrowserSession, Stack, StoreKind, random_hex};

#[tokio::test]
async fn server_log_contains_no_secrets() {
    assert_full_run_leaves_no_secret(&[]).await;
}

#[tokio::test]
async fn debug_log_contains_no_secrets() {
    // NOTE: the server emits few debug events so far; this keeps them, and
    // any added later, under the same check.
    assert_full_run_leaves_no_secret(&[("AUTH__LOG__FILTER", "debug")]).await;
}

/// Runs every flow against a server with the extra settings `env`, then
/// searches its log for every secret the flows handled.
async fn assert_full_run_leaves_no_secret(env: &[(&str, &str)]) {
    let mut stack = Stack::start_with(StoreKind::Redis, env);
    let api = stack.api();
    run_native_flows(&api).await;
    run_browser_flows(&api).await;
    run_failing_requests(&api).await;
    stack.server.restart();
    run_native_flows(&api).await;

    // Give buffered log writers a moment before reading the file.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let log = stack.server.log_text();
    assert!(
        log.lines().count() >= 10,
        "the log is too short to mean anything:\n{log}"
    );

    let mut secrets = api.seen_secrets();
    for key in [
        "AUTH__SECURITY__REFRESH_PEPPER",
        "AUTH__SECURITY__KEY_ENCRYPTION_KEY",
    ] {
        secrets.push(
            stack
                .server
                .env_value(key)
                .expect("configured secret")
                .to_owned(),
        );
    }
    assert!(
        secrets.len() > 50,
        "only {} secrets collected",
        secrets.len()
    );
    for secret in &secrets {
        for needle in needles(secret) {
            assert!(
                !log.contains(needle),
                "the log contains {needle:?} (part of a secret)"
            );
        }
    }
}

/// Returns the strings that must not occur in the log for one secret: the
/// secret itself and, for a JWT, its payload and signature.
fn needles(secret: &str) -> Vec<&str> {
    let mut needles = vec![secret];
    let parts: Vec<&str> = secret.split('.').collect();
    if parts.len() == 3 && parts.iter().all(|part| part.len() > 16) {
        needles.extend(&parts[1..]);
    }
    needles
}

async fn run_native_flows(api: &Api) {
    let (user, tokens) = api.new_native_user().await;
    let mut current = api.login_native(&user).await.refresh();
    for _ in 0..5 {
        let reply = api.refresh_native(&current).await;
        assert_eq!(reply.status, 200, "{}", reply.describe());
        current = reply.tokens().refresh();
    }
    let a = tokens.refresh();
    let b = api.refresh_native(&a).await.tokens().refresh();
    let replay = api.refresh_native(&a).await;
    assert_eq!(replay.status, 200, "grace replay: {}", replay.describe());

    let thief = api.from_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)));
    let stolen = thief.refresh_native(&a).await;
    assert_eq!(stolen.status, 400, "reuse: {}", stolen.describe());
    let after = api.refresh_native(&b).await;
    assert_eq!(after.status, 400, "{}", after.describe());

    let logout = api.logout_native(&current).await;
    assert_eq!(logout.status, 204, "{}", logout.describe());
}

async fn run_browser_flows(api: &Api) {
    let (user, mut session) = api.new_browser_user().await;
    let login = api
        .password_login(WEB, &user.username, &user.password, None)
        .await;
    let other = BrowserSession::from_reply(&login);
    for _ in 0..3 {
        let reply = api.refresh_browser(&session).await;
        assert_eq!(reply.status, 200, "{}", reply.describe());
        session.update(&reply);
    }
    let csrf = api.csrf(&session, api.origin()).await;
    assert_eq!(csrf.status, 200, "{}", csrf.describe());

    let origin = api.origin().to_owned();
    let wrong = api
        .refresh_browser_with(&session, Some(&other.csrf_token), Some(&origin))
        .await;
    assert_eq!(wrong.status, 403, "{}", wrong.describe());
    let logout = api
        .logout_browser(&session, Some(&session.csrf_token))
        .await;
    assert_eq!(logout.status, 204, "{}", logout.describe());
    let revoked = api.refresh_browser(&session).await;
    assert_eq!(revoked.status, 401, "{}", revoked.describe());
}

async fn run_failing_requests(api: &Api) {
    let (user, _) = api.new_native_user().await;
    let wrong_password = format!("Wrong-{}", random_hex(8));
    let reply = api
        .password_login(CLI, &user.username, &wrong_password, None)
        .await;
    assert_eq!(reply.status, 400, "{}", reply.describe());
    let ghost_password = format!("Ghost-{}", random_hex(8));
    let reply = api
        .password_login(CLI, "ghost-user-x", &ghost_password, None)
        .await;
    assert_eq!(reply.status, 400, "{}", reply.describe());

    let short_password = format!("S{}", random_hex(3));
    let reply = api
        .signup(CLI, &tests::unique_username("short"), &short_password)
        .await;
    assert_eq!(reply.status, 400, "{}", reply.describe());
    let reply = api
        .signup(CLI, &user.username, &tests::strong_password())
        .await;
    assert_eq!(reply.status, 409, "{}", reply.describe());

    let forged = random_hex(40);
    api.remember(&forged);
    let reply = api.refresh_native(&forged).await;
    assert_eq!(reply.status, 400, "{}", reply.describe());
    let reply = api.logout_native(&forged).await;
    assert_eq!(reply.status, 204, "{}", reply.describe());
}
