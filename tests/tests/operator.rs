//! Clients from a settings file and scopes granted by an operator with
//! `auth-server users grant`.

use std::time::Duration;

use tests::client::{CLI, WEB};
use tests::jwt::verify_access_token;
use tests::server::run_to_exit;
use tests::{Stack, StoreKind, assert_clean_error};

const CLIENTS: &str = r#"
[[clients]]
id = "cli"
kind = "native"
grants = ["password", "refresh_token"]
scopes = ["api", "admin"]
default_scopes = ["api"]

[[clients]]
id = "web"
kind = "browser"
grants = ["password", "refresh_token"]
scopes = ["api"]

[[clients]]
id = "robot"
kind = "native"
grants = ["refresh_token"]
scopes = ["api"]
"#;

#[tokio::test]
async fn operator_grants_admin_scope() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let config = dir.path().join("auth-server.toml");
    std::fs::write(&config, CLIENTS).expect("write the settings file");
    let config = config.to_str().expect("UTF-8 path");
    let stack = Stack::start_with_args(StoreKind::Redis, &[], &["--config", config]);
    let api = stack.api();
    let (user, _) = api.new_native_user().await;

    let refused = api
        .password_login(CLI, &user.username, &user.password, Some("admin"))
        .await;
    assert_eq!(
        refused.status,
        400,
        "before the grant: {}",
        refused.describe()
    );
    assert_eq!(assert_clean_error(&refused), "invalid_scope");

    let args = [
        "--config",
        config,
        "users",
        "grant",
        &user.username,
        "admin",
    ];
    let run = run_to_exit(&args, stack.server.env(), Duration::from_secs(30));
    assert_eq!(run.code, Some(0), "users grant failed:\n{}", run.output);

    let admin = api
        .password_login(CLI, &user.username, &user.password, Some("api admin"))
        .await;
    assert_eq!(admin.status, 200, "after the grant: {}", admin.describe());
    let tokens = admin.tokens();
    let granted: Vec<&str> = tokens
        .scope
        .as_deref()
        .unwrap_or_default()
        .split(' ')
        .collect();
    assert!(granted.contains(&"admin"), "granted {granted:?}");
    let jwks = api.jwks().await;
    let verified =
        verify_access_token(&tokens.access_token, &jwks.body, &stack.server.url(), "api")
            .expect("the admin token verifies");
    assert!(
        verified.claims.has_scope("admin"),
        "claims scope {}",
        verified.claims.scope
    );

    let default = api.login_native(&user).await;
    assert_eq!(
        default.scope.as_deref(),
        Some("api"),
        "the client's default scope"
    );

    let browser = api
        .password_login(WEB, &user.username, &user.password, Some("admin"))
        .await;
    assert_eq!(
        browser.status,
        400,
        "web may not carry admin: {}",
        browser.describe()
    );
    assert_eq!(assert_clean_error(&browser), "invalid_scope");
}

#[tokio::test]
async fn grant_not_configured_is_unauthorized_client() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let config = dir.path().join("auth-server.toml");
    std::fs::write(&config, CLIENTS).expect("write the settings file");
    let config = config.to_str().expect("UTF-8 path");
    let stack = Stack::start_with_args(StoreKind::Redis, &[], &["--config", config]);
    let api = stack.api();
    let (user, _) = api.new_native_user().await;

    let reply = api
        .password_login("robot", &user.username, &user.password, None)
        .await;
    assert_eq!(reply.status, 400, "{}", reply.describe());
    assert_eq!(assert_clean_error(&reply), "unauthorized_client");
    assert!(
        reply.json().get("access_token").is_none(),
        "a token for a refused grant"
    );
}

#[tokio::test]
async fn grant_for_unknown_user_fails() {
    let stack = Stack::start(StoreKind::Redis);
    let args = ["users", "grant", "no-such-user", "admin"];
    let run = run_to_exit(&args, stack.server.env(), Duration::from_secs(30));
    assert!(
        run.code.is_some_and(|code| code != 0),
        "exit {:?}:\n{}",
        run.code,
        run.output
    );
    assert!(
        run.output.contains("no-such-user"),
        "the message names no user:\n{}",
        run.output
    );
}
