//! Errors of the CloudWatch Logs Insights source, and the mapping from AWS SDK
//! errors to them.
//!
//! This module owns [`CloudWatchError`] (every variant's message says what the
//! user can do about it) and the classification of SDK errors into "retry
//! later" (throttling, too many concurrent queries) versus final errors. It does
//! no I/O and never prints.

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_cloudwatchlogs::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_cloudwatchlogs::operation::describe_log_groups::DescribeLogGroupsError;
use aws_sdk_cloudwatchlogs::operation::get_query_results::GetQueryResultsError;
use aws_sdk_cloudwatchlogs::operation::start_query::StartQueryError;
use aws_sdk_cloudwatchlogs::operation::stop_query::StopQueryError;

/// Every failure of the CloudWatch Logs Insights source.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CloudWatchError {
    /// `ResourceNotFoundException` from `StartQuery` / `DescribeLogGroups`.
    #[error(
        "log group {name} was not found in this account and region; check the name, \
         --region and --profile, or discover groups with a prefix"
    )]
    LogGroupNotFound {
        /// The group AWS named, or (when its message named none) every group
        /// of the request, comma-separated.
        name: String,
    },

    /// `AccessDeniedException`: the IAM identity in use may not call `action`.
    #[error(
        "access denied: the AWS identity in use is not allowed {action} on {resource} \
         ({message}); grant {action} to it in IAM, or use another --profile"
    )]
    AccessDenied {
        /// IAM action, e.g. `logs:StartQuery`.
        action: &'static str,
        /// What the call was about: log groups, a query id or a prefix.
        resource: String,
        /// AWS's own message.
        message: String,
    },

    /// `MalformedQueryException`: the Logs Insights query does not compile.
    #[error(
        "the Logs Insights query does not compile{}: {message}; fix the query syntax \
         (see https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/CWL_QuerySyntax.html)",
        position_suffix(*.line, *.column)
    )]
    MalformedQuery {
        /// The query as sent.
        query: String,
        /// 1-based line of the reported position, when AWS reported one.
        line: Option<usize>,
        /// 1-based column (in characters) of the reported position.
        column: Option<usize>,
        /// AWS's message.
        message: String,
    },

    /// No credentials could be found by the default chain (or the profile).
    #[error(
        "no AWS credentials found ({detail}); set --profile/AWS_PROFILE to a configured \
         profile, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN), \
         or run on a host with an instance/task role"
    )]
    NoCredentials {
        /// What the credentials chain reported.
        detail: String,
    },

    /// Credentials were found but AWS rejected them.
    #[error(
        "AWS rejected the credentials ({code}: {message}); refresh them (e.g. `aws sso login`, \
         new session token) or pick another --profile"
    )]
    InvalidCredentials {
        /// AWS error code, e.g. `ExpiredTokenException`.
        code: String,
        /// AWS's message.
        message: String,
    },

    /// No region configured anywhere.
    #[error(
        "no AWS region configured; pass --region, set AWS_REGION, or set `region` in the \
         profile chosen with --profile/AWS_PROFILE"
    )]
    NoRegion,

    /// A query ended with status `Failed`, `Cancelled`, `Timeout` or `Unknown`.
    #[error(
        "Logs Insights query {query_id} on {} ended with status {status}; {}",
        .log_groups.join(", "),
        status_advice(.status)
    )]
    QueryFailed {
        /// The query id as returned by `StartQuery`.
        query_id: String,
        /// The terminal status as AWS spelled it.
        status: String,
        /// The log groups of this query.
        log_groups: Vec<String>,
    },

    /// The run's overall deadline (`RunOptions::timeout`) passed.
    #[error(
        "timed out after {timeout:?} waiting for {waiting_for}; raise the timeout, \
         narrow the time window, or query fewer log groups"
    )]
    TimedOut {
        /// What was being waited for when the deadline passed.
        waiting_for: String,
        /// The configured overall timeout.
        timeout: Duration,
    },

    /// A one-second window still returned `limit` rows, so rows would be lost.
    #[error(
        "more than {limit} rows match in the single second {second} (epoch seconds) for \
         query `{query}` on {}; Logs Insights cannot split a window below one second, \
         so add a filter or aggregate with `stats` to return fewer rows",
        .log_groups.join(", ")
    )]
    TooManyRowsInOneSecond {
        /// The epoch second that is still truncated.
        second: i64,
        /// The row limit in force.
        limit: i32,
        /// The query string.
        query: String,
        /// The log groups of the truncated query.
        log_groups: Vec<String>,
    },

    /// The request was rejected before anything was sent.
    #[error("invalid CloudWatch Logs request: {message}")]
    InvalidRequest {
        /// What is wrong and how to fix it.
        message: String,
    },

    /// `InvalidParameterException` from AWS.
    #[error(
        "{operation} rejected a parameter: {message}; check the time window, limit and \
         log group names"
    )]
    InvalidParameter {
        /// API operation, e.g. `StartQuery`.
        operation: &'static str,
        /// AWS's message.
        message: String,
    },

    /// The run was interrupted by [`super::Runner::stop_all`].
    #[error("the CloudWatch Logs query run was interrupted and its queries were stopped")]
    Interrupted,

    /// Any other SDK error (network, service, unexpected response).
    #[error(
        "CloudWatch Logs {operation} failed{}: {message}; check network access to the \
         endpoint (--endpoint-url) and retry",
        code_suffix(.code)
    )]
    Service {
        /// API operation, e.g. `GetQueryResults`.
        operation: &'static str,
        /// AWS error code, when there was one.
        code: Option<String>,
        /// The full error, rendered with `DisplayErrorContext`.
        message: String,
    },
}

fn position_suffix(line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!(" at line {l}, column {c}"),
        _ => String::new(),
    }
}

fn code_suffix(code: &Option<String>) -> String {
    code.as_ref().map(|c| format!(" ({c})")).unwrap_or_default()
}

fn status_advice(status: &str) -> &'static str {
    match status {
        "Timeout" => {
            "Logs Insights stops queries after 60 minutes: narrow the time window or query fewer log groups"
        }
        "Cancelled" => "it was stopped (StopQuery, the console, or another client); run it again",
        _ => "run it again; if it keeps failing, try it in the CloudWatch console to see why",
    }
}

impl CloudWatchError {
    /// For [`CloudWatchError::MalformedQuery`] with a known position: the query
    /// line at fault with a caret under the reported column, e.g.
    ///
    /// ```text
    /// 2 | | filter action = = "REJECT"
    ///   |                   ^
    /// ```
    ///
    /// `None` for other variants or when AWS reported no position.
    pub fn caret_display(&self) -> Option<String> {
        let CloudWatchError::MalformedQuery {
            query,
            line: Some(line),
            column: Some(column),
            ..
        } = self
        else {
            return None;
        };
        let text = query.split('\n').nth(line.checked_sub(1)?)?;
        let text = text.strip_suffix('\r').unwrap_or(text);
        let number = line.to_string();
        let gutter = " ".repeat(number.len());
        // Keep tabs so the caret lines up under tab-indented text.
        let pad: String = text
            .chars()
            .take(column.saturating_sub(1))
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        Some(format!("{number} | {text}\n{gutter} | {pad}^"))
    }
}

/// Converts a character offset into the query (as reported in
/// `QueryCompileError.location.startCharOffset`) into a 1-based line and column.
/// The offset is 0-based; an offset past the end is clamped to the end.
pub(crate) fn line_column(query: &str, offset: i32) -> Option<(usize, usize)> {
    let offset = usize::try_from(offset).ok()?;
    let mut line = 1usize;
    let mut column = 1usize;
    for c in query.chars().take(offset) {
        if c == '\n' {
            line = line.saturating_add(1);
            column = 1;
        } else {
            column = column.saturating_add(1);
        }
    }
    Some((line, column))
}

/// The API operations this source calls, with the IAM action each needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Operation {
    StartQuery,
    GetQueryResults,
    StopQuery,
    DescribeLogGroups,
}

impl Operation {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Operation::StartQuery => "StartQuery",
            Operation::GetQueryResults => "GetQueryResults",
            Operation::StopQuery => "StopQuery",
            Operation::DescribeLogGroups => "DescribeLogGroups",
        }
    }

    pub(crate) fn iam_action(self) -> &'static str {
        match self {
            Operation::StartQuery => "logs:StartQuery",
            Operation::GetQueryResults => "logs:GetQueryResults",
            Operation::StopQuery => "logs:StopQuery",
            Operation::DescribeLogGroups => "logs:DescribeLogGroups",
        }
    }
}

/// The outcome of looking at one failed call.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Transient: wait and call again (the string is the AWS error code).
    Retry(String),
    /// Final.
    Fatal(CloudWatchError),
}

/// Error codes that mean "slow down / too many queries right now".
/// `LimitExceededException` on StartQuery is the concurrent-query quota
/// (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/cloudwatch_limits_cwl.html).
const RETRYABLE_CODES: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "TooManyRequestsException",
    "LimitExceededException",
    "ServiceUnavailableException",
];

const ACCESS_DENIED_CODES: &[&str] = &["AccessDeniedException", "AccessDenied"];

const BAD_CREDENTIALS_CODES: &[&str] = &[
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "ExpiredTokenException",
    "ExpiredToken",
    "InvalidClientTokenId",
    "IncompleteSignature",
];

/// The AWS error code of a modeled error variant. Responses from AWS carry
/// the code in the error metadata too, but errors built in code (and any
/// response whose metadata lacks it) only have the variant.
pub(crate) trait ModeledCode {
    fn modeled_code(&self) -> Option<&'static str>;
}

impl ModeledCode for StartQueryError {
    fn modeled_code(&self) -> Option<&'static str> {
        match self {
            StartQueryError::InvalidParameterException(_) => Some("InvalidParameterException"),
            StartQueryError::LimitExceededException(_) => Some("LimitExceededException"),
            StartQueryError::MalformedQueryException(_) => Some("MalformedQueryException"),
            StartQueryError::ResourceNotFoundException(_) => Some("ResourceNotFoundException"),
            StartQueryError::ServiceUnavailableException(_) => Some("ServiceUnavailableException"),
            _ => None,
        }
    }
}

impl ModeledCode for GetQueryResultsError {
    fn modeled_code(&self) -> Option<&'static str> {
        match self {
            GetQueryResultsError::InvalidParameterException(_) => Some("InvalidParameterException"),
            GetQueryResultsError::ResourceNotFoundException(_) => Some("ResourceNotFoundException"),
            GetQueryResultsError::ServiceUnavailableException(_) => {
                Some("ServiceUnavailableException")
            }
            _ => None,
        }
    }
}

impl ModeledCode for StopQueryError {
    fn modeled_code(&self) -> Option<&'static str> {
        match self {
            StopQueryError::InvalidParameterException(_) => Some("InvalidParameterException"),
            StopQueryError::ResourceNotFoundException(_) => Some("ResourceNotFoundException"),
            StopQueryError::ServiceUnavailableException(_) => Some("ServiceUnavailableException"),
            _ => None,
        }
    }
}

impl ModeledCode for DescribeLogGroupsError {
    fn modeled_code(&self) -> Option<&'static str> {
        match self {
            DescribeLogGroupsError::InvalidParameterException(_) => {
                Some("InvalidParameterException")
            }
            DescribeLogGroupsError::ServiceUnavailableException(_) => {
                Some("ServiceUnavailableException")
            }
            _ => None,
        }
    }
}

/// Classifies an SDK error that needs no operation-specific handling.
/// `resource` names what the call was about (for `AccessDenied`).
pub(crate) fn classify<E, R>(op: Operation, err: &SdkError<E, R>, resource: &str) -> Failure
where
    E: ProvideErrorMetadata + ModeledCode + StdError + 'static,
    R: fmt::Debug + 'static,
{
    let code = err
        .code()
        .or_else(|| err.as_service_error().and_then(ModeledCode::modeled_code))
        .map(str::to_owned);
    let message = err
        .message()
        .or_else(|| {
            err.as_service_error()
                .and_then(ProvideErrorMetadata::message)
        })
        .unwrap_or("no message")
        .to_owned();
    if let Some(c) = code.as_deref() {
        if RETRYABLE_CODES.contains(&c) {
            return Failure::Retry(c.to_owned());
        }
        if ACCESS_DENIED_CODES.contains(&c) {
            return Failure::Fatal(CloudWatchError::AccessDenied {
                action: op.iam_action(),
                resource: resource.to_owned(),
                message,
            });
        }
        if BAD_CREDENTIALS_CODES.contains(&c) {
            return Failure::Fatal(CloudWatchError::InvalidCredentials {
                code: c.to_owned(),
                message,
            });
        }
        if c == "InvalidParameterException" {
            return Failure::Fatal(CloudWatchError::InvalidParameter {
                operation: op.name(),
                message,
            });
        }
    }
    if let Some(detail) = credentials_failure(err) {
        return Failure::Fatal(CloudWatchError::NoCredentials { detail });
    }
    Failure::Fatal(CloudWatchError::Service {
        operation: op.name(),
        code,
        message: DisplayErrorContext(err).to_string(),
    })
}

/// If the call failed because no credentials could be loaded (the identity
/// resolver fails before anything is sent), returns the chain's message.
fn credentials_failure<E, R>(err: &SdkError<E, R>) -> Option<String>
where
    E: StdError + 'static,
    R: fmt::Debug + 'static,
{
    if !matches!(
        err,
        SdkError::DispatchFailure(_) | SdkError::ConstructionFailure(_)
    ) {
        return None;
    }
    let mut current: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = current {
        if let Some(creds) = e.downcast_ref::<CredentialsError>() {
            // The messages of the chain, without the debug dumps DisplayErrorContext adds.
            let mut messages = vec![creds.to_string()];
            let mut source = creds.source();
            while let Some(inner) = source {
                let text = inner.to_string();
                if !messages.iter().any(|m| m.contains(&text)) {
                    messages.push(text);
                }
                source = inner.source();
            }
            return Some(messages.join(": "));
        }
        current = e.source();
    }
    None
}

/// Best guess at which log group a `ResourceNotFoundException` is about: a
/// group of the request that AWS's message names, the only group of the
/// request, or all of them.
pub(crate) fn missing_group(groups: &[String], message: Option<&str>) -> String {
    if let Some(m) = message {
        // Prefer the longest name found, so "/a/b" wins over "/a".
        if let Some(g) = groups
            .iter()
            .filter(|g| !g.is_empty() && m.contains(g.as_str()))
            .max_by_key(|g| g.len())
        {
            return g.clone();
        }
    }
    groups.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_column_counts_lines_and_chars() {
        let q = "fields @timestamp\n| filter x = = 1";
        assert_eq!(line_column(q, 0), Some((1, 1)));
        assert_eq!(line_column(q, 17), Some((1, 18)));
        assert_eq!(line_column(q, 18), Some((2, 1)));
        assert_eq!(line_column(q, 29), Some((2, 12)));
        assert_eq!(line_column(q, -1), None);
        // Past the end: clamped.
        assert_eq!(line_column("ab", 99), Some((1, 3)));
    }

    #[test]
    fn caret_points_at_column() {
        let e = CloudWatchError::MalformedQuery {
            query: "fields @timestamp\n| filter x = = 1".into(),
            line: Some(2),
            column: Some(12),
            message: "unexpected '='".into(),
        };
        assert_eq!(
            e.caret_display().as_deref(),
            Some("2 | | filter x = = 1\n  |            ^")
        );
        assert!(e.to_string().contains("line 2, column 12"));
        let no_pos = CloudWatchError::MalformedQuery {
            query: "x".into(),
            line: None,
            column: None,
            message: "bad".into(),
        };
        assert_eq!(no_pos.caret_display(), None);
        // A line number past the query is not a panic.
        let past = CloudWatchError::MalformedQuery {
            query: "x".into(),
            line: Some(9),
            column: Some(1),
            message: "bad".into(),
        };
        assert_eq!(past.caret_display(), None);
    }

    #[test]
    fn missing_group_prefers_named_group() {
        let groups = vec!["/vpc/a".to_string(), "/vpc/a-long".to_string()];
        assert_eq!(
            missing_group(&groups, Some("Log group '/vpc/a-long' does not exist")),
            "/vpc/a-long"
        );
        assert_eq!(
            missing_group(&groups, Some("The specified log group does not exist.")),
            "/vpc/a, /vpc/a-long"
        );
        assert_eq!(missing_group(&groups[..1], None), "/vpc/a");
    }
}
