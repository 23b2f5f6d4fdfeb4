//! Line-per-event progress, as BuildKit prints it with `--progress=plain`:
//! every step gets a number, and each line starts with it.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Mutex;
use std::time::Instant;
use strata_builder::progress::{Event, ProgressSink, StepRef};

/// Plain progress on stderr.
#[derive(Debug)]
pub struct Plain {
    state: Mutex<State>,
    started: Instant,
}

#[derive(Debug, Default)]
struct State {
    numbers: HashMap<StepRef, usize>,
    next: usize,
}

impl Plain {
    /// Plain progress from now.
    pub fn new() -> Plain {
        Plain {
            state: Mutex::new(State::default()),
            started: Instant::now(),
        }
    }
}

impl State {
    fn number(&mut self, step: &StepRef) -> usize {
        if let Some(n) = self.numbers.get(step) {
            return *n;
        }
        self.next += 1;
        self.numbers.insert(step.clone(), self.next);
        self.next
    }
}

impl ProgressSink for Plain {
    fn event(&self, event: Event) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        let elapsed = self.started.elapsed().as_secs_f64();
        let line = match &event {
            Event::Started(step) => {
                let n = state.number(step);
                format!("#{n} {step}")
            }
            Event::Cached(step) => format!("#{} CACHED", state.number(step)),
            Event::Running(step, reason) => {
                format!("#{} cache miss: {reason}", state.number(step))
            }
            Event::Output(step, text) => format!("#{} {elapsed:.3} {text}", state.number(step)),
            Event::Done(step, took) => {
                format!("#{} DONE {:.1}s", state.number(step), took.as_secs_f64())
            }
            Event::Failed(step, message) => format!("#{} ERROR: {message}", state.number(step)),
            Event::Note(text) => format!("=> {text}"),
            Event::Warning(text) => format!("WARNING: {text}"),
        };
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "{line}");
    }
}
