//! Running one logical Logs Insights query: `StartQuery`, polling
//! `GetQueryResults`, splitting truncated windows, and `StopQuery`.
//!
//! This module owns the query life cycle and the set of queries still running
//! on the AWS side (kept outside the `run` future so that a caller who drops
//! `run` on Ctrl-C can still stop them with [`Runner::stop_all`]). It does
//! network I/O but never prints; progress is reported through the callback.
//!
//! AWS semantics relied on (StartQuery,
//! https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_StartQuery.html):
//! - `startTime` and `endTime` are epoch seconds and both are inclusive, so a
//!   window `[s, e]` splits into `[s, m]` and `[m + 1, e]` without overlap or gap;
//! - `logGroupNames` / `logGroupIdentifiers` take at most 50 log groups;
//! - a query returns at most `limit` rows; a result with exactly `limit` rows
//!   is taken as truncated.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use aws_sdk_cloudwatchlogs::Client;
use aws_sdk_cloudwatchlogs::error::{DisplayErrorContext, SdkError};
use aws_sdk_cloudwatchlogs::operation::get_query_results::GetQueryResultsOutput;
use aws_sdk_cloudwatchlogs::operation::start_query::StartQueryError;
use aws_sdk_cloudwatchlogs::types::{QueryStatistics, QueryStatus, ResultField};
use futures_util::future::{join_all, try_join, try_join_all};
use tokio::sync::Semaphore;
use tokio::time::{Instant, sleep_until, timeout, timeout_at};

use super::error::{
    CloudWatchError, Failure, ModeledCode, Operation, classify, line_column, missing_group,
};

/// Most log groups one `StartQuery` accepts
/// (https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_StartQuery.html).
pub const MAX_LOG_GROUPS_PER_QUERY: usize = 50;

/// Largest `limit` this runner sends: 10,000 rows, the most one
/// `GetQueryResults` page returns. (Current API docs allow up to 100,000 for
/// Logs Insights QL, paged with `nextToken`, which this runner already reads.)
pub const MAX_LIMIT: i32 = 10_000;

/// How long `stop_all` waits for each `StopQuery`.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// Shortest delay between two polls or retries, whatever the options say.
const MIN_DELAY: Duration = Duration::from_millis(1);

/// One logical query: the same query string over the same window for every
/// log group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteQuery {
    /// Log group names (or ARNs); any number, split in chunks of 50.
    pub log_groups: Vec<String>,
    /// Logs Insights query string.
    pub query_string: String,
    /// Window start, epoch seconds, inclusive.
    pub start_s: i64,
    /// Window end, epoch seconds, inclusive.
    pub end_s: i64,
    /// Row limit per `StartQuery`, `1..=MAX_LIMIT`.
    pub limit: i32,
}

/// How queries are run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOptions {
    /// Most queries running at once on the AWS side, across all runs of this
    /// runner (accounts have a quota of concurrent Logs Insights queries;
    /// going over it makes StartQuery fail with LimitExceededException).
    pub concurrency: usize,
    /// Overall deadline of one `run`, retries and polling included.
    pub timeout: Duration,
    /// First delay before polling `GetQueryResults` (also the first retry delay).
    pub poll_initial: Duration,
    /// Longest delay between polls (also the longest retry delay).
    pub poll_max: Duration,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            concurrency: 4,
            timeout: Duration::from_secs(15 * 60),
            poll_initial: Duration::from_millis(250),
            poll_max: Duration::from_secs(2),
        }
    }
}

/// Query statistics as `GetQueryResults` reports them (zero when absent).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Statistics {
    /// Log events that matched.
    pub records_matched: f64,
    /// Log events scanned.
    pub records_scanned: f64,
    /// Bytes scanned (what Logs Insights bills).
    pub bytes_scanned: f64,
}

impl Statistics {
    fn add(&mut self, other: Statistics) {
        self.records_matched += other.records_matched;
        self.records_scanned += other.records_scanned;
        self.bytes_scanned += other.bytes_scanned;
    }
}

impl From<&QueryStatistics> for Statistics {
    fn from(s: &QueryStatistics) -> Self {
        Statistics {
            records_matched: s.records_matched(),
            records_scanned: s.records_scanned(),
            bytes_scanned: s.bytes_scanned(),
        }
    }
}

/// One row: `(field, value)` pairs as returned (sparse; includes `@ptr`).
pub type Row = Vec<(String, String)>;

/// The rows of one complete, untruncated query over `[start_s, end_s]` for
/// one chunk of log groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultPart {
    /// Window start, epoch seconds, inclusive.
    pub start_s: i64,
    /// Window end, epoch seconds, inclusive.
    pub end_s: i64,
    /// The rows.
    pub rows: Vec<Row>,
}

/// Everything one `run` returns.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryOutcome {
    /// Parts in order: by chunk of log groups, then by time.
    pub parts: Vec<ResultPart>,
    /// Sum over every query run, including truncated ones that were split
    /// (so `bytes_scanned` is what was billed; `records_matched` can count
    /// an event more than once when a window was split).
    pub statistics: Statistics,
    /// Number of `StartQuery` calls that started a query.
    pub queries_run: usize,
}

/// Progress events for the caller's progress bar (the runner itself never prints).
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    /// A query was started.
    Started {
        /// Query id.
        query_id: String,
        /// Window start, epoch seconds.
        start_s: i64,
        /// Window end, epoch seconds.
        end_s: i64,
    },
    /// `GetQueryResults` answered.
    Polled {
        /// Query id.
        query_id: String,
        /// Status as AWS spelled it (`(none)` when missing).
        status: String,
        /// Statistics so far.
        statistics: Statistics,
    },
    /// A truncated window is being run again in `parts` pieces.
    Split {
        /// Window start, epoch seconds.
        start_s: i64,
        /// Window end, epoch seconds.
        end_s: i64,
        /// Number of pieces.
        parts: usize,
    },
    /// A query reached a terminal status (complete or not).
    Finished {
        /// Query id.
        query_id: String,
    },
}

/// Runs Logs Insights queries and remembers which are still running.
#[derive(Debug, Clone)]
pub struct Runner {
    client: Client,
    options: RunOptions,
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    /// Query id -> id of the `run` that started it.
    running: Mutex<HashMap<String, u64>>,
    next_run: AtomicU64,
    /// Bumped by `stop_all`; a run that sees it change stops.
    epoch: AtomicU64,
    permits: Semaphore,
}

impl Runner {
    /// A runner over `client`. A concurrency of 0 is taken as 1.
    pub fn new(client: Client, options: RunOptions) -> Self {
        let permits = options.concurrency.clamp(1, Semaphore::MAX_PERMITS);
        Runner {
            client,
            options,
            shared: Arc::new(Shared {
                running: Mutex::new(HashMap::new()),
                next_run: AtomicU64::new(0),
                epoch: AtomicU64::new(0),
                permits: Semaphore::new(permits),
            }),
        }
    }

    /// Ids of the queries this runner started that have not reached a
    /// terminal status (nor been stopped).
    pub fn running_query_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.running().keys().cloned().collect();
        ids.sort();
        ids
    }

    /// Runs one logical query over the window. Groups beyond 50 are spread
    /// over several `StartQuery` calls (one per chunk of 50) whose parts are
    /// all returned.
    ///
    /// When a result comes back with as many rows as the limit (truncated),
    /// the window is split in two halves and each half is run again,
    /// recursively, so no rows are lost; a one-second window that is still
    /// truncated fails with [`CloudWatchError::TooManyRowsInOneSecond`].
    /// At most `options.concurrency` queries run at once.
    ///
    /// On error, the queries this run started and that still run are stopped
    /// before returning (those whose `StopQuery` failed stay listed for
    /// [`Runner::stop_all`]).
    pub async fn run(
        &self,
        q: &RemoteQuery,
        progress: &(dyn Fn(Progress) + Sync),
    ) -> Result<QueryOutcome, CloudWatchError> {
        validate(q)?;
        let groups = dedup(&q.log_groups);
        let ctx = RunCtx {
            runner: self,
            query: q,
            progress,
            run_id: self.shared.next_run.fetch_add(1, Ordering::SeqCst),
            epoch: self.shared.epoch.load(Ordering::SeqCst),
            deadline: deadline_after(self.options.timeout),
        };
        let windows = groups
            .chunks(MAX_LOG_GROUPS_PER_QUERY)
            .map(|chunk| ctx.window(chunk, q.start_s, q.end_s));
        match try_join_all(windows).await {
            Ok(accs) => {
                let mut outcome = QueryOutcome {
                    parts: Vec::new(),
                    statistics: Statistics::default(),
                    queries_run: 0,
                };
                for acc in accs {
                    outcome.parts.extend(acc.parts);
                    outcome.statistics.add(acc.statistics);
                    outcome.queries_run = outcome.queries_run.saturating_add(acc.queries_run);
                }
                Ok(outcome)
            }
            Err(e) => {
                self.stop_run(ctx.run_id).await;
                Err(e)
            }
        }
    }

    /// `StopQuery` for every query this runner started that has not reached
    /// a terminal status; used on Ctrl-C and on any error. Runs still in
    /// progress stop starting or polling queries and fail with
    /// [`CloudWatchError::Interrupted`]; later runs are not affected. Errors
    /// from `StopQuery` are collected and returned.
    pub async fn stop_all(&self) -> Vec<CloudWatchError> {
        self.shared.epoch.fetch_add(1, Ordering::SeqCst);
        let ids: Vec<String> = self.running().drain().map(|(id, _)| id).collect();
        join_all(ids.iter().map(|id| self.stop_one(id)))
            .await
            .into_iter()
            .filter_map(Result::err)
            .collect()
    }

    /// Stops the still-running queries of one run; those whose `StopQuery`
    /// failed stay tracked so that `stop_all` tries again and reports.
    async fn stop_run(&self, run_id: u64) {
        let ids: Vec<String> = self
            .running()
            .iter()
            .filter(|(_, r)| **r == run_id)
            .map(|(id, _)| id.clone())
            .collect();
        let results = join_all(ids.iter().map(|id| self.stop_one(id))).await;
        let mut running = self.running();
        for (id, result) in ids.iter().zip(results) {
            if result.is_ok() {
                running.remove(id);
            }
        }
    }

    async fn stop_one(&self, query_id: &str) -> Result<(), CloudWatchError> {
        let sent = timeout(
            STOP_TIMEOUT,
            self.client.stop_query().query_id(query_id).send(),
        )
        .await
        .map_err(|_| CloudWatchError::TimedOut {
            waiting_for: format!("StopQuery for query {query_id}"),
            timeout: STOP_TIMEOUT,
        })?;
        match sent {
            Ok(out) if out.success() => Ok(()),
            Ok(_) => Err(CloudWatchError::Service {
                operation: Operation::StopQuery.name(),
                code: None,
                message: format!(
                    "StopQuery answered success=false for query {query_id} (it may have ended already)"
                ),
            }),
            Err(err) => Err(final_error(
                Operation::StopQuery,
                &err,
                &format!("query {query_id}"),
            )),
        }
    }

    fn running(&self) -> MutexGuard<'_, HashMap<String, u64>> {
        self.shared
            .running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// What one window (possibly split) produced.
struct Acc {
    parts: Vec<ResultPart>,
    statistics: Statistics,
    queries_run: usize,
}

impl Acc {
    fn absorb(&mut self, other: Acc) {
        self.parts.extend(other.parts);
        self.statistics.add(other.statistics);
        self.queries_run = self.queries_run.saturating_add(other.queries_run);
    }
}

type WindowFuture<'a> = Pin<Box<dyn Future<Output = Result<Acc, CloudWatchError>> + Send + 'a>>;

/// State of one `run`.
struct RunCtx<'a> {
    runner: &'a Runner,
    query: &'a RemoteQuery,
    progress: &'a (dyn Fn(Progress) + Sync),
    run_id: u64,
    epoch: u64,
    deadline: Instant,
}

impl<'a> RunCtx<'a> {
    /// Runs `[start_s, end_s]` for one chunk of groups, splitting it while
    /// the result is truncated.
    fn window(&'a self, groups: &'a [String], start_s: i64, end_s: i64) -> WindowFuture<'a> {
        Box::pin(async move {
            let (rows, statistics) = self.query_once(groups, start_s, end_s).await?;
            let mut acc = Acc {
                parts: Vec::new(),
                statistics,
                queries_run: 1,
            };
            let limit = usize::try_from(self.query.limit).unwrap_or(usize::MAX);
            if rows.len() < limit {
                acc.parts.push(ResultPart {
                    start_s,
                    end_s,
                    rows,
                });
                return Ok(acc);
            }
            if start_s >= end_s {
                return Err(CloudWatchError::TooManyRowsInOneSecond {
                    second: start_s,
                    limit: self.query.limit,
                    query: self.query.query_string.clone(),
                    log_groups: groups.to_vec(),
                });
            }
            // validate() guarantees 0 <= start_s < end_s, so neither overflows.
            let mid = start_s + (end_s - start_s) / 2;
            (self.progress)(Progress::Split {
                start_s,
                end_s,
                parts: 2,
            });
            let (left, right) = try_join(
                self.window(groups, start_s, mid),
                self.window(groups, mid + 1, end_s),
            )
            .await?;
            acc.absorb(left);
            acc.absorb(right);
            Ok(acc)
        })
    }

    /// One query from `StartQuery` to its complete rows.
    async fn query_once(
        &self,
        groups: &[String],
        start_s: i64,
        end_s: i64,
    ) -> Result<(Vec<Row>, Statistics), CloudWatchError> {
        let _permit = match timeout_at(self.deadline, self.runner.shared.permits.acquire()).await {
            Err(_) => return Err(self.timed_out("a free query slot (concurrency)".to_owned())),
            Ok(Err(_closed)) => return Err(CloudWatchError::Interrupted),
            Ok(Ok(permit)) => permit,
        };
        self.check_epoch()?;
        let query_id = self.start(groups, start_s, end_s).await?;
        self.runner.running().insert(query_id.clone(), self.run_id);
        if self.interrupted() {
            // stop_all ran while StartQuery was in flight; stop this one too
            // unless stop_all already took it.
            let ours = self.runner.running().remove(&query_id).is_some();
            if ours {
                // Best effort: the run is being abandoned anyway.
                let _ = self.runner.stop_one(&query_id).await;
            }
            return Err(CloudWatchError::Interrupted);
        }
        (self.progress)(Progress::Started {
            query_id: query_id.clone(),
            start_s,
            end_s,
        });
        // On an error before a terminal status the query stays tracked, so
        // that `run` (or the caller's `stop_all`) stops it.
        self.poll(&query_id, groups).await
    }

    /// The query reached a terminal status: nothing to stop any more.
    fn finished(&self, query_id: &str) {
        self.runner.running().remove(query_id);
        (self.progress)(Progress::Finished {
            query_id: query_id.to_owned(),
        });
    }

    async fn start(
        &self,
        groups: &[String],
        start_s: i64,
        end_s: i64,
    ) -> Result<String, CloudWatchError> {
        let opts = &self.runner.options;
        let mut backoff = opts.poll_initial.max(MIN_DELAY);
        // logGroupNames takes names only; ARNs (cross-account) need
        // logGroupIdentifiers, which must not end in `*`. Exactly one of the
        // two may be sent. (moto only reads logGroupNames.)
        let use_identifiers = groups.iter().any(|g| g.starts_with("arn:"));
        let targets: Vec<String> = groups
            .iter()
            .map(|g| g.strip_suffix(":*").unwrap_or(g).to_owned())
            .collect();
        loop {
            let mut request = self
                .runner
                .client
                .start_query()
                .query_string(&self.query.query_string)
                .start_time(start_s)
                .end_time(end_s)
                .limit(self.query.limit);
            request = if use_identifiers {
                request.set_log_group_identifiers(Some(targets.clone()))
            } else {
                request.set_log_group_names(Some(targets.clone()))
            };
            let sent = timeout_at(self.deadline, request.send())
                .await
                .map_err(|_| self.timed_out("StartQuery to answer".to_owned()))?;
            let err = match sent {
                Ok(out) => {
                    return match out.query_id() {
                        Some(id) if !id.is_empty() => Ok(id.to_owned()),
                        _ => Err(CloudWatchError::Service {
                            operation: Operation::StartQuery.name(),
                            code: None,
                            message: "StartQuery answered without a queryId".to_owned(),
                        }),
                    };
                }
                Err(err) => err,
            };
            match self.start_failure(&err, groups) {
                Failure::Fatal(e) => return Err(e),
                Failure::Retry(code) => {
                    self.pause(backoff, || {
                        format!("StartQuery to stop failing with {code} (throttled or too many concurrent queries)")
                    })
                    .await?;
                    self.check_epoch()?;
                    backoff = next_delay(backoff, opts.poll_max);
                }
            }
        }
    }

    fn start_failure(&self, err: &SdkError<StartQueryError>, groups: &[String]) -> Failure {
        match err.as_service_error() {
            Some(StartQueryError::MalformedQueryException(m)) => {
                let compile = m.query_compile_error();
                let position = compile
                    .and_then(|c| c.location())
                    .and_then(|l| l.start_char_offset())
                    .and_then(|offset| line_column(&self.query.query_string, offset));
                let message = compile
                    .and_then(|c| c.message())
                    .or_else(|| m.message())
                    .unwrap_or("no details given")
                    .to_owned();
                Failure::Fatal(CloudWatchError::MalformedQuery {
                    query: self.query.query_string.clone(),
                    line: position.map(|(l, _)| l),
                    column: position.map(|(_, c)| c),
                    message,
                })
            }
            Some(StartQueryError::ResourceNotFoundException(r)) => {
                Failure::Fatal(CloudWatchError::LogGroupNotFound {
                    name: missing_group(groups, r.message()),
                })
            }
            _ => classify(Operation::StartQuery, err, &groups.join(", ")),
        }
    }

    /// Polls until a terminal status, backing off from `poll_initial` to
    /// `poll_max`; on `Complete` reads every `nextToken` page.
    async fn poll(
        &self,
        query_id: &str,
        groups: &[String],
    ) -> Result<(Vec<Row>, Statistics), CloudWatchError> {
        let opts = &self.runner.options;
        let mut delay = opts.poll_initial.max(MIN_DELAY);
        loop {
            self.pause(delay, || format!("query {query_id} to complete"))
                .await?;
            self.check_epoch()?;
            let out = self.results_page(query_id, None).await?;
            let statistics = out.statistics().map(Statistics::from).unwrap_or_default();
            let status = out.status().cloned();
            (self.progress)(Progress::Polled {
                query_id: query_id.to_owned(),
                status: status
                    .as_ref()
                    .map_or_else(|| "(none)".to_owned(), |s| s.as_str().to_owned()),
                statistics,
            });
            match status {
                Some(QueryStatus::Complete) => {
                    self.finished(query_id);
                    let mut rows = convert_rows(out.results());
                    let mut token = out.next_token().map(str::to_owned);
                    while let Some(current) = token.take() {
                        let page = self.results_page(query_id, Some(&current)).await?;
                        rows.extend(convert_rows(page.results()));
                        token = match page.next_token() {
                            Some(next) if next == current => {
                                return Err(CloudWatchError::Service {
                                    operation: Operation::GetQueryResults.name(),
                                    code: None,
                                    message: format!(
                                        "GetQueryResults returned the same nextToken twice for query {query_id}"
                                    ),
                                });
                            }
                            next => next.map(str::to_owned),
                        };
                    }
                    return Ok((rows, statistics));
                }
                Some(QueryStatus::Scheduled | QueryStatus::Running) => {
                    delay = next_delay(delay, opts.poll_max);
                }
                // Failed, Cancelled, Timeout, Unknown, and any status added
                // after this SDK was generated.
                Some(other) => {
                    self.finished(query_id);
                    return Err(CloudWatchError::QueryFailed {
                        query_id: query_id.to_owned(),
                        status: other.as_str().to_owned(),
                        log_groups: groups.to_vec(),
                    });
                }
                None => {
                    return Err(CloudWatchError::Service {
                        operation: Operation::GetQueryResults.name(),
                        code: None,
                        message: format!(
                            "GetQueryResults answered without a status for query {query_id}"
                        ),
                    });
                }
            }
        }
    }

    /// One `GetQueryResults` call, retried while throttled.
    async fn results_page(
        &self,
        query_id: &str,
        next_token: Option<&str>,
    ) -> Result<GetQueryResultsOutput, CloudWatchError> {
        let opts = &self.runner.options;
        let mut backoff = opts.poll_initial.max(MIN_DELAY);
        loop {
            let request = self
                .runner
                .client
                .get_query_results()
                .query_id(query_id)
                .set_next_token(next_token.map(str::to_owned));
            let sent = timeout_at(self.deadline, request.send())
                .await
                .map_err(|_| self.timed_out(format!("GetQueryResults for query {query_id}")))?;
            let err = match sent {
                Ok(out) => return Ok(out),
                Err(err) => err,
            };
            match classify(
                Operation::GetQueryResults,
                &err,
                &format!("query {query_id}"),
            ) {
                Failure::Fatal(e) => return Err(e),
                Failure::Retry(code) => {
                    self.pause(backoff, || {
                        format!("GetQueryResults to stop failing with {code} (throttled)")
                    })
                    .await?;
                    backoff = next_delay(backoff, opts.poll_max);
                }
            }
        }
    }

    /// Sleeps `delay`, or fails with `TimedOut` if that would pass the deadline.
    async fn pause(
        &self,
        delay: Duration,
        waiting_for: impl FnOnce() -> String,
    ) -> Result<(), CloudWatchError> {
        let wake = Instant::now().checked_add(delay).unwrap_or(self.deadline);
        if wake > self.deadline {
            sleep_until(self.deadline).await;
            return Err(self.timed_out(waiting_for()));
        }
        sleep_until(wake).await;
        Ok(())
    }

    fn timed_out(&self, waiting_for: String) -> CloudWatchError {
        CloudWatchError::TimedOut {
            waiting_for,
            timeout: self.runner.options.timeout,
        }
    }

    fn interrupted(&self) -> bool {
        self.runner.shared.epoch.load(Ordering::SeqCst) != self.epoch
    }

    fn check_epoch(&self) -> Result<(), CloudWatchError> {
        if self.interrupted() {
            Err(CloudWatchError::Interrupted)
        } else {
            Ok(())
        }
    }
}

/// The error to report for a failed call that is not retried (StopQuery).
fn final_error<E>(op: Operation, err: &SdkError<E>, resource: &str) -> CloudWatchError
where
    E: aws_sdk_cloudwatchlogs::error::ProvideErrorMetadata
        + ModeledCode
        + std::error::Error
        + 'static,
{
    match classify(op, err, resource) {
        Failure::Fatal(e) => e,
        Failure::Retry(code) => CloudWatchError::Service {
            operation: op.name(),
            code: Some(code),
            message: DisplayErrorContext(err).to_string(),
        },
    }
}

fn validate(q: &RemoteQuery) -> Result<(), CloudWatchError> {
    let invalid = |message: String| Err(CloudWatchError::InvalidRequest { message });
    if q.log_groups.is_empty() {
        return invalid(
            "no log groups to query; name at least one log group (or a prefix that matches some)"
                .to_owned(),
        );
    }
    if q.log_groups.iter().any(|g| g.trim().is_empty()) {
        return invalid("a log group name is empty; remove it".to_owned());
    }
    if q.query_string.trim().is_empty() {
        return invalid("the query string is empty".to_owned());
    }
    if !(1..=MAX_LIMIT).contains(&q.limit) {
        return invalid(format!(
            "limit {} is outside 1..={MAX_LIMIT}; pick a limit in that range",
            q.limit
        ));
    }
    if q.start_s < 0 {
        return invalid(format!(
            "start time {} is before 1970-01-01; pick a later start",
            q.start_s
        ));
    }
    if q.end_s < q.start_s {
        return invalid(format!(
            "end time {} is before start time {}; swap them",
            q.end_s, q.start_s
        ));
    }
    Ok(())
}

/// The groups without repeats, in their first order.
fn dedup(groups: &[String]) -> Vec<String> {
    let mut seen = HashSet::new();
    groups
        .iter()
        .filter(|g| seen.insert(g.as_str()))
        .cloned()
        .collect()
}

fn deadline_after(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout)
        .or_else(|| now.checked_add(Duration::from_secs(10 * 365 * 24 * 3600)))
        .unwrap_or(now)
}

/// x1.5, capped at `max` (and never below `MIN_DELAY`).
fn next_delay(delay: Duration, max: Duration) -> Duration {
    (delay.saturating_mul(3) / 2).min(max).max(MIN_DELAY)
}

fn convert_rows(results: &[Vec<ResultField>]) -> Vec<Row> {
    results
        .iter()
        .map(|row| {
            row.iter()
                .map(|f| {
                    (
                        f.field().unwrap_or_default().to_owned(),
                        f.value().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_backs_off_to_max() {
        let max = Duration::from_secs(2);
        let mut d = Duration::from_millis(250);
        let mut seen = vec![d];
        for _ in 0..8 {
            d = next_delay(d, max);
            seen.push(d);
        }
        assert_eq!(seen[1], Duration::from_millis(375));
        assert_eq!(*seen.last().unwrap_or(&Duration::ZERO), max);
        assert_eq!(next_delay(Duration::ZERO, Duration::ZERO), MIN_DELAY);
        assert_eq!(next_delay(Duration::MAX, max), max);
    }

    #[test]
    fn dedup_keeps_first_order() {
        let g = |s: &str| s.to_owned();
        assert_eq!(
            dedup(&[g("b"), g("a"), g("b"), g("c"), g("a")]),
            vec![g("b"), g("a"), g("c")]
        );
    }

    #[test]
    fn deadline_never_panics() {
        let _ = deadline_after(Duration::MAX);
        let _ = deadline_after(Duration::ZERO);
    }
}
