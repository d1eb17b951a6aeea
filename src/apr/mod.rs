//! Safe newtypes over APR: pools (with Rust values dropped by pool cleanups),
//! tables, password hashes and random bytes.

pub mod password;
pub mod pool;
pub mod random;
pub mod table;

pub use pool::Pool;
pub use table::Table;
