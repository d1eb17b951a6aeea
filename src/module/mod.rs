//! The module's concerns: configuration records and directives, the authn
//! and authz providers, host access, the caches, process lifecycle.
//! `reflect` is identity reflection (docs/identity-reflection.md);
//! `require_any_warning` the start-up warning about group checks other
//! `Require` lines bypass (docs/authorization.md#the-requireany-trap);
//! `script_readability` and `auth_setup_check` the checks made once the
//! whole configuration is read (docs/directives.md#configuration-checks);
//! `auth_daemons` the daemon groups of `WSGIAuthDaemonProcess` and the
//! scripts' `process-group=` (docs/auth-daemons.md), `daemon_dispatch`
//! the calls of such scripts, `process_group_scope` whether
//! `WSGIAuthProcessGroup` leaves any script in Apache's children;
//! `status` the live figures mod_status shows (docs/operations.md);
//! `user_name` what `WSGIUserNameEncoding` makes Apache's user.
//! Concerns reach httpd, APR and the C library only through the safe
//! layers (`httpd/`, `apr/`, `os/`), so they may not use `unsafe` at all.

#![forbid(unsafe_code)]

pub mod access;
pub mod answer;
pub mod auth_daemons;
pub mod auth_setup_check;
pub mod authn;
pub mod authz_group;
pub mod basic_entry;
pub mod beside_mod_wsgi;
pub mod cache;
pub mod config;
pub mod daemon_dispatch;
pub mod directives;
pub mod lifecycle;
pub mod process_group_scope;
pub mod reflect;
pub mod request_state;
pub mod require_any_warning;
pub mod script_readability;
pub mod socache;
pub mod status;
pub mod user_name;
