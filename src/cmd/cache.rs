//! `strata cache ls|du|prune|verify`.

use crate::cli::{CacheCommand, CacheLsArgs, ListFormat, PruneArgs, VerifyArgs};
use crate::cmd::images::human;
use anyhow::{Context, Result, bail};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{SystemTime, UNIX_EPOCH};
use strata_builder::image::{BaseImages, PullPolicy, rfc3339};
use strata_builder::replay::Verdict;
use strata_builder::worker::{Worker, WorkerOptions};
use strata_cache::{Inventory, PruneOptions, RECORDS_DIR, RecordEntry, RecordStore, prune};
use strata_store::Store;

/// Runs a `strata cache` command; `false` means "exit non-zero" (verify
/// found nondeterministic steps).
pub fn run(command: &CacheCommand, store: &Store) -> Result<bool> {
    let records = RecordStore::open(store.root().join(RECORDS_DIR))?;
    match command {
        CacheCommand::Ls(args) => ls(args, store, &records)?,
        CacheCommand::Du => du(store, &records)?,
        CacheCommand::Prune(args) => prune_cmd(args, store, &records)?,
        CacheCommand::Verify(args) => return verify(args, store, &records),
    }
    Ok(true)
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// "5 minutes ago", as docker prints times.
fn ago(then: u64, now: u64) -> String {
    let d = now.saturating_sub(then);
    let (n, unit) = match d {
        0..60 => return "just now".into(),
        60..3600 => (d / 60, "minute"),
        3600..86_400 => (d / 3600, "hour"),
        _ => (d / 86_400, "day"),
    };
    format!("{n} {unit}{} ago", if n == 1 { "" } else { "s" })
}

fn short(key: &str) -> &str {
    &key[..key.len().min(12)]
}

/// Size of a record's layer (its first blob; records hold one per
/// compression, all of the same layer).
fn layer_size(entry: &RecordEntry) -> u64 {
    entry
        .record
        .layer
        .as_ref()
        .and_then(|l| l.blobs.values().next())
        .map_or(0, |(_, size)| *size)
}

/// Every record, most recently used first (then by key).
fn by_last_use(records: &RecordStore) -> Result<Vec<RecordEntry>> {
    let mut entries: Vec<RecordEntry> = records
        .list()?
        .into_iter()
        .map(|(record, last_used)| RecordEntry { record, last_used })
        .collect();
    entries.sort_by(|a, b| (b.last_used, a.record.key).cmp(&(a.last_used, b.record.key)));
    Ok(entries)
}

/// `strata cache ls`: records, most recently used first.
fn ls(args: &CacheLsArgs, store: &Store, records: &RecordStore) -> Result<()> {
    let entries = by_last_use(records)
        .with_context(|| format!("reading the cache of {}", store.root().display()))?;
    let now = now();
    match args.format {
        ListFormat::Json => {
            for e in &entries {
                let layer = e.record.layer.as_ref();
                let v = serde_json::json!({
                    "key": e.record.key.to_string(),
                    "description": e.record.description,
                    "size": layer_size(e),
                    "diffId": layer.map(|l| l.diff_id.clone()),
                    "blobs": layer.map(|l| l.blobs.values().map(|(d, _)| d.clone()).collect::<Vec<_>>()),
                    "created": rfc3339(e.record.created as i64),
                    "lastUsed": rfc3339(e.last_used as i64),
                    "durationMs": e.record.duration_ms,
                    "replayable": e.record.replay.is_some(),
                });
                println!("{v}");
            }
        }
        ListFormat::Table => {
            println!(
                "{:<12}  {:>9}  {:<15}  {:<15}  STEP",
                "KEY", "SIZE", "CREATED", "LAST USED"
            );
            for e in &entries {
                println!(
                    "{:<12}  {:>9}  {:<15}  {:<15}  {}",
                    short(&e.record.key.to_string()),
                    human(layer_size(e)),
                    ago(e.record.created, now),
                    ago(e.last_used, now),
                    e.record.description
                );
            }
        }
    }
    Ok(())
}

/// `strata cache du`.
fn du(store: &Store, records: &RecordStore) -> Result<()> {
    let usage = Inventory::read(store, records)?.usage();
    println!("{:<34} {:>7} {:>10}", "KIND", "COUNT", "SIZE");
    let rows = [
        ("cache records (their layer blobs)", usage.records),
        ("layer blobs only the cache holds", usage.cache_only_blobs),
        ("blobs of tagged images", usage.image_blobs),
        ("unreferenced blobs", usage.unreferenced_blobs),
        ("snapshots (extracted layers)", usage.snapshots),
        ("cache mounts", usage.mounts),
        ("stat caches", usage.statcaches),
    ];
    for (kind, (count, bytes)) in rows {
        println!("{kind:<34} {count:>7} {:>10}", human(bytes));
    }
    println!("reclaimable: {}", human(usage.reclaimable()));
    Ok(())
}

/// `strata cache prune`.
fn prune_cmd(args: &PruneArgs, store: &Store, records: &RecordStore) -> Result<()> {
    let mut keep_duration = args
        .keep_duration
        .as_deref()
        .map(parse_duration)
        .transpose()
        .context("--keep-duration")?;
    for filter in &args.filter {
        match filter.split_once('=') {
            Some(("until", d)) => {
                keep_duration = Some(parse_duration(d).context("--filter until")?);
            }
            _ => bail!("--filter {filter:?} is not supported (only until=DURATION)"),
        }
    }
    let opts = PruneOptions {
        all: args.all,
        keep_duration,
        keep_storage: args
            .keep_storage
            .as_deref()
            .map(parse_size)
            .transpose()
            .context("--keep-storage")?,
        mounts: args.mounts,
        now: now(),
    };
    let report = prune(store, records, &opts)?;
    let rows = [
        ("blobs", report.blobs),
        ("snapshots", report.snapshots),
        ("cache mounts", report.mounts),
        ("stat caches", report.statcaches),
        ("leftovers of interrupted builds", report.leftovers),
    ];
    println!("removed {} cache records", report.records);
    if report.histories > 0 {
        println!(
            "removed {} histories of earlier builds (what --explain compares with)",
            report.histories
        );
    }
    for (kind, (count, bytes)) in rows {
        if count > 0 {
            println!("removed {count} {kind} ({})", human(bytes));
        }
    }
    if report.running_builds > 0 {
        println!("kept what {} running build(s) use", report.running_builds);
    }
    if report.busy_mounts > 0 {
        println!("kept {} cache mount(s) in use", report.busy_mounts);
    }
    println!("Total: {}", human(report.freed()));
    Ok(())
}

/// `500MB`, `5GB`, `1.5g`, `1024`: binary units, as docker's
/// `--keep-storage` (1MB = 1024 KB).
pub fn parse_size(text: &str) -> Result<u64> {
    let t = text.trim().to_ascii_lowercase();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let value: f64 = number
        .parse()
        .with_context(|| format!("invalid size {text:?}"))?;
    let shift = match unit.trim() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        _ => bail!("invalid size {text:?}: unknown unit {unit:?} (use B, KB, MB, GB or TB)"),
    };
    Ok((value * (1u64 << shift) as f64) as u64)
}

/// `90s`, `30m`, `24h`, `7d`, `1h30m`: seconds.
pub fn parse_duration(text: &str) -> Result<u64> {
    let mut total = 0u64;
    let mut number = String::new();
    let t = text.trim();
    if t.is_empty() {
        bail!("empty duration");
    }
    for c in t.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 7 * 86_400,
            _ => bail!("invalid duration {text:?}: unknown unit {c:?} (use s, m, h, d or w)"),
        };
        let n: u64 = number
            .parse()
            .with_context(|| format!("invalid duration {text:?}"))?;
        total += n * unit;
        number.clear();
    }
    if !number.is_empty() {
        bail!("invalid duration {text:?}: a number needs a unit (s, m, h, d or w)");
    }
    Ok(total)
}

/// `strata cache verify`: reruns cached RUN steps, most recently used
/// first, and names those whose files differ.
fn verify(args: &VerifyArgs, store: &Store, records: &RecordStore) -> Result<bool> {
    let mut entries: Vec<RecordEntry> = by_last_use(records)?
        .into_iter()
        .filter(|e| e.record.replay.is_some())
        .collect();
    if !args.all {
        entries.truncate(args.sample.unwrap_or(10));
    }
    crate::isolate::private_mounts()?;
    let context = tempfile::tempdir().context("making an empty context")?;
    let images = Arc::new(BaseImages::new(
        store.clone(),
        None,
        PullPolicy::Missing,
        Box::new(|_: &str| {}),
    ));
    let executor = Box::new(strata_exec::NamespaceExecutor::with_scratch_root(
        store.root().join("tmp"),
    ));
    let worker = Worker::new(
        store.clone(),
        images,
        context.path().to_path_buf(),
        &[],
        executor,
        WorkerOptions::default(),
    )?;
    crate::isolate::cancel_on_signals(worker.cancel_token(), Arc::new(AtomicBool::new(false)))?;
    let (mut same, mut differ, mut skipped) = (0, 0, 0);
    for e in &entries {
        let key = e.record.key.to_string();
        let verdict = worker
            .verify_record(&e.record, &mut |_| {})
            .with_context(|| format!("verifying {} ({})", short(&key), e.record.description))?;
        match verdict {
            Verdict::Same => {
                same += 1;
                println!("ok            {}  {}", short(&key), e.record.description);
            }
            Verdict::Differs {
                recorded,
                rerun,
                paths,
            } => {
                differ += 1;
                println!(
                    "NONDETERMINISTIC {}  {}: the rerun made different files ({} recorded, {} now)",
                    short(&key),
                    e.record.description,
                    recorded.as_deref().unwrap_or("no layer"),
                    rerun.as_deref().unwrap_or("no layer"),
                );
                const SHOWN: usize = 10;
                for path in paths.iter().take(SHOWN) {
                    println!("    differs: {path}");
                }
                if paths.len() > SHOWN {
                    println!("    … and {} more", paths.len() - SHOWN);
                }
            }
            Verdict::Skipped(why) => {
                skipped += 1;
                println!(
                    "skipped       {}  {}: {why}",
                    short(&key),
                    e.record.description
                );
            }
        }
    }
    println!(
        "{} steps verified: {same} same, {differ} nondeterministic, {skipped} skipped",
        same + differ + skipped
    );
    Ok(differ == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_use_binary_units_like_docker() {
        assert_eq!(parse_size("1024").unwrap(), 1024);
        assert_eq!(parse_size("500MB").unwrap(), 500 << 20);
        assert_eq!(parse_size("5gb").unwrap(), 5 << 30);
        assert_eq!(parse_size("1.5k").unwrap(), 1536);
        assert!(parse_size("5 parsecs").is_err());
        assert!(parse_size("MB").is_err());
    }

    #[test]
    fn durations_accept_days_and_compounds() {
        assert_eq!(parse_duration("24h").unwrap(), 86_400);
        assert_eq!(parse_duration("7d").unwrap(), 7 * 86_400);
        assert_eq!(parse_duration("1h30m").unwrap(), 5400);
        assert!(parse_duration("10").is_err());
        assert!(parse_duration("3y").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn ages_read_like_docker() {
        assert_eq!(ago(100, 130), "just now");
        assert_eq!(ago(0, 60), "1 minute ago");
        assert_eq!(ago(0, 7200), "2 hours ago");
        assert_eq!(ago(0, 3 * 86_400), "3 days ago");
    }
}
