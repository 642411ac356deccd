//! Feeds arbitrary JSON to the JWK Set loader, which builds verification
//! keys (including the DER encoding of RSA keys) from untrusted members.

#![no_main]

use libfuzzer_sys::fuzz_target;
use resource_guard::KeySet;
use shared::JwkSet;

fuzz_target!(|data: &[u8]| {
    if let Ok(set) = serde_json::from_slice::<JwkSet>(data) {
        let keys = KeySet::from_jwk_set(&set);
        assert!(keys.len() <= set.keys.len());
    }
});
