//! One computation per key at a time: when several threads ask the same
//! question at once (the same credentials in the same configuration
//! context), the first one (the leader) computes the answer and the others
//! wait for it, then take the answer it published.
//!
//! The answer is handed only to the threads that were waiting while it was
//! computed — it is never kept for later threads (keeping answers is the
//! cache's business, which stores grants only). A refusal is shared this
//! way too: the waiters asked the very same question at the same moment.
//! A leader that ends without publishing (it unwound) releases its waiters
//! with no answer, and each computes its own. A waiter waits at most
//! `max_wait`, then gives up.
//!
//! The number of keys in flight is at most the number of threads, so lists
//! scanned in full are used instead of hash maps (and can be built in a
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

/// A finished flight's answer, until each of its waiters has taken a copy.
struct Published<V> {
    id: u64,
    value: V,
    /// Waiters that have not taken it yet.
    left: usize,
}

struct Flights<K, V> {
    running: Vec<Flight<K>>,
    published: Vec<Published<V>>,
    next_id: u64,
}

/// The set of computations in progress, by key, with the answers of those
/// that just finished.
pub struct SingleFlight<K, V> {
    flights: Mutex<Flights<K, V>>,
    finished: Condvar,
}

/// What [`SingleFlight::begin`] decided for the calling thread.
pub enum Turn<'a, K: PartialEq, V: Clone> {
    /// Nobody else computes this key: compute it, then
    /// [`Leader::publish`] the answer (dropping the leader without
    /// publishing releases the waiters with none).
    Lead(Leader<'a, K, V>),
    /// Another thread computed this key: its answer, or `None` when it
    /// ended without one.
    Waited(Option<V>),
    /// Another thread is still computing this key after `max_wait`.
    TimedOut,
}

/// The right to compute a key; waiters are released when it is published
/// or dropped (also when the leader unwinds).
pub struct Leader<'a, K: PartialEq, V: Clone> {
    owner: &'a SingleFlight<K, V>,
    id: u64,
}

impl<K: PartialEq, V: Clone> SingleFlight<K, V> {
    pub const fn new() -> SingleFlight<K, V> {
        SingleFlight {
            flights: Mutex::new(Flights {
                running: Vec::new(),
                published: Vec::new(),
                next_id: 0,
            }),
            finished: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Flights<K, V>> {
        // Every update below leaves the lists consistent, even if a holder
        // panicked between two of them.
        self.flights.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Lead the computation of `key`, or wait up to `max_wait` for the
    /// thread already computing it.
    pub fn begin(&self, key: K, max_wait: Duration) -> Turn<'_, K, V> {
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
                None => return Turn::Waited(take_published(&mut flights.published, id)),
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

    /// Answers not yet taken by all their waiters (for tests).
    pub fn unclaimed(&self) -> usize {
        self.lock().published.len()
    }
}

/// A copy of flight `id`'s answer for one of its waiters; the last waiter
/// to take it removes it.
fn take_published<V: Clone>(published: &mut Vec<Published<V>>, id: u64) -> Option<V> {
    let at = published.iter().position(|p| p.id == id)?;
    published[at].left -= 1;
    if published[at].left == 0 {
        Some(published.swap_remove(at).value)
    } else {
        Some(published[at].value.clone())
    }
}

impl<K: PartialEq, V: Clone> Default for SingleFlight<K, V> {
    fn default() -> Self {
        SingleFlight::new()
    }
}

impl<K: PartialEq, V: Clone> Leader<'_, K, V> {
    /// End the flight and hand `value` to every thread waiting for it.
    pub fn publish(self, value: V) {
        self.end(Some(value));
    }

    fn end(&self, value: Option<V>) {
        let mut flights = self.owner.lock();
        let Some(at) = flights.running.iter().position(|f| f.id == self.id) else {
            return;
        };
        let done = flights.running.swap_remove(at);
        if done.waiters == 0 {
            return;
        }
        if let Some(value) = value {
            flights.published.push(Published {
                id: done.id,
                value,
                left: done.waiters,
            });
        }
        drop(flights);
        self.owner.finished.notify_all();
    }
}

impl<K: PartialEq, V: Clone> Drop for Leader<'_, K, V> {
    fn drop(&mut self) {
        // After `publish` the flight is gone and this does nothing.
        self.end(None);
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
        let flights: SingleFlight<&str, ()> = SingleFlight::new();
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
        let flights: Arc<SingleFlight<_, u8>> = Arc::new(SingleFlight::new());
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
                            leader.publish(42);
                        }
                        Turn::Waited(answer) => {
                            assert_eq!(answer, Some(42), "every waiter gets the answer");
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
        assert_eq!(flights.unclaimed(), 0, "the last waiter removes the answer");
    }

    #[test]
    fn an_answer_is_never_kept_for_later_threads() {
        let flights: SingleFlight<u8, u8> = SingleFlight::new();
        let Turn::Lead(leader) = flights.begin(9, Duration::ZERO) else {
            panic!("must lead");
        };
        leader.publish(1);
        assert_eq!(flights.unclaimed(), 0, "nobody waited: nothing is kept");
        assert!(matches!(flights.begin(9, Duration::ZERO), Turn::Lead(_)));
    }

    #[test]
    fn a_waiter_gives_up_after_max_wait_and_is_not_counted_any_more() {
        let flights: Arc<SingleFlight<_, u8>> = Arc::new(SingleFlight::new());
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
        let flights: Arc<SingleFlight<_, u8>> = Arc::new(SingleFlight::new());
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
        assert!(matches!(turn, Turn::Waited(None)));
        assert!(leader.join().is_err());
        assert_eq!(flights.in_flight(), 0);
    }

    #[test]
    fn a_waiter_of_a_finished_flight_does_not_wait_for_the_next_one() {
        let flights: Arc<SingleFlight<_, u8>> = Arc::new(SingleFlight::new());
        let Turn::Lead(first) = flights.begin(5u8, Duration::ZERO) else {
            panic!("must lead");
        };
        let other = flights.clone();
        let waiter = thread::spawn(move || {
            let started = Instant::now();
            let turn = other.begin(5u8, Duration::from_secs(30));
            (matches!(turn, Turn::Waited(None)), started.elapsed())
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
