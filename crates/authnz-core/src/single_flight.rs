//! One computation per key at a time: when several threads miss the same
//! cache entry at once, the first one (the leader) computes it and the
//! others wait for it to finish, then look in the cache again.
//!
//! A waiter never receives the leader's result from here; it only learns
//! that the leader is done. What the leader stored (a granted login, a realm
//! hash, a group set) is then in the cache; what it did not store (a denial,
//! an error) is not, and each waiter computes its own answer. So nothing
//! negative is ever shared, and a waiter is never worse off than without
//! this: at worst it waits `max_wait` and then computes as before.
//!
//! The number of keys in flight is at most the number of threads, so a list
//! scanned in full is used instead of a hash map (and can be built in a
//! `static`).

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

struct Flight<K> {
    key: K,
    /// Tells this flight from a later one for the same key.
    id: u64,
    /// Threads blocked on this flight: the leader wakes them only if any.
    waiters: usize,
}

struct Flights<K> {
    running: Vec<Flight<K>>,
    next_id: u64,
}

/// The set of computations in progress, by key.
pub struct SingleFlight<K> {
    flights: Mutex<Flights<K>>,
    finished: Condvar,
}

/// What [`SingleFlight::begin`] decided for the calling thread.
pub enum Turn<'a, K: PartialEq> {
    /// Nobody else computes this key: compute it, store what may be stored,
    /// then drop the leader.
    Lead(Leader<'a, K>),
    /// Another thread computed this key and has finished.
    Waited,
    /// Another thread is still computing this key after `max_wait`.
    TimedOut,
}

/// The right to compute a key; waiters are released when it is dropped
/// (also when the leader unwinds).
pub struct Leader<'a, K: PartialEq> {
    owner: &'a SingleFlight<K>,
    id: u64,
}

impl<K: PartialEq> SingleFlight<K> {
    pub const fn new() -> SingleFlight<K> {
        SingleFlight {
            flights: Mutex::new(Flights {
                running: Vec::new(),
                next_id: 0,
            }),
            finished: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Flights<K>> {
        // Every update below leaves the list consistent, even if a holder
        // panicked between two of them.
        self.flights.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Lead the computation of `key`, or wait up to `max_wait` for the
    /// thread already computing it.
    pub fn begin(&self, key: K, max_wait: Duration) -> Turn<'_, K> {
        let mut flights = self.lock();
        let Some(flight) = flights.running.iter_mut().find(|f| f.key == key) else {
            let id = flights.next_id;
            flights.next_id += 1;
            flights.running.push(Flight {
                key,
                id,
                waiters: 0,
            });
            return Turn::Lead(Leader { owner: self, id });
        };
        let id = flight.id;
        flight.waiters += 1;
        let deadline = Instant::now() + max_wait;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let still_running = flights.running.iter_mut().find(|f| f.id == id);
            match still_running {
                None => return Turn::Waited,
                Some(flight) if left.is_zero() => {
                    flight.waiters -= 1;
                    return Turn::TimedOut;
                }
                Some(_) => {}
            }
            flights = self
                .finished
                .wait_timeout(flights, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Keys being computed now (for tests and diagnostics).
    pub fn in_flight(&self) -> usize {
        self.lock().running.len()
    }
}

impl<K: PartialEq> Default for SingleFlight<K> {
    fn default() -> Self {
        SingleFlight::new()
    }
}

impl<K: PartialEq> Drop for Leader<'_, K> {
    fn drop(&mut self) {
        let mut flights = self.owner.lock();
        let Some(at) = flights.running.iter().position(|f| f.id == self.id) else {
            return;
        };
        let done = flights.running.swap_remove(at);
        drop(flights);
        if done.waiters > 0 {
            self.owner.finished.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Barrier};
    use std::thread;

    #[test]
    fn the_first_thread_leads_and_the_key_is_free_again_after_it() {
        let flights = SingleFlight::new();
        let Turn::Lead(leader) = flights.begin("k", Duration::ZERO) else {
            panic!("the first thread must lead");
        };
        assert_eq!(flights.in_flight(), 1);
        assert!(matches!(
            flights.begin("other", Duration::ZERO),
            Turn::Lead(_)
        ));
        assert_eq!(flights.in_flight(), 1, "a dropped leader frees its key");
        assert!(matches!(flights.begin("k", Duration::ZERO), Turn::TimedOut));
        drop(leader);
        assert_eq!(flights.in_flight(), 0);
        assert!(matches!(flights.begin("k", Duration::ZERO), Turn::Lead(_)));
    }

    #[test]
    fn concurrent_threads_on_one_key_compute_it_once() {
        let flights = Arc::new(SingleFlight::new());
        let computed = Arc::new(AtomicUsize::new(0));
        let waited = Arc::new(AtomicUsize::new(0));
        let start = Arc::new(Barrier::new(8));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (flights, computed, waited, start) = (
                    flights.clone(),
                    computed.clone(),
                    waited.clone(),
                    start.clone(),
                );
                thread::spawn(move || {
                    start.wait();
                    match flights.begin(7u32, Duration::from_secs(30)) {
                        Turn::Lead(leader) => {
                            computed.fetch_add(1, Ordering::SeqCst);
                            // Long enough for every other thread to queue.
                            thread::sleep(Duration::from_millis(300));
                            drop(leader);
                        }
                        Turn::Waited => {
                            waited.fetch_add(1, Ordering::SeqCst);
                        }
                        Turn::TimedOut => panic!("nobody should time out"),
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(computed.load(Ordering::SeqCst), 1);
        assert_eq!(waited.load(Ordering::SeqCst), 7);
        assert_eq!(flights.in_flight(), 0);
    }

    #[test]
    fn a_waiter_gives_up_after_max_wait_and_is_not_counted_any_more() {
        let flights = Arc::new(SingleFlight::new());
        let Turn::Lead(leader) = flights.begin(1u8, Duration::ZERO) else {
            panic!("must lead");
        };
        let other = flights.clone();
        let started = Instant::now();
        let waiter = thread::spawn(move || {
            matches!(other.begin(1u8, Duration::from_millis(100)), Turn::TimedOut)
        });
        assert!(waiter.join().unwrap());
        assert!(started.elapsed() >= Duration::from_millis(100));
        assert_eq!(flights.lock().running[0].waiters, 0);
        drop(leader);
    }

    #[test]
    fn a_leader_that_panics_still_releases_its_waiters() {
        let flights = Arc::new(SingleFlight::new());
        let ready = Arc::new(Barrier::new(2));
        let (leading, ready2) = (flights.clone(), ready.clone());
        let leader = thread::spawn(move || {
            let _turn = leading.begin(3u8, Duration::ZERO);
            ready2.wait();
            thread::sleep(Duration::from_millis(100));
            panic!("the computation failed");
        });
        ready.wait();
        let turn = flights.begin(3u8, Duration::from_secs(30));
        assert!(matches!(turn, Turn::Waited));
        assert!(leader.join().is_err());
        assert_eq!(flights.in_flight(), 0);
    }

    #[test]
    fn a_waiter_of_a_finished_flight_does_not_wait_for_the_next_one() {
        let flights = Arc::new(SingleFlight::new());
        let Turn::Lead(first) = flights.begin(5u8, Duration::ZERO) else {
            panic!("must lead");
        };
        let other = flights.clone();
        let waiter = thread::spawn(move || {
            let started = Instant::now();
            let turn = other.begin(5u8, Duration::from_secs(30));
            (matches!(turn, Turn::Waited), started.elapsed())
        });
        while flights.lock().running[0].waiters == 0 {
            thread::sleep(Duration::from_millis(5));
        }
        // The first flight ends and a second starts at once for the same key.
        drop(first);
        let second = flights.begin(5u8, Duration::ZERO);
        let (waited, took) = waiter.join().unwrap();
        assert!(waited, "the waiter's flight finished");
        assert!(took < Duration::from_secs(10));
        drop(second);
    }
}
