//! Pure logic of mod_authnz_wsgi, free of httpd and CPython symbols so that
//! `cargo test` can link and run it: credential decoding (docs/python-contract.md#decoding-of-credentials),
//! validation of what Python returns (docs/python-contract.md#check_password-basic, docs/python-contract.md#get_realm_hash-digest), script directive options
//! (docs/directives.md), environ key naming (docs/python-contract.md#environ), identity reflection checks (docs/identity-reflection.md),
//! hiding passwords in log text (docs/how-it-runs.md#registration-with-httpd), and the cache keys, bounded store and
//! one-computation-per-key rule of `WSGIAuthCacheTimeout` (docs/caching.md); the lines
//! a script's writes become in the error log (docs/how-it-runs.md); also the byte
//! comparison of the per-call path; and the sections of a configuration
//! whose `Require` lines let every valid user past a group check (docs/authorization.md#the-requireany-trap);
//! what a `WSGIPythonHome` directory is (its `pyvenv.cfg` version); sections where
//! the module's directives lack `AuthType`, a provider or a group script (`auth_setup`);
//! the counters, call-time histogram and `?auto` keys of the live figures
//! mod_status shows (`live_figures`, docs/operations.md);
//! which bytes become Apache's user under `WSGIUserNameEncoding` (`user_name_encoding`);
//! the auth daemons' options, frames, reused connections and supervision rules (`daemon_options`,
//! `daemon_frame`, `daemon_connection`, `daemon_supervision`, docs/auth-daemons.md);
//! where a script runs and whether any may run in Apache's children
//! (`process_group`, `process_group_scope`).

#![forbid(unsafe_code)]

pub mod auth_cache;
pub mod auth_setup;
pub mod basic_entry_hash;
pub mod credentials;
pub mod daemon_connection;
pub mod daemon_frame;
pub mod daemon_options;
pub mod daemon_supervision;
pub mod environ_keys;
pub mod environ_reuse;
pub mod group_set;
pub mod host_verdict;
pub mod live_figures;
pub mod log_lines;
pub mod log_tags;
pub mod permissions;
pub mod process_group;
pub mod process_group_scope;
pub mod python_home;
pub mod realm_hash;
pub mod redact;
pub mod reflect;
pub mod require_any;
pub mod require_words;
pub mod script_options;
pub mod short_bytes;
pub mod single_flight;
pub mod socache_policy;
pub mod user_name_encoding;
pub mod wait_time;
