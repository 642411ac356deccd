//! `POST /password`: a signed-in user changes the password with the access
//! token and the current password; every other session ends, the current
//! one goes on.

use tests::client::{CLI, User};
use tests::protection::{change_password, live_session_ids, unverified_claims};
use tests::{Api, Reply, Stack, StoreKind, on_each_store, strong_password};

on_each_store!(
    change_makes_only_new_password_work,
    change_revokes_only_other_sessions,
    wrong_current_password_is_invalid_grant,
    weak_new_password_is_invalid_request,
    missing_fields_are_invalid_request,
    missing_bearer_token_gets_401,
    invalid_bearer_tokens_get_401,
);

async fn change_makes_only_new_password_work(kind: StoreKind) {
    let stack = Stack::start(kind);
    let api = stack.api();
    let (user, tokens) = api.new_native_user().await;
    let new = strong_password();

    let reply = change_password(&api, &tokens.access_token, &user.password, &new).await;
    assert_eq!(reply.status, 204, "{}", reply.describe());
    assert!(reply.body.is_empty(), "a 204 with a body: {}", reply.body);

    let old = api
        .password_login(CLI, &user.username, &user.password, None)
        .await;
    assert_eq!(old.status, 400, "the old password: {}", old.describe());
    assert_eq!(old.error().as_deref(), Some("invalid_grant"));
    let changed = User {
        username: user.username.clone(),
        password: new,
    };
    api.login_native(&changed).await;
}

async fn change_revokes_only_other_sessions(kind: StoreKind) {
    let stack = Stack::start(kind);
    let api = stack.api();
    let (user, current) = api.new_native_user().await;
    let other_native = api.login_native(&user).await;
    let other_browser = api.login_browser(&user).await;

    let new = strong_password();
    let reply = change_password(&api, &current.access_token, &user.password, &new).await;
    assert_eq!(reply.status, 204, "{}", reply.describe());

    let kept = api.refresh_native(&current.refresh()).await;
    assert_eq!(kept.status, 200, "the current session: {}", kept.describe());
    let native = api.refresh_native(&other_native.refresh()).await;
    assert_eq!(native.status, 400, "another session: {}", native.describe());
    assert_eq!(native.error().as_deref(), Some("invalid_grant"));
    let browser = api.refresh_browser(&other_browser).await;
    assert_eq!(
        browser.status,
        401,
        "a browser session: {}",
        browser.describe()
    );

    let sid = unverified_claims(&current.access_token)["sid"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let live = live_session_ids(&api, &kept.tokens().access_token).await;
    assert_eq!(live, vec![sid], "live sessions after the change");
}

async fn wrong_current_password_is_invalid_grant(kind: StoreKind) {
    let stack = Stack::start(kind);
    let api = stack.api();
    let (user, current) = api.new_native_user().await;
    let other = api.login_native(&user).await;

    let wrong = strong_password();
    let reply = change_password(&api, &current.access_token, &wrong, &strong_password()).await;
    assert_eq!(reply.status, 400, "{}", reply.describe());
    assert_eq!(tests::assert_clean_error(&reply), "invalid_grant");

    api.login_native(&user).await;
    let reply = api.refresh_native(&other.refresh()).await;
    assert_eq!(reply.status, 200, "another session: {}", reply.describe());
}

async fn weak_new_password_is_invalid_request(kind: StoreKind) {
    let stack = Stack::start(kind);
    let api = stack.api();
    let (user, tokens) = api.new_native_user().await;
    let too_long = "x9-".repeat(50);
    let with_control = format!("{}\u{7}", strong_password());
    let rejected = [
        "short1",
        "password123",
        too_long.as_str(),
        with_control.as_str(),
    ];

    for new in rejected {
        let reply = change_password(&api, &tokens.access_token, &user.password, new).await;
        assert_eq!(
            reply.status,
            400,
            "new password {new:?}: {}",
            reply.describe()
        );
        assert_eq!(
            tests::assert_clean_error(&reply),
            "invalid_request",
            "new password {new:?}"
        );
    }
    api.login_native(&user).await;
}

async fn missing_fields_are_invalid_request(kind: StoreKind) {
    let stack = Stack::start(kind);
    let api = stack.api();
    let (user, tokens) = api.new_native_user().await;
    let new = strong_password();
    let bodies = [
        serde_json::json!({ "new_password": new }),
        serde_json::json!({ "current_password": user.password }),
        serde_json::json!({}),
        serde_json::json!({ "current_password": 5, "new_password": new }),
    ];

    for body in bodies {
        let request = api
            .post("/password")
            .bearer_auth(&tokens.access_token)
            .json(&body);
        let reply = api.send(request).await;
        assert_eq!(reply.status, 400, "{body}: {}", reply.describe());
        assert_eq!(
            tests::assert_clean_error(&reply),
            "invalid_request",
            "{body}"
        );
    }
    api.login_native(&user).await;
}

async fn missing_bearer_token_gets_401(kind: StoreKind) {
    let stack = Stack::start(kind);
    let api = stack.api();
    let (user, _) = api.new_native_user().await;

    let body = serde_json::json!({
        "current_password": user.password,
        "new_password": strong_password(),
    });
    let reply = api.send(api.post("/password").json(&body)).await;
    assert_bearer_challenge(&reply);
    api.login_native(&user).await;
}

async fn invalid_bearer_tokens_get_401(kind: StoreKind) {
    let stack = Stack::start(kind);
    let api = stack.api();
    let (user, tokens) = api.new_native_user().await;
    let tampered = tamper(&tokens.access_token);
    let refresh = tokens.refresh();
    let candidates = ["not-a-token", tampered.as_str(), refresh.as_str()];

    for token in candidates {
        let reply = change_password(&api, token, &user.password, &strong_password()).await;
        assert_bearer_challenge(&reply);
    }
    api.login_native(&user).await;
}

fn assert_bearer_challenge(reply: &Reply) {
    assert_eq!(reply.status, 401, "{}", reply.describe());
    let challenge = reply
        .header("www-authenticate")
        .unwrap_or_else(|| panic!("a 401 without WWW-Authenticate: {:?}", reply.headers));
    assert!(
        challenge.starts_with("Bearer"),
        "challenge {challenge:?} is not Bearer"
    );
}

/// `token` with one character of its payload changed, so that its
/// signature no longer matches.
fn tamper(token: &str) -> String {
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let payload = &mut parts[1];
    let last = payload.pop().unwrap_or('A');
    payload.push(if last == 'A' { 'B' } else { 'A' });
    parts.join(".")
}

/// A wrong current password is a password guess like a failed login. With
/// a stolen access token, guesses through `POST /password` must not be
/// free: after the login limit they are refused too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_current_passwords_are_throttled() {
    let stack = Stack::start(StoreKind::Redis);
    let api = stack.api();
    let (user, tokens) = api.new_native_user().await;

    let mut statuses = Vec::new();
    for _ in 0..8 {
        let reply = change_password(
            &api,
            &tokens.access_token,
            &strong_password(),
            &strong_password(),
        )
        .await;
        statuses.push(reply.status);
    }
    assert!(
        statuses.contains(&429),
        "8 wrong current passwords, none refused: {statuses:?}"
    );
    assert_unchanged(&api, &user).await;
}

async fn assert_unchanged(api: &Api, user: &User) {
    let reply = api
        .from_address(tests::protection::OTHER_ADDRESS)
        .password_login(CLI, &user.username, &user.password, None)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.describe());
}
