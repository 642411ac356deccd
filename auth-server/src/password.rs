//! Password hashing (argon2id on a bounded pool of blocking threads) and the
//! sign-up rules for usernames and passwords.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;
use unicode_normalization::UnicodeNormalization;
use zeroize::Zeroizing;

/// argon2id memory cost in KiB (19 MiB), as OWASP recommends for t=2, p=1.
const MEMORY_KIB: u32 = 19 * 1024;
const ITERATIONS: u32 = 2;
const PARALLELISM: u32 = 1;

/// Failures of the hashing pool.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// Every thread is busy and the queue is full.
    #[error("password hashing queue is full")]
    Busy,
    /// The hashing task failed.
    #[error("password hashing failed: {0}")]
    Internal(String),
}

/// A bounded pool for argon2id work: at most `threads` hashes run at once
/// and at most `queue` requests wait, so a flood of logins cannot starve the
/// rest of the server.
#[derive(Clone)]
pub struct PasswordHasherPool {
    permits: Arc<Semaphore>,
    waiting: Arc<AtomicUsize>,
    queue: usize,
    dummy_hash: Arc<str>,
    /// Hashes and checks run to the end since the pool was built.
    completed: Arc<AtomicU64>,
}

fn argon2() -> Argon2<'static> {
    #[allow(clippy::expect_used)]
    let params =
        Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, None).expect("valid argon2 params");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

fn hash_now(password: &[u8]) -> Result<String, HashError> {
    let mut salt = [0u8; 16];
    crate::crypto::fill_random(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| HashError::Internal(e.to_string()))?;
    argon2()
        .hash_password(password, &salt)
        .map(|h| h.to_string())
        .map_err(|e| HashError::Internal(e.to_string()))
}

fn verify_now(password: &[u8], phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => argon2().verify_password(password, &parsed).is_ok(),
        Err(_) => false,
    }
}

impl PasswordHasherPool {
    /// Builds a pool. Hashes a random password once, so that checking an
    /// unknown username costs the same as checking a known one.
    pub fn new(threads: usize, queue: usize) -> Result<Self, HashError> {
        let dummy = Zeroizing::new(crate::crypto::random_array::<24>());
        let dummy_hash: Arc<str> = hash_now(&dummy[..])?.into();
        Ok(Self {
            permits: Arc::new(Semaphore::new(threads.max(1))),
            waiting: Arc::new(AtomicUsize::new(0)),
            queue,
            dummy_hash,
            completed: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Returns the number of argon2id runs (new hashes and checks, the
    /// dummy checks for unknown users included) since the pool was built.
    pub fn completed(&self) -> u64 {
        self.completed.load(Ordering::Relaxed)
    }

    /// Requests waiting for a hashing thread.
    pub fn queue_depth(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    /// Hashes a new password into a PHC string.
    pub async fn hash(&self, password: Zeroizing<String>) -> Result<String, HashError> {
        self.run(move || hash_now(password.as_bytes())).await?
    }

    /// Checks `password` against `phc`, or against a dummy hash when there
    /// is no user, so that both cases take the same time.
    pub async fn verify(
        &self,
        password: Zeroizing<String>,
        phc: Option<String>,
    ) -> Result<bool, HashError> {
        let known = phc.is_some();
        let phc = phc.unwrap_or_else(|| self.dummy_hash.to_string());
        let matches = self
            .run(move || verify_now(password.as_bytes(), &phc))
            .await?;
        Ok(known && matches)
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HashError> {
        // The bound is approximate under races, which is enough to shed load.
        let waiting = self.waiting.fetch_add(1, Ordering::SeqCst);
        if waiting >= self.queue && self.permits.available_permits() == 0 {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(HashError::Busy);
        }
        let permit = self.permits.clone().acquire_owned().await;
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        let permit = permit.map_err(|e| HashError::Internal(e.to_string()))?;
        let completed = Arc::clone(&self.completed);
        let result = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let output = work();
            completed.fetch_add(1, Ordering::Relaxed);
            output
        })
        .await;
        result.map_err(|e| HashError::Internal(e.to_string()))
    }
}

/// Why a username or password was rejected at sign-up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    /// The username breaks a rule.
    #[error("username {0}")]
    Username(&'static str),
    /// The password breaks a rule.
    #[error("password {0}")]
    Password(&'static str),
}

/// Normalizes a username for comparison: Unicode NFKC, then lowercase.
pub fn normalize_username(raw: &str) -> String {
    raw.nfkc().collect::<String>().to_lowercase()
}

/// Validates a sign-up username and returns its normalized form.
pub fn validate_username(raw: &str) -> Result<String, CredentialError> {
    let name = normalize_username(raw.trim());
    let length = name.chars().count();
    if !(3..=64).contains(&length) {
        return Err(CredentialError::Username("must be 3 to 64 characters"));
    }
    if name.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(CredentialError::Username(
            "must not contain spaces or control characters",
        ));
    }
    Ok(name)
}

/// Validates a new password: 8 to 128 characters, and not one of the
/// common passwords in the `zxcvbn` crate's dictionaries (also when written
/// backwards, in l33t or with changed case).
pub fn validate_password(password: &str, username: &str) -> Result<(), CredentialError> {
    let length = password.chars().count();
    if length < 8 {
        return Err(CredentialError::Password("must be at least 8 characters"));
    }
    if length > 128 {
        return Err(CredentialError::Password("must be at most 128 characters"));
    }
    if password.chars().any(|c| c.is_control()) {
        return Err(CredentialError::Password(
            "must not contain control characters",
        ));
    }
    if is_common(password, username) {
        return Err(CredentialError::Password(
            "is too common; choose a less guessable one",
        ));
    }
    Ok(())
}

fn is_common(password: &str, username: &str) -> bool {
    use zxcvbn::matching::patterns::MatchPattern;

    let entropy = zxcvbn::zxcvbn(password, &[username]);
    let sequence = entropy.sequence();
    let whole_word =
        sequence.len() == 1 && matches!(&sequence[0].pattern, MatchPattern::Dictionary(_));
    whole_word || u8::from(entropy.score()) < 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_compare_after_nfkc_and_lowercase() {
        assert_eq!(validate_username("Ａｌｉｃｅ").as_deref(), Ok("alice"));
        assert_eq!(validate_username("ALICE").as_deref(), Ok("alice"));
        assert!(validate_username("ab").is_err());
        assert!(validate_username(&"a".repeat(65)).is_err());
        assert!(validate_username("a b c").is_err());
    }

    #[test]
    fn common_passwords_are_rejected() {
        for password in [
            "password123",
            "qwertyuiop",
            "Password1",
            "drowssap",
            "p@ssw0rd",
        ] {
            assert!(validate_password(password, "alice").is_err(), "{password}");
        }
        assert!(validate_password("alicealice", "alice").is_err());
        assert!(validate_password("correct horse battery staple", "alice").is_ok());
        assert!(validate_password("short", "alice").is_err());
        assert!(validate_password(&"x".repeat(129), "alice").is_err());
    }

    #[tokio::test]
    async fn verify_accepts_only_the_right_password() {
        let pool = PasswordHasherPool::new(1, 8).expect("pool");
        let hash = pool
            .hash(Zeroizing::new("tulip-orbit-92".into()))
            .await
            .expect("hash");
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(
            pool.verify(Zeroizing::new("tulip-orbit-92".into()), Some(hash.clone()))
                .await
                .unwrap()
        );
        assert!(
            !pool
                .verify(Zeroizing::new("tulip-orbit-93".into()), Some(hash))
                .await
                .unwrap()
        );
        assert!(
            !pool
                .verify(Zeroizing::new("anything".into()), None)
                .await
                .unwrap()
        );
    }
}
