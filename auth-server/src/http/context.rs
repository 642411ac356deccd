//! What a request says about its sender: IP address, user agent, origin.

use actix_web::HttpRequest;
use actix_web::http::header;

use crate::store::ClientContext;

/// Longest user agent kept, in bytes; longer ones are cut at a character
/// boundary.
const MAX_USER_AGENT: usize = 256;

/// The peer's IP address and user agent. The peer address is the TCP peer:
/// `X-Forwarded-For` is not believed.
pub fn client_context(req: &HttpRequest) -> ClientContext {
    let ip = req
        .peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_default();
    let user_agent = req
        .headers()
        .get(header::USER_AGENT)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    ClientContext {
        ip,
        user_agent: truncate(user_agent, MAX_USER_AGENT),
    }
}

fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

/// The `Origin` header, when present.
pub fn origin(req: &HttpRequest) -> Option<&str> {
    req.headers()
        .get(header::ORIGIN)
        .map(|v| v.to_str().unwrap_or("null"))
}

/// Whether the request may set or use cookies: no `Origin` (not sent by a
/// browser script) or an allowed one.
pub fn origin_allowed(req: &HttpRequest, allowed: &[String]) -> bool {
    match origin(req) {
        None => true,
        Some(origin) => allowed.iter().any(|a| a == origin),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_keeps_utf8_valid() {
        let text = "é".repeat(200);
        let cut = truncate(text, 255);
        assert_eq!(cut.len(), 254);
    }
}
