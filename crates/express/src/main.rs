//! `authnz-wsgi-express`: like `mod_wsgi-express start-server`, for
//! mod_authnz_wsgi. It writes a complete Apache httpd configuration into a
//! server root directory (`setup-server`) and, for `start-server`, runs
//! Debian's `apache2` in the foreground with it.
//!
//! This program does not link the module or any `ap_*` symbol; it only
//! names the module's `.so` in a `LoadModule` line.
//!
//! Exit status: 2 for a usage error (bad or inconsistent options), 1 when
//! the server root cannot be written or Apache cannot be run, otherwise
//! Apache's own status (`start-server`) or 0 (`setup-server`).

mod access_log;
mod apachectl;
mod caching;
mod call_limits;
mod config;
mod daemon;
mod identity;
mod locate;
mod options;
mod quote;
mod resolve;
mod run;
mod server_root;
mod spec;
mod tls;
mod values;
mod workers;

use std::io::Write;
use std::process::ExitCode;

use options::{Invocation, Subcommand};

const PROGRAM: &str = "authnz-wsgi-express";

fn fail(code: u8, message: &str) -> ExitCode {
    eprintln!("{PROGRAM}: error: {message}");
    if code == 2 {
        eprintln!("Try '{PROGRAM} --help' for the list of options.");
    }
    ExitCode::from(code)
}

fn main() -> ExitCode {
    let args: Vec<String> = match std::env::args_os()
        .skip(1)
        .map(|a| a.into_string())
        .collect::<Result<_, _>>()
    {
        Ok(args) => args,
        Err(bad) => return fail(2, &format!("argument {bad:?} is not valid UTF-8")),
    };
    let (subcommand, options) = match options::parse(&args) {
        Ok(Invocation::Help) => {
            print!("{}", spec::usage());
            return ExitCode::SUCCESS;
        }
        Ok(Invocation::Version) => {
            println!("{PROGRAM} {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Ok(Invocation::Run(subcommand, options)) => (subcommand, *options),
        Err(message) => return fail(2, &message),
    };
    let settings = match resolve::resolve(options) {
        Ok(s) => s,
        Err(message) => return fail(2, &message),
    };
    if let Some(warning) = tls::plain_basic_warning(&settings.options) {
        eprintln!("{PROGRAM}: warning: {warning}");
    }
    if let Err(message) = server_root::write_all(&settings) {
        return fail(1, &message);
    }
    print!("{}", server_root::summary(&settings));
    match subcommand {
        Subcommand::SetupServer => {
            println!(
                "\nStart it with: {} start-foreground (or start / stop / configtest)",
                settings.apachectl_path().display()
            );
            ExitCode::SUCCESS
        }
        Subcommand::StartServer => {
            println!();
            let _ = std::io::stdout().flush();
            let message = run::exec_apache(&settings);
            fail(1, &message)
        }
    }
}
