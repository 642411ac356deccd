//! Key sources: the [`KeySource`] trait and the in-process source.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use shared::JwkSet;

use crate::error::ValidationError;
use crate::keys::{KeyError, KeySet};

/// A wait for a key refetch to finish.
pub type Refetch = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// A source of verification keys.
///
/// [`key_set`](KeySource::key_set) is called once per validation, so an
/// implementation must be cheap and must not block on I/O.
pub trait KeySource: Send + Sync + 'static {
    /// Returns the keys to verify with now, or an error of kind
    /// [`KeysUnavailable`](crate::ErrorKind::KeysUnavailable).
    fn key_set(&self) -> Result<Arc<KeySet>, ValidationError>;

    /// Handles a token whose `kid` the current set lacks. A source that can
    /// refetch may start one (the source decides how often) and return a
    /// future that completes when the refetch ends. `None` means no refetch.
    fn unknown_kid(&self) -> Option<Refetch> {
        None
    }
}

/// The retry delay sent to clients while an in-process source has no keys.
const IN_PROCESS_RETRY: Duration = Duration::from_secs(1);

/// Keys held in memory and replaced by their owner, for a service that
/// issues the tokens itself (the auth server) and so needs no HTTP call.
///
/// Share it as `Arc<InProcessKeys>`: give one clone to
/// [`ValidatorBuilder::key_source`](crate::ValidatorBuilder::key_source)
/// and call [`set_jwk_set`](InProcessKeys::set_jwk_set) on another
/// whenever the published keys change. A writer holds the lock only to
/// swap one `Arc`, so readers wait at most that long.
#[derive(Debug, Default)]
pub struct InProcessKeys {
    current: RwLock<Option<Arc<KeySet>>>,
}

impl InProcessKeys {
    /// Creates an empty source: validations fail with `KeysUnavailable`
    /// until keys are set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Creates a source with the usable keys of `set` (see
    /// [`KeySet::from_jwk_set`]).
    pub fn from_jwk_set(set: &JwkSet) -> Self {
        let keys = Self::new();
        keys.set(KeySet::from_jwk_set(set));
        keys
    }

    /// Replaces the keys with the usable keys of `set`; returns how many
    /// were usable. Keys that cannot verify tokens are logged and left out.
    pub fn set_jwk_set(&self, set: &JwkSet) -> usize {
        let keys = KeySet::from_jwk_set(set);
        let usable = keys.len();
        self.set(keys);
        usable
    }

    /// Replaces the keys with those of `set`, or changes nothing and fails
    /// if any key of `set` cannot be used.
    pub fn try_set_jwk_set(&self, set: &JwkSet) -> Result<usize, KeyError> {
        let keys = KeySet::try_from_jwk_set(set)?;
        let usable = keys.len();
        self.set(keys);
        Ok(usable)
    }

    /// Replaces the keys.
    pub fn set(&self, keys: KeySet) {
        let keys = Arc::new(keys);
        *self
            .current
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(keys);
    }

    /// Removes all keys: validations then fail with `KeysUnavailable`.
    pub fn clear(&self) {
        *self
            .current
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = None;
    }
}

impl KeySource for InProcessKeys {
    fn key_set(&self) -> Result<Arc<KeySet>, ValidationError> {
        let guard = self
            .current
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match &*guard {
            Some(keys) if !keys.is_empty() => Ok(Arc::clone(keys)),
            _ => Err(ValidationError::keys_unavailable(IN_PROCESS_RETRY)),
        }
    }
}
