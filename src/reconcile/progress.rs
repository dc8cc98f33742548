//! Progress of a long reconcile: a bar on a terminal, a log line every few seconds when
//! stderr goes to a file or journald, nothing at all for tests and benchmarks that ask so.

use std::io::IsTerminal;
use std::time::Duration;

use crate::clock::Instant;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How a run reports progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProgressMode {
    /// A bar when stderr is a terminal, else log lines.
    #[default]
    Auto,
    /// Log lines (`serve`: its stderr is the log).
    Log,
    Off,
}

/// Log lines are at most this frequent.
const LOG_EVERY: Duration = Duration::from_secs(5);

pub struct Progress {
    bar: Option<ProgressBar>,
    log: bool,
    phase: &'static str,
    total: u64,
    last_log: Instant,
}

impl Progress {
    pub fn new(mode: ProgressMode) -> Progress {
        let terminal = std::io::stderr().is_terminal();
        let (bar, log) = match mode {
            ProgressMode::Auto if terminal => (Some(new_bar()), false),
            ProgressMode::Auto | ProgressMode::Log => (None, true),
            ProgressMode::Off => (None, false),
        };
        Progress {
            bar,
            log,
            phase: "",
            total: 0,
            last_log: Instant::now(),
        }
    }

    /// Starts a phase of `total` steps (0: unknown, shown as a spinner).
    pub fn phase(&mut self, phase: &'static str, total: u64) {
        self.phase = phase;
        self.total = total;
        if let Some(bar) = &self.bar {
            bar.reset();
            bar.set_length(total);
            bar.set_position(0);
            bar.set_prefix(phase);
            bar.set_message(String::new());
        }
        if self.log {
            tracing::info!(phase, total, "reconcile: {phase}");
            self.last_log = Instant::now();
        }
    }

    /// `done` of the phase's steps are finished; `detail` says where it stands.
    pub fn set(&mut self, done: u64, detail: impl Into<String>) {
        if let Some(bar) = &self.bar {
            bar.set_position(done);
            bar.set_message(detail.into());
        } else if self.log && (self.last_log.elapsed() >= LOG_EVERY || done == self.total) {
            let detail = detail.into();
            tracing::info!(phase = self.phase, done, total = self.total, %detail, "reconcile progress");
            self.last_log = Instant::now();
        }
    }

    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

fn new_bar() -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
    if let Ok(style) =
        ProgressStyle::with_template("{prefix:>10} [{bar:30}] {pos}/{len} {msg} ({elapsed})")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}
