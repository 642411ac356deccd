//! Sign-up rules (username and password limits, normalization, common
//! passwords) and login responses that do not reveal which accounts exist.

use tests::client::CLI;
use tests::{Reply, Stack, StoreKind, assert_clean_error, random_hex, strong_password};

#[tokio::test]
async fn username_must_have_3_to_64_characters() {
    let stack = Stack::start(StoreKind::Redis);
    let api = stack.api();
    let password = strong_password();

    for name in [
        random_hex(1),
        "ab".to_owned(),
        format!("u{}", random_hex(32)),
    ] {
        let length = name.chars().count();
        let reply = api.signup(CLI, &name, &password).await;
        assert_eq!(
            reply.status,
            400,
            "{length} characters: {}",
            reply.describe()
        );
        assert_field_error(&reply, "username");
    }
    let accepted = [
        random_hex(2)[..3].to_owned(),
        random_hex(32),
        "é".repeat(3),
        "é".repeat(64),
        format!("{}-ü", random_hex(1)),
    ];
    for name in accepted {
        let length = name.chars().count();
        let reply = api.signup(CLI, &name, &password).await;
        assert_eq!(
            reply.status,
            201,
            "{length} characters ({name}): {}",
            reply.describe()
        );
    }
}

#[tokio::test]
async fn username_duplicates_match_after_normalization() {
    let stack = Stack::start(StoreKind::Redis);
    let api = stack.api();
    let suffix = random_hex(3);
    let name = format!("kelvin-{suffix}");
    let password = strong_password();
    let created = api.signup(CLI, &name, &password).await;
    assert_eq!(created.status, 201, "{}", created.describe());

    let variants = [
        name.to_uppercase(),
        format!("\u{212A}elvin-{suffix}"),
        fullwidth(&name),
        fullwidth(&name.to_uppercase()),
    ];
    for variant in &variants {
        let reply = api.signup(CLI, variant, &strong_password()).await;
        assert_eq!(reply.status, 409, "{variant:?}: {}", reply.describe());
        assert_clean_error(&reply);
        assert!(reply.set_cookies().is_empty(), "a conflict set cookies");
    }
    for variant in &variants {
        let login = api.password_login(CLI, variant, &password, None).await;
        assert_eq!(
            login.status,
            200,
            "login as {variant:?}: {}",
            login.describe()
        );
    }
}

#[tokio::test]
async fn password_must_have_8_to_128_characters() {
    let stack = Stack::start(StoreKind::Redis);
    let api = stack.api();
    let too_long = format!("Zq{}", random_hex(64))
        .chars()
        .take(129)
        .collect::<String>();
    for password in ["", "Zq7#mK2", too_long.as_str()] {
        let reply = api
            .signup(CLI, &tests::unique_username("pw"), password)
            .await;
        let length = password.chars().count();
        assert_eq!(
            reply.status,
            400,
            "{length} characters: {}",
            reply.describe()
        );
        assert_field_error(&reply, "password");
    }

    let longest = format!("Zq{}", random_hex(64))
        .chars()
        .take(128)
        .collect::<String>();
    // 128 characters in 192 bytes: the limit counts characters.
    let wide: String = random_hex(32).chars().flat_map(|c| [c, 'ü']).collect();
    let too_wide = format!("{wide}ü");
    let reply = api
        .signup(CLI, &tests::unique_username("pw"), &too_wide)
        .await;
    assert_eq!(
        reply.status,
        400,
        "129 wide characters: {}",
        reply.describe()
    );
    assert_field_error(&reply, "password");

    let unicode = format!("ß{}ü", random_hex(3));
    for password in [
        "Zq7#mK2!",
        longest.as_str(),
        unicode.as_str(),
        wide.as_str(),
    ] {
        let reply = api
            .signup(CLI, &tests::unique_username("pw"), password)
            .await;
        let length = password.chars().count();
        assert_eq!(
            reply.status,
            201,
            "{length} characters: {}",
            reply.describe()
        );
    }
}

#[tokio::test]
async fn common_passwords_are_rejected() {
    let stack = Stack::start(StoreKind::Redis);
    let api = stack.api();
    for password in [
        "password123",
        "qwertyuiop",
        "iloveyou",
        "1234567890",
        "password1",
    ] {
        let reply = api
            .signup(CLI, &tests::unique_username("common"), password)
            .await;
        assert_eq!(reply.status, 400, "{password:?}: {}", reply.describe());
        assert_field_error(&reply, "password");
    }
}

#[tokio::test]
async fn signup_accepts_json_and_answers_like_login() {
    let stack = Stack::start(StoreKind::Redis);
    let api = stack.api();
    let name = tests::unique_username("json");
    let password = strong_password();
    api.remember(&password);
    let body = serde_json::json!({ "username": name, "password": password, "client_id": CLI });

    let reply = api.send(api.post("/signup").json(&body)).await;
    assert_eq!(reply.status, 201, "{}", reply.describe());
    assert_eq!(reply.header("cache-control").as_deref(), Some("no-store"));
    let tokens = reply.tokens();
    assert_eq!(tokens.token_type, "Bearer");
    assert_eq!(tokens.scope.as_deref(), Some("api"));
    assert!(tokens.expires_in > 0);
    assert!(
        tokens.refresh_token.is_some(),
        "a native sign-up carries refresh_token"
    );

    let duplicate = api.send(api.post("/signup").json(&body)).await;
    assert_eq!(duplicate.status, 409, "{}", duplicate.describe());
}

#[tokio::test]
async fn unknown_user_and_wrong_password_look_alike() {
    let stack = Stack::start(StoreKind::Redis);
    let api = stack.api();
    let (user, _) = api.new_native_user().await;
    let unknown = tests::unique_username("ghost");

    let wrong = api
        .password_login(CLI, &user.username, "Wrong-password-1", None)
        .await;
    let missing = api
        .password_login(CLI, &unknown, "Wrong-password-1", None)
        .await;
    assert_eq!(wrong.status, 400, "{}", wrong.describe());
    assert_eq!(assert_clean_error(&wrong), "invalid_grant");
    assert_eq!(missing.status, wrong.status);
    assert_eq!(
        missing.body, wrong.body,
        "the bodies tell unknown users apart"
    );
    assert_eq!(missing.header("content-type"), wrong.header("content-type"));

    // That an unknown user still costs a password-hash check is tested in
    // enumeration.rs through the hash counter.
}

/// Asserts a 400 `invalid_request` whose description names `field`.
fn assert_field_error(reply: &Reply, field: &str) {
    assert_eq!(
        assert_clean_error(reply),
        "invalid_request",
        "{}",
        reply.describe()
    );
    let description = reply.error_description().unwrap_or_default().to_lowercase();
    assert!(
        description.contains(field),
        "the description does not name {field}: {description:?}"
    );
}

/// Returns `text` with every printable ASCII character replaced by its
/// fullwidth form (U+FF01 to U+FF5E), which NFKC maps back.
fn fullwidth(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '!'..='~' => char::from_u32(c as u32 - 0x21 + 0xFF01).unwrap_or(c),
            _ => c,
        })
        .collect()
}
