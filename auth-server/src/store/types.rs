use std::fmt;

/// A user id: 16 random bytes, shown as 32 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(pub [u8; 16]);

/// A session id: 16 random bytes, shown as 32 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(pub [u8; 16]);

macro_rules! hex_id {
    ($name:ident) => {
        impl $name {
            /// Draws a new random id.
            pub fn random() -> Self {
                Self(*uuid::Uuid::new_v4().as_bytes())
            }

            /// Parses 32 lowercase hex digits.
            pub fn parse(text: &str) -> Option<Self> {
                if text.len() != 32 || text.bytes().any(|b| b.is_ascii_uppercase()) {
                    return None;
                }
                let uuid = uuid::Uuid::try_parse(text).ok()?;
                Some(Self(*uuid.as_bytes()))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let mut buf = uuid::Uuid::encode_buffer();
                f.write_str(
                    uuid::Uuid::from_bytes(self.0)
                        .simple()
                        .encode_lower(&mut buf),
                )
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self)
            }
        }
    };
}

hex_id!(UserId);
hex_id!(SessionId);

/// A stored user.
#[derive(Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// Stable id, the `sub` of the user's access tokens.
    pub id: UserId,
    /// Username after NFKC normalization and lowercasing.
    pub username: String,
    /// Argon2id hash in PHC string format.
    pub password_hash: String,
    /// Scopes this user may be granted.
    pub scopes: Vec<String>,
    /// Creation time, milliseconds since the Unix epoch.
    pub created_ms: i64,
    /// Sessions created at or before this time are revoked (0: none).
    pub revoked_before_ms: i64,
}

impl fmt::Debug for UserRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserRecord")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("password_hash", &"<redacted>")
            .field("scopes", &self.scopes)
            .finish()
    }
}

/// The IP address and user agent of a request, recorded on sessions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientContext {
    /// Client IP address as text.
    pub ip: String,
    /// `User-Agent` header, truncated to a bounded length.
    pub user_agent: String,
}

/// A session to create at login.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// Owner.
    pub user: UserId,
    /// New random session id.
    pub id: SessionId,
    /// Client the session belongs to.
    pub client_id: String,
    /// Granted scope, space-separated.
    pub scope: String,
    /// HMAC of the generation-1 refresh token.
    pub token_hash: [u8; 32],
    /// Creation time, milliseconds since the Unix epoch.
    pub now_ms: i64,
    /// Absolute expiry, milliseconds since the Unix epoch; never extended.
    pub absolute_expiry_ms: i64,
    /// Idle lifetime; each rotation slides the expiry by this much.
    pub idle_ttl_ms: i64,
    /// Where the login came from.
    pub context: ClientContext,
}

/// What a refresh presents to [`super::Store::rotate`].
///
/// The rules, applied atomically in this order:
/// - session missing, idle- or absolutely expired, its user missing, or
///   created at or before the user's revoked-before time:
///   [`RotateOutcome::Invalid`] (and the record is deleted when it still
///   exists);
/// - a client other than the session's: [`RotateOutcome::WrongClient`],
///   nothing changes;
/// - `presented_generation` is the current one and its hash matches: the
///   session moves to `presented_generation + 1` with `new_hash`, keeps
///   `sealed_successor` for the grace window, records the request's context
///   as its last one, slides its idle expiry to `now_ms + idle_ttl_ms`
///   (never past the absolute one) and returns [`RotateOutcome::Rotated`];
/// - the current generation with a wrong hash: [`RotateOutcome::Invalid`];
/// - the immediately previous generation with a matching hash, less than
///   `grace_ms` after the rotation, from the same IP and user agent as the
///   rotating request, fewer than `max_replays` times so far: the stored
///   sealed successor comes back ([`RotateOutcome::Replayed`]). The replay
///   is counted, and nothing else changes (the idle expiry does not slide);
/// - the previous generation in the grace window and context but past
///   `max_replays`: [`RotateOutcome::Invalid`], nothing changes;
/// - the previous generation with a wrong hash: [`RotateOutcome::Invalid`],
///   nothing changes (a forged token must not revoke the session);
/// - the previous generation with a matching hash outside the window or
///   context, or any older generation: the session is deleted
///   ([`RotateOutcome::Reused`]). Older generations' hashes are not kept,
///   so the store cannot check them: callers must first prove the token
///   genuine (the refresh token's tag does), or anyone who knows a session
///   id could revoke the session;
/// - a generation newer than the stored one (a write lost in a failover):
///   [`RotateOutcome::Invalid`], nothing changes.
///
/// The grace window runs from the rotation. The Redis store dates a
/// rotation by the later of `now_ms` and its own clock. A request delayed
/// inside a stalled Redis, whose caller got a timeout and will retry with
/// the same token, so opens its window when it actually runs.
///
/// Idle expiry is `now_ms + idle_ttl_ms` of the last rotation (or of the
/// creation), capped at the absolute expiry; a session is dead from that
/// instant on (`now_ms >= expiry`).
#[derive(Debug, Clone)]
pub struct RotateRequest {
    /// Owner named by the token.
    pub user: UserId,
    /// Session named by the token.
    pub session: SessionId,
    /// Client presenting the token.
    pub client_id: String,
    /// Generation named by the token.
    pub presented_generation: u32,
    /// HMAC of the presented token.
    pub presented_hash: [u8; 32],
    /// HMAC of the successor token.
    pub new_hash: [u8; 32],
    /// The successor token's secret, encrypted under a key derived from
    /// the presented token, kept for replays in the grace window. Opaque to
    /// the store.
    pub sealed_successor: Vec<u8>,
    /// Request time, milliseconds since the Unix epoch.
    pub now_ms: i64,
    /// Where the refresh comes from.
    pub context: ClientContext,
    /// Grace window for the previous generation; 0 disables replays.
    pub grace_ms: i64,
    /// Idle lifetime to slide to.
    pub idle_ttl_ms: i64,
    /// Maximum replays of one generation inside the grace window.
    pub max_replays: u32,
}

/// The session as a rotation leaves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotatedSession {
    /// Granted scope.
    pub scope: String,
    /// Absolute expiry, milliseconds since the Unix epoch.
    pub absolute_expiry_ms: i64,
    /// The session's current generation after the step.
    pub generation: u32,
    /// IP address and user agent the session last saw before this request.
    pub previous_context: ClientContext,
}

/// Result of [`super::Store::rotate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RotateOutcome {
    /// The presented token was current; the successor is now current.
    Rotated(RotatedSession),
    /// The presented token was the previous generation, replayed inside the
    /// grace window; the caller decrypts and returns the same successor.
    Replayed {
        /// Session state.
        session: RotatedSession,
        /// The successor as sealed by the rotating request.
        sealed_successor: Vec<u8>,
        /// The hash of the successor (the session's current hash), which
        /// lets the caller check what it unseals.
        successor_hash: [u8; 32],
    },
    /// An already rotated token came back: the session is now revoked.
    Reused {
        /// Context of the session's last rotation (for the previous
        /// generation, the request that rotated the token away).
        rotated_by: ClientContext,
        /// Client of the revoked session.
        client_id: String,
    },
    /// The token names a session of another client; nothing changed.
    WrongClient,
    /// Unknown, expired, revoked or mismatched token; nothing to revoke.
    Invalid,
}

/// A session as listed to its user or read for introspection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    /// Session id.
    pub id: SessionId,
    /// Owner.
    pub user: UserId,
    /// Client the session belongs to.
    pub client_id: String,
    /// Granted scope.
    pub scope: String,
    /// Current refresh-token generation.
    pub generation: u32,
    /// Creation time, milliseconds since the Unix epoch.
    pub created_ms: i64,
    /// Context of the login.
    pub created_context: ClientContext,
    /// Last login or refresh, milliseconds since the Unix epoch.
    pub last_used_ms: i64,
    /// Context of the last login or refresh.
    pub last_context: ClientContext,
    /// Absolute expiry, milliseconds since the Unix epoch.
    pub absolute_expiry_ms: i64,
}

/// A signing key as kept in the store: the private part is sealed under the
/// key-encryption key, so the store alone cannot sign anything.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredKey {
    /// Key id, the JWS `kid`.
    pub kid: String,
    /// JWS algorithm: `EdDSA`, `ES256` or `RS256`.
    pub alg: String,
    /// PKCS#8 private key, sealed with AES-256-GCM under the KEK.
    pub sealed_private: Vec<u8>,
    /// Creation time, milliseconds since the Unix epoch.
    pub created_ms: i64,
    /// Time from which the key may sign.
    pub activates_ms: i64,
    /// Time from which the key signs nothing; it stays published until
    /// `removes_ms`.
    pub retired_ms: Option<i64>,
    /// Time from which the key is no longer published.
    pub removes_ms: Option<i64>,
}

impl fmt::Debug for StoredKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("created_ms", &self.created_ms)
            .field("activates_ms", &self.activates_ms)
            .field("retired_ms", &self.retired_ms)
            .field("removes_ms", &self.removes_ms)
            .finish_non_exhaustive()
    }
}
