//! `strata build --check`: BuildKit's build checks without the build, in
//! the form `docker build --check` prints them (a count, then each warning
//! with its rule, link, message and the Dockerfile lines around it).

use crate::cli::BuildArgs;
use crate::cmd::subrequest::{self, Call};
use anyhow::Result;
use std::io::Write;
use std::process::ExitCode;
use strata_dockerfile::lints;
use strata_dockerfile::lower::{CheckReport, check};

/// Runs the checks and prints the report on stdout, in buildx's text or
/// (`format=json`) BuildKit's lint JSON. The exit status is BuildKit's
/// `result.statuscode`: 1 when a check fired (0 with `ignorestatus=true`);
/// the error `check=error=true` ends with fails the command either way.
pub fn run(args: &BuildArgs, cli: &crate::cli::Cli, call: Call) -> Result<ExitCode> {
    // Base images are resolved as for a build: UndefinedVar knows their
    // ENV, and their ONBUILD triggers are checked too.
    let (result, dockerfile) = subrequest::with_lowering(args, cli, |dockerfile, opts| {
        Ok((check(&dockerfile.text, opts), dockerfile.clone()))
    })?;
    let (file, text) = (&dockerfile.name, &dockerfile.text);
    let mut out = std::io::stdout().lock();
    if call.json {
        // A Dockerfile that does not lower is the result's build error.
        let (warnings, error) = match &result {
            Ok(report) => (report.warnings.as_slice(), report.error.as_ref()),
            Err(e) => (&[][..], Some(e)),
        };
        let json = subrequest::lint_json(warnings, error, &dockerfile.base_name(), text);
        writeln!(out, "{json}")?;
        if let Some(e) = error {
            return Err(e.clone().into());
        }
        let fired = !warnings.is_empty() && !call.ignore_status;
        return Ok(if fired {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        });
    }
    let report = result?;
    out.write_all(render(&report, file, text).as_bytes())?;
    let fired = !report.warnings.is_empty() && !call.ignore_status;
    Ok(if fired || report.error.is_some() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// The report as buildx prints it.
fn render(report: &CheckReport, file: &str, text: &str) -> String {
    let mut out = match report.warnings.len() {
        0 if report.error.is_none() => return "Check complete, no warnings found.\n".into(),
        1 => "Check complete, 1 warning has been found!\n".to_string(),
        n => format!("Check complete, {n} warnings have been found!\n"),
    };
    for warning in &report.warnings {
        out.push_str(&format!("\nWARNING: {}", warning.rule));
        if let Some(rule) = lints::rule(&warning.rule).filter(|r| !r.url.is_empty()) {
            out.push_str(&format!(" - {}", rule.url));
        }
        out.push_str(&format!("\n{}\n", warning.message));
        if let Some(span) = warning.span {
            out.push_str(&source_lines(file, text, span.start_line, span.end_line));
        }
    }
    if let Some(error) = &report.error {
        let line = error.location.line;
        out.push_str(&format!("\n{}\n", error.message));
        out.push_str(&source_lines(
            file,
            text,
            line,
            error.location.end_line.max(line),
        ));
    }
    out
}

/// Lines `start..=end` of the Dockerfile marked `>>>`, with context around
/// them (four lines for one line, else two), as BuildKit prints a source.
fn source_lines(file: &str, text: &str, start: usize, end: usize) -> String {
    let lines: Vec<&str> = text.split('\n').collect();
    if start < 1 || start > lines.len() {
        return String::new();
    }
    let end = end.min(lines.len());
    let pad = if start == end { 4 } else { 2 };
    let (mut first, mut last, mut padded) = (start, end, 0);
    while padded < pad {
        if first > 1 {
            first -= 1;
            padded += 1;
        }
        if last != lines.len() {
            last += 1;
            padded += 1;
        }
        padded += 1;
    }
    let mut out = format!("{file}:{start}\n--------------------\n");
    for (i, line) in lines.iter().enumerate().take(last).skip(first - 1) {
        let number = i + 1;
        let mark = if (start..=end).contains(&number) {
            ">>>"
        } else {
            "   "
        };
        out.push_str(&format!(" {number:>3} | {mark} {line}\n"));
    }
    out.push_str("--------------------\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_plan::{Span, Warning};

    #[test]
    fn a_warning_shows_its_rule_link_message_and_lines() {
        let text = "FROM alpine\n\nCOPY index.js .\nCMD node index.js\n";
        let report = CheckReport {
            warnings: vec![Warning {
                span: Some(Span {
                    start_line: 4,
                    end_line: 4,
                }),
                rule: "JSONArgsRecommended".into(),
                message: "JSON arguments recommended for CMD to prevent unintended behavior related to OS signals".into(),
            }],
            error: None,
        };
        assert_eq!(
            render(&report, "Dockerfile", text),
            "Check complete, 1 warning has been found!\n\
             \n\
             WARNING: JSONArgsRecommended - https://docs.docker.com/go/dockerfile/rule/json-args-recommended/\n\
             JSON arguments recommended for CMD to prevent unintended behavior related to OS signals\n\
             Dockerfile:4\n\
             --------------------\n\
             \x20  2 |     \n\
             \x20  3 |     COPY index.js .\n\
             \x20  4 | >>> CMD node index.js\n\
             \x20  5 |     \n\
             --------------------\n"
        );
        let clean = CheckReport {
            warnings: Vec::new(),
            error: None,
        };
        assert_eq!(
            render(&clean, "D", text),
            "Check complete, no warnings found.\n"
        );
    }

    #[test]
    fn context_is_clipped_at_the_file_edges() {
        let text = "a\nb\nc\nd\ne\nf\ng\nh";
        assert_eq!(
            source_lines("D", text, 1, 1),
            "D:1\n--------------------\n   1 | >>> a\n   2 |     b\n   3 |     c\n--------------------\n"
        );
        let middle = source_lines("D", text, 4, 5);
        assert!(middle.starts_with("D:4\n"), "{middle}");
        assert!(middle.contains("   3 |     c\n   4 | >>> d\n   5 | >>> e\n   6 |     f\n"));
    }
}
