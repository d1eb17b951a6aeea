//! The authn provider `wsgi` (docs/python-contract.md#check_password-basic, docs/python-contract.md#get_realm_hash-digest): Basic calls
//! `check_password(environ, user, password)`, Digest and
//! `AuthBasicUseDigestAlgorithm MD5` call `get_realm_hash(environ, user, realm)`.

use authnz_core::log_tags as tags;
use std::borrow::Cow;
use std::ffi::CStr;

use authnz_core::credentials::decode_credential;
use authnz_core::daemon_frame::{Function, Outcome};
use authnz_core::realm_hash::validate_realm_hash;
use pyo3::types::PyString;

use crate::apr::Pool;
use crate::ffi;
use crate::httpd::auth_providers::{
    self as providers, authn_record, AuthnProvider, AuthnStatus, Provider, RealmHash, Registration,
};
use crate::httpd::log::Level;
use crate::httpd::Request;
use crate::module::answer::{answer, Answer, Source};
use crate::module::cache::{self, Cached};
use crate::module::config::{DirConfig, ScriptSpec};
use crate::module::daemon_dispatch;
use crate::module::socache;
use crate::module::user_name;
use crate::python::call::{application_group_name, call_script, CallFailed, Target};
use crate::python::results::{self, BasicOutcome};
use crate::rlog;

/// The authn provider `wsgi`.
pub fn provider() -> Provider {
    Provider::Authn(c"wsgi", &WSGI_AUTHN_PROVIDER)
}

/// Registers the provider.
pub fn register(pool: Pool) {
    providers::register(pool, provider(), Registration::Counted);
}

/// The provider record httpd keeps a pointer to.
static WSGI_AUTHN_PROVIDER: ffi::authn_provider = authn_record::<WsgiAuthn>();

/// The authn provider `wsgi`: `WSGIAuthUserScript`.
struct WsgiAuthn;

impl AuthnProvider for WsgiAuthn {
    const NAME: &'static str = "the wsgi authn provider";

    fn check_password(r: Request, user: &CStr, password: &CStr) -> AuthnStatus {
        basic(r, user, password)
    }

    fn get_realm_hash(r: Request, user: &CStr, realm: &CStr) -> Result<RealmHash, AuthnStatus> {
        digest(r, user, realm)
    }
}

fn user_script(r: &Request) -> Result<(&DirConfig, &ScriptSpec), ffi::authn_status> {
    let dir = r
        .dir_config::<DirConfig>()
        .ok_or(ffi::authn_status_AUTH_GENERAL_ERROR)?;
    match dir.auth_user_script.as_deref() {
        Some(spec) => Ok((dir, spec)),
        None => {
            rlog!(
                r,
                Level::Error,
                tags::NO_USER_SCRIPT,
                "the wsgi authn provider is used here but no WSGIAuthUserScript applies to this location"
            );
            Err(ffi::authn_status_AUTH_GENERAL_ERROR)
        }
    }
}

/// Set `r->user` to the name `check_password` returned, when it differs
/// from the name the client sent.
fn apply_rename(r: Request, script: &str, user_text: &str, name: &str) {
    if name != user_text {
        rlog!(
            &r,
            Level::Debug,
            tags::USER_RENAMED,
            "script '{script}': check_password renamed the user to '{name}'"
        );
        r.set_user(name.as_bytes());
    }
}

/// Best effort: zero a copy of a secret before it is freed.
fn wipe(secret: Cow<'_, [u8]>) {
    if let Cow::Owned(mut copy) = secret {
        copy.fill(0);
        std::hint::black_box(&copy);
    }
}

fn basic(r: Request, user_c: &CStr, password_c: &CStr) -> ffi::authn_status {
    let (user, password) = (user_c.to_bytes(), password_c.to_bytes());
    let (dir, spec) = match user_script(&r) {
        Ok(found) => found,
        Err(status) => return status,
    };
    let group = application_group_name(r, &spec.application_group);
    let target = Target::new(&spec.path, &group);
    let encoding = dir.user_name_encoding();
    // Keyed by what Python is given: under `utf-8` the decoded text, so the
    // encodings of one name and password share an entry.
    let password_key = encoding.key_bytes(password);
    let key = dir.auth_cache_timeout().and_then(|timeout| {
        cache::basic_key(
            r,
            spec,
            dir.daemon_of(spec),
            &group,
            timeout,
            &encoding.key_bytes(user),
            &password_key,
        )
    });
    wipe(password_key);
    let (outcome, source) = answer(r, dir, "check_password", spec, key.as_ref(), |slot| {
        let user_text = decode_credential(user);
        let password_text = decode_credential(password);
        if let Some(daemon) = dir.daemon_of(spec) {
            let args = vec![user_text.to_string(), password_text.to_string()];
            let outcome = daemon_dispatch::call(
                r,
                dir,
                spec,
                daemon,
                &group,
                Function::CheckPassword,
                args,
                slot,
            );
            return match outcome {
                Outcome::Granted => Answer::Positive(Cached::Granted(None)),
                Outcome::GrantedAs(name) if name == user_text => {
                    Answer::Positive(Cached::Granted(None))
                }
                Outcome::GrantedAs(name) => Answer::Positive(Cached::Granted(Some(name.into()))),
                Outcome::Denied => Answer::Denied,
                Outcome::NotFound => Answer::NotFound,
                Outcome::Failed => Answer::Failed,
                other => {
                    daemon_dispatch::unexpected(r, spec, Function::CheckPassword, &other);
                    Answer::Failed
                }
            };
        }
        let outcome = call_script(
            r,
            dir.call_limits(),
            target,
            slot,
            "check_password",
            Some(&password_text),
            |py| {
                [
                    PyString::new(py, &user_text).into_any(),
                    PyString::new(py, &password_text).into_any(),
                ]
            },
            |log, value| results::basic(log, target.path, value),
        );
        // Best effort: do not leave a password decoded from Latin-1 in freed
        // memory (valid UTF-8 is borrowed from the request, which httpd owns).
        if let Cow::Owned(decoded) = password_text {
            let mut wipe = decoded.into_bytes();
            wipe.fill(0);
            std::hint::black_box(&wipe);
            drop(wipe);
        }
        match outcome {
            Ok(BasicOutcome::Granted) => Answer::Positive(Cached::Granted(None)),
            Ok(BasicOutcome::GrantedAs(name)) if name == user_text => {
                Answer::Positive(Cached::Granted(None))
            }
            Ok(BasicOutcome::GrantedAs(name)) => {
                Answer::Positive(Cached::Granted(Some(name.into())))
            }
            // None and False take the same path apart from the status itself.
            Ok(BasicOutcome::Denied) => Answer::Denied,
            Ok(BasicOutcome::NotFound) => Answer::NotFound,
            Err(CallFailed) => Answer::Failed,
        }
    });
    if source == Source::Shared {
        log_shared(r, "login", user);
    }
    let re_encoded = match &outcome {
        Answer::Positive(Cached::Granted(Some(_))) => false,
        _ => user_name::re_encode_user(r, encoding, user),
    };
    let renamed = match outcome {
        Answer::Positive(Cached::Granted(renamed)) => renamed,
        Answer::Denied => return ffi::authn_status_AUTH_DENIED,
        Answer::NotFound => return ffi::authn_status_AUTH_USER_NOT_FOUND,
        Answer::Positive(_) | Answer::Failed => return ffi::authn_status_AUTH_GENERAL_ERROR,
    };
    match source {
        Source::Cache => rlog!(
            &r,
            Level::Debug,
            tags::CACHED_LOGIN,
            "login of '{}' granted from the in-process cache (WSGIAuthCacheTimeout)",
            decode_credential(user)
        ),
        Source::Shared => {}
        Source::Call if re_encoded => user_name::log_not_socached(r, "login", user),
        Source::Call if renamed.is_none() => {
            socache::store_basic(r, dir.socache_hash, user_c, password_c)
        }
        Source::Call => rlog!(
            &r,
            Level::Debug,
            tags::RENAMED_NOT_SOCACHED,
            "renamed login of '{}' not handed to mod_authn_socache, which would grant it under \
             the name the client sent",
            decode_credential(user)
        ),
    }
    if let Some(name) = renamed {
        apply_rename(r, &spec.path, &decode_credential(user), &name);
    }
    ffi::authn_status_AUTH_GRANTED
}

/// The debug line of an answer taken from a concurrent call.
fn log_shared(r: Request, what: &str, user: &[u8]) {
    rlog!(
        &r,
        Level::Debug,
        tags::SHARED_ANSWER,
        "{what} of '{}' answered by a call made at the same time for the same credentials",
        decode_credential(user)
    );
}

fn digest(r: Request, user_c: &CStr, realm_c: &CStr) -> Result<RealmHash, AuthnStatus> {
    let (user, realm) = (user_c.to_bytes(), realm_c.to_bytes());
    let (dir, spec) = user_script(&r)?;
    let group = application_group_name(r, &spec.application_group);
    let target = Target::new(&spec.path, &group);
    let encoding = dir.user_name_encoding();
    let key = dir.auth_cache_timeout().and_then(|timeout| {
        cache::digest_key(
            r,
            spec,
            dir.daemon_of(spec),
            &group,
            timeout,
            &encoding.key_bytes(user),
            &encoding.key_bytes(realm),
        )
    });
    let (outcome, source) = answer(r, dir, "get_realm_hash", spec, key.as_ref(), |slot| {
        let user_text = decode_credential(user);
        let realm_text = decode_credential(realm);
        if let Some(daemon) = dir.daemon_of(spec) {
            let args = vec![user_text.to_string(), realm_text.to_string()];
            let outcome = daemon_dispatch::call(
                r,
                dir,
                spec,
                daemon,
                &group,
                Function::GetRealmHash,
                args,
                slot,
            );
            return match outcome {
                Outcome::RealmHash(hash) if validate_realm_hash(&hash).is_ok() => {
                    Answer::Positive(Cached::RealmHash(hash.into()))
                }
                Outcome::NotFound => Answer::NotFound,
                Outcome::Failed => Answer::Failed,
                other => {
                    daemon_dispatch::unexpected(r, spec, Function::GetRealmHash, &other);
                    Answer::Failed
                }
            };
        }
        let outcome = call_script(
            r,
            dir.call_limits(),
            target,
            slot,
            "get_realm_hash",
            None,
            |py| {
                [
                    PyString::new(py, &user_text).into_any(),
                    PyString::new(py, &realm_text).into_any(),
                ]
            },
            |log, value| results::realm_hash(log, target.path, value),
        );
        match outcome {
            Ok(Some(hash)) => Answer::Positive(Cached::RealmHash(hash.into())),
            Ok(None) => Answer::NotFound,
            Err(CallFailed) => Answer::Failed,
        }
    });
    if source == Source::Shared {
        log_shared(r, "realm hash", user);
    }
    // mod_auth_digest compares the client's response with the realm hash
    // alone (and checks nonce and opaque without the name): the user it set
    // may change here, before authorization and the log read it.
    let re_encoded = user_name::re_encode_user(r, encoding, user);
    let hash = match outcome {
        Answer::Positive(Cached::RealmHash(hash)) => hash,
        Answer::NotFound => return Err(ffi::authn_status_AUTH_USER_NOT_FOUND),
        Answer::Positive(_) | Answer::Denied | Answer::Failed => {
            return Err(ffi::authn_status_AUTH_GENERAL_ERROR)
        }
    };
    let copy = RealmHash::copy_into(r, &hash);
    match source {
        Source::Cache => rlog!(
            &r,
            Level::Debug,
            tags::CACHED_REALM_HASH,
            "realm hash of '{}' answered from the in-process cache (WSGIAuthCacheTimeout)",
            decode_credential(user)
        ),
        Source::Shared => {}
        Source::Call if re_encoded => user_name::log_not_socached(r, "realm hash", user),
        Source::Call => socache::store_digest(r, user_c, realm_c, copy.as_c_str()),
    }
    Ok(copy)
}
