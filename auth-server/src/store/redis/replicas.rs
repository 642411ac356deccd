//! The map of cluster slots whose master has a live replica.
//!
//! A rotation on a cluster waits for one replica (`WAIT` in the same
//! pipeline as the script). `WAIT` blocks the connection to the node, which
//! every request to that node shares, until a replica acknowledges or the
//! wait times out. A master without a live replica (for example a replica
//! just promoted after its master died) would therefore delay every command
//! to it by the whole wait. So the store reads `CLUSTER NODES` once a second
//! and waits only on slots whose master has a connected replica: after a
//! failover, rotations on the promoted master are acknowledged without a
//! replica until one joins it, instead of failing.

use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use super::conn::{self, Conn, Retry};

/// Number of hash slots in a Redis Cluster.
const SLOTS: usize = 16384;

/// How often the map is read again from the cluster.
const REFRESH: Duration = Duration::from_secs(1);

/// For each slot, whether its master has a connected replica.
pub(super) struct ReplicaMap {
    slots: RwLock<Vec<bool>>,
}

impl ReplicaMap {
    /// Builds the map from a `CLUSTER NODES` reply.
    pub(super) fn new(nodes: &str) -> Self {
        Self {
            slots: RwLock::new(slots_with_replicas(nodes)),
        }
    }

    /// Returns whether any slot has a master with a replica.
    pub(super) fn any(&self) -> bool {
        self.read().iter().any(|&has| has)
    }

    /// Returns whether the master of the slot that `key` maps to has a
    /// connected replica.
    pub(super) fn has_replica(&self, key: &[u8]) -> bool {
        self.read()
            .get(usize::from(key_slot(key)))
            .copied()
            .unwrap_or(false)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<bool>> {
        self.slots
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn replace(&self, slots: Vec<bool>) {
        *self
            .slots
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = slots;
    }

    /// Reads `CLUSTER NODES` every second and updates the map, until the
    /// store that owns the map is dropped. A failed read keeps the last map.
    pub(super) fn keep_current(map: &Arc<Self>, conn: Conn, timeout: Duration) {
        let map: Weak<Self> = Arc::downgrade(map);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(REFRESH).await;
                let Some(map) = map.upgrade() else {
                    return;
                };
                match cluster_nodes(&conn, timeout).await {
                    Ok(nodes) => map.replace(slots_with_replicas(&nodes)),
                    Err(error) => {
                        tracing::debug!(%error, "reading the cluster's replicas failed");
                    }
                }
            }
        });
    }
}

/// Sends `CLUSTER NODES` to one node of the cluster.
pub(super) async fn cluster_nodes(
    conn: &Conn,
    timeout: Duration,
) -> crate::store::StoreResult<String> {
    conn::run(
        conn,
        timeout,
        Retry::OnConnectionError,
        |mut conn| async move {
            redis::cmd("CLUSTER")
                .arg("NODES")
                .query_async(&mut conn)
                .await
        },
    )
    .await
}

/// Parses `CLUSTER NODES`: one line per node, `id address flags master-id
/// ping-sent pong-received epoch link-state slot...`, where a slot entry is
/// `N`, `N-M` or a bracketed migration note.
fn slots_with_replicas(nodes: &str) -> Vec<bool> {
    let lines: Vec<Vec<&str>> = nodes
        .lines()
        .map(|line| line.split_whitespace().collect())
        .filter(|fields: &Vec<&str>| fields.len() >= 8)
        .collect();
    let is_failed = |flags: &str| flags.split(',').any(|f| f == "fail" || f == "fail?");
    let has_flag = |flags: &str, wanted: &str| flags.split(',').any(|f| f == wanted);

    let mut slots = vec![false; SLOTS];
    for master in &lines {
        if !has_flag(master[2], "master") || is_failed(master[2]) {
            continue;
        }
        let id = master[0];
        let replicated = lines.iter().any(|node| {
            (has_flag(node[2], "slave") || has_flag(node[2], "replica"))
                && !is_failed(node[2])
                && node[3] == id
                && node[7] == "connected"
        });
        if !replicated {
            continue;
        }
        for range in &master[8..] {
            if let Some((first, last)) = slot_range(range) {
                let last = last.min(SLOTS - 1);
                if first <= last {
                    slots[first..=last].fill(true);
                }
            }
        }
    }
    slots
}

fn slot_range(entry: &str) -> Option<(usize, usize)> {
    if entry.starts_with('[') {
        return None;
    }
    match entry.split_once('-') {
        Some((first, last)) => Some((first.parse().ok()?, last.parse().ok()?)),
        None => {
            let slot = entry.parse().ok()?;
            Some((slot, slot))
        }
    }
}

/// Computes the cluster slot of `key`: CRC-16/XMODEM of its hash tag (the
/// text between the first `{` and the next `}`, when not empty) or of the
/// whole key, modulo 16384.
pub(super) fn key_slot(key: &[u8]) -> u16 {
    let hashed = key
        .iter()
        .position(|&b| b == b'{')
        .and_then(|open| {
            let rest = &key[open + 1..];
            let close = rest.iter().position(|&b| b == b'}')?;
            (close > 0).then(|| &rest[..close])
        })
        .unwrap_or(key);
    crc16(hashed) % 16384
}

fn crc16(bytes: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &byte in bytes {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_slots_match_redis() {
        // Values from `CLUSTER KEYSLOT` on Redis 7.0.
        assert_eq!(key_slot(b"foo"), 12182);
        assert_eq!(key_slot(b"123456789"), 12739);
        assert_eq!(key_slot(b"{user1000}.following"), key_slot(b"user1000"));
        assert_ne!(key_slot(b"foo{}{bar}"), key_slot(b"bar"));
    }

    const NODES: &str = "\
a1 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-5460
a2 127.0.0.1:7001@17001 master - 0 0 2 connected 5461-10922
a3 127.0.0.1:7002@17002 master,fail - 0 0 3 disconnected 10923-16383
r1 127.0.0.1:7003@17003 slave a1 0 0 1 connected
r2 127.0.0.1:7004@17004 slave,fail a2 0 0 2 disconnected
r3 127.0.0.1:7005@17005 master - 0 0 4 connected 16000 [16001->-a1]
";

    #[test]
    fn only_slots_of_replicated_masters_wait() {
        let slots = slots_with_replicas(NODES);
        assert!(slots[0], "a1 has a connected replica");
        assert!(slots[5460], "a1 has a connected replica");
        assert!(!slots[5461], "a2's replica failed");
        assert!(!slots[10922], "a2's replica failed");
        assert!(!slots[10923], "a3 failed");
        assert!(!slots[16000], "r3 was promoted and has no replica");
        assert!(ReplicaMap::new(NODES).any());
        assert!(!ReplicaMap::new("").any());
    }
}
