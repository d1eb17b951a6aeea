//! The module's section of mod_status's `/server-status`: a table of the
//! live figures per script and function in the HTML page, and `Key: value`
//! lines under `?auto` (every key is listed in docs/operations.md).

use std::fmt::Write;
use std::sync::atomic::Ordering;

use authnz_core::live_figures::{
    bucket_index, figure_index, figure_key, path_key, quantile, quantile_key, Figure, Function,
    Global, BUCKETS, FIGURES, FUNCTIONS, GLOBALS, QUANTILES,
};

use crate::apr::shared_table::{self, SharedTable};
use crate::httpd::status::{StatusFlags, StatusPage, StatusSection};

/// The figures of one function of one row, read once.
struct FunctionFigures {
    function: Function,
    figures: Vec<(Figure, i128)>,
    quantiles: Vec<(&'static str, u64)>,
}

impl FunctionFigures {
    fn read(table: &SharedTable, row: usize, function: Function) -> FunctionFigures {
        let figures = FIGURES
            .iter()
            .map(|&figure| {
                let raw = table
                    .counter(row, figure_index(function, figure))
                    .load(Ordering::Relaxed);
                // `Running` is a gauge kept by wrapping additions.
                let value = match figure {
                    Figure::Running => i128::from(raw as i64),
                    _ => i128::from(raw),
                };
                (figure, value)
            })
            .collect();
        let buckets: Vec<u64> = (0..BUCKETS)
            .map(|b| {
                table
                    .counter(row, bucket_index(function, b))
                    .load(Ordering::Relaxed)
            })
            .collect();
        let quantiles = QUANTILES
            .iter()
            .map(|(name, q)| (*name, quantile(&buckets, *q).unwrap_or(0)))
            .collect();
        FunctionFigures {
            function,
            figures,
            quantiles,
        }
    }

    fn any(&self) -> bool {
        self.figures.iter().any(|(_, value)| *value != 0)
    }
}

/// One row of the table: its name in keys (`1`, `2`, ..., `Other`) and its
/// path.
struct RowFigures {
    key: String,
    path: String,
    functions: Vec<FunctionFigures>,
}

fn read_rows(table: &SharedTable) -> Vec<RowFigures> {
    let read = |row: usize, key: String, path: String| RowFigures {
        key,
        path,
        functions: FUNCTIONS
            .iter()
            .map(|&f| FunctionFigures::read(table, row, f))
            .collect(),
    };
    let mut rows: Vec<RowFigures> = (0..table.other_row())
        .filter_map(|row| {
            table
                .row_path(row)
                .map(|path| read(row, (row + 1).to_string(), path))
        })
        .collect();
    rows.push(read(
        table.other_row(),
        "Other".to_owned(),
        "(other scripts)".to_owned(),
    ));
    rows
}

fn global(table: &SharedTable, which: Global) -> i128 {
    let raw = table.global(which.index()).load(Ordering::Relaxed);
    match which {
        Global::CacheEntries => i128::from(raw as i64),
        Global::SocacheStores => i128::from(raw),
    }
}

/// The `?auto` lines.
fn auto_lines(table: &SharedTable, rows: &[RowFigures]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "AuthnzWsgiScripts: {}", rows.len() - 1);
    for which in GLOBALS {
        let _ = writeln!(out, "{}: {}", which.key(), global(table, which));
    }
    for row in rows {
        if row.key != "Other" {
            let _ = writeln!(out, "{}: {}", path_key(&row.key), row.path);
        }
        for function in &row.functions {
            for (figure, value) in &function.figures {
                let _ = writeln!(
                    out,
                    "{}: {value}",
                    figure_key(&row.key, function.function, *figure)
                );
            }
            for (name, micros) in &function.quantiles {
                let _ = writeln!(
                    out,
                    "{}: {micros}",
                    quantile_key(&row.key, function.function, name)
                );
            }
        }
    }
    out
}

/// Column heads of the HTML table, after script and function.
const HEADS: [&str; 12] = [
    "calls",
    "granted",
    "denied",
    "unknown",
    "error",
    "timeouts",
    "refused",
    "running",
    "total µs",
    "cache hits",
    "cache misses",
    "shared waits",
];

fn write_html(page: StatusPage, table: &SharedTable, rows: &[RowFigures], tables: bool) {
    page.write("<hr>\n<h2>mod_authnz_wsgi</h2>\n");
    page.write(&format!(
        "<p>Python calls of the auth scripts, all children, since the last start or restart. \
         In-process cache entries: {}. Entries handed to mod_authn_socache: {}. \
         Call times p50/p90/p99 are bucket bounds (at most twice the true time).</p>\n",
        global(table, Global::CacheEntries),
        global(table, Global::SocacheStores)
    ));
    if tables {
        let mut head = String::from("<table border=\"1\">\n<tr><th>script</th><th>function</th>");
        for h in HEADS {
            let _ = write!(head, "<th>{h}</th>");
        }
        head.push_str("<th>p50 µs</th><th>p90 µs</th><th>p99 µs</th></tr>\n");
        page.write(&head);
    }
    for row in rows {
        for function in row.functions.iter().filter(|f| f.any()) {
            let values: Vec<String> = function
                .figures
                .iter()
                .map(|(_, v)| v.to_string())
                .chain(function.quantiles.iter().map(|(_, q)| q.to_string()))
                .collect();
            if tables {
                page.write("<tr><td>");
                page.write_escaped(&row.path);
                page.write(&format!(
                    "</td><td>{}</td><td>{}</td></tr>\n",
                    function.function.python_name(),
                    values.join("</td><td>")
                ));
            } else {
                page.write("<p>");
                page.write_escaped(&row.path);
                let mut text = format!(" {}:", function.function.python_name());
                for (name, value) in HEADS
                    .iter()
                    .chain(["p50 µs", "p90 µs", "p99 µs"].iter())
                    .zip(&values)
                {
                    let _ = write!(text, " {name} {value},");
                }
                text.pop();
                text.push_str("</p>\n");
                page.write(&text);
            }
        }
    }
    if tables {
        page.write("</table>\n");
    }
}

/// The section mod_status asks for.
pub struct Section;

impl StatusSection for Section {
    const NAME: &'static str = "status_hook (live figures)";

    fn write(page: StatusPage, flags: StatusFlags) {
        let Some(table) = shared_table::current() else {
            return;
        };
        let rows = read_rows(&table);
        if flags.short() {
            page.write(&auto_lines(&table, &rows));
        } else {
            write_html(page, &table, &rows, !flags.no_tables());
        }
    }
}
