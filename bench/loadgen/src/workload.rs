//! The requests of each workload and how their answers are judged.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderName, HeaderValue};
use hyper::{Method, Request, StatusCode};
use serde::Deserialize;

use crate::conn::Reply;

/// A request that does not change from one send to the next.
#[derive(Clone)]
pub struct Template {
    pub method: Method,
    pub path: String,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Bytes,
}

impl Template {
    pub fn get(path: &str, headers: Vec<(HeaderName, HeaderValue)>) -> Self {
        Self {
            method: Method::GET,
            path: path.to_owned(),
            headers,
            body: Bytes::new(),
        }
    }

    pub fn form(path: &str, mut headers: Vec<(HeaderName, HeaderValue)>, body: String) -> Self {
        headers.push((
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        ));
        Self {
            method: Method::POST,
            path: path.to_owned(),
            headers,
            body: Bytes::from(body),
        }
    }

    /// Builds the request with `body` instead of the template's.
    pub fn build_with(&self, body: Bytes) -> Request<Full<Bytes>> {
        let mut builder = Request::builder()
            .method(self.method.clone())
            .uri(self.path.as_str());
        for (name, value) in &self.headers {
            builder = builder.header(name, value);
        }
        match builder.body(Full::new(body)) {
            Ok(request) => request,
            // Every part was validated when the template was made.
            Err(error) => unreachable!("template request: {error}"),
        }
    }

    pub fn build(&self) -> Request<Full<Bytes>> {
        self.build_with(self.body.clone())
    }
}

/// What a successful answer must contain.
#[derive(Clone, Copy)]
pub enum Expect {
    /// Status 200, nothing more.
    Ok,
    /// Status 200 and this text somewhere in the body.
    Contains(&'static str),
}

impl Expect {
    fn accepts(self, reply: &Reply) -> bool {
        match reply {
            Ok((status, body)) if *status == StatusCode::OK => match self {
                Expect::Ok => true,
                Expect::Contains(text) => contains(body, text.as_bytes()),
            },
            _ => false,
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// One chain of rotated refresh tokens: the latest token is the only one
/// that works.
pub struct Chain {
    pub token: String,
    pub dead: bool,
    pub rotations: u64,
}

/// Shape of the refresh request: `prefix + token + suffix`.
#[derive(Clone)]
pub struct RefreshShape {
    pub template: Template,
    pub prefix: String,
    pub suffix: String,
}

/// The per-worker request source.
pub enum Source {
    Static {
        template: Template,
        expect: Expect,
    },
    Chains {
        shape: RefreshShape,
        chains: Vec<Chain>,
        next: usize,
        current: Option<usize>,
    },
}

#[derive(Deserialize)]
struct TokenReply<'a> {
    #[serde(borrow)]
    refresh_token: Option<&'a str>,
}

impl Source {
    /// The next request, or `None` when this worker has nothing left to
    /// send (every chain it owns is dead).
    pub fn next(&mut self) -> Option<Request<Full<Bytes>>> {
        match self {
            Source::Static { template, .. } => Some(template.build()),
            Source::Chains {
                shape,
                chains,
                next,
                current,
            } => {
                let count = chains.len();
                for _ in 0..count {
                    let index = *next % count;
                    *next += 1;
                    let chain = &chains[index];
                    if !chain.dead {
                        *current = Some(index);
                        let body = format!("{}{}{}", shape.prefix, chain.token, shape.suffix);
                        return Some(shape.template.build_with(Bytes::from(body)));
                    }
                }
                None
            }
        }
    }

    /// Judges the answer to the request [`Source::next`] gave last. A
    /// refresh chain that gets anything but a 200 with a new refresh token
    /// is dead from then on.
    pub fn done(&mut self, reply: &Reply) -> bool {
        match self {
            Source::Static { expect, .. } => expect.accepts(reply),
            Source::Chains {
                chains, current, ..
            } => {
                let Some(index) = current.take() else {
                    return false;
                };
                let chain = &mut chains[index];
                let rotated = match reply {
                    Ok((status, body)) if *status == StatusCode::OK => {
                        serde_json::from_slice::<TokenReply<'_>>(body)
                            .ok()
                            .and_then(|r| r.refresh_token.map(str::to_owned))
                    }
                    _ => None,
                };
                match rotated {
                    Some(token) if token != chain.token => {
                        chain.token = token;
                        chain.rotations += 1;
                        true
                    }
                    _ => {
                        chain.dead = true;
                        false
                    }
                }
            }
        }
    }

    /// (live, dead, rotations) over this worker's chains.
    pub fn chain_counts(&self) -> (u64, u64, u64) {
        match self {
            Source::Static { .. } => (0, 0, 0),
            Source::Chains { chains, .. } => chains.iter().fold((0, 0, 0), |acc, c| {
                (
                    acc.0 + u64::from(!c.dead),
                    acc.1 + u64::from(c.dead),
                    acc.2 + c.rotations,
                )
            }),
        }
    }
}

/// Splits `tokens` over `workers` sources: worker `i` owns tokens `i`,
/// `i + workers`, `i + 2 * workers` and so on.
pub fn chain_sources(shape: &RefreshShape, tokens: Vec<String>, workers: usize) -> Vec<Source> {
    let mut owned: Vec<Vec<Chain>> = (0..workers).map(|_| Vec::new()).collect();
    for (index, token) in tokens.into_iter().enumerate() {
        owned[index % workers].push(Chain {
            token,
            dead: false,
            rotations: 0,
        });
    }
    owned
        .into_iter()
        .map(|chains| Source::Chains {
            shape: shape.clone(),
            chains,
            next: 0,
            current: None,
        })
        .collect()
}

/// Encodes `text` for an `application/x-www-form-urlencoded` body.
pub fn form_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                out.push(char::from(byte));
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape() -> RefreshShape {
        RefreshShape {
            template: Template::form("/token", Vec::new(), String::new()),
            prefix: "grant_type=refresh_token&refresh_token=".into(),
            suffix: "&client_id=cli".into(),
        }
    }

    fn ok(body: &str) -> Reply {
        Ok((StatusCode::OK, Bytes::from(body.to_owned())))
    }

    #[test]
    fn a_chain_presents_its_latest_token() {
        let mut sources = chain_sources(&shape(), vec!["a".into()], 1);
        let source = &mut sources[0];
        let first = source.next().expect("a request");
        assert_eq!(first.uri(), "/token");
        assert!(source.done(&ok(r#"{"refresh_token":"b","access_token":"x"}"#)));
        let _ = source.next().expect("a request");
        match source {
            Source::Chains { chains, .. } => assert_eq!(chains[0].token, "b"),
            Source::Static { .. } => unreachable!(),
        }
    }

    #[test]
    fn an_error_or_an_unchanged_token_kills_the_chain() {
        let mut sources = chain_sources(&shape(), vec!["a".into(), "c".into()], 1);
        let source = &mut sources[0];
        let _ = source.next();
        assert!(!source.done(&Ok((StatusCode::BAD_REQUEST, Bytes::new()))));
        let _ = source.next();
        assert!(!source.done(&ok(r#"{"refresh_token":"c"}"#)));
        assert!(source.next().is_none());
        assert_eq!(source.chain_counts(), (0, 2, 0));
    }

    #[test]
    fn chains_are_dealt_round_robin() {
        let tokens = (0..5).map(|i| i.to_string()).collect();
        let sources = chain_sources(&shape(), tokens, 2);
        let sizes: Vec<usize> = sources
            .iter()
            .map(|s| match s {
                Source::Chains { chains, .. } => chains.len(),
                Source::Static { .. } => 0,
            })
            .collect();
        assert_eq!(sizes, vec![3, 2]);
    }

    #[test]
    fn form_encoding_escapes_reserved_characters() {
        assert_eq!(form_encode("a b&c=d/é"), "a+b%26c%3Dd%2F%C3%A9");
    }
}
