//! Live progress on a terminal: finished steps scroll up as permanent
//! lines; running steps stay at the bottom with their elapsed time and
//! last lines of output, redrawn in place.

use std::collections::VecDeque;
use std::io::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use strata_builder::progress::{Event, ProgressSink, StepRef};

/// Output lines shown under a running step.
const TAIL: usize = 4;
/// Redraws at most this often for output lines (status changes redraw at once).
const FRAME: Duration = Duration::from_millis(80);

/// Live progress on stderr (a terminal).
#[derive(Debug)]
pub struct Tty {
    state: Mutex<State>,
    width: usize,
}

#[derive(Debug)]
struct Running {
    step: StepRef,
    since: Instant,
    tail: VecDeque<String>,
    /// Why the step missed the cache (kept under its finished line).
    reason: Option<String>,
}

#[derive(Debug)]
struct State {
    active: Vec<Running>,
    drawn: usize,
    last_draw: Instant,
}

impl Tty {
    /// Live progress for a terminal `width` columns wide.
    pub fn new(width: usize) -> Tty {
        Tty {
            state: Mutex::new(State {
                active: Vec::new(),
                drawn: 0,
                last_draw: Instant::now(),
            }),
            width: width.max(20),
        }
    }

    fn clip(&self, text: &str) -> String {
        let mut out: String = text.chars().take(self.width.saturating_sub(1)).collect();
        out.retain(|c| c != '\r' && c != '\x1b');
        out
    }
}

impl State {
    fn find(&mut self, step: &StepRef) -> Option<usize> {
        self.active.iter().position(|r| &r.step == step)
    }

    fn remove(&mut self, step: &StepRef) -> Option<Running> {
        self.find(step).map(|i| self.active.remove(i))
    }
}

impl ProgressSink for Tty {
    fn event(&self, event: Event) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        let mut permanent: Vec<String> = Vec::new();
        let mut urgent = true;
        match event {
            Event::Started(step) => state.active.push(Running {
                step,
                since: Instant::now(),
                tail: VecDeque::new(),
                reason: None,
            }),
            Event::Cached(step) => {
                state.remove(&step);
                permanent.push(format!(" => CACHED {step}"));
            }
            Event::Running(step, reason) => {
                if let Some(i) = state.find(&step) {
                    let reason = format!("cache miss: {reason}");
                    state.active[i].since = Instant::now();
                    state.active[i].tail.push_back(reason.clone());
                    state.active[i].reason = Some(reason);
                }
            }
            Event::Output(step, line) => {
                urgent = false;
                if let Some(i) = state.find(&step) {
                    let tail = &mut state.active[i].tail;
                    tail.push_back(line);
                    while tail.len() > TAIL {
                        tail.pop_front();
                    }
                }
            }
            Event::Done(step, took) => {
                let reason = state.remove(&step).and_then(|r| r.reason);
                permanent.push(format!(" => {step}  {:.1}s", took.as_secs_f64()));
                permanent.extend(reason.map(|r| format!("    {r}")));
            }
            Event::Failed(step, message) => {
                let tail = state.remove(&step).map(|r| r.tail).unwrap_or_default();
                permanent.push(format!(" => ERROR {step}"));
                permanent.extend(tail.into_iter().map(|l| format!("    {l}")));
                permanent.push(format!("    {message}"));
            }
            Event::Note(text) => permanent.push(format!(" => {text}")),
            Event::Warning(text) => permanent.push(format!(" WARNING: {text}")),
        }
        if !urgent && permanent.is_empty() && state.last_draw.elapsed() < FRAME {
            return;
        }
        let mut screen = String::new();
        if state.drawn > 0 {
            screen.push_str(&format!("\x1b[{}A", state.drawn));
        }
        screen.push_str("\r\x1b[J");
        for line in &permanent {
            screen.push_str(&self.clip(line));
            screen.push('\n');
        }
        let mut drawn = 0;
        for run in &state.active {
            let secs = run.since.elapsed().as_secs_f64();
            screen.push_str(&self.clip(&format!(" => {}  {secs:.1}s", run.step)));
            screen.push('\n');
            drawn += 1;
            for line in &run.tail {
                screen.push_str(&self.clip(&format!("    {line}")));
                screen.push('\n');
                drawn += 1;
            }
        }
        state.drawn = drawn;
        state.last_draw = Instant::now();
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(screen.as_bytes());
        let _ = err.flush();
    }
}
