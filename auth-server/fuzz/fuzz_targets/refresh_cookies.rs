//! Fuzzes how `POST /refresh`, `POST /logout` and `GET /csrf` read the
//! refresh cookie and the CSRF header, with a fixed pepper.
//!
//! An input is split into lines at `\n`. The first line is the
//! `X-CSRF-Token` header value, and each further line, up to 8, is one
//! `Cookie` header value. They become an actix-web `HttpRequest`, so the
//! cookies are parsed by the same code as on the server. Lines with control
//! bytes are not valid header values and are dropped, as the HTTP layer
//! would reject them.
//!
//! The seeds in `seeds/refresh_cookies` carry a token minted with this
//! pepper and its session's CSRF token.

#![no_main]

use std::sync::OnceLock;

use actix_web::http::header::{COOKIE, HeaderValue};
use actix_web::test::TestRequest;
use auth_server::crypto::TokenKeys;
use auth_server::grant::{csrf_matches, csrf_token};
use auth_server::http::cookies::{CSRF_HEADER, presented_csrf_token, presented_refresh_token};
use auth_server::refresh_token::RefreshToken;
use auth_server::secret::SecretBytes;
use libfuzzer_sys::fuzz_target;

fn keys() -> &'static TokenKeys {
    static KEYS: OnceLock<TokenKeys> = OnceLock::new();
    KEYS.get_or_init(|| TokenKeys::derive(&SecretBytes::new(vec![7; 32])))
}

fuzz_target!(|data: &[u8]| {
    let mut lines = data.split(|&b| b == b'\n');
    let mut request = TestRequest::post().uri("/refresh");
    if let Some(Ok(csrf)) = lines.next().map(HeaderValue::from_bytes) {
        request = request.insert_header((CSRF_HEADER, csrf));
    }
    for line in lines.take(8) {
        if let Ok(cookie) = HeaderValue::from_bytes(line) {
            request = request.append_header((COOKIE, cookie));
        }
    }
    let request = request.to_http_request();

    let presented = presented_refresh_token(&request);
    let header = presented_csrf_token(&request);
    let Some(presented) = presented else {
        return;
    };
    assert!(!presented.is_empty(), "an empty cookie counts as missing");
    let Ok(token) = RefreshToken::parse(keys(), &presented) else {
        return;
    };
    let expected = csrf_token(keys(), &token.session);
    let matches = header.is_some_and(|h| csrf_matches(keys(), &token.session, h));
    assert_eq!(
        matches,
        header == Some(expected.as_str()),
        "CSRF check disagrees with string equality for {header:?}"
    );
});
