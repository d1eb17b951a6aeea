//! Safe newtypes over APR: pools (with Rust values dropped by pool cleanups),
//! tables, password hashes, random bytes and a first-claim word shared with
//! the children.

pub mod first_claim;
pub mod password;
pub mod pool;
pub mod random;
pub mod table;

pub use pool::Pool;
pub use table::Table;
