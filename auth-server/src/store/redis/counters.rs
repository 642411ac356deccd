//! Fixed-window counters for login throttling. Each counter is one key in
//! its own hash slot, and each call touches one key, so nothing here needs a
//! cross-slot operation on a cluster.

use redis::Script;

use super::RedisStore;
use crate::store::StoreResult;

/// Adds ARGV[2] to a counter (never below 0), starting its window when the
/// key is new, and returns the count and the milliseconds left in the
/// window.
const ADD: &str = r"
local count = redis.call('INCRBY', KEYS[1], ARGV[2])
if count < 0 then redis.call('SET', KEYS[1], 0, 'KEEPTTL'); count = 0 end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {count, ttl}
";

/// Reads a counter and the milliseconds left in its window.
const PEEK: &str = r"
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
local ttl = redis.call('PTTL', KEYS[1])
return {count, ttl}
";

/// The counter scripts, hashed once.
pub(super) struct CounterScripts {
    add: Script,
    peek: Script,
}

impl CounterScripts {
    pub(super) fn new() -> Self {
        Self {
            add: Script::new(ADD),
            peek: Script::new(PEEK),
        }
    }
}

impl RedisStore {
    fn counter_key(&self, name: &str) -> String {
        format!("{}t:{name}", self.keys.prefix())
    }

    /// Adds `delta` to counter `name` and returns `(count, ms left)`.
    pub async fn add_counter(
        &self,
        name: &str,
        delta: i64,
        window_ms: i64,
    ) -> StoreResult<(u64, i64)> {
        let key = self.counter_key(name);
        let script = &self.counter_scripts.add;
        self.run(|mut conn| {
            let mut invocation = script.key(&key);
            invocation.arg(window_ms).arg(delta);
            async move { invocation.invoke_async(&mut conn).await }
        })
        .await
    }

    /// Reads counter `name` as `(count, ms left)`; an absent counter is 0.
    pub async fn peek_counter(&self, name: &str) -> StoreResult<(u64, i64)> {
        let key = self.counter_key(name);
        let script = &self.counter_scripts.peek;
        self.run(|mut conn| {
            let invocation = script.key(&key);
            async move { invocation.invoke_async(&mut conn).await }
        })
        .await
    }

    /// Deletes counter `name`.
    pub async fn reset_counter(&self, name: &str) -> StoreResult<()> {
        let key = self.counter_key(name);
        self.run(|mut conn| {
            let key = key.clone();
            async move {
                redis::cmd("DEL")
                    .arg(key)
                    .query_async::<()>(&mut conn)
                    .await
            }
        })
        .await
    }
}
