//! `Set-Cookie` parsing (RFC 6265 section 5.2, simplified).
//!
//! The server's cookies are `Secure`, so a cookie jar would not send them
//! over plain HTTP; tests keep cookies by hand and build the `Cookie` header
//! themselves, which also lets them assert every attribute.

/// The name of the cookie that carries a browser client's refresh token.
pub const REFRESH_COOKIE: &str = "__Host-refresh_token";

/// The name of the cookie that carries the session's CSRF token.
pub const CSRF_COOKIE: &str = "__Host-csrf_token";

/// One parsed `Set-Cookie` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetCookie {
    /// Cookie name, case preserved.
    pub name: String,
    /// Cookie value, unquoted.
    pub value: String,
    /// Attributes in order, names lowercased, values as sent.
    pub attributes: Vec<(String, Option<String>)>,
}

impl SetCookie {
    /// Parses a `Set-Cookie` header value, or returns `None` when it has no
    /// `name=value` pair.
    pub fn parse(header: &str) -> Option<Self> {
        let mut parts = header.split(';');
        let (name, value) = parts.next()?.split_once('=')?;
        let name = name.trim();
        if name.is_empty() {
            return None;
        }
        let value = value.trim().trim_matches('"');
        let attributes = parts
            .map(str::trim)
            .filter(|part| !part.is_empty())
            .map(|part| match part.split_once('=') {
                Some((key, val)) => (key.trim().to_ascii_lowercase(), Some(val.trim().to_owned())),
                None => (part.to_ascii_lowercase(), None),
            })
            .collect();
        Some(SetCookie {
            name: name.to_owned(),
            value: value.to_owned(),
            attributes,
        })
    }

    /// Returns whether the attribute `name` (any case) is present.
    pub fn has(&self, name: &str) -> bool {
        let name = name.to_ascii_lowercase();
        self.attributes.iter().any(|(key, _)| *key == name)
    }

    /// Returns the value of the attribute `name` (any case).
    pub fn attribute(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.attributes
            .iter()
            .find(|(key, _)| *key == name)
            .and_then(|(_, val)| val.as_deref())
    }

    /// The `Max-Age` attribute in seconds, when present and numeric.
    pub fn max_age(&self) -> Option<i64> {
        self.attribute("max-age")?.parse().ok()
    }

    /// Returns whether the header deletes the cookie: an empty value, or a
    /// `Max-Age` of zero or less, or an `Expires` date in the past (any year
    /// before 2000 counts; servers use the Unix epoch).
    pub fn is_deletion(&self) -> bool {
        if self.max_age().is_some_and(|age| age <= 0) {
            return true;
        }
        if let Some(expires) = self.attribute("expires") {
            let old_year = expires
                .split_whitespace()
                .filter_map(|word| word.parse::<u32>().ok())
                .any(|number| (1900..2000).contains(&number));
            if old_year {
                return true;
            }
        }
        self.value.is_empty() && self.max_age().is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_flags_and_values() {
        let cookie = SetCookie::parse(
            "__Host-refresh_token=abc.def; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age=60",
        )
        .expect("parse");
        assert_eq!(cookie.name, REFRESH_COOKIE);
        assert_eq!(cookie.value, "abc.def");
        assert!(cookie.has("httponly"));
        assert!(cookie.has("Secure"));
        assert_eq!(cookie.attribute("samesite"), Some("Strict"));
        assert_eq!(cookie.attribute("path"), Some("/"));
        assert_eq!(cookie.max_age(), Some(60));
        assert!(!cookie.is_deletion());
    }

    #[test]
    fn recognises_deletions() {
        let by_age = SetCookie::parse("a=; Max-Age=0; Path=/; Secure").expect("parse");
        assert!(by_age.is_deletion());
        let by_date =
            SetCookie::parse("a=x; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/").expect("parse");
        assert!(by_date.is_deletion());
    }
}
