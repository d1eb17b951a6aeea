//! Safe newtypes over APR: pools (with Rust values dropped by pool cleanups),
//! tables and password hashes.

pub mod password;
pub mod pool;
pub mod table;

pub use pool::Pool;
pub use table::Table;
