//! Browser clients: `__Host-` cookies, CSRF checks on `/refresh`, `/csrf`
//! and `/logout`, and `Origin` checks on every cookie-setting endpoint.

use std::time::Duration;

use tests::client::WEB;
use tests::cookie::{CSRF_COOKIE, REFRESH_COOKIE, SetCookie};
use tests::{BrowserSession, Reply, Stack, StoreKind, assert_clean_error};

const FOREIGN_ORIGIN: &str = "http://evil.example";

#[tokio::test]
async fn browser_cookies_carry_required_flags() {
    let stack = Stack::start(StoreKind::Redis);
    let api = stack.api();
    let (user, _) = api.new_browser_user().await;
    let signup_again = api
        .signup(WEB, &tests::unique_username("flags"), "Correct-Horse-42!")
        .await;
    assert_eq!(signup_again.status, 201, "{}", signup_again.describe());
    assert_browser_token_reply(&signup_again);

    let login = api
        .password_login(WEB, &user.username, &user.password, None)
        .await;
    assert_eq!(login.status, 200, "{}", login.describe());
    assert_browser_token_reply(&login);

    let session = BrowserSession::from_reply(&login);
    let refreshed = api.refresh_browser(&session).await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.describe());
    let cookie = refreshed
        .set_cookie(REFRESH_COOKIE)
        .expect("rotated refresh cookie");
    assert_refresh_cookie_flags(&cookie);
    assert_ne!(
        cookie.value, session.refresh,
        "the refresh cookie did not rotate"
    );
}

#[tokio::test]
async fn refresh_cookie_max_age_slides_with_use() {
    let env = [
        ("AUTH__TOKENS__REFRESH_IDLE_TTL_SECS", "3600"),
        ("AUTH__TOKENS__SESSION_MAX_TTL_SECS", "7200"),
    ];
    let stack = Stack::start_with(StoreKind::Redis, &env);
    let api = stack.api();
    let (_, session) = api.new_browser_user().await;

    // Three seconds after sign-up a refresh starts the idle lifetime over.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let reply = api.refresh_browser(&session).await;
    assert_eq!(reply.status, 200, "{}", reply.describe());
    let max_age = reply.set_cookie(REFRESH_COOKIE).and_then(|c| c.max_age());
    let max_age = max_age.expect("Max-Age");
    assert!(
        (3599..=3600).contains(&max_age),
        "Max-Age {max_age}, expected a full 3600 s"
    );
}

#[tokio::test]
async fn refresh_cookie_max_age_is_remaining_lifetime() {
    let env = [
        ("AUTH__TOKENS__REFRESH_IDLE_TTL_SECS", "3600"),
        ("AUTH__TOKENS__SESSION_MAX_TTL_SECS", "3603"),
    ];
    let stack = Stack::start_with(StoreKind::Redis, &env);
    let api = stack.api();
    let (_, session) = api.new_browser_user().await;
    let reply = api.refresh_browser(&session).await;
    let first = reply
        .set_cookie(REFRESH_COOKIE)
        .and_then(|c| c.max_age())
        .expect("Max-Age");
    assert!(
        (3590..=3600).contains(&first),
        "Max-Age {first}, expected the idle 3600 s"
    );

    // Four seconds on, the absolute lifetime (3603 s) has less than the idle
    // lifetime left, so it bounds Max-Age.
    let mut session = session;
    session.update(&reply);
    tokio::time::sleep(Duration::from_secs(4)).await;
    let reply = api.refresh_browser(&session).await;
    assert_eq!(reply.status, 200, "{}", reply.describe());
    let later = reply
        .set_cookie(REFRESH_COOKIE)
        .and_then(|c| c.max_age())
        .expect("Max-Age");
    assert!(
        (3590..=3599).contains(&later),
        "Max-Age {later}, expected under 3600"
    );
}

#[tokio::test]
async fn csrf_token_is_stable_for_session() {
    let stack = Stack::start(StoreKind::Redis);
    let api = stack.api();
    let (user, mut session) = api.new_browser_user().await;
    let original = session.csrf_token.clone();
    assert_eq!(session.csrf_cookie, original, "cookie and body disagree");

    for _ in 0..3 {
        let reply = api.refresh_browser(&session).await;
        assert_eq!(reply.status, 200, "{}", reply.describe());
        session.update(&reply);
        assert_eq!(
            session.csrf_token, original,
            "the CSRF token changed on refresh"
        );
    }
    let fetched = api.csrf(&session, api.origin()).await;
    assert_eq!(fetched.status, 200, "{}", fetched.describe());
    assert_eq!(fetched.json()["csrf_token"], original.as_str(), "GET /csrf");

    let other = api.login_browser(&user).await;
    assert_ne!(
        other.csrf_token, original,
        "two sessions share a CSRF token"
    );
}

#[tokio::test]
async fn csrf_endpoint_rejects_foreign_origin() {
    let stack = Stack::start(StoreKind::Redis);
    let api = stack.api();
    let (_, session) = api.new_browser_user().await;

    let reply = api.csrf(&session, FOREIGN_ORIGIN).await;
    assert_eq!(reply.status, 403, "{}", reply.describe());
    assert!(
        !reply.body.contains(&session.csrf_token),
        "the CSRF token leaked to {FOREIGN_ORIGIN}"
    );
    let allowed_origin = reply
        .header("access-control-allow-origin")
        .unwrap_or_default();
    assert_ne!(
        allowed_origin, FOREIGN_ORIGIN,
        "CORS admits a foreign origin"
    );
}

#[tokio::test]
async fn refresh_without_csrf_header_is_forbidden() {
    assert_forbidden_refresh(|_, _| (None, None)).await;
}

#[tokio::test]
async fn refresh_with_wrong_csrf_is_forbidden() {
    assert_forbidden_refresh(|session, _| (Some(flip_last_char(&session.csrf_token)), None)).await;
}

#[tokio::test]
async fn refresh_with_other_sessions_csrf_is_forbidden() {
    assert_forbidden_refresh(|_, other| (Some(other.csrf_token.clone()), None)).await;
}

#[tokio::test]
async fn refresh_from_foreign_origin_is_forbidden() {
    assert_forbidden_refresh(|session, _| {
        (
            Some(session.csrf_token.clone()),
            Some(FOREIGN_ORIGIN.to_owned()),
        )
    })
    .await;
}

/// Sends `/refresh` with the CSRF header and `Origin` that `case` picks from
/// the victim's session and another session; asserts 403, no cookie change,
/// and that the victim's session still refreshes afterwards.
async fn assert_forbidden_refresh(
    case: impl Fn(&BrowserSession, &BrowserSession) -> (Option<String>, Option<String>),
) {
    let stack = Stack::start(StoreKind::Redis);
    let api = stack.api();
    let (_, session) = api.new_browser_user().await;
    let (_, other) = api.new_browser_user().await;

    let (csrf, origin) = case(&session, &other);
    let origin = origin.unwrap_or_else(|| api.origin().to_owned());
    let reply = api
        .refresh_browser_with(&session, csrf.as_deref(), Some(&origin))
        .await;
    assert_eq!(reply.status, 403, "{}", reply.describe());
    assert_clean_error(&reply);
    assert!(
        reply.set_cookies().is_empty(),
        "a refused refresh changed cookies"
    );
    assert!(
        reply.json().get("access_token").is_none(),
        "a refused refresh issued a token"
    );

    let retry = api.refresh_browser(&session).await;
    assert_eq!(
        retry.status,
        200,
        "the session did not survive: {}",
        retry.describe()
    );
}

#[tokio::test]
async fn refresh_without_cookie_is_invalid_grant() {
    let stack = Stack::start(StoreKind::Redis);
    let api = stack.api();
    let request = api
        .post("/refresh")
        .header("Origin", api.origin())
        .header("X-CSRF-Token", "x");
    let reply = api.send(request).await;
    assert_eq!(reply.status, 401, "{}", reply.describe());
    assert_eq!(assert_clean_error(&reply), "invalid_grant");
}

#[tokio::test]
async fn revoked_refresh_cookie_clears_both_cookies() {
    let stack = Stack::start(StoreKind::Redis);
    let api = stack.api();
    let (_, session) = api.new_browser_user().await;
    let logout = api
        .logout_browser(&session, Some(&session.csrf_token))
        .await;
    assert_eq!(logout.status, 204, "{}", logout.describe());
    assert_both_cookies_cleared(&logout);

    let reply = api.refresh_browser(&session).await;
    assert_eq!(reply.status, 401, "{}", reply.describe());
    assert_eq!(assert_clean_error(&reply), "invalid_grant");
    assert_both_cookies_cleared(&reply);
}

#[tokio::test]
async fn reused_refresh_cookie_revokes_session() {
    let stack = Stack::start_with(StoreKind::Redis, &[("AUTH__TOKENS__REUSE_GRACE_SECS", "0")]);
    let api = stack.api();
    let (_, old) = api.new_browser_user().await;
    let reply = api.refresh_browser(&old).await;
    assert_eq!(reply.status, 200, "{}", reply.describe());
    let mut current = old.clone();
    current.update(&reply);

    let reuse = api.refresh_browser(&old).await;
    assert_eq!(reuse.status, 401, "{}", reuse.describe());
    assert_eq!(assert_clean_error(&reuse), "invalid_grant");
    assert_both_cookies_cleared(&reuse);
    let after = api.refresh_browser(&current).await;
    assert_eq!(
        after.status,
        401,
        "the session survived reuse: {}",
        after.describe()
    );
}

#[tokio::test]
async fn grace_replay_of_cookie_returns_same_successor() {
    let stack = Stack::start(StoreKind::Redis);
    let api = stack.api();
    let (_, old) = api.new_browser_user().await;
    let first = api.refresh_browser(&old).await;
    assert_eq!(first.status, 200, "{}", first.describe());
    let successor = first
        .set_cookie(REFRESH_COOKIE)
        .expect("rotated cookie")
        .value;

    let replay = api.refresh_browser(&old).await;
    assert_eq!(
        replay.status,
        200,
        "second tab's refresh: {}",
        replay.describe()
    );
    let replayed = replay
        .set_cookie(REFRESH_COOKIE)
        .expect("cookie on replay")
        .value;
    assert_eq!(replayed, successor, "the replay got another successor");
}

#[tokio::test]
async fn foreign_origin_cannot_sign_up_or_log_in() {
    let stack = Stack::start(StoreKind::Redis);
    let api = stack.api();
    let (user, _) = api.new_browser_user().await;

    let login_fields = [
        ("grant_type", "password"),
        ("username", user.username.as_str()),
        ("password", user.password.as_str()),
        ("client_id", WEB),
    ];
    let other_port = format!("http://127.0.0.1:{}", tests::free_port());
    let lookalike = format!("{}.evil.example", api.origin());
    for origin in [FOREIGN_ORIGIN, "null", &other_port, &lookalike] {
        let request = api
            .post("/token")
            .header("Origin", origin)
            .form(&login_fields);
        let login = api.send(request).await;
        assert_eq!(
            login.status,
            403,
            "login from {origin}: {}",
            login.describe()
        );
        assert_clean_error(&login);
        assert!(login.set_cookies().is_empty(), "{origin} got cookies");
    }

    let name = tests::unique_username("victim");
    let password = tests::strong_password();
    let signup_fields = [
        ("username", name.as_str()),
        ("password", &password),
        ("client_id", WEB),
    ];
    let request = api
        .post("/signup")
        .header("Origin", FOREIGN_ORIGIN)
        .form(&signup_fields);
    let signup = api.send(request).await;
    assert_eq!(signup.status, 403, "{}", signup.describe());
    assert!(
        signup.set_cookies().is_empty(),
        "a foreign origin got cookies"
    );

    let real = api.signup(WEB, &name, &password).await;
    assert_eq!(
        real.status,
        201,
        "the refused sign-up created the account: {}",
        real.describe()
    );
}

#[tokio::test]
async fn configured_origin_may_log_in() {
    let app = "http://localhost:5173";
    let stack = Stack::start_with(StoreKind::Redis, &[("AUTH__HTTP__ALLOWED_ORIGINS", app)]);
    let api = stack.api();
    let name = tests::unique_username("spa");
    let password = tests::strong_password();
    api.remember(&password);
    let fields = [
        ("username", name.as_str()),
        ("password", &password),
        ("client_id", WEB),
    ];

    let signup = api
        .send(api.post("/signup").header("Origin", app).form(&fields))
        .await;
    assert_eq!(signup.status, 201, "{}", signup.describe());
    let session = BrowserSession::from_reply(&signup);
    let refresh = api
        .refresh_browser_with(&session, Some(&session.csrf_token), Some(app))
        .await;
    assert_eq!(refresh.status, 200, "{}", refresh.describe());

    let foreign =
        api.refresh_browser_with(&session, Some(&session.csrf_token), Some(FOREIGN_ORIGIN));
    assert_eq!(foreign.await.status, 403);
}

#[tokio::test]
async fn logout_without_csrf_keeps_session() {
    let stack = Stack::start(StoreKind::Redis);
    let api = stack.api();
    let (_, session) = api.new_browser_user().await;

    let wrong = flip_last_char(&session.csrf_token);
    for csrf in [None, Some(wrong.as_str())] {
        let reply = api.logout_browser(&session, csrf).await;
        assert!(reply.status < 500, "{}", reply.describe());
        let cleared = reply.set_cookies().iter().any(SetCookie::is_deletion);
        assert!(
            !cleared,
            "logout with CSRF {csrf:?} cleared cookies: {}",
            reply.describe()
        );
    }
    let refresh = api.refresh_browser(&session).await;
    assert_eq!(
        refresh.status, 200,
        "a logout without CSRF ended the session"
    );
}

#[tokio::test]
async fn logout_from_foreign_origin_keeps_session() {
    let stack = Stack::start(StoreKind::Redis);
    let api = stack.api();
    let (_, session) = api.new_browser_user().await;

    let request = api
        .post("/logout")
        .header("Cookie", session.cookie_header())
        .header("X-CSRF-Token", &session.csrf_token)
        .header("Origin", FOREIGN_ORIGIN);
    let reply = api.send(request).await;
    assert_eq!(reply.status, 403, "{}", reply.describe());
    assert!(
        reply.set_cookies().is_empty(),
        "a foreign origin changed cookies"
    );
    let refresh = api.refresh_browser(&session).await;
    assert_eq!(refresh.status, 200, "a foreign origin ended the session");
}

#[tokio::test]
async fn native_refresh_token_in_cookie_is_refused() {
    let stack = Stack::start(StoreKind::Redis);
    let api = stack.api();
    let (_, tokens) = api.new_native_user().await;
    let smuggled = BrowserSession {
        refresh: tokens.refresh(),
        csrf_cookie: String::new(),
        csrf_token: String::new(),
    };

    // Whatever `/csrf` returns for a native session, `/refresh` must not
    // rotate it: the token belongs to another client.
    let csrf = api.csrf(&smuggled, api.origin()).await;
    assert!(csrf.status < 500, "{}", csrf.describe());
    let csrf_token = csrf.json()["csrf_token"]
        .as_str()
        .unwrap_or("none")
        .to_owned();
    let origin = api.origin().to_owned();
    let reply = api
        .refresh_browser_with(&smuggled, Some(&csrf_token), Some(&origin))
        .await;
    assert_ne!(
        reply.status, 200,
        "a native session refreshed as a browser one"
    );
    assert!(
        reply
            .set_cookie(REFRESH_COOKIE)
            .is_none_or(|c| c.is_deletion()),
        "cookie set"
    );

    let native = api.refresh_native(&tokens.refresh()).await;
    assert!(native.status < 500, "{}", native.describe());
}

/// Checks a browser token response from `/signup` or `/token`.
fn assert_browser_token_reply(reply: &Reply) {
    assert_eq!(reply.header("cache-control").as_deref(), Some("no-store"));
    let body = reply.json();
    assert!(
        body.get("refresh_token").is_none(),
        "refresh token in a browser body"
    );
    let refresh = reply.set_cookie(REFRESH_COOKIE).expect("refresh cookie");
    assert_refresh_cookie_flags(&refresh);

    let csrf = reply.set_cookie(CSRF_COOKIE).expect("CSRF cookie");
    assert!(csrf.has("secure"), "CSRF cookie without Secure: {csrf:?}");
    assert_eq!(
        csrf.attribute("samesite").map(str::to_lowercase).as_deref(),
        Some("strict")
    );
    assert_eq!(csrf.attribute("path"), Some("/"));
    assert!(!csrf.has("httponly"), "scripts must read the CSRF cookie");
    assert!(!csrf.has("domain"), "__Host- cookies have no Domain");
    assert_eq!(
        body["csrf_token"],
        csrf.value.as_str(),
        "body and cookie CSRF tokens differ"
    );
}

fn assert_refresh_cookie_flags(cookie: &SetCookie) {
    assert!(
        cookie.has("httponly"),
        "refresh cookie without HttpOnly: {cookie:?}"
    );
    assert!(
        cookie.has("secure"),
        "refresh cookie without Secure: {cookie:?}"
    );
    assert_eq!(
        cookie
            .attribute("samesite")
            .map(str::to_lowercase)
            .as_deref(),
        Some("strict")
    );
    assert_eq!(cookie.attribute("path"), Some("/"));
    assert!(!cookie.has("domain"), "__Host- cookies have no Domain");
    let max_age = cookie.max_age().expect("refresh cookie Max-Age");
    assert!(
        max_age > 0 && max_age <= 1_209_600,
        "Max-Age {max_age} beyond the idle lifetime"
    );
}

/// Asserts that `reply` deletes both cookies with `Secure; Path=/`, which
/// a `__Host-` cookie deletion needs to be accepted by a browser.
fn assert_both_cookies_cleared(reply: &Reply) {
    for name in [REFRESH_COOKIE, CSRF_COOKIE] {
        let cookie = reply
            .set_cookie(name)
            .unwrap_or_else(|| panic!("{name} not cleared"));
        assert!(
            cookie.is_deletion(),
            "{name} is set, not deleted: {cookie:?}"
        );
        assert!(cookie.has("secure"), "{name} deletion without Secure");
        assert_eq!(
            cookie.attribute("path"),
            Some("/"),
            "{name} deletion without Path=/"
        );
    }
}

/// Returns `token` with its last character changed, so it has the same
/// length and alphabet but another value.
fn flip_last_char(token: &str) -> String {
    let mut changed = token.to_owned();
    let last = changed.pop().unwrap_or('A');
    changed.push(if last == 'A' { 'B' } else { 'A' });
    changed
}
