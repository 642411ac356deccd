//! Fuzzes `RefreshToken::parse` with a fixed pepper.
//!
//! Each input is used three ways:
//! - as the presented text, when it is UTF-8;
//! - as the raw value of a `refresh_token` form field, which is how
//!   `/token`, `/revoke` and `/logout` receive bytes that are not UTF-8;
//! - as the user, session, generation and changed byte of a round trip. A
//!   minted token must parse back to its fields, and changing any one byte
//!   of its text or of its decoded form must make it invalid.
//!
//! The seeds in `seeds/refresh_token` are tokens minted with this pepper.

#![no_main]

use std::sync::OnceLock;

use auth_server::crypto::TokenKeys;
use auth_server::http::parse_form;
use auth_server::refresh_token::{ENCODED_LEN, RefreshToken};
use auth_server::secret::SecretBytes;
use auth_server::store::{SessionId, UserId};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;

/// Length of a decoded refresh token in bytes.
const DECODED_LEN: usize = 85;

fn keys() -> &'static TokenKeys {
    static KEYS: OnceLock<TokenKeys> = OnceLock::new();
    KEYS.get_or_init(|| TokenKeys::derive(&SecretBytes::new(vec![7; 32])))
}

fn check_presented(text: &str) {
    let Ok(token) = RefreshToken::parse(keys(), text) else {
        return;
    };
    assert_eq!(token.expose(), text, "a parsed token keeps its spelling");
    assert_eq!(text.len(), ENCODED_LEN);
    let again = RefreshToken::parse(keys(), token.expose()).expect("a parsed token parses again");
    assert_eq!(again.user, token.user);
    assert_eq!(again.session, token.session);
    assert_eq!(again.generation, token.generation);
}

fn check_form_field(data: &[u8]) {
    let mut body = b"refresh_token=".to_vec();
    body.extend_from_slice(data);
    if let Ok(params) = parse_form(&body)
        && let Some(value) = params.get("refresh_token")
    {
        check_presented(value);
    }
}

fn check_round_trip(input: &mut Unstructured) -> Result<()> {
    let user = UserId(input.arbitrary()?);
    let session = SessionId(input.arbitrary()?);
    let generation: u32 = input.arbitrary()?;
    let minted = RefreshToken::mint(keys(), user, session, generation);
    let text = minted.expose();

    let parsed = RefreshToken::parse(keys(), text).expect("a minted token parses");
    assert_eq!(parsed.user, user);
    assert_eq!(parsed.session, session);
    assert_eq!(parsed.generation, generation);
    assert_eq!(parsed.hash(keys()), minted.hash(keys()));

    // One byte of the text replaced by any other byte.
    let index = input.choose_index(ENCODED_LEN)?;
    let replacement: u8 = input.arbitrary()?;
    let mut changed = text.as_bytes().to_vec();
    if changed[index] != replacement {
        changed[index] = replacement;
        let changed = String::from_utf8_lossy(&changed);
        assert!(
            RefreshToken::parse(keys(), &changed).is_err(),
            "accepted {changed:?}, which differs from {text:?} at byte {index}"
        );
    }

    // One byte of the decoded token changed and encoded again, so that the
    // spelling is canonical and only the version or the tag can reject it.
    let index = input.choose_index(DECODED_LEN)?;
    let mask = input.int_in_range(1..=u8::MAX)?;
    let mut decoded = URL_SAFE_NO_PAD
        .decode(text)
        .expect("minted tokens are base64url");
    assert_eq!(decoded.len(), DECODED_LEN);
    decoded[index] ^= mask;
    let changed = URL_SAFE_NO_PAD.encode(&decoded);
    assert!(
        RefreshToken::parse(keys(), &changed).is_err(),
        "accepted {changed:?}, whose decoded byte {index} was changed"
    );
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        check_presented(text);
    }
    check_form_field(data);
    let _ = check_round_trip(&mut Unstructured::new(data));
});
