//! What the request path counts for the live figures, and where: every
//! function here is one load of one pointer and a return when mod_status
//! is not loaded (no table was made); otherwise it finds the
//! script's row (a per-thread memo keyed by the table's generation and the
//! exact path, else a walk of the shared table) and adds to its counters
//! with relaxed atomic operations: no lock, no Python.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use authnz_core::live_figures::{bucket_index, bucket_of, figure_index, Figure, Function, Global};

use crate::apr::shared_table::{self, SharedTable};

/// Paths a thread remembers the row of (the memo is emptied when full).
const MEMO_CAPACITY: usize = 32;

thread_local! {
    /// (table generation, script path, row) of the scripts this thread
    /// counted for.
    static ROWS: RefCell<Vec<(u64, Box<str>, usize)>> = const { RefCell::new(Vec::new()) };
}

/// A script's row in the current table.
struct Row {
    table: SharedTable,
    row: usize,
}

impl Row {
    /// `script`'s row, when there is a table.
    #[inline]
    fn of(script: &str) -> Option<Row> {
        let table = shared_table::current()?;
        let generation = table.generation();
        let row = ROWS.with(|memo| {
            let mut memo = memo.borrow_mut();
            if let Some((_, _, row)) = memo
                .iter()
                .find(|(g, path, _)| *g == generation && **path == *script)
            {
                return *row;
            }
            let row = table.row_for(script).unwrap_or(table.other_row());
            if memo.len() >= MEMO_CAPACITY {
                memo.clear();
            }
            memo.push((generation, script.into(), row));
            row
        });
        Some(Row { table, row })
    }

    fn add(&self, function: Function, figure: Figure, amount: u64) {
        self.table
            .counter(self.row, figure_index(function, figure))
            .fetch_add(amount, Ordering::Relaxed);
    }
}

/// Add one to `figure` of `function` of `script`.
fn count(script: &str, function: &str, figure: Figure) {
    let Some(function) = Function::from_python_name(function) else {
        return;
    };
    if let Some(row) = Row::of(script) {
        row.add(function, figure, 1);
    }
}

/// A cache lookup for `function` of `script` found an entry (`hit`) or not.
pub fn cache_lookup(script: &str, function: &str, hit: bool) {
    if shared_table::current().is_none() {
        return;
    }
    let figure = if hit {
        Figure::CacheHits
    } else {
        Figure::CacheMisses
    };
    count(script, function, figure);
}

/// The answer was taken from another thread's call for the same key.
pub fn shared_wait(script: &str, function: &str) {
    if shared_table::current().is_none() {
        return;
    }
    count(script, function, Figure::SharedWaits);
}

/// The question was refused: `WSGIMaxConcurrentCalls` calls were running.
pub fn refused(script: &str, function: &str) {
    if shared_table::current().is_none() {
        return;
    }
    count(script, function, Figure::Refused);
}

/// How a Python call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Granted,
    Denied,
    Unknown,
    Error,
}

/// One Python call being counted: `Running` until it is finished or
/// dropped (an unwinding call leaves `Running` too, with no result).
pub struct CallFigures {
    row: Row,
    function: Function,
    started: Instant,
}

/// A Python call of `function` of `script` starts (`None`: nothing is
/// counted).
#[inline]
pub fn call_starts(script: &str, function: &str) -> Option<CallFigures> {
    shared_table::current()?;
    let function = Function::from_python_name(function)?;
    let row = Row::of(script)?;
    row.add(function, Figure::Calls, 1);
    row.add(function, Figure::Running, 1);
    Some(CallFigures {
        row,
        function,
        started: Instant::now(),
    })
}

impl CallFigures {
    /// The call ended with `outcome`; `timed_out` when it reached
    /// `WSGIScriptTimeout`.
    pub fn finish(self, outcome: Outcome, timed_out: bool) {
        let micros = u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX);
        let figure = match outcome {
            Outcome::Granted => Figure::Granted,
            Outcome::Denied => Figure::Denied,
            Outcome::Unknown => Figure::Unknown,
            Outcome::Error => Figure::Error,
        };
        self.row.add(self.function, figure, 1);
        if timed_out {
            self.row.add(self.function, Figure::Timeouts, 1);
        }
        self.row.add(self.function, Figure::TimeTotalMicros, micros);
        self.row
            .table
            .counter(self.row.row, bucket_index(self.function, bucket_of(micros)))
            .fetch_add(1, Ordering::Relaxed);
    }
}

impl Drop for CallFigures {
    fn drop(&mut self) {
        // `Running` is a gauge: wrapping subtraction of one.
        self.row
            .table
            .counter(self.row.row, figure_index(self.function, Figure::Running))
            .fetch_sub(1, Ordering::Relaxed);
    }
}

/// An entry was handed to mod_authn_socache.
pub fn socache_stored() {
    if let Some(table) = shared_table::current() {
        table
            .global(Global::SocacheStores.index())
            .fetch_add(1, Ordering::Relaxed);
    }
}

/// Entries of this child's in-process cache that the shared gauge holds.
static CACHE_ENTRIES_REPORTED: AtomicU64 = AtomicU64::new(0);

/// This child's in-process cache holds `entries` now (called under the
/// cache's lock, so the reports of one child come in order).
pub fn cache_entries(entries: usize) {
    if let Some(table) = shared_table::current() {
        let entries = entries as u64;
        let before = CACHE_ENTRIES_REPORTED.swap(entries, Ordering::Relaxed);
        if before != entries {
            // The difference, as a wrapping (signed) addition.
            table
                .global(Global::CacheEntries.index())
                .fetch_add(entries.wrapping_sub(before), Ordering::Relaxed);
        }
    }
}

/// The child ends: its cache entries leave the shared gauge.
pub fn child_exits() {
    cache_entries(0);
}
