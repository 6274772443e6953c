//! Who is here: names picked once, and which of them still have a browser on the line.
//!
//! A long-polling browser has no connection that lasts: it asks `/wait`, gets an answer,
//! asks again. So "connected" is defined by its waits: a member is **here** while one of its
//! `/wait` requests is open, or it finished one (or sent something) less than `away_after`
//! ago. Closing the tab drops the open `/wait` (the server sees the connection close and drops
//! the request's task); `away_after` later the member is gone, its name is free again, and the
//! room gets a "left" notice. The grace period covers the moment between one answer and the
//! next ask, and a page reload (the page keeps its member key in the browser's storage).

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::rules::SendRate;

/// How many names the room holds at most; a join beyond it is refused.
pub const MAX_MEMBERS: usize = 5_000;

/// The secret a browser gets when it picks a name, and sends with every request after.
pub type Key = String;

pub struct Presence {
    members: HashMap<Key, Member>,
    /// Lower-cased names in use, so "Ada" and "ada" are the same person.
    names: HashMap<String, Key>,
    away_after: Duration,
}

struct Member {
    name: String,
    open_waits: u32,
    last_seen: Instant,
    sends: SendRate,
}

/// Why a join or a send was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    NameTaken,
    RoomFull,
    UnknownMember,
    TooFast,
}

impl Presence {
    pub fn new(away_after: Duration) -> Presence {
        Presence {
            members: HashMap::new(),
            names: HashMap::new(),
            away_after,
        }
    }

    /// Claim `name` (already checked by `rules::name`), and get the member's key.
    pub fn join(&mut self, name: &str, now: Instant) -> Result<Key, Refusal> {
        let folded = name.to_lowercase();
        if self.names.contains_key(&folded) {
            return Err(Refusal::NameTaken);
        }
        if self.members.len() >= MAX_MEMBERS {
            return Err(Refusal::RoomFull);
        }
        let key = random_key();
        self.names.insert(folded, key.clone());
        self.members.insert(
            key.clone(),
            Member {
                name: name.to_string(),
                open_waits: 0,
                last_seen: now,
                sends: SendRate::new(now),
            },
        );
        Ok(key)
    }

    /// The names of everyone here, sorted.
    pub fn here(&self) -> Vec<String> {
        let mut names: Vec<String> = self.members.values().map(|m| m.name.clone()).collect();
        names.sort_by_key(|n| n.to_lowercase());
        names
    }

    /// A `/wait` of this member began; false if the key is unknown (a restarted server).
    pub fn wait_began(&mut self, key: &str) -> bool {
        match self.members.get_mut(key) {
            Some(member) => {
                member.open_waits += 1;
                true
            }
            None => false,
        }
    }

    pub fn wait_ended(&mut self, key: &str, now: Instant) {
        if let Some(member) = self.members.get_mut(key) {
            member.open_waits = member.open_waits.saturating_sub(1);
            member.last_seen = now;
        }
    }

    /// May this member send now? Returns its name if so.
    pub fn send(&mut self, key: &str, now: Instant) -> Result<String, Refusal> {
        let member = self.members.get_mut(key).ok_or(Refusal::UnknownMember)?;
        member.last_seen = now;
        if member.sends.allow(now) {
            Ok(member.name.clone())
        } else {
            Err(Refusal::TooFast)
        }
    }

    /// Forget everyone who has no wait open and was last seen too long ago; their names.
    pub fn sweep(&mut self, now: Instant) -> Vec<String> {
        let away_after = self.away_after;
        let gone: Vec<Key> = self
            .members
            .iter()
            .filter(|(_, m)| m.open_waits == 0 && now.duration_since(m.last_seen) > away_after)
            .map(|(key, _)| key.clone())
            .collect();
        gone.iter()
            .filter_map(|key| self.members.remove(key))
            .map(|member| {
                self.names.remove(&member.name.to_lowercase());
                member.name
            })
            .collect()
    }
}

/// The room's presence, locked for a few instructions. A panic while holding the lock cannot
/// leave it half-written, so a poisoned lock is still safe to use.
pub fn lock(presence: &Mutex<Presence>) -> MutexGuard<'_, Presence> {
    presence
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// One `/wait` of a member, from its start to its end however it ends (answered, timed out,
/// or dropped because the browser went away): while it lives, the member is here.
pub struct Waiting<'a> {
    presence: &'a Mutex<Presence>,
    /// The member key, if the room knows it.
    key: Option<&'a str>,
}

impl<'a> Waiting<'a> {
    pub fn begin(presence: &'a Mutex<Presence>, key: Option<&'a str>) -> Self {
        let key = key.filter(|key| lock(presence).wait_began(key));
        Waiting { presence, key }
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key {
            lock(self.presence).wait_ended(key, Instant::now());
        }
    }
}

/// 128 random bits as hex. `RandomState` is seeded from the OS once per process and differs
/// for each new value: unguessable enough for a classroom chat, not a session token for a bank.
pub fn random_key() -> Key {
    let half = || RandomState::new().hash_one(Instant::now());
    format!("{:016x}{:016x}", half(), half())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_taken_until_its_member_is_gone() {
        let start = Instant::now();
        let mut room = Presence::new(Duration::from_secs(5));
        let ada = room.join("Ada", start).expect("free name");
        assert_eq!(room.join("ada", start), Err(Refusal::NameTaken));
        assert!(room.wait_began(&ada));
        // Waiting keeps her here, however long.
        assert!(room.sweep(start + Duration::from_secs(60)).is_empty());
        room.wait_ended(&ada, start + Duration::from_secs(60));
        assert!(room.sweep(start + Duration::from_secs(62)).is_empty());
        assert_eq!(room.sweep(start + Duration::from_secs(66)), ["Ada"]);
        assert!(room.join("ada", start).is_ok());
    }
}
