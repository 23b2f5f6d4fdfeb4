//! `STOPSIGNAL`: BuildKit refuses a value moby's `signal.ParseSignal`
//! does not know (`invalid signal: SIGFOO`): a non-zero number, or a Linux
//! signal name with or without `SIG`, in any case (`SIGTERM`, `term`,
//! `RTMIN+3`).

/// Linux signal names as moby/sys/signal's `SignalMap` lists them,
/// without `SIG`.
const NAMES: [&str; 34] = [
    "ABRT", "ALRM", "BUS", "CHLD", "CLD", "CONT", "FPE", "HUP", "ILL", "INT", "IO", "IOT", "KILL",
    "PIPE", "POLL", "PROF", "PWR", "QUIT", "SEGV", "STKFLT", "STOP", "SYS", "TERM", "TRAP", "TSTP",
    "TTIN", "TTOU", "URG", "USR1", "USR2", "VTALRM", "WINCH", "XCPU", "XFSZ",
];

/// Whether moby's `ParseSignal` takes `raw` (as Go's `strconv.Atoi` reads
/// a number: any non-zero integer, sign allowed).
pub(crate) fn valid_signal(raw: &str) -> bool {
    if let Ok(n) = raw.parse::<i64>() {
        return n != 0;
    }
    let upper = raw.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    if NAMES.contains(&name) || name == "RTMIN" || name == "RTMAX" {
        return true;
    }
    let offset = |rest: &str, max: u8| rest.parse::<u8>().is_ok_and(|n| (1..=max).contains(&n));
    // `parse` would take a sign: only the digits after `+`/`-` count.
    let digits = |rest: &str| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit());
    match (name.strip_prefix("RTMIN+"), name.strip_prefix("RTMAX-")) {
        (Some(rest), _) => digits(rest) && !rest.starts_with('0') && offset(rest, 15),
        (_, Some(rest)) => digits(rest) && !rest.starts_with('0') && offset(rest, 14),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_numbers_and_realtime_signals() {
        for ok in [
            "SIGTERM",
            "term",
            "Sigkill",
            "9",
            "-1",
            "+3",
            "RTMIN",
            "SIGRTMIN+3",
            "rtmax-14",
        ] {
            assert!(valid_signal(ok), "{ok}");
        }
        for bad in [
            "SIGFOO", "0", "", "SIG", "RTMIN+16", "RTMIN+0", "RTMIN+03", "RTMAX-15", "RTMIN+-1",
        ] {
            assert!(!valid_signal(bad), "{bad}");
        }
    }
}
