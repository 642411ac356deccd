//! Offline validation of access tokens issued by auth-server, for the
//! services that accept them.
//!
//! A [`Validator`] checks an RFC 9068 access token (a JWS compact JWT with
//! `typ: at+jwt`) with nothing per request but cheap structural checks and
//! one signature verification: no network call.
//!
//! - **Keys** come only from the configured [`KeySource`]: a [`JwksCache`]
//!   that fetches the issuer's `/.well-known/jwks.json` and keeps it fresh,
//!   or [`InProcessKeys`] for a service that issues the tokens itself.
//!   Key-carrying headers (`jwk`, `jku`, `x5u`, `x5c`) are rejected.
//! - **Algorithms** belong to the key: EdDSA (Ed25519), ES256 and RS256
//!   (RSA keys of at least 2048 bits). `none` and HMAC never verify.
//! - **Structure** is checked before any signature work: at most 8 KiB,
//!   exactly three segments (a JWE is rejected), canonical base64url, no
//!   duplicate JSON members, no `crit` or `b64`, claims of the right JSON
//!   types, times within 64 bits.
//! - **Claims**: exact `iss`, an expected `aud`, `exp` in the future and
//!   `nbf`/`iat` not in the future (both with a leeway, default 30 s, at
//!   most 300 s), `sub`, `jti` and `client_id` present, and any scopes you
//!   require.
//!
//! With the `actix-web` integration in [`actix`], a [`Guard`] middleware
//! responds per RFC 6750 and handlers receive the claims through the
//! [`Authenticated`] extractor.
//!
//! # Plain use
//!
//! ```no_run
//! use std::sync::Arc;
//! use resource_guard::{ErrorKind, InProcessKeys, Validator};
//!
//! # fn demo(jwks: &shared::JwkSet, token: &str) -> Result<(), Box<dyn std::error::Error>> {
//! let keys = Arc::new(InProcessKeys::from_jwk_set(jwks));
//! let validator = Validator::builder("https://auth.example.com")
//!     .audience("orders-api")
//!     .key_source(keys.clone())
//!     .build()?;
//! match validator.validate(token) {
//!     Ok(claims) => println!("hello {}", claims.sub),
//!     Err(e) if e.kind() == ErrorKind::Expired => println!("please refresh"),
//!     Err(e) => println!("rejected: {e}"),
//! }
//! // Later, when the issuer's keys change:
//! keys.set_jwk_set(jwks);
//! # Ok(())
//! # }
//! ```
//!
//! # What is never logged
//!
//! This crate never logs, and never puts into an error or an HTTP answer,
//! a token, any part of one (header, claims, signature), a value taken from
//! a token (`kid`, `sub`, `scope`, ...), or a JWKS body. Errors carry only
//! a fixed description of the rule that failed; the 403 answer names the
//! missing scope, which comes from configuration. Logs record key ids from
//! the configured key source, the JWKS URL, and why a fetch failed.

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod actix;
mod claims;
mod clock;
mod error;
mod json;
pub mod jwks;
mod keys;
mod source;
mod token;
mod validator;

pub use actix::{Authenticated, Guard, RequireScope};
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{ConfigError, ErrorKind, ValidationError};
pub use jwks::{JwksCache, JwksCacheBuilder, JwksStats};
pub use keys::{Algorithm, KeyError, KeySet, VerifyingKey};
pub use shared::{AccessClaims, Audience, Jwk, JwkSet};
pub use source::{InProcessKeys, KeySource, Refetch};
pub use token::MAX_TOKEN_LEN;
pub use validator::{DEFAULT_LEEWAY, MAX_LEEWAY, Validator, ValidatorBuilder};

/// Compiles the README's examples as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
