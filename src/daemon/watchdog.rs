//! The daemon's watchdog: a thread that needs neither the GIL nor any lock
//! a serving thread holds, and ends the whole process (`_exit`) when a call
//! has run longer than its time limit and half a second. The Apache child
//! waiting for that call has answered 500 by then (its deadline is the
//! limit and 0.8 s); the parent replaces the process. This is the backstop
//! for a call Python's own time limit cannot stop (a script stuck in C).

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use authnz_core::daemon_frame::encode_reply;
use authnz_core::daemon_supervision::retry_elsewhere;
use authnz_core::log_tags as tags;

use crate::apr::unix;
use crate::daemon::connections::Connection;
use crate::daemon::stderr_log;

/// How long past its limit a call may run before the process ends.
pub const OVERRUN: Duration = Duration::from_millis(500);
/// The process's exit status when the watchdog ends it.
pub const EXIT_OVERRUN: i32 = 70;

/// One slot per serving thread: the deadline of its call (milliseconds
/// since `base`, 0 while it makes no call with a limit) and what it calls.
pub struct Watchdog {
    base: Instant,
    deadlines: Vec<AtomicU64>,
    calls: Vec<Mutex<String>>,
    /// Each serving thread's connection and request number, while it
    /// makes a call.
    in_flight: Vec<Mutex<Option<(Connection, u64)>>>,
    group: String,
    /// Set when the process is about to end: the main thread stops
    /// accepting and says so in `stopped_accepting`.
    ending: AtomicBool,
    stopped_accepting: AtomicBool,
    /// Each serving thread's kernel id (0: not started).
    thread_ids: Vec<AtomicI32>,
    /// Whether each serving thread is making a call.
    busy: Vec<AtomicBool>,
}

impl Watchdog {
    /// A watchdog for `threads` serving threads, watching from a thread of
    /// its own.
    pub fn start(group: &str, threads: usize) -> Arc<Watchdog> {
        let watchdog = Arc::new(Watchdog {
            base: Instant::now(),
            deadlines: (0..threads).map(|_| AtomicU64::new(0)).collect(),
            calls: (0..threads).map(|_| Mutex::new(String::new())).collect(),
            in_flight: (0..threads).map(|_| Mutex::new(None)).collect(),
            group: group.to_owned(),
            ending: AtomicBool::new(false),
            stopped_accepting: AtomicBool::new(false),
            thread_ids: (0..threads).map(|_| AtomicI32::new(0)).collect(),
            busy: (0..threads).map(|_| AtomicBool::new(false)).collect(),
        });
        let watching = watchdog.clone();
        let _ = thread::Builder::new()
            .name("authnz-watchdog".into())
            .spawn(move || watching.watch());
        watchdog
    }

    fn now_ms(&self) -> u64 {
        self.base.elapsed().as_millis() as u64
    }

    /// Serving thread `slot` starts (on that thread).
    pub fn thread_started(&self, slot: usize) {
        self.thread_ids[slot].store(unix::thread_id(), Ordering::SeqCst);
    }

    /// The CPU time (clock ticks) serving thread `slot` has used.
    fn cpu_ticks(&self, slot: usize) -> Option<u64> {
        let tid = self.thread_ids[slot].load(Ordering::SeqCst);
        let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).ok()?;
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        // utime and stime, fields 14 and 15 of stat(5).
        Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
    }

    /// Of the calls under way, the one that holds the process: the thread
    /// burning CPU (a loop in C holding the GIL, which the others wait
    /// for, whatever their own limits), or else the call that overran
    /// first (`overrun`, not empty).
    fn culprit(&self, overrun: &[(usize, u64)]) -> usize {
        let first = overrun
            .iter()
            .min_by_key(|&&(_, deadline)| deadline)
            .map_or(0, |&(slot, _)| slot);
        let under_way: Vec<usize> = (0..self.busy.len())
            .filter(|&s| self.busy[s].load(Ordering::SeqCst))
            .collect();
        if under_way.len() < 2 {
            return first;
        }
        let before: Vec<_> = under_way.iter().map(|&s| self.cpu_ticks(s)).collect();
        thread::sleep(Duration::from_millis(100));
        let busiest = under_way
            .iter()
            .zip(before)
            .filter_map(|(&slot, before)| Some((slot, self.cpu_ticks(slot)?.checked_sub(before?)?)))
            .max_by_key(|&(_, used)| used);
        match busiest {
            // At least 3 ticks (30 ms at 100 Hz) of the 100 ms: running.
            Some((slot, used)) if used >= 3 => slot,
            _ => first,
        }
    }

    /// Serving thread `slot` begins a call limited to `timeout_ms` (0:
    /// none), described by `call`.
    /// `connection` (shared) and `sequence` let the watchdog
    /// send the caller a "make it again elsewhere" reply when another call
    /// of this process overruns.
    pub fn begin(
        &self,
        slot: usize,
        timeout_ms: u32,
        call: String,
        connection: Option<Connection>,
        sequence: u64,
    ) {
        if let Ok(mut described) = self.calls[slot].lock() {
            *described = call;
        }
        if let Ok(mut in_flight) = self.in_flight[slot].lock() {
            *in_flight = connection.map(|c| (c, sequence));
        }
        self.busy[slot].store(true, Ordering::SeqCst);
        if timeout_ms > 0 {
            let deadline = self.now_ms() + u64::from(timeout_ms) + OVERRUN.as_millis() as u64;
            self.deadlines[slot].store(deadline.max(1), Ordering::SeqCst);
        }
    }

    /// Serving thread `slot` has finished its call.
    pub fn end(&self, slot: usize) {
        self.busy[slot].store(false, Ordering::SeqCst);
        self.deadlines[slot].store(0, Ordering::SeqCst);
        if let Ok(mut in_flight) = self.in_flight[slot].lock() {
            *in_flight = None;
        }
    }

    /// Whether the process is about to end (no connection may be accepted
    /// or served).
    pub fn is_ending(&self) -> bool {
        self.ending.load(Ordering::SeqCst)
    }

    /// The main thread has seen `is_ending` and accepts no more.
    pub fn acceptor_stopped(&self) {
        self.stopped_accepting.store(true, Ordering::SeqCst);
    }

    /// Tell the callers of the other calls under way that this process
    /// ends: they may make their call again in another process of the
    /// group (an overrunning call in C code holds the GIL, so theirs could
    /// not run here).
    fn release_others(&self, overrunning: usize) {
        for (slot, in_flight) in self.in_flight.iter().enumerate() {
            if slot == overrunning {
                continue;
            }
            let Ok(in_flight) = in_flight.try_lock() else {
                continue;
            };
            if let Some((connection, sequence)) = in_flight.as_ref() {
                if let Ok(frame) = encode_reply(&retry_elsewhere(*sequence)) {
                    let _ = connection.set_write_timeout(Some(Duration::from_millis(100)));
                    let _ = (&**connection).write_all(&frame);
                }
            }
        }
    }

    fn watch(&self) {
        loop {
            thread::sleep(Duration::from_millis(100));
            let now = self.now_ms();
            // Calls waiting for the GIL an overrunning call holds pass their
            // own limits too: `culprit` tells them apart.
            let overrun: Vec<(usize, u64)> = self
                .deadlines
                .iter()
                .map(|d| d.load(Ordering::SeqCst))
                .enumerate()
                .filter(|&(_, deadline)| deadline != 0 && now > deadline)
                .collect();
            if !overrun.is_empty() {
                let slot = self.culprit(&overrun);
                {
                    // A stuck thread may hold this lock: never wait for it.
                    let call = self.calls[slot]
                        .try_lock()
                        .map(|c| c.clone())
                        .unwrap_or_else(|_| "a call".to_owned());
                    stderr_log::line(
                        "error",
                        tags::DAEMON_CALL_OVERRAN,
                        &format!(
                            "daemon group {}: {call} ran past its time limit and {:.1} s; \
                             this daemon process ends and is replaced",
                            self.group,
                            OVERRUN.as_secs_f64()
                        ),
                    );
                    // No new connection may reach this process once the
                    // callers are told to connect again.
                    self.ending.store(true, Ordering::SeqCst);
                    let asked = Instant::now();
                    while !self.stopped_accepting.load(Ordering::SeqCst)
                        && asked.elapsed() < Duration::from_millis(300)
                    {
                        thread::sleep(Duration::from_millis(5));
                    }
                    self.release_others(slot);
                    unix::exit_now(EXIT_OVERRUN);
                }
            }
        }
    }
}
