//! Safe layer over the C library and the kernel where neither httpd nor APR
//! has the function: the kernel's random source and libxcrypt's `crypt_rn`.

pub mod crypt;
pub mod random;
