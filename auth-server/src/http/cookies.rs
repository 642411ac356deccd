//! The browser cookies: the refresh token (HttpOnly) and the CSRF token
//! (readable by scripts of the same origin). Both use the `__Host-` prefix,
//! so they are Secure, host-only and scoped to `/`.

use actix_web::HttpRequest;
use actix_web::cookie::{Cookie, SameSite, time::Duration};

/// Name of the refresh-token cookie.
pub const REFRESH_COOKIE: &str = "__Host-refresh_token";
/// Name of the CSRF cookie.
pub const CSRF_COOKIE: &str = "__Host-csrf_token";
/// Header that must echo the CSRF token.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The refresh cookie, living `max_age` seconds.
pub fn refresh_cookie(token: &str, max_age: i64) -> Cookie<'static> {
    Cookie::build(REFRESH_COOKIE, token.to_owned())
        .http_only(true)
        .secure(true)
        .same_site(SameSite::Strict)
        .path("/")
        .max_age(Duration::seconds(max_age))
        .finish()
}

/// The CSRF cookie, living as long as the refresh cookie.
pub fn csrf_cookie(token: &str, max_age: i64) -> Cookie<'static> {
    Cookie::build(CSRF_COOKIE, token.to_owned())
        .secure(true)
        .same_site(SameSite::Strict)
        .path("/")
        .max_age(Duration::seconds(max_age))
        .finish()
}

/// Deletions of both cookies. A deletion must repeat `Secure` and `Path=/`,
/// or browsers ignore it for `__Host-` cookies.
pub fn cleared() -> [Cookie<'static>; 2] {
    let clear = |name: &'static str, http_only: bool| {
        Cookie::build(name, "")
            .http_only(http_only)
            .secure(true)
            .same_site(SameSite::Strict)
            .path("/")
            .max_age(Duration::ZERO)
            .finish()
    };
    [clear(REFRESH_COOKIE, true), clear(CSRF_COOKIE, false)]
}

/// Reads the refresh token from the request's cookie, or returns `None`
/// when the cookie is missing or empty. actix-web percent-decodes cookie
/// values, takes the first cookie of a repeated name, and ignores every
/// cookie when one `Cookie` header is not UTF-8.
pub fn presented_refresh_token(req: &HttpRequest) -> Option<String> {
    req.cookie(REFRESH_COOKIE)
        .map(|c| c.value().to_owned())
        .filter(|v| !v.is_empty())
}

/// Reads the first `X-CSRF-Token` header value, when it is visible ASCII.
pub fn presented_csrf_token(req: &HttpRequest) -> Option<&str> {
    req.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok())
}

#[cfg(test)]
mod tests {
    use actix_web::http::header::{COOKIE, HeaderValue};
    use actix_web::test::TestRequest;

    use super::*;

    /// A cookie value. Reading the cookie does not check the token format.
    const VALUE: &str = "AQABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f";

    fn presented(cookie_headers: &[&[u8]]) -> Option<String> {
        let mut request = TestRequest::post();
        for header in cookie_headers {
            let value = HeaderValue::from_bytes(header).expect("no control bytes");
            request = request.append_header((COOKIE, value));
        }
        presented_refresh_token(&request.to_http_request())
    }

    #[test]
    fn refresh_cookie_among_others_is_found() {
        let jar = format!("theme=dark; {REFRESH_COOKIE}={VALUE}; {CSRF_COOKIE}=x");
        assert_eq!(presented(&[jar.as_bytes()]).as_deref(), Some(VALUE));

        let second = format!("{REFRESH_COOKIE}={VALUE}");
        let headers: [&[u8]; 2] = [b"lang=en", second.as_bytes()];
        assert_eq!(presented(&headers).as_deref(), Some(VALUE));
    }

    #[test]
    fn refresh_cookie_is_unquoted_and_decoded() {
        let quoted = format!("{REFRESH_COOKIE}=\"{VALUE}\"");
        assert_eq!(presented(&[quoted.as_bytes()]).as_deref(), Some(VALUE));

        let encoded = format!("{REFRESH_COOKIE}=AQAB%41gMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f");
        assert_eq!(presented(&[encoded.as_bytes()]).as_deref(), Some(VALUE));
    }

    #[test]
    fn first_refresh_cookie_wins_even_when_empty() {
        let jar = format!("{REFRESH_COOKIE}=; {REFRESH_COOKIE}={VALUE}");
        assert_eq!(presented(&[jar.as_bytes()]), None);

        let jar = format!("{REFRESH_COOKIE}={VALUE}; {REFRESH_COOKIE}=other");
        assert_eq!(presented(&[jar.as_bytes()]).as_deref(), Some(VALUE));
    }

    #[test]
    fn refresh_cookie_name_is_case_sensitive() {
        let jar = format!("__host-refresh_token={VALUE}");
        assert_eq!(presented(&[jar.as_bytes()]), None);
    }

    #[test]
    fn cookie_header_not_utf8_hides_all_cookies() {
        let valid = format!("{REFRESH_COOKIE}={VALUE}");
        let headers: [&[u8]; 2] = [valid.as_bytes(), b"x=\xff"];
        assert_eq!(presented(&headers), None);
    }

    #[test]
    fn csrf_header_must_be_visible_ascii() {
        let request = TestRequest::post()
            .insert_header((CSRF_HEADER, HeaderValue::from_static("abc")))
            .to_http_request();
        assert_eq!(presented_csrf_token(&request), Some("abc"));

        let value = HeaderValue::from_bytes(b"ab\xffc").expect("obs-text is a valid value");
        let request = TestRequest::post()
            .insert_header((CSRF_HEADER, value))
            .to_http_request();
        assert_eq!(presented_csrf_token(&request), None);
    }
}
