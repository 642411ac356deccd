//! Sender details of a request: IP address, user agent, origin.

use std::net::IpAddr;

use actix_web::http::header;
use actix_web::{HttpRequest, web};
use ipnet::IpNet;

use crate::grant::Grants;

use crate::store::ClientContext;

/// Maximum user-agent length kept, in bytes; longer ones are cut at a character
/// boundary.
const MAX_USER_AGENT: usize = 256;

/// The client's IP address and user agent.
///
/// The IP address is the TCP peer's, unless the peer is a trusted proxy
/// (`http.trusted_proxies`, empty by default): then `X-Forwarded-For` is
/// read from the right, skipping trusted proxies, and the first other
/// address is the client. Nothing to the left of it is believed, since a
/// client can write anything there.
pub fn client_context(req: &HttpRequest) -> ClientContext {
    let trusted = req
        .app_data::<web::Data<Grants>>()
        .map(|g| g.settings.trusted_proxies.as_slice())
        .unwrap_or_default();
    let ip = match req.peer_addr() {
        Some(peer) => client_ip(peer.ip(), req, trusted).to_string(),
        None => String::new(),
    };
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

fn client_ip(peer: IpAddr, req: &HttpRequest, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let mut client = peer;
    let hops = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok());
    let addresses: Vec<&str> = hops.flat_map(|v| v.split(',')).map(str::trim).collect();
    for hop in addresses.iter().rev() {
        let Ok(ip) = hop.parse::<IpAddr>() else {
            break;
        };
        client = ip;
        if !is_trusted(&ip) {
            break;
        }
    }
    client
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
