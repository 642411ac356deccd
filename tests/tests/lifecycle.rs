//! The whole session lifecycle: sign-up, login, a chain of refreshes, an
//! access token checked against the JWKS, logout.

use std::collections::HashSet;

use tests::client::{CLI, WEB};
use tests::jwt::verify_access_token;
use tests::{Stack, StoreKind, Tokens, assert_clean_error, on_each_store};

const ACCESS_TTL_SECS: i64 = 300;
const ROTATIONS: usize = 20;

on_each_store!(
    native_session_lives_until_logout,
    browser_session_lives_until_logout
);

async fn native_session_lives_until_logout(kind: StoreKind) {
    let ttl = ACCESS_TTL_SECS.to_string();
    let stack = Stack::start_with(kind, &[("AUTH__TOKENS__ACCESS_TTL_SECS", &ttl)]);
    let api = stack.api();

    let (user, signed_up) = api.new_native_user().await;
    assert_token_response(&signed_up, CLI);
    if let Some(keys) = stack.stored_key_count() {
        assert_ne!(keys, 0, "the server wrote nothing to Redis");
    }
    let login = api
        .password_login(CLI, &user.username, &user.password, None)
        .await;
    assert_eq!(login.status, 200, "{}", login.describe());
    assert_eq!(login.header("cache-control").as_deref(), Some("no-store"));
    let login = login.tokens();
    assert_token_response(&login, CLI);
    assert_ne!(
        login.refresh(),
        signed_up.refresh(),
        "each login starts its own session"
    );

    let mut refresh_tokens = HashSet::from([signed_up.refresh(), login.refresh()]);
    let mut access_tokens = vec![login.access_token.clone()];
    let mut current = login.refresh();
    for rotation in 1..=ROTATIONS {
        let reply = api.refresh_native(&current).await;
        assert_eq!(
            reply.status,
            200,
            "rotation {rotation}: {}",
            reply.describe()
        );
        assert_eq!(reply.header("cache-control").as_deref(), Some("no-store"));
        let tokens = reply.tokens();
        assert_token_response(&tokens, CLI);
        assert_eq!(tokens.expires_in, ACCESS_TTL_SECS);
        current = tokens.refresh();
        assert!(
            refresh_tokens.insert(current.clone()),
            "rotation {rotation} repeated a token"
        );
        access_tokens.push(tokens.access_token);
    }

    let jwks = api.jwks().await;
    assert_eq!(jwks.status, 200, "{}", jwks.describe());
    let cache_control = jwks.header("cache-control").unwrap_or_default();
    assert!(
        cache_control.contains("public"),
        "JWKS Cache-Control: {cache_control}"
    );
    assert!(
        cache_control.contains("max-age="),
        "JWKS Cache-Control: {cache_control}"
    );

    let issuer = stack.server.url();
    let first = verify_access_token(&signed_up.access_token, &jwks.body, &issuer, "api")
        .expect("the sign-up access token verifies");
    let mut jtis = HashSet::from([first.claims.jti.clone()]);
    let mut login_sid = None;
    for token in &access_tokens {
        let verified = verify_access_token(token, &jwks.body, &issuer, "api")
            .unwrap_or_else(|e| panic!("access token does not verify: {e}"));
        let claims = verified.claims;
        assert_eq!(claims.iss, issuer);
        assert!(claims.aud.contains("api"), "aud: {:?}", claims.aud);
        assert_eq!(
            claims.sub, first.claims.sub,
            "every token names the same user"
        );
        assert_eq!(claims.client_id, CLI);
        assert_eq!(claims.scope, "api");
        assert_eq!(claims.exp - claims.iat, ACCESS_TTL_SECS);
        assert!(
            jtis.insert(claims.jti.clone()),
            "jti {} repeated",
            claims.jti
        );
        let sid = claims.sid.expect("a session token carries sid");
        assert_ne!(
            Some(&sid),
            first.claims.sid.as_ref(),
            "login and sign-up share a session"
        );
        assert_eq!(
            login_sid.get_or_insert_with(|| sid.clone()),
            &sid,
            "sid changed on refresh"
        );
    }

    let logout = api.logout_native(&current).await;
    assert_eq!(logout.status, 204, "{}", logout.describe());
    let after = api.refresh_native(&current).await;
    assert_eq!(after.status, 400, "{}", after.describe());
    assert_eq!(assert_clean_error(&after), "invalid_grant");
    let again = api.logout_native(&current).await;
    assert_eq!(
        again.status,
        204,
        "logging out a revoked session: {}",
        again.describe()
    );

    let other_session = api.refresh_native(&signed_up.refresh()).await;
    assert_eq!(
        other_session.status,
        200,
        "logout ended another session: {}",
        other_session.describe()
    );
}

async fn browser_session_lives_until_logout(kind: StoreKind) {
    let stack = Stack::start(kind);
    let api = stack.api();

    let (user, _) = api.new_browser_user().await;
    let login = api
        .password_login(WEB, &user.username, &user.password, None)
        .await;
    assert_eq!(login.status, 200, "{}", login.describe());
    let tokens = login.tokens();
    assert_token_response(&tokens, WEB);
    let mut session = tests::BrowserSession::from_reply(&login);
    let mut cookies = HashSet::from([session.refresh.clone()]);

    let mut last_access = tokens.access_token;
    for rotation in 1..=ROTATIONS {
        let reply = api.refresh_browser(&session).await;
        assert_eq!(
            reply.status,
            200,
            "rotation {rotation}: {}",
            reply.describe()
        );
        assert_eq!(reply.header("cache-control").as_deref(), Some("no-store"));
        let body = reply.json();
        assert!(
            body.get("refresh_token").is_none(),
            "refresh token in a browser body"
        );
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(
            body["csrf_token"],
            session.csrf_token.as_str(),
            "CSRF token changed"
        );
        session.update(&reply);
        assert!(
            cookies.insert(session.refresh.clone()),
            "rotation {rotation} kept the cookie"
        );
        last_access = reply.tokens().access_token;
    }

    let jwks = api.jwks().await;
    let issuer = stack.server.url();
    let verified = verify_access_token(&last_access, &jwks.body, &issuer, "api")
        .expect("the last access token verifies");
    assert_eq!(verified.claims.client_id, WEB);

    let logout = api
        .logout_browser(&session, Some(&session.csrf_token.clone()))
        .await;
    assert_eq!(logout.status, 204, "{}", logout.describe());
    let after = api.refresh_browser(&session).await;
    assert_eq!(after.status, 401, "{}", after.describe());
    assert_eq!(assert_clean_error(&after), "invalid_grant");
}

/// Checks the members of a token response for `client_id`.
fn assert_token_response(tokens: &Tokens, client_id: &str) {
    assert_eq!(tokens.token_type, "Bearer");
    assert!(tokens.expires_in > 0, "expires_in: {}", tokens.expires_in);
    assert_eq!(
        tokens.access_token.split('.').count(),
        3,
        "access token is not a JWS"
    );
    if client_id == CLI {
        let refresh = tokens.refresh_token.as_deref().unwrap_or_default();
        assert!(
            refresh.len() >= 43,
            "refresh token too short for 256 bits: {refresh:?}"
        );
        assert!(
            tokens.csrf_token.is_none(),
            "native response with csrf_token"
        );
        assert_eq!(tokens.scope.as_deref(), Some("api"));
    } else {
        assert!(
            tokens.refresh_token.is_none(),
            "refresh token in a browser body"
        );
        assert!(
            tokens.csrf_token.is_some(),
            "browser response without csrf_token"
        );
    }
}
