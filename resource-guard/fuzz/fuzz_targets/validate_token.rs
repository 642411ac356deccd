//! Feeds arbitrary strings to `Validator::validate` with a fixed Ed25519
//! key and a fixed clock. The seeds in `seeds/validate_token` are valid
//! tokens for that key, so mutations reach every stage of validation.

#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use resource_guard::{InProcessKeys, ManualClock, Validator};
use shared::{Jwk, JwkSet, KeyUse};

/// Public half of the Ed25519 key with seed `[7; 32]`.
const X: &str = "6kpsY-KcUgq-9VB7Ey7F-ZVHdq6-vnuSQh7qaRRG0iw";

fn validator() -> &'static Validator {
    static VALIDATOR: OnceLock<Validator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        let jwk = Jwk {
            kty: "OKP".into(),
            kid: "k1".into(),
            alg: Some("EdDSA".into()),
            key_use: Some(KeyUse::Sig),
            crv: Some("Ed25519".into()),
            x: Some(X.into()),
            y: None,
            n: None,
            e: None,
        };
        let keys = Arc::new(InProcessKeys::from_jwk_set(&JwkSet { keys: vec![jwk] }));
        Validator::builder("https://auth.example")
            .audience("api")
            .key_source(keys)
            .clock(Arc::new(ManualClock::new(1_700_000_100)))
            .build()
            .expect("fuzz validator configuration is valid")
    })
}

fuzz_target!(|data: &[u8]| {
    if let Ok(token) = std::str::from_utf8(data) {
        let _ = validator().validate(token);
    }
});
