//! Keyed hashes, authenticated encryption and randomness, all from `ring`.
//!
//! One pepper (from configuration) yields independent keys through HKDF, so
//! that a key used for one purpose never serves another:
//! - `token-hash`: HMAC-SHA-256 of a refresh token, the only form the store
//!   keeps;
//! - `token-tag`: the tag inside a refresh token that proves the server
//!   minted it, checked before any store access;
//! - `csrf`: CSRF tokens, an HMAC of the session id;
//! - `successor-seal`: derives, per presented refresh token, the AEAD key
//!   that seals its successor for replays in the grace window.

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::hkdf;
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};

use zeroize::Zeroizing;

use crate::secret::SecretBytes;

/// Fills `bytes` from the operating system's generator.
///
/// # Panics
///
/// Panics when the system generator fails, which leaves no safe way to go
/// on issuing tokens.
pub fn fill_random(bytes: &mut [u8]) {
    #[allow(clippy::expect_used)]
    SystemRandom::new()
        .fill(bytes)
        .expect("system random generator failed");
}

/// Returns `N` random bytes.
pub fn random_array<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    fill_random(&mut bytes);
    bytes
}

struct KeyLength(usize);

impl hkdf::KeyType for KeyLength {
    fn len(&self) -> usize {
        self.0
    }
}

fn derive(prk: &hkdf::Prk, label: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let info = [label];
    #[allow(clippy::expect_used)]
    prk.expand(&info, KeyLength(32))
        .and_then(|okm| okm.fill(&mut out))
        .expect("HKDF-SHA-256 can expand 32 bytes");
    out
}

/// Keys derived from the refresh pepper.
pub struct TokenKeys {
    hash: hmac::Key,
    tag: hmac::Key,
    csrf: hmac::Key,
    seal: hmac::Key,
}

impl TokenKeys {
    /// Derives every key from `pepper`.
    pub fn derive(pepper: &SecretBytes) -> Self {
        let salt = hkdf::Salt::new(hkdf::HKDF_SHA256, b"auth-server token keys v1");
        let prk = salt.extract(pepper.expose());
        let key = |label: &[u8]| hmac::Key::new(hmac::HMAC_SHA256, &derive(&prk, label));
        Self {
            hash: key(b"token-hash"),
            tag: key(b"token-tag"),
            csrf: key(b"csrf"),
            seal: key(b"successor-seal"),
        }
    }

    /// HMAC-SHA-256 of a refresh token: the only form the store keeps.
    pub fn token_hash(&self, token: &[u8]) -> [u8; 32] {
        to_array(hmac::sign(&self.hash, token).as_ref())
    }

    /// The authenticity tag for a refresh token's body.
    pub fn token_tag(&self, body: &[u8]) -> [u8; 32] {
        to_array(hmac::sign(&self.tag, body).as_ref())
    }

    /// The CSRF token of a session: stable for the session's whole life.
    pub fn csrf_token(&self, session_id: &[u8]) -> [u8; 32] {
        to_array(hmac::sign(&self.csrf, session_id).as_ref())
    }

    /// Seals a successor token's secret for replays in the grace window:
    /// XOR with a pad that only a holder of `presented` (and the pepper) can
    /// derive. A presented token is rotated at most once, so each pad seals
    /// one secret. The pad alone gives no integrity, so what is opened is
    /// checked against the successor's stored hash.
    pub fn seal_successor(&self, presented: &[u8], secret: &[u8; 32]) -> [u8; 32] {
        let mut sealed = self.successor_key(presented);
        for (byte, secret) in sealed.iter_mut().zip(secret) {
            *byte ^= secret;
        }
        sealed
    }

    /// Reverses [`TokenKeys::seal_successor`], or `None` when `sealed` has
    /// the wrong length. A wrong `presented` gives a wrong secret.
    pub fn open_successor(&self, presented: &[u8], sealed: &[u8]) -> Option<Zeroizing<[u8; 32]>> {
        let sealed = <&[u8; 32]>::try_from(sealed).ok()?;
        let mut secret = Zeroizing::new(self.successor_key(presented));
        for (byte, sealed) in secret.iter_mut().zip(sealed) {
            *byte ^= sealed;
        }
        Some(secret)
    }

    fn successor_key(&self, presented: &[u8]) -> [u8; 32] {
        to_array(hmac::sign(&self.seal, presented).as_ref())
    }
}

fn to_array(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(&bytes[..32]);
    out
}

/// Encrypts `plaintext` with AES-256-GCM under `key`, binding `aad`.
/// The output is the random nonce followed by the ciphertext and tag.
pub fn seal(key: &[u8; 32], plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
    #[allow(clippy::expect_used)]
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).expect("32-byte AES key"));
    let nonce_bytes = random_array::<NONCE_LEN>();
    let mut out = Vec::with_capacity(NONCE_LEN + plaintext.len() + 16);
    out.extend_from_slice(&nonce_bytes);
    let mut body = plaintext.to_vec();
    #[allow(clippy::expect_used)]
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce_bytes),
        Aad::from(aad),
        &mut body,
    )
    .expect("AES-GCM sealing of a small message");
    out.extend_from_slice(&body);
    out
}

/// Decrypts what [`seal`] produced, or `None` when the key, the data or
/// `aad` do not match.
pub fn open(key: &[u8; 32], sealed: &[u8], aad: &[u8]) -> Option<Vec<u8>> {
    if sealed.len() < NONCE_LEN + 16 {
        return None;
    }
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).ok()?);
    let (nonce, body) = sealed.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
    let mut body = body.to_vec();
    let plaintext = key.open_in_place(nonce, Aad::from(aad), &mut body).ok()?;
    Some(plaintext.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> TokenKeys {
        TokenKeys::derive(&SecretBytes::new(vec![7; 32]))
    }

    #[test]
    fn successor_opens_only_with_the_presented_token() {
        let keys = keys();
        let secret = [9u8; 32];
        let sealed = keys.seal_successor(b"token-a", &secret);
        assert_ne!(sealed, secret);
        assert_eq!(
            keys.open_successor(b"token-a", &sealed).as_deref(),
            Some(&secret)
        );
        assert_ne!(
            keys.open_successor(b"token-x", &sealed).as_deref(),
            Some(&secret)
        );
        assert_eq!(keys.open_successor(b"token-a", &sealed[..10]), None);
        assert_eq!(keys.open_successor(b"token-a", &[0; 33]), None);
    }

    #[test]
    fn derived_keys_differ_by_purpose() {
        let keys = keys();
        assert_ne!(keys.token_hash(b"x"), keys.token_tag(b"x"));
        assert_ne!(keys.token_hash(b"x"), keys.csrf_token(b"x"));
        let other = TokenKeys::derive(&SecretBytes::new(vec![8; 32]));
        assert_ne!(keys.token_hash(b"x"), other.token_hash(b"x"));
    }
}
