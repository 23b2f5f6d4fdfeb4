//! Samples recorded by the benchmarks themselves, and the closing table
//! that puts each strata figure next to the machine's limit measured in
//! the same run.
//!
//! Benchmark harnesses keep their statistics to themselves, so each
//! benchmark body wraps its work in [`timed`]; [`report`] then prints
//! medians as rates and shares.
//!
//! On a machine shared with other work, a limit measured a minute apart
//! from its figure may have seen a different load. The benchmarks
//! therefore measure the limit right before each sample of the figure, so
//! the i-th samples of both form a pair, and a share is the median of the
//! per-pair ratios.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

static SAMPLES: Mutex<BTreeMap<&'static str, Vec<f64>>> = Mutex::new(BTreeMap::new());
static NOTES: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Keeps a line for the end of the run (printing while the harness draws
/// its table would break the table).
pub fn note(line: String) {
    NOTES
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(line);
}

/// The notes kept so far, in order, one per line.
pub fn notes() -> String {
    let notes = NOTES.lock().unwrap_or_else(PoisonError::into_inner);
    notes.iter().map(|n| format!("{n}\n")).collect()
}

/// Runs `work`, recording a sample of `units` (bytes, files, …) per its
/// wall time under `name`.
pub fn timed<T>(name: &'static str, units: u64, work: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let out = work();
    record(name, units, start.elapsed());
    out
}

/// Records that `units` took `elapsed` under `name`.
pub fn record(name: &'static str, units: u64, elapsed: Duration) {
    let rate = units as f64 / elapsed.as_secs_f64().max(1e-9);
    SAMPLES
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .entry(name)
        .or_default()
        .push(rate);
}

/// The rates recorded under `name`, in the order they were recorded.
pub fn rates(name: &str) -> Vec<f64> {
    SAMPLES
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(name)
        .cloned()
        .unwrap_or_default()
}

/// The median of `values` (`None` when empty).
pub fn median(mut values: Vec<f64>) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(values[n / 2]),
        _ => Some((values[n / 2 - 1] + values[n / 2]) / 2.0),
    }
}

/// The median rate (units per second) recorded under `name`.
pub fn median_rate(name: &str) -> Option<f64> {
    median(rates(name))
}

/// `figure / limit`: the median of the per-sample ratios when both have
/// the same number of samples (measured in pairs), else the ratio of the
/// medians.
pub fn share(figure: &str, limit: &str) -> Option<f64> {
    let (f, l) = (rates(figure), rates(limit));
    if f.len() == l.len() {
        median(f.iter().zip(&l).map(|(f, l)| f / l).collect())
    } else {
        Some(median(f)? / median(l)?)
    }
}

/// What a rate counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Bytes, shown as MB/s (10^6).
    Bytes,
    /// Files or other entries, shown as thousands per second.
    Entries,
    /// Dockerfile instructions, shown as thousands per second.
    Instructions,
}

impl Unit {
    fn show(self, per_sec: f64) -> String {
        match self {
            Unit::Bytes => format!("{:.0} MB/s", per_sec / 1e6),
            Unit::Entries => format!("{:.0}k files/s", per_sec / 1e3),
            Unit::Instructions => format!("{:.0}k instr/s", per_sec / 1e3),
        }
    }
}

/// One row of the closing table: a strata figure and the limit it is read against.
#[derive(Debug, Clone, Copy)]
pub struct Share {
    /// What strata did.
    pub what: &'static str,
    /// The sample name of the strata figure.
    pub figure: &'static str,
    /// What the limit is.
    pub limit_what: &'static str,
    /// The sample name of the limit.
    pub limit: &'static str,
    /// What both count.
    pub unit: Unit,
}

/// The table of `rows` whose figure and limit were both measured (rows
/// left out by a filter are skipped).
pub fn report(rows: &[Share]) -> String {
    let mut out =
        String::from("\nstrata vs the machine's limit, measured in pairs in this run (medians):\n");
    let _ = writeln!(
        out,
        "  {:<40} {:>16}   {:<40} {:>16} {:>6}",
        "strata", "rate", "limit", "rate", "share"
    );
    for row in rows {
        let (Some(fig), Some(lim), Some(share)) = (
            median_rate(row.figure),
            median_rate(row.limit),
            share(row.figure, row.limit),
        ) else {
            continue;
        };
        let _ = writeln!(
            out,
            "  {:<40} {:>16}   {:<40} {:>16} {:>5.0}%",
            row.what,
            row.unit.show(fig),
            row.limit_what,
            row.unit.show(lim),
            100.0 * share
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_recorded_rates_and_share_in_the_report() {
        record("t/figure", 100, Duration::from_secs(1));
        record("t/figure", 300, Duration::from_secs(1));
        record("t/figure", 200, Duration::from_secs(1));
        record("t/limit", 400_000_000, Duration::from_secs(1));
        assert_eq!(median_rate("t/figure"), Some(200.0));
        assert_eq!(median_rate("t/none"), None);
        record("t/figure2", 200_000_000, Duration::from_secs(1));
        let table = report(&[
            Share {
                what: "x",
                figure: "t/figure2",
                limit_what: "y",
                limit: "t/limit",
                unit: Unit::Bytes,
            },
            Share {
                what: "skipped",
                figure: "t/none",
                limit_what: "y",
                limit: "t/limit",
                unit: Unit::Bytes,
            },
        ]);
        assert!(table.contains("200 MB/s"), "{table}");
        assert!(table.contains("400 MB/s"), "{table}");
        assert!(table.contains("50%"), "{table}");
        assert!(!table.contains("skipped"), "{table}");
        // Paired samples: the share is the median ratio, not the ratio of medians.
        for (f, l) in [(10, 20), (30, 30), (50, 200)] {
            record("t/pf", f, Duration::from_secs(1));
            record("t/pl", l, Duration::from_secs(1));
        }
        assert_eq!(share("t/pf", "t/pl"), Some(0.5));
        assert_eq!(
            median_rate("t/pf").unwrap() / median_rate("t/pl").unwrap(),
            1.0
        );
        record("t/pf", 40, Duration::from_secs(1));
        assert_eq!(share("t/pf", "t/pl"), Some(35.0 / 30.0));
        note("first".into());
        note("second".into());
        assert!(notes().ends_with("first\nsecond\n"));
    }
}
