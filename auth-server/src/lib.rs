//! The token server as a library; `main.rs` is a thin command line over it.
//!
//! Secrets (refresh tokens, passwords, the pepper, the key-encryption key,
//! signing keys and a Redis URL's password) never reach a log line or an
//! error body: they live in types whose `Debug` output is redacted, and
//! logs name tokens only by ids.

#![forbid(unsafe_code)]

pub mod audit;
pub mod backend;
pub mod cli;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod grant;
pub mod http;
pub mod keys;
pub mod metrics;
pub mod password;
pub mod refresh_token;
pub mod revocation;
pub mod secret;
pub mod server;
pub mod store;
pub mod throttle;
