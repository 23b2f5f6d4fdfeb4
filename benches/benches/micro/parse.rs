//! Dockerfile parse + lowering to a plan (strata-dockerfile).

use divan::Bencher;
use divan::counter::{BytesCount, ItemsCount};
use std::path::PathBuf;
use strata_benches::summary::timed;
use strata_dockerfile::lower::{LowerOptions, lower};
use strata_dockerfile::parser::parse;

/// Instructions in the generated Dockerfile.
const GENERATED: usize = 500;

fn testdata_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/dockerfiles")
}

/// The names of `testdata/dockerfiles/*.Dockerfile`, sorted.
fn testdata_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(testdata_dir())
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().ok()?;
            name.strip_suffix(".Dockerfile").map(str::to_string)
        })
        .collect();
    names.sort();
    names
}

/// Each Dockerfile of testdata, parsed and lowered.
#[divan::bench(args = testdata_names())]
fn lower_testdata(b: Bencher, name: &str) {
    let text = std::fs::read_to_string(testdata_dir().join(format!("{name}.Dockerfile"))).unwrap();
    let opts = LowerOptions::default();
    lower(&text, &opts).unwrap();
    b.counter(BytesCount::of_str(&text))
        .bench_local(|| lower(divan::black_box(&text), &opts));
}

/// The generated 500-instruction Dockerfile, parsed and lowered.
#[divan::bench]
fn lower_500(b: Bencher) {
    let text = strata_benches::dockerfile::generated(GENERATED);
    let opts = LowerOptions::default();
    let plan = lower(&text, &opts).unwrap();
    assert_eq!(plan.stages.len(), GENERATED.div_ceil(50));
    b.counter(ItemsCount::new(GENERATED))
        .counter(BytesCount::of_str(&text))
        .bench_local(|| {
            timed("parse/lower_500", GENERATED as u64, || {
                lower(divan::black_box(&text), &opts)
            })
        });
}

/// The generated 500-instruction Dockerfile, parsed only (no lowering).
#[divan::bench]
fn parse_only_500(b: Bencher) {
    let text = strata_benches::dockerfile::generated(GENERATED);
    assert_eq!(parse(&text).unwrap().nodes.len(), GENERATED);
    b.counter(ItemsCount::new(GENERATED))
        .counter(BytesCount::of_str(&text))
        .bench(|| {
            timed("parse/parse_only_500", GENERATED as u64, || {
                parse(divan::black_box(&text))
            })
        });
}
