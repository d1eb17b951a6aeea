//! A table of counters shared by the parent and every child it forks, for
//! one reading of the configuration: APR anonymous shared memory made in the
//! configuration pool before the children are forked and removed with that
//! pool (as `first_claim.rs`), so each start or restart begins at zero.
//!
//! The table has a fixed number of rows, each named by a path, and a few
//! server-wide counters. Every counter is an `AtomicU64` updated with
//! relaxed atomic operations: no lock anywhere. A row is claimed for a path
//! at most once: rows are taken in index order, a free row by a
//! compare-and-swap of its state word (free → claiming), then its path is
//! written and the state set to published (release). A process looking for
//! a path walks the rows in order and waits for a row being claimed to be
//! published before comparing it, so two processes can never claim two rows
//! for one path. The last row is never claimed: it counts what finds no
//! row (the table is full, or the path is longer than a row holds).

use std::ptr::{null_mut, NonNull};
use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, AtomicU8, Ordering};

use crate::apr::Pool;
use crate::ffi;

/// A row's state word.
const FREE: u32 = 0;
const CLAIMING: u32 = 1;
const PUBLISHED: u32 = 2;

/// How many times a lookup re-reads a row being claimed before counting
/// under the last row instead (a claim writes at most `PATH_CAPACITY`
/// bytes, so this is never reached unless the claiming process died).
const CLAIM_SPINS: u32 = 1_000_000;

/// Bytes of a path a row holds; longer paths are counted in the last row.
pub const PATH_CAPACITY: usize = 1024;

/// The shape of a table, fixed when it is made.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    /// Rows, the last ("other") row included.
    pub rows: usize,
    /// Counters of each row.
    pub counters_per_row: usize,
    /// Server-wide counters.
    pub globals: usize,
}

/// One row's head: its state and path.
#[repr(C)]
struct RowHead {
    state: AtomicU32,
    len: AtomicU32,
    path: [AtomicU8; PATH_CAPACITY],
}

/// The start of the segment.
#[repr(C)]
struct Header {
    /// Which table this process made it as (1, 2, ...: one per cycle).
    generation: AtomicU64,
    rows: AtomicU64,
    counters_per_row: AtomicU64,
    globals: AtomicU64,
}

/// Tables this process has made (each cycle's gets the next number).
static MADE: AtomicU64 = AtomicU64::new(0);

/// The table of the current configuration cycle (NULL: none).
static CURRENT: AtomicPtr<Header> = AtomicPtr::new(null_mut());

/// Forgets the table as its pool is cleared (registered after the
/// segment's own cleanup, so it runs first).
struct Forget;

impl Drop for Forget {
    fn drop(&mut self) {
        CURRENT.store(null_mut(), Ordering::Release);
    }
}

/// A table in shared memory (a copyable handle).
#[derive(Clone, Copy)]
pub struct SharedTable {
    header: NonNull<Header>,
    shape: Shape,
}

// SAFETY: the table is only reached through atomics; the segment stays
// mapped for as long as a handle is handed out (see `current`).
unsafe impl Send for SharedTable {}
// SAFETY: as above.
unsafe impl Sync for SharedTable {}

fn row_bytes(shape: Shape) -> usize {
    std::mem::size_of::<RowHead>().next_multiple_of(8) + shape.counters_per_row * 8
}

fn globals_offset() -> usize {
    std::mem::size_of::<Header>()
}

fn rows_offset(shape: Shape) -> usize {
    globals_offset() + shape.globals * 8
}

/// Bytes of a table of `shape`.
pub fn size_of(shape: Shape) -> usize {
    rows_offset(shape) + shape.rows * row_bytes(shape)
}

/// Make a new table of `shape`, all zero, in `pool` (the parent's
/// configuration pool, before any child of this cycle is forked), and make
/// it the current one. `None` when APR cannot make shared memory; there is
/// no current table then.
pub fn renew(pool: Pool, shape: Shape) -> Option<SharedTable> {
    CURRENT.store(null_mut(), Ordering::Release);
    let shape = Shape {
        rows: shape.rows.max(1),
        ..shape
    };
    let size = size_of(shape);
    let mut shm: *mut ffi::apr_shm_t = null_mut();
    // SAFETY: an anonymous segment (NULL file name) allocated in a live
    // pool; APR writes the segment handle into `shm`.
    let status = unsafe {
        ffi::apr_shm_create(
            &mut shm,
            size as ffi::apr_size_t,
            std::ptr::null(),
            pool.as_ptr(),
        )
    };
    if status != 0 || shm.is_null() {
        return None;
    }
    // SAFETY: `shm` is the segment just made; its base address is valid,
    // page-aligned memory of at least `size` bytes until the pool's cleanup.
    let base = unsafe { ffi::apr_shm_baseaddr_get(shm) }.cast::<u8>();
    if base.is_null() {
        return None;
    }
    // SAFETY: as above; no other process has seen the segment yet. All
    // zero bytes are valid atomics (free rows, zero counters).
    unsafe { std::ptr::write_bytes(base, 0, size) };
    let header = NonNull::new(base.cast::<Header>())?;
    let table = SharedTable { header, shape };
    let head = table.header();
    head.generation
        .store(MADE.fetch_add(1, Ordering::Relaxed) + 1, Ordering::Relaxed);
    head.rows.store(shape.rows as u64, Ordering::Relaxed);
    head.counters_per_row
        .store(shape.counters_per_row as u64, Ordering::Relaxed);
    head.globals.store(shape.globals as u64, Ordering::Relaxed);
    pool.alloc(Forget);
    CURRENT.store(header.as_ptr(), Ordering::Release);
    Some(table)
}

/// The current table, if this configuration cycle made one: one load of
/// one pointer (an acquire load, a plain load on x86-64) and a NULL test
/// when there is none.
#[inline]
pub fn current() -> Option<SharedTable> {
    let header = NonNull::new(CURRENT.load(Ordering::Acquire))?;
    // SAFETY: non-NULL only while the segment is mapped (Forget clears it
    // before the pool unmaps the segment); forked children inherit both.
    // The shape was written before the pointer was published.
    let head = unsafe { header.as_ref() };
    Some(SharedTable {
        header,
        shape: Shape {
            rows: head.rows.load(Ordering::Relaxed) as usize,
            counters_per_row: head.counters_per_row.load(Ordering::Relaxed) as usize,
            globals: head.globals.load(Ordering::Relaxed) as usize,
        },
    })
}

impl SharedTable {
    fn header(&self) -> &Header {
        // SAFETY: the segment is mapped while the handle is in use (see
        // `current`); the header is at its start.
        unsafe { self.header.as_ref() }
    }

    fn base(&self) -> *mut u8 {
        self.header.as_ptr().cast()
    }

    fn row_head(&self, row: usize) -> &RowHead {
        let row = row.min(self.shape.rows - 1);
        let offset = rows_offset(self.shape) + row * row_bytes(self.shape);
        // SAFETY: the offset lies inside the segment (size_of), is a
        // multiple of 8 and holds a RowHead (zero, or written by claims).
        unsafe { &*self.base().add(offset).cast::<RowHead>() }
    }

    /// Which of this process's tables it is: a row number found in one
    /// table means nothing in another.
    pub fn generation(&self) -> u64 {
        self.header().generation.load(Ordering::Relaxed)
    }

    /// The row that counts what has no row of its own.
    pub fn other_row(&self) -> usize {
        self.shape.rows - 1
    }

    /// Counter `index` of `row` (both clamped into the table).
    #[inline]
    pub fn counter(&self, row: usize, index: usize) -> &AtomicU64 {
        let row = row.min(self.shape.rows - 1);
        let index = index.min(self.shape.counters_per_row.saturating_sub(1));
        let offset = rows_offset(self.shape)
            + row * row_bytes(self.shape)
            + std::mem::size_of::<RowHead>().next_multiple_of(8)
            + index * 8;
        // SAFETY: the offset lies inside the segment and is 8-aligned (the
        // base is page-aligned); the bytes are an AtomicU64.
        unsafe { &*self.base().add(offset).cast::<AtomicU64>() }
    }

    /// Server-wide counter `index` (clamped).
    #[inline]
    pub fn global(&self, index: usize) -> &AtomicU64 {
        let index = index.min(self.shape.globals.saturating_sub(1));
        let offset = globals_offset() + index * 8;
        // SAFETY: as in `counter`.
        unsafe { &*self.base().add(offset).cast::<AtomicU64>() }
    }

    /// The row named `path`, claimed for it if no row is yet; `None` when
    /// it has none (table full, path too long or empty): count it under
    /// `other_row`.
    pub fn row_for(&self, path: &str) -> Option<usize> {
        let bytes = path.as_bytes();
        if bytes.is_empty() || bytes.len() > PATH_CAPACITY {
            return None;
        }
        for row in 0..self.other_row() {
            let head = self.row_head(row);
            let mut state = head.state.load(Ordering::Acquire);
            if state == FREE {
                match head.state.compare_exchange(
                    FREE,
                    CLAIMING,
                    Ordering::Acquire,
                    Ordering::Acquire,
                ) {
                    Ok(_) => {
                        for (cell, byte) in head.path.iter().zip(bytes) {
                            cell.store(*byte, Ordering::Relaxed);
                        }
                        head.len.store(bytes.len() as u32, Ordering::Relaxed);
                        head.state.store(PUBLISHED, Ordering::Release);
                        return Some(row);
                    }
                    Err(now) => state = now,
                }
            }
            let mut spins = 0;
            while state == CLAIMING {
                spins += 1;
                if spins > CLAIM_SPINS {
                    return None;
                }
                std::hint::spin_loop();
                state = head.state.load(Ordering::Acquire);
            }
            if state == PUBLISHED && self.path_is(head, bytes) {
                return Some(row);
            }
        }
        None
    }

    fn path_is(&self, head: &RowHead, bytes: &[u8]) -> bool {
        head.len.load(Ordering::Relaxed) as usize == bytes.len()
            && head
                .path
                .iter()
                .zip(bytes)
                .all(|(cell, byte)| cell.load(Ordering::Relaxed) == *byte)
    }

    /// The path of `row`, when it was claimed (published).
    pub fn row_path(&self, row: usize) -> Option<String> {
        if row >= self.other_row() {
            return None;
        }
        let head = self.row_head(row);
        if head.state.load(Ordering::Acquire) != PUBLISHED {
            return None;
        }
        let len = (head.len.load(Ordering::Relaxed) as usize).min(PATH_CAPACITY);
        let bytes: Vec<u8> = head.path[..len]
            .iter()
            .map(|cell| cell.load(Ordering::Relaxed))
            .collect();
        Some(String::from_utf8_lossy(&bytes).into_owned())
    }
}
