//! Types that the token server and the resource guard agree on.
//!
//! The access token is a JWS compact JWT following RFC 9068 (JWT profile for
//! OAuth 2.0 access tokens). Its claims are [`AccessClaims`]; the keys that
//! verify it are published as a [`JwkSet`] (RFC 7517).

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod claims;
mod jwk;

pub use claims::{AccessClaims, Audience};
pub use jwk::{Jwk, JwkSet, KeyUse};

/// The `typ` header value RFC 9068 requires for access tokens.
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// The long form of [`ACCESS_TOKEN_TYP`], which RFC 9068 also allows.
pub const ACCESS_TOKEN_TYP_LONG: &str = "application/at+jwt";

/// Path of the JWKS document relative to the issuer.
pub const JWKS_PATH: &str = "/.well-known/jwks.json";
