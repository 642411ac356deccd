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
