//! Build script: finds the installed httpd/APR headers through `apxs`, generates
//! Rust bindings for them with bindgen, compiles the C shim for httpd's
//! macros (`src/ffi/mod_authnz_wsgi.c`) against the same headers, and
//! records the Python version the module is built against so a child can
//! refuse a mismatched libpython.

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=APXS");
    println!("cargo:rerun-if-env-changed=PYO3_PYTHON");
    println!("cargo:rerun-if-changed=src/ffi/wrapper.h");
    println!("cargo:rerun-if-changed=src/ffi/mod_authnz_wsgi.c");

    let apxs = find_apxs();
    let include_dir = apxs_query(&apxs, "INCLUDEDIR");
    let extra_includes = apxs_query(&apxs, "EXTRA_INCLUDES");

    let mut clang_args: Vec<String> = vec![format!("-I{include_dir}")];
    clang_args.extend(
        extra_includes
            .split_whitespace()
            .filter(|a| a.starts_with("-I") && *a != "-I.")
            .map(str::to_string),
    );
    let httpd_h = PathBuf::from(&include_dir).join("httpd.h");
    if !httpd_h.exists() {
        panic!(
            "httpd headers not found: {} is missing. Install Debian's `apache2-dev` \
             (apt-get install apache2-dev) or set APXS to the apxs of your httpd.",
            httpd_h.display()
        );
    }
    emit_mmn_cfgs(&PathBuf::from(&include_dir).join("ap_mmn.h"));

    let bindings = bindgen::Builder::default()
        .header("src/ffi/wrapper.h")
        .clang_args(&clang_args)
        .allowlist_function("ap_.*|apr_.*|crypt_rn")
        .allowlist_type("request_rec|server_rec|conn_rec|module|command_rec|cmd_parms|core_dir_config|authn_.*|authz_.*|ap_.*|apr_.*|crypt_data")
        .allowlist_var("ap_unixd_config|ap_conftree|HOSTNAME_LOOKUP_.*|AP_.*|APR_.*|APLOG_.*|MODULE_MAGIC_.*|OK|DECLINED|DONE|HTTP_.*|OR_.*|ACCESS_CONF|RSRC_CONF|NOT_IN_.*|GLOBAL_ONLY|AUTHN_.*|AUTHZ_.*|REMOTE_.*|M_.*|CRYPT_MAX_PASSPHRASE_SIZE|CRYPT_OUTPUT_SIZE")
        .default_enum_style(bindgen::EnumVariation::Consts)
        .derive_default(false)
        .layout_tests(false)
        .generate_comments(false)
        .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()))
        .generate()
        .unwrap_or_else(|e| {
            panic!(
                "bindgen could not generate httpd bindings ({e}). It needs libclang: \
                 apt-get install libclang-dev (or set LIBCLANG_PATH)."
            )
        });
    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR is set by cargo"));
    bindings
        .write_to_file(out.join("httpd_bindings.rs"))
        .expect("writing the generated bindings to OUT_DIR");

    // httpd's C macros, compiled against the same headers.
    let mut shim = cc::Build::new();
    shim.file("src/ffi/mod_authnz_wsgi.c")
        .include(&include_dir)
        .warnings(true);
    for flag in extra_includes
        .split_whitespace()
        .filter(|a| a.starts_with("-I"))
    {
        shim.include(&flag[2..]);
    }
    shim.compile("authnz_wsgi_shim");

    // crypt_rn (libxcrypt) makes the `$sha1$` entries handed to
    // mod_authn_socache; APR's apr_password_validate already uses libcrypt.
    println!("cargo:rustc-link-lib=crypt");

    record_python_version();
}

/// `APXS` from the environment, else `apxs` or `apxs2` on PATH.
fn find_apxs() -> String {
    if let Ok(apxs) = env::var("APXS") {
        return apxs;
    }
    for candidate in ["apxs", "apxs2", "/usr/bin/apxs"] {
        if Command::new(candidate)
            .arg("-q")
            .arg("INCLUDEDIR")
            .output()
            .is_ok_and(|o| o.status.success())
        {
            return candidate.to_string();
        }
    }
    panic!(
        "apxs not found: install Debian's `apache2-dev` (apt-get install apache2-dev) \
         or set APXS=/path/to/apxs of the httpd this module is for."
    );
}

fn apxs_query(apxs: &str, var: &str) -> String {
    let out = Command::new(apxs)
        .args(["-q", var])
        .output()
        .unwrap_or_else(|e| panic!("running `{apxs} -q {var}` failed: {e}"));
    if !out.status.success() {
        panic!(
            "`{apxs} -q {var}` failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The `module` struct gained its `flags` field at MMN 20120211.70; emit a cfg
/// so the exported module static matches the installed headers.
fn emit_mmn_cfgs(ap_mmn_h: &PathBuf) {
    println!("cargo:rustc-check-cfg=cfg(httpd_module_flags)");
    let text = std::fs::read_to_string(ap_mmn_h)
        .unwrap_or_else(|e| panic!("reading {}: {e}", ap_mmn_h.display()));
    let number = |name: &str| -> u64 {
        text.lines()
            .filter_map(|l| l.trim().strip_prefix("#define "))
            .filter_map(|l| l.strip_prefix(name))
            .filter_map(|rest| rest.split_whitespace().next())
            .find_map(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name} not found in {}", ap_mmn_h.display()))
    };
    let (major, minor) = (
        number("MODULE_MAGIC_NUMBER_MAJOR"),
        number("MODULE_MAGIC_NUMBER_MINOR"),
    );
    if major > 20120211 || (major == 20120211 && minor >= 70) {
        println!("cargo:rustc-cfg=httpd_module_flags");
    }
}

/// Record `major.minor` of the interpreter pyo3 builds against.
fn record_python_version() {
    let python = env::var("PYO3_PYTHON").unwrap_or_else(|_| "python3".to_string());
    let out = Command::new(&python)
        .args(["-c", "import sys; print('%d.%d' % sys.version_info[:2])"])
        .output()
        .unwrap_or_else(|e| {
            panic!("running {python} failed: {e}; set PYO3_PYTHON=/usr/bin/python3")
        });
    let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() || version.is_empty() {
        panic!(
            "{python} could not report its version ({}): set PYO3_PYTHON to the interpreter \
             whose libpython Apache will load, e.g. PYO3_PYTHON=/usr/bin/python3",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    println!("cargo:rustc-env=AUTHNZ_WSGI_BUILT_PYTHON={version}");
}
