//! The message store (given): the recent messages, and the newest id published on a `watch`
//! channel so that anyone can wait for the next one. Its fields are private: `/wait` sees the
//! messages only through [`Store::since`], which counts every look (see `/stats`).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use serde::Serialize;
use tokio::sync::watch;

/// How many messages the store remembers; a browser further behind gets the latest ones.
const HISTORY: usize = 100;

/// One chat message. Ids count up from 1, in the order messages were posted.
#[derive(Clone, Serialize)]
pub struct Message {
    pub id: u64,
    pub name: String,
    pub text: String,
}

/// What `/wait` answers: the messages after the browser's cursor, and the newest id, which
/// the browser sends back as its next cursor. No messages means "nothing new".
#[derive(Serialize)]
pub struct Batch {
    pub messages: Vec<Message>,
    pub last: u64,
}

pub struct Store {
    history: Mutex<VecDeque<Message>>,
    /// The newest id (0 before the first message). `post` sends every new id here.
    newest: watch::Sender<u64>,
    /// How many times anyone looked at the messages ([`Store::since`]).
    looks: AtomicU64,
}

impl Store {
    pub fn new() -> Store {
        Store {
            history: Mutex::new(VecDeque::new()),
            newest: watch::Sender::new(0),
            looks: AtomicU64::new(0),
        }
    }

    /// The lock is held for a few instructions, never across an `.await`.
    fn history(&self) -> MutexGuard<'_, VecDeque<Message>> {
        // A panic while holding the lock cannot leave the history half-written.
        self.history
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Store a message and tell every receiver of [`Store::subscribe`]; returns its id.
    pub fn post(&self, name: String, text: String) -> u64 {
        let id = {
            let mut history = self.history();
            let id = history.back().map_or(1, |newest| newest.id + 1);
            if history.len() == HISTORY {
                history.pop_front();
            }
            history.push_back(Message { id, name, text });
            id
        };
        self.newest.send_replace(id);
        id
    }

    /// The messages newer than `after` (none if there are none), and the newest id.
    pub fn since(&self, after: u64) -> Batch {
        self.looks.fetch_add(1, Ordering::Relaxed);
        let history = self.history();
        Batch {
            messages: history.iter().filter(|m| m.id > after).cloned().collect(),
            last: history.back().map_or(0, |newest| newest.id),
        }
    }

    /// A receiver of the newest id: `changed().await` returns when a message is posted
    /// after the receiver last looked (`borrow_and_update`) or was made.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.newest.subscribe()
    }

    /// The newest message's id (0 before the first).
    pub fn newest(&self) -> u64 {
        *self.newest.borrow()
    }

    /// How many times [`Store::since`] was called: a handler that keeps looking while
    /// nothing happens (polling) shows here.
    pub fn looks(&self) -> u64 {
        self.looks.load(Ordering::Relaxed)
    }
}
