//! Configuration records: the per-directory `DirConfig` (scripts, the
//! process group they run in, their limits, identity reflection; merged
//! per request, so merging stays pure
//! and pool-allocated) and the per-server `ServerConfig` (Python home/path,
//! `.htaccess` permission).

use std::sync::Arc;
use std::time::Duration;

use authnz_core::basic_entry_hash::BasicEntryHash;
use authnz_core::process_group::{self, ProcessGroup};
use authnz_core::script_options::ApplicationGroup;
use authnz_core::user_name_encoding::UserNameEncoding;

use crate::httpd::module_config::{DirRecord, Merge, ServerRecord};
use crate::python::call::CallLimits;

/// One configured Python script: what `WSGIAuthUserScript`,
/// `WSGIAuthGroupScript` and `WSGIAccessScript` name.
#[derive(Debug)]
pub struct ScriptSpec {
    /// Absolute path (ServerRoot-relative paths are resolved at config time).
    pub path: String,
    pub application_group: ApplicationGroup,
    /// `process-group=`: the auth daemon group the script runs in, or
    /// `%{GLOBAL}` (embedded, in the Apache child); `None`: not given, the
    /// `WSGIAuthProcessGroup` in force decides ([`DirConfig::daemon_of`]).
    pub process_group: Option<ProcessGroup>,
    /// Where the directive was written (`file:line`): the configuration
    /// context of the in-process cache's keys.
    pub configured_at: String,
}

/// Default `WSGIScriptTimeout`: long enough for a deliberately slow password
/// hash (PBKDF2 with Django's iterations takes well under a second), short
/// enough that a hung backend frees the worker.
pub const DEFAULT_SCRIPT_TIMEOUT_SECS: u64 = 30;

/// Per-directory settings; `None` means "not set here, inherit".
#[derive(Debug, Default, Clone)]
pub struct DirConfig {
    pub auth_user_script: Option<Arc<ScriptSpec>>,
    pub auth_group_script: Option<Arc<ScriptSpec>>,
    pub access_script: Option<Arc<ScriptSpec>>,
    /// `WSGIAuthProcessGroup`: where the scripts in force here run when
    /// their directive has no `process-group=` of its own.
    pub auth_process_group: Option<ProcessGroup>,
    pub script_reloading: Option<bool>,
    /// `WSGIScriptTimeout`, in seconds (0: no limit).
    pub script_timeout: Option<u64>,
    /// The methods (httpd's `AP_METHOD_BIT << method_number` mask) for
    /// which this very section has a `Require wsgi-host` line — all of them,
    /// or those of its `<Limit>`/`<LimitExcept>`: for those, `allow_access`
    /// is asked by the authz provider only, so it composes with other
    /// `Require` lines. Deliberately not inherited: a section with its own
    /// `Require` lines and no `wsgi-host` gets the access-phase check back.
    pub host_access_by_require: i64,
    /// `WSGIReflectAuth`: identity reflection (docs/identity-reflection.md), default off.
    pub reflect_auth: Option<bool>,
    /// `WSGIReflectUserHeader`, default `X-Remote-User`.
    pub reflect_user_header: Option<Arc<str>>,
    /// `WSGIReflectAuthTypeHeader`, default `X-Auth-Type`.
    pub reflect_auth_type_header: Option<Arc<str>>,
    /// `WSGIAuthCacheTimeout`, in seconds (0: no in-process cache).
    pub auth_cache_timeout: Option<u64>,
    /// `WSGISocacheHash`: how Basic logins handed to mod_authn_socache are
    /// hashed (default `sha1-crypt`).
    pub socache_hash: Option<BasicEntryHash>,
    /// `WSGIUserNameEncoding`: which bytes become Apache's user (default
    /// `as-sent`).
    pub user_name_encoding: Option<UserNameEncoding>,
}

/// Default `WSGIReflectUserHeader`.
pub const DEFAULT_REFLECT_USER_HEADER: &str = "X-Remote-User";
/// Default `WSGIReflectAuthTypeHeader`.
pub const DEFAULT_REFLECT_AUTH_TYPE_HEADER: &str = "X-Auth-Type";

/// The response headers identity reflection reads where it is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReflectHeaders {
    pub user: Arc<str>,
    pub auth_type: Arc<str>,
}

/// The more specific setting if made, else the inherited one.
fn inherit<T: Clone>(add: &Option<T>, base: &Option<T>) -> Option<T> {
    add.clone().or_else(|| base.clone())
}

impl Merge for DirConfig {
    /// httpd's merge rule: a setting made in the more specific section wins,
    /// anything it leaves unset is taken from the base.
    fn merge(base: &DirConfig, add: &DirConfig) -> DirConfig {
        DirConfig {
            auth_user_script: inherit(&add.auth_user_script, &base.auth_user_script),
            auth_group_script: inherit(&add.auth_group_script, &base.auth_group_script),
            access_script: inherit(&add.access_script, &base.access_script),
            auth_process_group: inherit(&add.auth_process_group, &base.auth_process_group),
            script_reloading: add.script_reloading.or(base.script_reloading),
            script_timeout: add.script_timeout.or(base.script_timeout),
            host_access_by_require: add.host_access_by_require,
            reflect_auth: add.reflect_auth.or(base.reflect_auth),
            reflect_user_header: inherit(&add.reflect_user_header, &base.reflect_user_header),
            reflect_auth_type_header: inherit(
                &add.reflect_auth_type_header,
                &base.reflect_auth_type_header,
            ),
            auth_cache_timeout: add.auth_cache_timeout.or(base.auth_cache_timeout),
            socache_hash: add.socache_hash.or(base.socache_hash),
            user_name_encoding: add.user_name_encoding.or(base.user_name_encoding),
        }
    }
}

impl DirRecord for DirConfig {}

impl DirConfig {
    /// Whether a `Require wsgi-host` of this section applies to method
    /// number `method` (so the access phase leaves `allow_access` to it).
    pub fn host_access_by_require_for(&self, method: i32) -> bool {
        match u32::try_from(method).ok().and_then(|m| 1i64.checked_shl(m)) {
            Some(bit) => self.host_access_by_require & bit != 0,
            // No method bit: no `Require` line can apply either.
            None => false,
        }
    }

    /// The header names to reflect when `WSGIReflectAuth On` applies here.
    pub fn reflection(&self) -> Option<ReflectHeaders> {
        if !self.reflect_auth.unwrap_or(false) {
            return None;
        }
        Some(ReflectHeaders {
            user: self
                .reflect_user_header
                .clone()
                .unwrap_or_else(|| Arc::from(DEFAULT_REFLECT_USER_HEADER)),
            auth_type: self
                .reflect_auth_type_header
                .clone()
                .unwrap_or_else(|| Arc::from(DEFAULT_REFLECT_AUTH_TYPE_HEADER)),
        })
    }

    /// The auth daemon group `spec`'s script runs in here: its own
    /// `process-group=`, else `WSGIAuthProcessGroup`; `None`: embedded.
    pub fn daemon_of<'a>(&'a self, spec: &'a ScriptSpec) -> Option<&'a str> {
        process_group::effective(
            spec.process_group.as_ref(),
            self.auth_process_group.as_ref(),
        )
    }

    /// `WSGIUserNameEncoding` here.
    pub fn user_name_encoding(&self) -> UserNameEncoding {
        self.user_name_encoding.unwrap_or_default()
    }

    pub fn script_reloading(&self) -> bool {
        self.script_reloading.unwrap_or(true)
    }

    /// How long a granted Basic result or a group set may be reused from
    /// the in-process cache; `None` when the cache is off (the default).
    pub fn auth_cache_timeout(&self) -> Option<std::time::Duration> {
        match self.auth_cache_timeout.unwrap_or(0) {
            0 => None,
            secs => Some(std::time::Duration::from_secs(secs)),
        }
    }

    /// How a Python call may run here.
    pub fn call_limits(&self) -> CallLimits {
        CallLimits {
            timeout: self.script_timeout(),
            reloading: self.script_reloading(),
        }
    }

    /// The time limit for one Python call; `None` when switched off.
    pub fn script_timeout(&self) -> Option<std::time::Duration> {
        match self.script_timeout.unwrap_or(DEFAULT_SCRIPT_TIMEOUT_SECS) {
            0 => None,
            secs => Some(std::time::Duration::from_secs(secs)),
        }
    }
}

/// Per-server settings. Only the main server's Python settings are used:
/// there is one interpreter per child.
#[derive(Debug, Default, Clone)]
pub struct ServerConfig {
    pub python_home: Option<String>,
    pub python_path: Vec<String>,
    /// `WSGIAuthAllowOverride On`: script directives allowed in `.htaccess`.
    pub allow_htaccess_scripts: Option<bool>,
    /// `WSGIMaxConcurrentCalls`: Python calls one child runs at once.
    pub max_concurrent_calls: Option<usize>,
    /// The wait given to `WSGIMaxConcurrentCalls` for a call beyond the cap.
    pub max_call_wait: Option<Duration>,
}

impl Merge for ServerConfig {
    fn merge(base: &ServerConfig, add: &ServerConfig) -> ServerConfig {
        ServerConfig {
            python_home: inherit(&add.python_home, &base.python_home),
            python_path: if add.python_path.is_empty() {
                base.python_path.clone()
            } else {
                add.python_path.clone()
            },
            allow_htaccess_scripts: add.allow_htaccess_scripts.or(base.allow_htaccess_scripts),
            max_concurrent_calls: add.max_concurrent_calls.or(base.max_concurrent_calls),
            max_call_wait: add.max_call_wait.or(base.max_call_wait),
        }
    }
}

impl ServerRecord for ServerConfig {}

impl ServerConfig {
    pub fn allows_htaccess_scripts(&self) -> bool {
        self.allow_htaccess_scripts.unwrap_or(false)
    }
}
