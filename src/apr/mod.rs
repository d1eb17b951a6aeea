//! Safe newtypes over APR: pools (with Rust values dropped by pool cleanups),
//! tables, password hashes, random bytes, a first-claim word and a table of
//! counters shared with the children; and the Unix calls the auth daemons
//! need (`unix.rs`, `ready_set.rs`, `socket_peek.rs`).

pub mod first_claim;
pub mod password;
pub mod pool;
pub mod random;
pub mod ready_set;
pub mod shared_table;
pub mod socket_peek;
pub mod table;
pub mod unix;

pub use pool::Pool;
pub use table::Table;
