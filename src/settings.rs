//! Validated settings from raw arguments: the time window, the record layout, the output.
//!
//! The clock and whether stdout/stderr are terminals are passed in, so everything here is
//! testable without a terminal or a fixed date.

use chrono::DateTime;

use crate::cli::{OutputArgs, OutputFormat, WindowArgs};
use crate::flow::{FormatError, LogFormat};
use crate::source::Window;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SettingsError {
    #[error(
        "`{text}` is not a time: give RFC 3339 (2026-11-20T00:00:00Z) or epoch seconds (1763596800)"
    )]
    BadTime { text: String },
    #[error("`{text}` is not a duration: give e.g. 30m, 6h or 7d")]
    BadDuration { text: String },
    #[error("the window ends ({end}) before it starts ({start})")]
    EmptyWindow { start: String, end: String },
    #[error("--end needs --start (or use --since)")]
    EndWithoutStart,
    #[error("--log-format: {0}")]
    Format(#[from] FormatError),
}

/// Where the terminal is, decided once.
#[derive(Debug, Clone, Copy)]
pub struct Terminal {
    pub stdout_is_tty: bool,
    pub stderr_is_tty: bool,
}

/// How results are shown.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    pub format: OutputFormat,
    pub quiet: bool,
    /// A progress bar only where a person watches stderr and the output is not for a script.
    pub progress: bool,
}

impl Output {
    pub fn new(args: &OutputArgs, terminal: Terminal) -> Self {
        Output {
            format: args.output,
            quiet: args.quiet,
            progress: !args.quiet && terminal.stderr_is_tty && args.output != OutputFormat::Json,
        }
    }
}

/// Parses RFC 3339 or epoch seconds (milliseconds are recognized by their size).
pub fn parse_time(text: &str) -> Result<i64, SettingsError> {
    let trimmed = text.trim();
    if let Ok(n) = trimmed.parse::<i64>() {
        return Ok(crate::flow::normalize_epoch_s(n));
    }
    DateTime::parse_from_rfc3339(trimmed)
        .map(|t| t.timestamp())
        .map_err(|_| SettingsError::BadTime {
            text: text.to_owned(),
        })
}

pub fn parse_duration_s(text: &str) -> Result<i64, SettingsError> {
    humantime::parse_duration(text.trim())
        .ok()
        .and_then(|d| i64::try_from(d.as_secs()).ok())
        .filter(|s| *s > 0)
        .ok_or_else(|| SettingsError::BadDuration {
            text: text.to_owned(),
        })
}

/// Resolves the window. `default_since_s` applies when no option is given (CloudWatch looks
/// back 24 hours; files are read whole).
pub fn resolve_window(
    args: &WindowArgs,
    now_s: i64,
    default_since_s: Option<i64>,
) -> Result<Window, SettingsError> {
    let window = match (&args.since, &args.start, &args.end) {
        (Some(since), _, _) => Window {
            start_s: Some(now_s - parse_duration_s(since)?),
            end_s: Some(now_s),
        },
        (None, Some(start), end) => Window {
            start_s: Some(parse_time(start)?),
            end_s: Some(match end {
                Some(end) => parse_time(end)?,
                None => now_s,
            }),
        },
        (None, None, Some(_)) => return Err(SettingsError::EndWithoutStart),
        (None, None, None) => Window {
            start_s: default_since_s.map(|d| now_s - d),
            end_s: default_since_s.map(|_| now_s),
        },
    };
    if let (Some(start), Some(end)) = (window.start_s, window.end_s)
        && end < start
    {
        return Err(SettingsError::EmptyWindow {
            start: crate::source::format_time_s(start),
            end: crate::source::format_time_s(end),
        });
    }
    Ok(window)
}

pub fn resolve_format(text: Option<&str>) -> Result<LogFormat, SettingsError> {
    Ok(match text {
        Some(text) => LogFormat::parse(text)?,
        None => LogFormat::default_v2(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(since: Option<&str>, start: Option<&str>, end: Option<&str>) -> WindowArgs {
        WindowArgs {
            since: since.map(str::to_owned),
            start: start.map(str::to_owned),
            end: end.map(str::to_owned),
        }
    }

    const NOW: i64 = 1_763_683_200; // 2025-11-21T00:00:00Z

    #[test]
    fn times_parse_as_rfc3339_or_epoch() {
        assert_eq!(parse_time("2025-11-21T00:00:00Z"), Ok(NOW));
        assert_eq!(parse_time("2025-11-21T01:00:00+01:00"), Ok(NOW));
        assert_eq!(parse_time("1763683200"), Ok(NOW));
        assert_eq!(parse_time("1763683200000"), Ok(NOW));
        assert!(matches!(
            parse_time("yesterday"),
            Err(SettingsError::BadTime { .. })
        ));
    }

    #[test]
    fn windows_resolve() {
        let w = resolve_window(&window(Some("6h"), None, None), NOW, None).unwrap();
        assert_eq!(w.start_s, Some(NOW - 6 * 3600));
        assert_eq!(w.end_s, Some(NOW));
        let w = resolve_window(&window(None, Some("1763596800"), None), NOW, None).unwrap();
        assert_eq!((w.start_s, w.end_s), (Some(NOW - 86400), Some(NOW)));
        let w = resolve_window(&window(None, None, None), NOW, None).unwrap();
        assert!(w.is_unbounded());
        let w = resolve_window(&window(None, None, None), NOW, Some(86400)).unwrap();
        assert_eq!(w.start_s, Some(NOW - 86400));
        assert_eq!(
            resolve_window(&window(None, None, Some("1")), NOW, None),
            Err(SettingsError::EndWithoutStart)
        );
        assert!(matches!(
            resolve_window(&window(None, Some("100"), Some("50")), NOW, None),
            Err(SettingsError::EmptyWindow { .. })
        ));
        assert!(matches!(
            resolve_window(&window(Some("soon"), None, None), NOW, None),
            Err(SettingsError::BadDuration { .. })
        ));
    }
}
