//! Readable tables of scenario and replay results.

use super::scenario::ScenarioResult;
use std::fmt::Write as _;

/// Milliseconds as `12 ms` or `1.23 s`.
pub fn duration(ms: f64) -> String {
    if ms < 1000.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{:.2} s", ms / 1000.0)
    }
}

/// Bytes as `0 B`, `12.3 KB`, `4.5 MB` (10^3 units).
pub fn bytes(n: u64) -> String {
    let n = n as f64;
    if n < 1e3 {
        format!("{n:.0} B")
    } else if n < 1e6 {
        format!("{:.1} KB", n / 1e3)
    } else if n < 1e9 {
        format!("{:.1} MB", n / 1e6)
    } else {
        format!("{:.2} GB", n / 1e9)
    }
}

/// Left-aligned first column, right-aligned others.
pub fn render(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            let w = widths.get(c).copied().unwrap_or(0);
            if c == 0 {
                let _ = write!(line, "{cell:<w$}");
            } else {
                let _ = write!(line, "  {cell:>w$}");
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The table of one scenario.
pub fn scenario(result: &ScenarioResult) -> String {
    let mut header: Vec<String> = [
        "build", "wall", "steps", "cached", "ran", "hit", "written", "in RUN", "other",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for peer in &result.peers {
        header.push(peer.clone());
        header.push(format!("strata/{peer}"));
    }
    let checked = result.builds.iter().any(|b| b.prediction.is_some());
    if checked {
        header.push("predicted".into());
    }
    let mut rows = vec![header];
    for b in &result.builds {
        let mut row = vec![
            b.label.clone(),
            duration(b.wall_ms),
            b.steps.to_string(),
            b.cached.to_string(),
            b.ran.to_string(),
            format!("{:.0}%", b.hit_rate),
            bytes(b.bytes_written),
            duration(b.run_ms as f64),
            duration(b.overhead_ms),
        ];
        for peer in &result.peers {
            match b.peers.get(peer) {
                Some(p) => {
                    let cached = p
                        .cached
                        .map(|c| format!(" ({c} cached)"))
                        .unwrap_or_default();
                    row.push(format!("{}{cached}", duration(p.wall_ms)));
                    row.push(format!("{:.2}", p.ratio));
                }
                None => row.extend(["-".to_string(), "-".to_string()]),
            }
        }
        if checked {
            row.push(match &b.prediction {
                Some(p) if p.disagreements.is_empty() => format!("agrees ({})", duration(p.ms)),
                Some(p) => format!("{} differ", p.disagreements.len()),
                None => "-".into(),
            });
        }
        rows.push(row);
    }
    let mut out = format!("scenario {}: {}\n", result.name, result.about);
    if let Some(note) = &result.note {
        let _ = writeln!(out, "note: {note}");
    }
    out.push_str(&render(&rows));
    for b in &result.builds {
        for d in b.prediction.iter().flat_map(|p| &p.disagreements) {
            let _ = writeln!(out, "prediction differs, {}: {d}", b.label);
        }
    }
    out.push('\n');
    out
}
