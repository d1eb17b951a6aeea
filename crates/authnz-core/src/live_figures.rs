//! The live figures mod_status shows for the module (docs/operations.md):
//! the layout of one script's counters (per function, per figure), the
//! fixed-bucket histogram of call times and the quantiles read from it, and
//! the `?auto` key of every figure. Pure logic: the counters themselves live
//! in shared memory (`src/apr/shared_table.rs`), the section is written by
//! `src/module/status/`.

/// The script functions figures are kept for, in row order.
pub const FUNCTIONS: [Function; 4] = [
    Function::CheckPassword,
    Function::GetRealmHash,
    Function::GroupsForUser,
    Function::AllowAccess,
];

/// A script function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    CheckPassword,
    GetRealmHash,
    GroupsForUser,
    AllowAccess,
}

impl Function {
    /// The function's Python name.
    pub fn python_name(self) -> &'static str {
        match self {
            Function::CheckPassword => "check_password",
            Function::GetRealmHash => "get_realm_hash",
            Function::GroupsForUser => "groups_for_user",
            Function::AllowAccess => "allow_access",
        }
    }

    /// The function by its Python name.
    pub fn from_python_name(name: &str) -> Option<Function> {
        FUNCTIONS.into_iter().find(|f| f.python_name() == name)
    }

    /// The function's part of an `?auto` key.
    pub fn key_name(self) -> &'static str {
        match self {
            Function::CheckPassword => "CheckPassword",
            Function::GetRealmHash => "GetRealmHash",
            Function::GroupsForUser => "GroupsForUser",
            Function::AllowAccess => "AllowAccess",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One counted figure of a function (a counter each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Figure {
    /// Python calls made (started).
    Calls,
    /// Calls that granted: True or a user name, a realm hash, a group list,
    /// `allow_access` True.
    Granted,
    /// Calls that denied: `check_password` False, `allow_access` False.
    Denied,
    /// Calls that did not know: None.
    Unknown,
    /// Calls that failed: an exception, an unusable result, a timeout.
    Error,
    /// Of the failed calls, those stopped by (or returned after)
    /// `WSGIScriptTimeout`.
    Timeouts,
    /// Questions refused because `WSGIMaxConcurrentCalls` calls were
    /// running (no call made).
    Refused,
    /// Calls in Python right now (a gauge).
    Running,
    /// Microseconds spent in finished calls.
    TimeTotalMicros,
    /// Answers taken from the in-process cache.
    CacheHits,
    /// Cache lookups that found nothing (a call or a wait followed).
    CacheMisses,
    /// Answers taken from another thread's call for the same key.
    SharedWaits,
}

/// Every figure, in counter order.
pub const FIGURES: [Figure; 12] = [
    Figure::Calls,
    Figure::Granted,
    Figure::Denied,
    Figure::Unknown,
    Figure::Error,
    Figure::Timeouts,
    Figure::Refused,
    Figure::Running,
    Figure::TimeTotalMicros,
    Figure::CacheHits,
    Figure::CacheMisses,
    Figure::SharedWaits,
];

impl Figure {
    /// The figure's part of an `?auto` key.
    pub fn key_name(self) -> &'static str {
        match self {
            Figure::Calls => "Calls",
            Figure::Granted => "Granted",
            Figure::Denied => "Denied",
            Figure::Unknown => "Unknown",
            Figure::Error => "Error",
            Figure::Timeouts => "Timeouts",
            Figure::Refused => "Refused",
            Figure::Running => "Running",
            Figure::TimeTotalMicros => "TimeTotalUs",
            Figure::CacheHits => "CacheHits",
            Figure::CacheMisses => "CacheMisses",
            Figure::SharedWaits => "SharedWaits",
        }
    }
}

/// Buckets of the call-time histogram: bucket 0 holds calls under 1 µs,
/// bucket `i` (1 ≤ i < 26) calls of at least 2^(i-1) and under 2^i µs, the
/// last bucket everything from 2^25 µs (about 33.6 s) on.
pub const BUCKETS: usize = 27;

/// Counters of one function: the figures, then the histogram.
pub const COUNTERS_PER_FUNCTION: usize = FIGURES.len() + BUCKETS;

/// Counters of one script row: every function's.
pub const COUNTERS_PER_ROW: usize = FUNCTIONS.len() * COUNTERS_PER_FUNCTION;

/// Server-wide counters (not per script).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Global {
    /// Entries in the in-process caches of all children (a gauge).
    CacheEntries,
    /// Entries handed to mod_authn_socache.
    SocacheStores,
}

/// Every server-wide counter, in order.
pub const GLOBALS: [Global; 2] = [Global::CacheEntries, Global::SocacheStores];

impl Global {
    /// The counter's index among the server-wide counters.
    pub fn index(self) -> usize {
        self as usize
    }

    /// Its `?auto` key.
    pub fn key(self) -> &'static str {
        match self {
            Global::CacheEntries => "AuthnzWsgiCacheEntries",
            Global::SocacheStores => "AuthnzWsgiSocacheStores",
        }
    }
}

/// Index of `figure` of `function` among a row's counters.
pub fn figure_index(function: Function, figure: Figure) -> usize {
    function.index() * COUNTERS_PER_FUNCTION + figure as usize
}

/// Index of histogram bucket `bucket` of `function` among a row's counters.
pub fn bucket_index(function: Function, bucket: usize) -> usize {
    function.index() * COUNTERS_PER_FUNCTION + FIGURES.len() + bucket.min(BUCKETS - 1)
}

/// The histogram bucket of a call that took `micros` microseconds.
pub fn bucket_of(micros: u64) -> usize {
    let bits = (u64::BITS - micros.leading_zeros()) as usize;
    bits.min(BUCKETS - 1)
}

/// The upper bound, in microseconds, of `bucket` (for the last, open
/// bucket: its lower bound, 2^25 µs).
pub fn bucket_bound(bucket: usize) -> u64 {
    if bucket >= BUCKETS - 1 {
        1 << (BUCKETS - 2)
    } else {
        1 << bucket
    }
}

/// The `q`-quantile (0 < q ≤ 1) of the calls counted in `buckets`, as the
/// upper bound of the bucket holding it: at most twice the true value, and
/// never below it (except past 2^25 µs, where the last bucket's lower bound
/// is given). `None` when no call was counted.
pub fn quantile(buckets: &[u64], q: f64) -> Option<u64> {
    let total: u64 = buckets.iter().sum();
    if total == 0 {
        return None;
    }
    // The rank of the call the quantile names (1-based, at least 1).
    let rank = ((q * total as f64 - 1e-9).ceil() as u64).clamp(1, total);
    let mut seen = 0;
    for (bucket, count) in buckets.iter().enumerate() {
        seen += count;
        if seen >= rank {
            return Some(bucket_bound(bucket));
        }
    }
    Some(bucket_bound(buckets.len().saturating_sub(1)))
}

/// The quantiles the section shows, with their `?auto` key part.
pub const QUANTILES: [(&str, f64); 3] = [("P50", 0.5), ("P90", 0.9), ("P99", 0.99)];

/// The `?auto` key of `figure` of `function` in row `row` (1-based script
/// number, or `Other`).
pub fn figure_key(row: &str, function: Function, figure: Figure) -> String {
    format!(
        "AuthnzWsgiScript{row}{}{}",
        function.key_name(),
        figure.key_name()
    )
}

/// The `?auto` key of a quantile (`P50`, ...) of `function` in row `row`.
pub fn quantile_key(row: &str, function: Function, quantile: &str) -> String {
    format!(
        "AuthnzWsgiScript{row}{}Time{quantile}Us",
        function.key_name()
    )
}

/// The `?auto` key naming the path of row `row`.
pub fn path_key(row: &str) -> String {
    format!("AuthnzWsgiScript{row}Path")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_powers_of_two() {
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(1), 1);
        assert_eq!(bucket_of(2), 2);
        assert_eq!(bucket_of(3), 2);
        assert_eq!(bucket_of(4), 3);
        assert_eq!(bucket_of(1023), 10);
        assert_eq!(bucket_of(1024), 11);
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
        // Every value lies below its bucket's bound (before the open one).
        for micros in [0u64, 1, 5, 99, 1000, 65_535, 1 << 24] {
            assert!(micros < bucket_bound(bucket_of(micros)), "{micros}");
            assert!(bucket_bound(bucket_of(micros)) <= 2 * micros.max(1));
        }
    }

    #[test]
    fn quantiles_name_the_bucket_bound() {
        let mut buckets = [0u64; BUCKETS];
        assert_eq!(quantile(&buckets, 0.5), None);
        // 90 calls of 100 µs, 10 of 3 s.
        buckets[bucket_of(100)] = 90;
        buckets[bucket_of(3_000_000)] = 10;
        assert_eq!(quantile(&buckets, 0.5), Some(128));
        assert_eq!(quantile(&buckets, 0.9), Some(128));
        assert_eq!(quantile(&buckets, 0.91), Some(1 << 22));
        assert_eq!(quantile(&buckets, 0.99), Some(1 << 22));
        buckets[BUCKETS - 1] = 1000;
        assert_eq!(quantile(&buckets, 0.99), Some(1 << 25));
    }

    #[test]
    fn counter_indices_do_not_overlap() {
        let mut seen = [false; COUNTERS_PER_ROW];
        for function in FUNCTIONS {
            for figure in FIGURES {
                let i = figure_index(function, figure);
                assert!(!seen[i]);
                seen[i] = true;
            }
            for bucket in 0..BUCKETS {
                let i = bucket_index(function, bucket);
                assert!(!seen[i]);
                seen[i] = true;
            }
        }
        assert!(seen.iter().all(|s| *s));
    }

    #[test]
    fn keys_are_stable() {
        assert_eq!(
            figure_key("1", Function::CheckPassword, Figure::Granted),
            "AuthnzWsgiScript1CheckPasswordGranted"
        );
        assert_eq!(
            quantile_key("Other", Function::AllowAccess, "P99"),
            "AuthnzWsgiScriptOtherAllowAccessTimeP99Us"
        );
        assert_eq!(path_key("2"), "AuthnzWsgiScript2Path");
        assert_eq!(
            Function::from_python_name("groups_for_user"),
            Some(Function::GroupsForUser)
        );
    }
}
