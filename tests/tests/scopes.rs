//! Granted scope: the request (or the client's default) intersected with
//! what the client and the user may have.

use tests::client::{CLI, WEB};
use tests::jwt::verify_access_token;
use tests::{Stack, StoreKind, assert_clean_error};

#[tokio::test]
async fn admin_scope_is_invalid_for_ordinary_user() {
    let stack = Stack::start(StoreKind::Redis);
    let api = stack.api();
    let (user, _) = api.new_native_user().await;

    for scope in ["admin", "api admin"] {
        let reply = api
            .password_login(CLI, &user.username, &user.password, Some(scope))
            .await;
        assert_eq!(reply.status, 400, "scope {scope:?}: {}", reply.describe());
        assert_eq!(
            assert_clean_error(&reply),
            "invalid_scope",
            "scope {scope:?}"
        );
        assert!(reply.set_cookies().is_empty(), "an error set cookies");
    }

    let browser = api
        .password_login(WEB, &user.username, &user.password, Some("admin"))
        .await;
    assert_eq!(browser.status, 400, "{}", browser.describe());
    assert_eq!(assert_clean_error(&browser), "invalid_scope");
    assert!(browser.set_cookies().is_empty(), "an error set cookies");
}

#[tokio::test]
async fn refresh_never_widens_scope() {
    let stack = Stack::start(StoreKind::Redis);
    let api = stack.api();
    let (_, tokens) = api.new_native_user().await;
    let fields = [
        ("grant_type", "refresh_token"),
        ("refresh_token", &tokens.refresh()),
        ("client_id", CLI),
        ("scope", "api admin"),
    ];
    let reply = api.post_form("/token", &fields).await;
    if reply.status == 200 {
        let scope = reply.tokens().scope.unwrap_or_default();
        assert!(
            !scope.split(' ').any(|s| s == "admin"),
            "refresh granted {scope:?}"
        );
    } else {
        assert_eq!(reply.status, 400, "{}", reply.describe());
        assert_eq!(assert_clean_error(&reply), "invalid_scope");
    }
}

#[tokio::test]
async fn granted_scope_defaults_to_api() {
    let stack = Stack::start(StoreKind::Redis);
    let api = stack.api();
    let (user, _) = api.new_native_user().await;
    let jwks = api.jwks().await;

    for requested in [None, Some("api")] {
        let reply = api
            .password_login(CLI, &user.username, &user.password, requested)
            .await;
        assert_eq!(
            reply.status,
            200,
            "scope {requested:?}: {}",
            reply.describe()
        );
        let tokens = reply.tokens();
        assert_eq!(tokens.scope.as_deref(), Some("api"), "scope {requested:?}");
        let verified =
            verify_access_token(&tokens.access_token, &jwks.body, &stack.server.url(), "api")
                .expect("access token verifies");
        assert_eq!(verified.claims.scope, "api");

        let refreshed = api.refresh_native(&tokens.refresh()).await;
        assert_eq!(refreshed.status, 200, "{}", refreshed.describe());
        assert_eq!(
            refreshed.tokens().scope.as_deref(),
            Some("api"),
            "refresh changed the scope"
        );
    }
}
