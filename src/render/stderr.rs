//! Everything flowsift says on stderr besides errors: progress, warnings and statistics.
//!
//! Progress shows only where a person watches (stderr is a terminal, not `--quiet`, not JSON
//! output); warnings always print, since they say the answer may be incomplete.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::error::escape_control;
use crate::settings::Output;
use crate::source::Statistics;
use crate::source::cloudwatch::{Progress as RemoteProgress, Statistics as RemoteStatistics};
use crate::source::local::Progress;

pub struct Reporter {
    output: Output,
    bar: Option<ProgressBar>,
    remote: Mutex<RemoteState>,
}

/// What the running Logs Insights queries have reported so far.
#[derive(Default)]
struct RemoteState {
    running: HashMap<String, RemoteStatistics>,
    done: RemoteStatistics,
    status: String,
    splits: usize,
}

impl Reporter {
    pub fn new(output: Output) -> Self {
        Reporter {
            output,
            bar: None,
            remote: Mutex::new(RemoteState::default()),
        }
    }

    /// A spinner for Logs Insights queries.
    pub fn start_remote(&mut self) {
        if self.output.progress {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} {msg} {elapsed}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.set_message("starting Logs Insights queries");
            bar.enable_steady_tick(Duration::from_millis(120));
            self.bar = Some(bar);
        }
    }

    /// Follows the queries: status, records matched and scanned, bytes scanned.
    pub fn remote_event(&self, event: RemoteProgress) {
        let Ok(mut state) = self.remote.lock() else {
            return;
        };
        match event {
            RemoteProgress::Started { query_id, .. } => {
                state.running.insert(query_id, RemoteStatistics::default());
            }
            RemoteProgress::Polled {
                query_id,
                status,
                statistics,
            } => {
                state.running.insert(query_id, statistics);
                state.status = status;
            }
            RemoteProgress::Split { .. } => state.splits += 1,
            RemoteProgress::Finished { query_id } => {
                if let Some(s) = state.running.remove(&query_id) {
                    state.done.records_matched += s.records_matched;
                    state.done.records_scanned += s.records_scanned;
                    state.done.bytes_scanned += s.bytes_scanned;
                }
            }
        }
        if let Some(bar) = &self.bar {
            let mut total = state.done;
            for s in state.running.values() {
                total.records_matched += s.records_matched;
                total.records_scanned += s.records_scanned;
                total.bytes_scanned += s.bytes_scanned;
            }
            let splits = if state.splits > 0 {
                format!(", {} window splits", state.splits)
            } else {
                String::new()
            };
            bar.set_message(format!(
                "{} queries {} | {} matched of {} scanned, {} scanned{splits}",
                state.running.len(),
                state.status.to_lowercase(),
                total.records_matched,
                total.records_scanned,
                human_bytes(total.bytes_scanned.max(0.0) as u64),
            ));
        }
    }

    /// What Logs Insights scanned, and what that costs at the given price.
    pub fn remote_statistics(&self, stats: &RemoteStatistics, queries: usize, price_per_gb: f64) {
        if self.output.quiet {
            return;
        }
        let gb = stats.bytes_scanned.max(0.0) / 1e9;
        self.line(&format!(
            "Logs Insights: {queries} quer{}, {} records scanned, {} matched, {} scanned; estimated cost ${:.4} at ${price_per_gb}/GB",
            if queries == 1 { "y" } else { "ies" },
            stats.records_scanned,
            stats.records_matched,
            human_bytes(stats.bytes_scanned.max(0.0) as u64),
            gb * price_per_gb,
        ));
    }

    pub fn warn(&self, message: &str) {
        let lines: Vec<String> = message.lines().map(escape_control).collect();
        self.line(&format!("warning: {}", lines.join("\n")));
    }

    fn line(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| eprintln_safe(text)),
            None => eprintln_safe(text),
        }
    }

    /// A byte-count progress bar for reading files.
    pub fn start_reading(&mut self) {
        if self.output.progress {
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} reading {bytes}/{total_bytes} {bytes_per_sec} {elapsed}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            self.bar = Some(bar);
        }
    }

    /// Takes the progress bar off the terminal for good, while the run goes on: rows are
    /// about to be written there.
    pub fn hide_bar(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
            bar.set_draw_target(ProgressDrawTarget::hidden());
        }
    }

    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }

    /// What was read and skipped; SKIPDATA and malformed lines are warnings, the rest is
    /// shown unless `--quiet`.
    pub fn statistics(&self, stats: &Statistics) {
        if !self.output.quiet {
            let mut text = if stats.files == 0 {
                format!(
                    "evaluated {} fetched records ({}) here",
                    stats.records_scanned,
                    human_bytes(stats.bytes_scanned)
                )
            } else {
                format!(
                    "read {} file(s), {}, {} records",
                    stats.files,
                    human_bytes(stats.bytes_scanned),
                    stats.records_scanned
                )
            };
            if stats.files_skipped > 0 {
                text.push_str(&format!(
                    " (passed over {} file(s) not named *.log, *.gz, *.txt or *.parquet)",
                    stats.files_skipped
                ));
            }
            if stats.outside_window > 0 {
                text.push_str(&format!(" ({} outside the window)", stats.outside_window));
            }
            if stats.nodata_records > 0 {
                text.push_str(&format!(", {} NODATA", stats.nodata_records));
            }
            if stats.stopped_at_limit {
                text.push_str("; reading stopped once the limit was full");
            }
            let spilled = [
                (stats.spilled_bytes, "of its groups"),
                (stats.sorted_spilled_bytes, "of sorted rows"),
            ]
            .iter()
            .filter(|(bytes, _)| *bytes > 0)
            .map(|(bytes, what)| format!("{} {what}", human_bytes(*bytes)))
            .collect::<Vec<_>>();
            if !spilled.is_empty() {
                text.push_str(&format!(
                    "; the answer outgrew --memory-limit, so {} went through temporary files (a larger limit is faster)",
                    spilled.join(" and ")
                ));
            }
            self.line(&text);
        }
        if stats.skipdata_records > 0 {
            self.warn(&format!(
                "{} SKIPDATA record(s): the flow-log service dropped records in those capture windows, so coverage is incomplete and some traffic is missing from this answer",
                stats.skipdata_records
            ));
        }
        if stats.untimed_records > 0 {
            self.warn(&format!(
                "{} record(s) have no start time, so the window could not be applied to them; they are included (give the format's ${{start}} field to place them)",
                stats.untimed_records
            ));
        }
        if stats.malformed_lines > 0 {
            let examples: Vec<String> = stats
                .malformed_examples
                .iter()
                .map(|m| format!("    {}:{}: {}", m.path, m.line, m.reason))
                .collect();
            self.warn(&format!(
                "skipped {} malformed line(s) (use --strict to stop at the first); the first:\n{}",
                stats.malformed_lines,
                examples.join("\n")
            ));
        }
    }
}

impl Progress for Reporter {
    fn total(&self, bytes: u64) {
        if let Some(bar) = &self.bar {
            bar.set_length(bytes);
        }
    }

    fn advance(&self, bytes: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(bytes);
        }
    }
}

fn eprintln_safe(text: &str) {
    let mut err = anstream::stderr().lock();
    let _ = writeln!(err, "{text}");
}

pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}
