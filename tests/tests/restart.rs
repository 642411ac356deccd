//! A server restart on Redis keeps every session, the signing key and so
//! every access token issued before it.

use tests::jwt::{key_ids, verify_access_token};
use tests::{BrowserSession, Stack, StoreKind, strong_password, unique_username};

#[tokio::test]
async fn restart_keeps_sessions_and_access_tokens() {
    let mut stack = Stack::start(StoreKind::Redis);
    let api = stack.api();
    let (user, native) = api.new_native_user().await;
    let a = native.refresh();
    let rotated = api.refresh_native(&a).await;
    assert_eq!(rotated.status, 200, "{}", rotated.describe());
    let b = rotated.tokens();

    let (name, password) = (unique_username("tab"), strong_password());
    let browser_signup = api.signup(tests::client::WEB, &name, &password).await;
    assert_eq!(browser_signup.status, 201, "{}", browser_signup.describe());
    let browser = BrowserSession::from_reply(&browser_signup);
    let browser_access = browser_signup.tokens().access_token;
    let keys_before = key_ids(&api.jwks().await.body);

    stack.server.restart();

    let jwks = api.jwks().await;
    assert_eq!(jwks.status, 200, "{}", jwks.describe());
    let keys_after = key_ids(&jwks.body);
    for kid in &keys_before {
        assert!(
            keys_after.contains(kid),
            "key {kid} vanished: {keys_after:?}"
        );
    }
    let issuer = stack.server.url();
    for token in [&native.access_token, &b.access_token, &browser_access] {
        verify_access_token(token, &jwks.body, &issuer, "api")
            .unwrap_or_else(|e| panic!("an access token from before the restart: {e}"));
    }

    let replay = api.refresh_native(&a).await;
    assert_eq!(
        replay.status,
        200,
        "grace replay after restart: {}",
        replay.describe()
    );
    assert_eq!(
        replay.tokens().refresh_token,
        b.refresh_token,
        "the replay got another successor"
    );

    let next = api.refresh_native(&b.refresh()).await;
    assert_eq!(
        next.status,
        200,
        "native session after restart: {}",
        next.describe()
    );
    let fresh = verify_access_token(&next.tokens().access_token, &jwks.body, &issuer, "api")
        .expect("a new access token verifies");
    let kid = fresh.header.kid.unwrap_or_default();
    assert!(
        keys_before.contains(&kid),
        "signed with a new key {kid} after restart"
    );

    let browser_refresh = api.refresh_browser(&browser).await;
    assert_eq!(browser_refresh.status, 200, "browser session after restart");
    let login = api.login_native(&user).await;
    assert!(!login.access_token.is_empty());
}
