//! Pure logic of mod_authnz_wsgi, free of httpd and CPython symbols so that
//! `cargo test` can link and run it: credential decoding (SPEC §3.1),
//! validation of what Python returns (§3.2, §3.3), script directive options
//! (§2), environ key naming (§3.6), identity reflection checks (§7),
//! hiding passwords in log text (§5), and the cache keys, bounded store and
//! one-computation-per-key rule of `WSGIAuthCacheTimeout` (§8); the lines
//! a script's writes become in the error log (§4); also the byte
//! comparison of the per-call path; and the sections of a configuration
//! whose `Require` lines let every valid user past a group check (§6).

#![forbid(unsafe_code)]

pub mod auth_cache;
pub mod basic_entry_hash;
pub mod credentials;
pub mod environ_keys;
pub mod environ_reuse;
pub mod group_set;
pub mod log_lines;
pub mod log_tags;
pub mod permissions;
pub mod realm_hash;
pub mod redact;
pub mod reflect;
pub mod require_any;
pub mod require_words;
pub mod script_options;
pub mod short_bytes;
pub mod single_flight;
pub mod socache_policy;
pub mod wait_time;
