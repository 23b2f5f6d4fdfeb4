//! Build progress for people: a live view on a terminal, one line per
//! event otherwise (`--progress=auto|tty|plain|quiet`).

mod plain;
mod tty;

pub use plain::Plain;
pub use tty::Tty;

use std::io::IsTerminal;
use strata_builder::progress::{Event, ProgressSink};

/// `--progress`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProgressMode {
    /// A live view on a terminal, plain lines otherwise.
    Auto,
    /// The live view.
    Tty,
    /// One line per event.
    Plain,
    /// Nothing but errors.
    Quiet,
}

/// Discards everything but failures.
#[derive(Debug)]
pub struct Quiet;

impl ProgressSink for Quiet {
    fn event(&self, event: Event) {
        if let Event::Failed(step, message) = event {
            eprintln!("ERROR {step}: {message}");
        }
    }
}

/// The sink for a mode, looking at whether stderr is a terminal.
pub fn sink(mode: ProgressMode) -> Box<dyn ProgressSink> {
    let tty = std::io::stderr().is_terminal() && std::env::var_os("CI").is_none();
    match mode {
        ProgressMode::Quiet => Box::new(Quiet),
        ProgressMode::Plain => Box::new(Plain::new()),
        ProgressMode::Tty => Box::new(Tty::new(terminal_width())),
        ProgressMode::Auto if tty => Box::new(Tty::new(terminal_width())),
        ProgressMode::Auto => Box::new(Plain::new()),
    }
}

fn terminal_width() -> usize {
    rustix::termios::tcgetwinsize(std::io::stderr())
        .map(|w| usize::from(w.ws_col))
        .ok()
        .filter(|w| *w > 0)
        .unwrap_or(100)
}
