//! Validated settings from raw arguments: the time window, the record layout, the output.
//!
//! The clock and whether stdout/stderr are terminals are passed in, so everything here is
//! testable without a terminal or a fixed date.

use chrono::DateTime;

use std::time::Duration;

use crate::cli::{AggregateArg, OutputArgs, OutputFormat, SourceArgs, WindowArgs};
use crate::flow::{FormatError, LogFormat};
use crate::source::Window;
use crate::source::cloudwatch::remote::Aggregate;
use crate::source::cloudwatch::{ClientSettings, RunOptions};
use crate::source::local::{LocalOptions, files::CHUNK_BYTES};

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
    #[error(
        "say where the flow logs are: --input PATH, --log-group NAME or --log-group-prefix PREFIX"
    )]
    NoSource,
    #[error("--timeout: `{text}` is not a duration such as 15m")]
    BadTimeout { text: String },
    #[error("--price-per-gb must be a price of zero or more, not {value}")]
    BadPrice { value: String },
}

/// CloudWatch Logs Insights looks back this far unless told otherwise.
pub const CLOUDWATCH_DEFAULT_SINCE_S: i64 = 24 * 3600;

/// Where the answers come from.
#[derive(Debug, Clone)]
pub enum SourceSettings {
    Local(LocalOptions),
    CloudWatch(CloudWatchSettings),
}

#[derive(Debug, Clone)]
pub struct CloudWatchSettings {
    pub client: ClientSettings,
    pub log_groups: Vec<String>,
    pub log_group_prefix: Option<String>,
    pub aggregate: Aggregate,
    pub format: LogFormat,
    pub custom_format: bool,
    pub strict: bool,
    pub options: RunOptions,
    pub price_per_gb: f64,
}

impl SourceSettings {
    /// The window a run covers when the user gives none.
    pub fn default_since_s(&self) -> Option<i64> {
        match self {
            SourceSettings::Local(_) => None,
            SourceSettings::CloudWatch(_) => Some(CLOUDWATCH_DEFAULT_SINCE_S),
        }
    }
}

pub fn resolve_source(args: &SourceArgs) -> Result<SourceSettings, SettingsError> {
    let format = resolve_format(args.log_format.as_deref())?;
    if !args.inputs.is_empty() {
        return Ok(SourceSettings::Local(LocalOptions {
            inputs: args.inputs.clone(),
            format,
            strict: args.strict,
            chunk_bytes: CHUNK_BYTES,
            stream: false,
            memory_limit: Some(args.memory_limit),
        }));
    }
    if args.log_groups.is_empty() && args.log_group_prefix.is_none() {
        return Err(SettingsError::NoSource);
    }
    let aws = &args.aws;
    let timeout = humantime::parse_duration(aws.timeout.trim())
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| SettingsError::BadTimeout {
            text: aws.timeout.clone(),
        })?;
    if !(aws.price_per_gb >= 0.0 && aws.price_per_gb.is_finite()) {
        return Err(SettingsError::BadPrice {
            value: aws.price_per_gb.to_string(),
        });
    }
    Ok(SourceSettings::CloudWatch(CloudWatchSettings {
        client: ClientSettings {
            profile: aws.profile.clone(),
            region: aws.region.clone(),
            endpoint_url: aws.endpoint_url.clone(),
        },
        log_groups: args.log_groups.clone(),
        log_group_prefix: args.log_group_prefix.clone(),
        aggregate: match aws.aggregate {
            AggregateArg::Remote => Aggregate::Remote,
            AggregateArg::Local => Aggregate::Local,
        },
        format,
        custom_format: args.log_format.is_some(),
        strict: args.strict,
        options: RunOptions {
            concurrency: usize::from(aws.concurrency),
            timeout,
            poll_initial: Duration::from_millis(250),
            poll_max: Duration::from_secs(2),
        },
        price_per_gb: aws.price_per_gb,
    }))
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
