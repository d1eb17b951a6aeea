//! How one provider question is answered — the pipeline shared by Basic,
//! Digest and `Require wsgi-group` (host access, which is never cached,
//! only takes a call slot through [`with_call_slot`]):
//!
//! 1. from the in-process cache (`WSGIAuthCacheTimeout`), when it holds a
//!    live entry for the question's key: no slot, no Python;
//! 2. otherwise under a `WSGIMaxConcurrentCalls` slot, taken before
//!    anything waits: waiting for another thread's call counts against the
//!    cap like a call does, so waiters can never hold every worker thread;
//! 3. when another thread of the child is asking the very same question
//!    (same key: context, user, password or realm), by waiting for its
//!    answer — a refusal included — at most as long as a call may run;
//! 4. otherwise by one Python call, whose positive result is stored in the
//!    cache and whose answer is handed to the threads that waited for it.
//!
//! Questions without a key (the cache is off here) go straight from 2 to 4.

use authnz_core::log_tags as tags;
use std::time::{Duration, Instant};

use authnz_core::auth_cache::CacheKey;
use authnz_core::single_flight::{SingleFlight, Turn};

use crate::httpd::log::Level;
use crate::httpd::Request;
use crate::module::cache::{self, Cached};
use crate::module::config::{DirConfig, ScriptSpec};
use crate::module::daemon_dispatch;
use crate::module::status::{self, counting, Outcome};
use crate::python::call_limit::{self, CallSlot};
use crate::rlog;

/// What a question was answered with.
#[derive(Clone)]
pub enum Answer {
    /// A result the cache may keep: a grant, a realm hash, a group set.
    Positive(Cached),
    /// `check_password` returned False.
    Denied,
    /// The script does not know the user (None), or does not decide
    /// (`allow_access` returned None).
    NotFound,
    /// The answer is an error, already logged.
    Failed,
}

/// Where the answer came from (for the caller's log lines).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Source {
    Cache,
    /// Another thread's call for the same key.
    Shared,
    Call,
}

/// Questions being answered by Python now, by key.
static ASKING: SingleFlight<CacheKey, Answer> = SingleFlight::new();

/// How long a question waits for another thread's call for the same key
/// when no `WSGIScriptTimeout` bounds that call.
const UNBOUNDED_CALL_WAIT: Duration = Duration::from_secs(30);

/// Answer the question `key` (`None`: not cached here) for `function`,
/// calling `call` with a slot when Python must be asked.
pub fn answer(
    r: Request,
    dir: &DirConfig,
    function: &'static str,
    spec: &ScriptSpec,
    key: Option<&CacheKey>,
    call: impl FnOnce(&CallSlot) -> Answer,
) -> (Answer, Source) {
    let script = spec.path.as_str();
    if let Some(key) = key {
        let found = cache::lookup(key);
        counting::cache_lookup(script, function, found.is_some());
        if let Some(found) = found {
            return (Answer::Positive(found), Source::Cache);
        }
    }
    let counted = |slot: &CallSlot| counted_call(function, script, slot, call, outcome_of);
    with_call_slot(r, function, script, |slot| match key {
        Some(key) => answer_in_slot(r, dir, function, spec, key, || counted(slot)),
        None => (counted(slot), Source::Call),
    })
    .unwrap_or((Answer::Failed, Source::Call))
}

/// How the live figures count an answer Python gave.
fn outcome_of(answer: &Answer) -> Outcome {
    match answer {
        Answer::Positive(_) => Outcome::Granted,
        Answer::Denied => Outcome::Denied,
        Answer::NotFound => Outcome::Unknown,
        Answer::Failed => Outcome::Error,
    }
}

/// Make the Python call `call` of `function` in `script` under `slot`,
/// counted in the live figures (when mod_status is loaded) as `outcome`
/// says its result is.
fn counted_call<R>(
    function: &'static str,
    script: &str,
    slot: &CallSlot,
    call: impl FnOnce(&CallSlot) -> R,
    outcome: impl FnOnce(&R) -> Outcome,
) -> R {
    let figures = status::call_starts(script, function);
    let result = call(slot);
    if let Some(figures) = figures {
        figures.finish(outcome(&result), slot.timed_out());
    }
    result
}

/// Run `call` under a `WSGIMaxConcurrentCalls` slot; `None` when the child
/// has none free after the configured wait (logged).
pub fn with_call_slot<R>(
    r: Request,
    function: &'static str,
    script: &str,
    call: impl FnOnce(&CallSlot) -> R,
) -> Option<R> {
    let Some(slot) = CallSlot::acquire() else {
        counting::refused(script, function);
        rlog!(
            &r,
            Level::Error,
            tags::CALL_CAP_REACHED,
            "script '{script}': {function}: {} Python calls were still running in this child after waiting {}ms \
             for one to finish (WSGIMaxConcurrentCalls); request refused",
            call_limit::cap(),
            call_limit::wait().as_millis()
        );
        return None;
    };
    Some(call(&slot))
}

/// The slot is held: wait for another thread asking `key`, or ask.
fn answer_in_slot(
    r: Request,
    dir: &DirConfig,
    function: &'static str,
    spec: &ScriptSpec,
    key: &CacheKey,
    call: impl FnOnce() -> Answer,
) -> (Answer, Source) {
    let script = spec.path.as_str();
    let max_wait = match dir.daemon_of(spec) {
        Some(daemon) => daemon_dispatch::reply_wait(dir, daemon),
        None => dir.script_timeout().unwrap_or(UNBOUNDED_CALL_WAIT),
    };
    let leader = match ASKING.begin(*key, max_wait) {
        Turn::Lead(leader) => leader,
        Turn::Waited(Some(shared)) => {
            counting::shared_wait(script, function);
            return (shared, Source::Shared);
        }
        Turn::Waited(None) => {
            // The other call ended without an answer (it unwound): ask
            // again, alone.
            return called(dir, key, call);
        }
        Turn::TimedOut => {
            rlog!(
                &r,
                Level::Error,
                tags::SAME_QUESTION_STILL_RUNNING,
                "script '{script}': {function}: a call with the same credentials was still running after {}s; \
                 request refused",
                max_wait.as_secs()
            );
            return (Answer::Failed, Source::Shared);
        }
    };
    // Another call may have stored the entry between the two looks.
    let (outcome, source) = match cache::lookup(key) {
        Some(found) => (Answer::Positive(found), Source::Cache),
        None => called(dir, key, call),
    };
    leader.publish(outcome.clone());
    (outcome, source)
}

/// Ask Python (`call`) and store what it answered for `key` when the
/// cache may keep it: the entry's life counts from before the call.
fn called(dir: &DirConfig, key: &CacheKey, call: impl FnOnce() -> Answer) -> (Answer, Source) {
    let started = Instant::now();
    let outcome = call();
    if let (Answer::Positive(value), Some(ttl)) = (&outcome, dir.auth_cache_timeout()) {
        cache::store(*key, value.clone(), started, ttl);
    }
    (outcome, Source::Call)
}
