//! Safe layer over httpd: requests, servers, directive parameters, the
//! parsed configuration tree, output and input filters, mod_status's
//! section hook, logging and the panic boundary every `extern "C"` entry goes through.

pub mod auth_providers;
pub mod cmd;
pub mod conftree;
pub mod directives;
pub mod expr;
pub mod extra_processes;
pub mod filter;
pub mod foreign;
pub mod guard;
pub mod hook_order;
pub mod hooks;
pub mod input_filter;
pub mod log;
pub mod module_config;
pub mod module_record;
pub mod mpm;
pub mod request;
pub mod request_slot;
pub mod server;
pub mod server_state;
pub mod status;
pub mod unixd;

pub use request::Request;
pub use server::Server;
