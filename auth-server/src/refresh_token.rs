//! The opaque refresh-token format.
//!
//! A token is 85 bytes, base64url without padding (114 characters):
//!
//! | bytes | content |
//! |---|---|
//! | 1 | format version, 1 |
//! | 16 | user id (selects the user's Redis hash slot) |
//! | 16 | session id |
//! | 4 | generation, big-endian; 1 at login, +1 on each rotation |
//! | 32 | random secret (256 bits) |
//! | 16 | tag: truncated HMAC over the 69 bytes above under a pepper key |
//!
//! The tag lets the server reject forged or damaged tokens before touching
//! the store, and proves that an old generation presented again is a real
//! token that was rotated away (reuse), not a guess built from a session id.
//! The store keeps only [`crate::crypto::TokenKeys::token_hash`] of a token.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::crypto::{TokenKeys, random_array};
use crate::store::{SessionId, UserId};

const VERSION: u8 = 1;
const BODY_LEN: usize = 1 + 16 + 16 + 4 + 32;
const TAG_LEN: usize = 16;
const TOKEN_LEN: usize = BODY_LEN + TAG_LEN;
/// Length of an encoded refresh token in characters.
pub const ENCODED_LEN: usize = (TOKEN_LEN * 4).div_ceil(3);

/// A refresh token, held as its encoded text. `Debug` hides it.
pub struct RefreshToken {
    encoded: Zeroizing<String>,
    /// Owner of the session.
    pub user: UserId,
    /// Session the token belongs to.
    pub session: SessionId,
    /// Generation of the token within its session.
    pub generation: u32,
}

impl std::fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefreshToken")
            .field("user", &self.user)
            .field("session", &self.session)
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

/// Why a presented refresh token was rejected before any store access.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Wrong length, alphabet or version.
    #[error("malformed refresh token")]
    Malformed,
    /// The tag does not verify: not minted by this server (or its pepper).
    #[error("refresh token tag mismatch")]
    BadTag,
}

impl RefreshToken {
    /// Mints a token for `generation` of a session with a fresh secret.
    pub fn mint(keys: &TokenKeys, user: UserId, session: SessionId, generation: u32) -> Self {
        let secret = Zeroizing::new(random_array::<32>());
        Self::from_secret(keys, user, session, generation, &secret)
    }

    /// Builds the token for `generation` of a session with a given secret:
    /// how a sealed successor is rebuilt for a replay.
    pub fn from_secret(
        keys: &TokenKeys,
        user: UserId,
        session: SessionId,
        generation: u32,
        secret: &[u8; 32],
    ) -> Self {
        let mut bytes = Zeroizing::new([0u8; TOKEN_LEN]);
        bytes[0] = VERSION;
        bytes[1..17].copy_from_slice(&user.0);
        bytes[17..33].copy_from_slice(&session.0);
        bytes[33..37].copy_from_slice(&generation.to_be_bytes());
        bytes[37..69].copy_from_slice(secret);
        let tag = keys.token_tag(&bytes[..BODY_LEN]);
        bytes[BODY_LEN..].copy_from_slice(&tag[..TAG_LEN]);
        Self {
            encoded: Zeroizing::new(URL_SAFE_NO_PAD.encode(&bytes[..])),
            user,
            session,
            generation,
        }
    }

    /// Parses and authenticates a presented token.
    pub fn parse(keys: &TokenKeys, text: &str) -> Result<Self, ParseError> {
        if text.len() != ENCODED_LEN {
            return Err(ParseError::Malformed);
        }
        let mut bytes = Zeroizing::new([0u8; TOKEN_LEN]);
        // The engine rejects padding, characters outside the URL-safe
        // alphabet and non-zero trailing bits, so each token has exactly
        // one spelling.
        let written = URL_SAFE_NO_PAD
            .decode_slice(text.as_bytes(), &mut bytes[..])
            .map_err(|_| ParseError::Malformed)?;
        if written != TOKEN_LEN || bytes[0] != VERSION {
            return Err(ParseError::Malformed);
        }
        let expected = keys.token_tag(&bytes[..BODY_LEN]);
        if !bool::from(expected[..TAG_LEN].ct_eq(&bytes[BODY_LEN..])) {
            return Err(ParseError::BadTag);
        }
        let mut user = [0u8; 16];
        user.copy_from_slice(&bytes[1..17]);
        let mut session = [0u8; 16];
        session.copy_from_slice(&bytes[17..33]);
        let mut generation = [0u8; 4];
        generation.copy_from_slice(&bytes[33..37]);
        Ok(Self {
            encoded: Zeroizing::new(text.to_owned()),
            user: UserId(user),
            session: SessionId(session),
            generation: u32::from_be_bytes(generation),
        })
    }

    /// The encoded token, to hand to the client.
    pub fn expose(&self) -> &str {
        &self.encoded
    }

    /// The keyed hash the store compares against.
    pub fn hash(&self, keys: &TokenKeys) -> [u8; 32] {
        keys.token_hash(self.encoded.as_bytes())
    }

    /// A short, non-secret fingerprint for logs.
    pub fn fingerprint(&self, keys: &TokenKeys) -> String {
        let hash = self.hash(keys);
        hash[..4].iter().map(|b| format!("{b:02x}")).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::SecretBytes;
    use proptest::prelude::*;

    fn keys() -> TokenKeys {
        TokenKeys::derive(&SecretBytes::new(vec![3; 32]))
    }

    #[test]
    fn minted_token_parses_back() {
        let keys = keys();
        let token = RefreshToken::mint(&keys, UserId([1; 16]), SessionId([2; 16]), 7);
        assert_eq!(token.expose().len(), ENCODED_LEN);
        let parsed = RefreshToken::parse(&keys, token.expose()).expect("parses");
        assert_eq!(parsed.user, UserId([1; 16]));
        assert_eq!(parsed.session, SessionId([2; 16]));
        assert_eq!(parsed.generation, 7);
        assert_eq!(parsed.hash(&keys), token.hash(&keys));
    }

    #[test]
    fn token_from_another_pepper_fails_the_tag() {
        let token = RefreshToken::mint(&keys(), UserId([1; 16]), SessionId([2; 16]), 1);
        let other = TokenKeys::derive(&SecretBytes::new(vec![4; 32]));
        assert_eq!(
            RefreshToken::parse(&other, token.expose()).unwrap_err(),
            ParseError::BadTag
        );
    }

    #[test]
    fn non_canonical_spellings_are_malformed() {
        let keys = keys();
        let token = RefreshToken::mint(&keys, UserId([1; 16]), SessionId([2; 16]), 1);
        let text = token.expose().to_owned();
        let cases = [
            String::new(),
            format!("{text}="),
            text[..ENCODED_LEN - 1].to_owned(),
            text.replace('-', "+").replace('_', "/"),
            format!("{}{}", &text[..ENCODED_LEN - 1], "B"),
        ];
        for case in cases {
            if case == text {
                continue;
            }
            assert!(
                RefreshToken::parse(&keys, &case).is_err(),
                "accepted {case:?}"
            );
        }
    }

    #[test]
    fn token_from_earlier_build_parses() {
        // Minted outside this code from the format in the module docs, with
        // the pepper [7; 32]. The fuzz seeds use the same token.
        let keys = TokenKeys::derive(&SecretBytes::new(vec![7; 32]));
        let text = concat!(
            "AQABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4fAAAAB6qqqqqqq",
            "qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqL_cHgVBvysfrxCQC9Z25cg",
        );
        let token = RefreshToken::parse(&keys, text).expect("parses");
        let user: Vec<u8> = (0..16).collect();
        let session: Vec<u8> = (16..32).collect();
        assert_eq!(token.user.0.as_slice(), user.as_slice());
        assert_eq!(token.session.0.as_slice(), session.as_slice());
        assert_eq!(token.generation, 7);
    }

    #[test]
    fn non_ascii_text_of_token_length_is_malformed() {
        let keys = keys();
        let token = RefreshToken::mint(&keys, UserId([1; 16]), SessionId([2; 16]), 1);
        let text = token.expose();
        // Each has the byte length of a token, so only decoding rejects it.
        let cases = [
            format!("{}\u{20ac}", &text[..ENCODED_LEN - 3]),
            format!("\u{fffd}{}", &text[3..]),
            format!("{}\u{0}", &text[..ENCODED_LEN - 1]),
        ];
        for case in cases {
            assert_eq!(case.len(), ENCODED_LEN);
            assert_eq!(
                RefreshToken::parse(&keys, &case).unwrap_err(),
                ParseError::Malformed,
                "{case:?}"
            );
        }
    }

    proptest! {
        #[test]
        fn arbitrary_text_never_panics(text in ".{0,200}") {
            let _ = RefreshToken::parse(&keys(), &text);
        }

        #[test]
        fn any_single_character_change_is_rejected(index in 0..ENCODED_LEN, replacement in "[A-Za-z0-9_-]") {
            let keys = keys();
            let token = RefreshToken::mint(&keys, UserId([1; 16]), SessionId([2; 16]), 1);
            let mut chars: Vec<char> = token.expose().chars().collect();
            let new = replacement.chars().next().unwrap_or('A');
            prop_assume!(chars[index] != new);
            chars[index] = new;
            let mutated: String = chars.into_iter().collect();
            prop_assert!(RefreshToken::parse(&keys, &mutated).is_err());
        }
    }
}
