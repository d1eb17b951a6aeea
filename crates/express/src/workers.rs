//! `--processes N` and `--threads N`: how many Apache child processes run
//! and how many worker threads each has, written as the MPM's settings.
//!
//! The server is sized, not left to grow: `StartServers` and `ServerLimit`
//! are the processes, `ThreadsPerChild` and `ThreadLimit` the threads,
//! `MaxRequestWorkers` their product (requests served at once), and the
//! spare-thread bounds keep every process running (`MaxSpareThreads` is
//! the whole server, so idle children are not stopped; `MinSpareThreads`
//! one child's threads). Under prefork every child is one thread: `--threads`
//! other than 1 is refused, and `MinSpareServers 1` / `MaxSpareServers N`
//! keep the N children. When only one of the two is given, the other is
//! httpd's default for one child (25 threads; prefork 1), or 1 process.
//! Neither given: no MPM settings are written (httpd's defaults).

use std::fmt::Write;

use crate::options::{single, Mpm, Raw};
use crate::values::{self, Checked};

/// httpd's `MAX_SERVER_LIMIT` for the threaded MPMs.
const MAX_PROCESSES: u32 = 20_000;
/// httpd's worker `MAX_THREAD_LIMIT`.
const MAX_THREADS: u32 = 20_000;
/// httpd's default `ThreadsPerChild` (event and worker).
const DEFAULT_THREADS: u32 = 25;

/// The sizing, when `--processes` or `--threads` is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Workers {
    pub processes: u32,
    pub threads: u32,
}

impl Workers {
    /// Requests served at once (`MaxRequestWorkers`).
    pub fn max_request_workers(self) -> u32 {
        self.processes * self.threads
    }
}

/// The sizing options, checked against the MPM.
pub fn parse(raw: &Raw, mpm: Mpm) -> Checked<Option<Workers>> {
    let processes = single(raw, "processes")
        .map(|v| values::number("--processes", v, 1, MAX_PROCESSES))
        .transpose()?;
    let threads = single(raw, "threads")
        .map(|v| values::number("--threads", v, 1, MAX_THREADS))
        .transpose()?;
    if processes.is_none() && threads.is_none() {
        return Ok(None);
    }
    if mpm == Mpm::Prefork && threads.is_some_and(|t| t != 1) {
        return Err(
            "--threads: prefork runs one thread per process; use --processes N with prefork, \
             or --mpm event (or worker) for threads"
                .to_owned(),
        );
    }
    let default_threads = if mpm == Mpm::Prefork {
        1
    } else {
        DEFAULT_THREADS
    };
    let workers = Workers {
        processes: processes.unwrap_or(1),
        threads: threads.unwrap_or(default_threads),
    };
    if u64::from(workers.processes) * u64::from(workers.threads) > u64::from(MAX_PROCESSES) * 10 {
        return Err(format!(
            "--processes {} with --threads {}: {} workers is more than this launcher writes \
             (at most {})",
            workers.processes,
            workers.threads,
            u64::from(workers.processes) * u64::from(workers.threads),
            MAX_PROCESSES * 10
        ));
    }
    Ok(Some(workers))
}

/// The MPM's settings.
pub fn render(out: &mut String, mpm: Mpm, workers: Option<Workers>) {
    let Some(w) = workers else {
        return;
    };
    let (p, t, all) = (w.processes, w.threads, w.max_request_workers());
    let _ = match mpm {
        Mpm::Prefork => write!(
            out,
            "StartServers {p}\nServerLimit {p}\nMaxRequestWorkers {p}\n\
             MinSpareServers 1\nMaxSpareServers {p}\n\n"
        ),
        Mpm::Event | Mpm::Worker => write!(
            out,
            "StartServers {p}\nServerLimit {p}\nThreadLimit {t}\nThreadsPerChild {t}\n\
             MaxRequestWorkers {all}\nMinSpareThreads {t}\nMaxSpareThreads {all}\n\n"
        ),
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::tests_support::{err, run};

    fn workers(list: &[&str]) -> Option<Workers> {
        run(list).unwrap().workers
    }

    #[test]
    fn sizing() {
        assert_eq!(workers(&[]), None);
        assert_eq!(
            workers(&["--processes", "3", "--threads", "4"]),
            Some(Workers {
                processes: 3,
                threads: 4
            })
        );
        assert_eq!(
            workers(&["--processes", "2"]),
            Some(Workers {
                processes: 2,
                threads: 25
            })
        );
        assert_eq!(
            workers(&["--threads", "8"]),
            Some(Workers {
                processes: 1,
                threads: 8
            })
        );
        assert_eq!(
            workers(&["--mpm", "prefork", "--processes", "4"]),
            Some(Workers {
                processes: 4,
                threads: 1
            })
        );
        assert!(workers(&["--mpm", "prefork", "--threads", "1"]).is_some());
    }

    #[test]
    fn sizing_rules() {
        assert!(err(&["--mpm", "prefork", "--threads", "2"])
            .starts_with("--threads: prefork runs one thread per process"));
        assert!(err(&["--processes", "0"]).starts_with("--processes: '0' is not a whole number"));
        assert!(err(&["--threads", "20001"]).contains("from 1 to 20000"));
        assert!(err(&["--processes", "20000", "--threads", "20000"])
            .contains("more than this launcher writes"));
    }

    #[test]
    fn written_settings() {
        let mut out = String::new();
        render(
            &mut out,
            Mpm::Event,
            Some(Workers {
                processes: 2,
                threads: 3,
            }),
        );
        assert_eq!(
            out,
            "StartServers 2\nServerLimit 2\nThreadLimit 3\nThreadsPerChild 3\n\
             MaxRequestWorkers 6\nMinSpareThreads 3\nMaxSpareThreads 6\n\n"
        );
        let mut out = String::new();
        render(
            &mut out,
            Mpm::Prefork,
            Some(Workers {
                processes: 4,
                threads: 1,
            }),
        );
        assert_eq!(
            out,
            "StartServers 4\nServerLimit 4\nMaxRequestWorkers 4\nMinSpareServers 1\nMaxSpareServers 4\n\n"
        );
        let mut out = String::new();
        render(&mut out, Mpm::Worker, None);
        assert_eq!(out, "");
    }
}
