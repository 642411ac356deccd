//! Holders for secret material: `Debug` prints only a placeholder and the
//! bytes are zeroized on drop.

use std::fmt;

use zeroize::{Zeroize, ZeroizeOnDrop};

/// Secret bytes, such as the refresh-token pepper or the key-encryption key.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SecretBytes(Vec<u8>);

impl SecretBytes {
    /// Wraps `bytes`.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// Draws `len` random bytes from the system generator.
    pub fn random(len: usize) -> Self {
        let mut bytes = vec![0u8; len];
        crate::crypto::fill_random(&mut bytes);
        Self(bytes)
    }

    /// Parses hexadecimal text.
    pub fn from_hex(text: &str) -> Option<Self> {
        let text = text.trim();
        if !text.len().is_multiple_of(2) {
            return None;
        }
        let mut bytes = Vec::with_capacity(text.len() / 2);
        for pair in text.as_bytes().chunks(2) {
            let high = (pair[0] as char).to_digit(16)?;
            let low = (pair[1] as char).to_digit(16)?;
            bytes.push((high * 16 + low) as u8);
        }
        Some(Self(bytes))
    }

    /// The secret bytes.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretBytes(<redacted>)")
    }
}

/// A secret string, such as a Redis URL that may carry a password.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SecretString(String);

impl SecretString {
    /// Wraps `text`.
    pub fn new(text: String) -> Self {
        Self(text)
    }

    /// The secret text.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretString(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_hides_the_bytes() {
        let secret = SecretBytes::from_hex("00ff10").expect("valid hex");
        assert_eq!(secret.expose(), &[0x00, 0xff, 0x10]);
        assert_eq!(format!("{secret:?}"), "SecretBytes(<redacted>)");
        let text = SecretString::new("redis://:pw@host".into());
        assert!(!format!("{text:?}").contains("pw"));
    }

    #[test]
    fn hex_parser_rejects_bad_text() {
        assert!(SecretBytes::from_hex("abc").is_none());
        assert!(SecretBytes::from_hex("zz").is_none());
        assert!(SecretBytes::from_hex("+1").is_none());
    }
}
