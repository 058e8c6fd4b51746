//! Tests of the CloudWatch Logs Insights source against aws-smithy-mocks
//! clients: no request ever leaves the process.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, future as creds_future};
use aws_sdk_cloudwatchlogs::Client;
use aws_sdk_cloudwatchlogs::config::retry::RetryConfig;
use aws_sdk_cloudwatchlogs::operation::describe_log_groups::{
    DescribeLogGroupsError, DescribeLogGroupsOutput,
};
use aws_sdk_cloudwatchlogs::operation::get_query_results::{
    GetQueryResultsError, GetQueryResultsOutput,
};
use aws_sdk_cloudwatchlogs::operation::start_query::{StartQueryError, StartQueryOutput};
use aws_sdk_cloudwatchlogs::operation::stop_query::{StopQueryError, StopQueryOutput};
use aws_sdk_cloudwatchlogs::types::error::{
    InvalidParameterException, LimitExceededException, MalformedQueryException,
    ResourceNotFoundException,
};
use aws_sdk_cloudwatchlogs::types::{
    LogGroup, QueryCompileError, QueryCompileErrorLocation, QueryStatistics, QueryStatus,
    ResultField,
};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use aws_smithy_types::error::ErrorMetadata;

use super::client::client_from_config;
use super::*;

// ---------------------------------------------------------------- helpers

fn client(rules: &[&Rule]) -> Client {
    mock_client!(aws_sdk_cloudwatchlogs, RuleMode::MatchAny, rules, |b| b
        .retry_config(RetryConfig::disabled()))
}

fn fast() -> RunOptions {
    RunOptions {
        concurrency: 4,
        timeout: Duration::from_secs(10),
        poll_initial: Duration::from_millis(1),
        poll_max: Duration::from_millis(2),
    }
}

fn query(groups: &[&str], start_s: i64, end_s: i64, limit: i32) -> RemoteQuery {
    RemoteQuery {
        log_groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        query_string: "fields @timestamp, srcAddr | filter action = \"REJECT\"".to_owned(),
        start_s,
        end_s,
        limit,
    }
}

fn groups(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("/vpc/g{i:03}")).collect()
}

fn field(name: &str, value: &str) -> ResultField {
    ResultField::builder().field(name).value(value).build()
}

fn row(pairs: &[(&str, &str)]) -> Vec<ResultField> {
    pairs.iter().map(|(f, v)| field(f, v)).collect()
}

fn stats(matched: f64, scanned: f64, bytes: f64) -> QueryStatistics {
    QueryStatistics::builder()
        .records_matched(matched)
        .records_scanned(scanned)
        .bytes_scanned(bytes)
        .build()
}

fn with_status(status: QueryStatus) -> GetQueryResultsOutput {
    GetQueryResultsOutput::builder().status(status).build()
}

fn complete(rows: Vec<Vec<ResultField>>) -> GetQueryResultsOutput {
    GetQueryResultsOutput::builder()
        .status(QueryStatus::Complete)
        .set_results(Some(rows))
        .statistics(stats(2.0, 10.0, 1000.0))
        .build()
}

fn started(id: &str) -> StartQueryOutput {
    StartQueryOutput::builder().query_id(id).build()
}

fn start_rule(id: &'static str) -> Rule {
    mock!(Client::start_query).then_output(move || started(id))
}

fn stop_ok() -> Rule {
    mock!(Client::stop_query).then_output(|| StopQueryOutput::builder().success(true).build())
}

fn throttled() -> ErrorMetadata {
    ErrorMetadata::builder()
        .code("ThrottlingException")
        .message("Rate exceeded")
        .build()
}

/// Collects progress events.
#[derive(Default)]
struct Events(Mutex<Vec<Progress>>);

impl Events {
    fn push(&self, p: Progress) {
        self.0.lock().unwrap().push(p);
    }
    fn all(&self) -> Vec<Progress> {
        self.0.lock().unwrap().clone()
    }
}

fn values(outcome: &QueryOutcome, name: &str) -> Vec<String> {
    outcome
        .parts
        .iter()
        .flat_map(|p| p.rows.iter())
        .flat_map(|r| r.iter())
        .filter(|(f, _)| f == name)
        .map(|(_, v)| v.clone())
        .collect()
}

/// A fake Logs Insights backend for split tests: the query id encodes the
/// window ("start:end"); results are the events in that window, truncated to
/// `limit` the way Logs Insights truncates.
fn window_backend(events: Vec<i64>, limit: usize) -> (Rule, Rule) {
    let start = mock!(Client::start_query).then_compute_output(|req| {
        started(&format!(
            "{}:{}",
            req.start_time().unwrap_or(-1),
            req.end_time().unwrap_or(-1)
        ))
    });
    let results = mock!(Client::get_query_results).then_compute_output(move |req| {
        let id = req.query_id().unwrap_or_default();
        let (s, e) = id.split_once(':').unwrap();
        let (s, e): (i64, i64) = (s.parse().unwrap(), e.parse().unwrap());
        let rows = events
            .iter()
            .enumerate()
            .filter(|(_, t)| (s..=e).contains(*t))
            .map(|(i, t)| row(&[("second", &t.to_string()), ("event", &format!("e{i}"))]))
            .take(limit)
            .collect();
        complete(rows)
    });
    (start, results)
}

// ---------------------------------------------------------------- statuses

#[tokio::test]
async fn scheduled_running_complete() {
    let start = mock!(Client::start_query)
        .match_requests(|r| {
            r.start_time() == Some(100)
                && r.end_time() == Some(200)
                && r.limit() == Some(10)
                && r.log_group_names() == ["/vpc/a".to_owned()]
                && r.log_group_identifiers().is_empty()
                && r.query_string().is_some_and(|q| q.starts_with("fields"))
        })
        .then_output(|| started("q-1"));
    let results = mock!(Client::get_query_results)
        .match_requests(|r| r.query_id() == Some("q-1"))
        .sequence()
        .output(|| with_status(QueryStatus::Scheduled))
        .output(|| with_status(QueryStatus::Running))
        .output(|| {
            complete(vec![
                row(&[
                    ("@timestamp", "2024-01-01 00:00:01.000"),
                    ("srcAddr", "10.0.0.1"),
                ]),
                row(&[("srcAddr", "10.0.0.2")]),
            ])
        })
        .build();
    let runner = Runner::new(client(&[&start, &results]), fast());
    let events = Events::default();
    let out = runner
        .run(&query(&["/vpc/a"], 100, 200, 10), &|p| events.push(p))
        .await
        .unwrap();

    assert_eq!(out.queries_run, 1);
    assert_eq!(out.parts.len(), 1);
    assert_eq!((out.parts[0].start_s, out.parts[0].end_s), (100, 200));
    assert_eq!(
        out.parts[0].rows,
        vec![
            vec![
                (
                    "@timestamp".to_owned(),
                    "2024-01-01 00:00:01.000".to_owned()
                ),
                ("srcAddr".to_owned(), "10.0.0.1".to_owned())
            ],
            vec![("srcAddr".to_owned(), "10.0.0.2".to_owned())],
        ]
    );
    assert_eq!(
        out.statistics,
        Statistics {
            records_matched: 2.0,
            records_scanned: 10.0,
            bytes_scanned: 1000.0
        }
    );
    assert_eq!(results.num_calls(), 3);
    let statuses: Vec<String> = events
        .all()
        .into_iter()
        .filter_map(|e| match e {
            Progress::Polled { status, .. } => Some(status),
            _ => None,
        })
        .collect();
    assert_eq!(statuses, ["Scheduled", "Running", "Complete"]);
    let all = events.all();
    assert_eq!(
        all.first(),
        Some(&Progress::Started {
            query_id: "q-1".into(),
            start_s: 100,
            end_s: 200
        })
    );
    assert_eq!(
        all.last(),
        Some(&Progress::Finished {
            query_id: "q-1".into()
        })
    );
    assert!(runner.running_query_ids().is_empty());
}

#[tokio::test]
async fn terminal_failure_statuses_are_typed_errors() {
    for status in ["Failed", "Cancelled", "Timeout", "Unknown", "SomeNewStatus"] {
        let start = start_rule("q-f");
        let results = mock!(Client::get_query_results)
            .sequence()
            .output(|| with_status(QueryStatus::Running))
            .output(move || with_status(QueryStatus::from(status)))
            .build();
        let stop = stop_ok();
        let runner = Runner::new(client(&[&start, &results, &stop]), fast());
        let err = runner
            .run(&query(&["/vpc/a", "/vpc/b"], 0, 10, 100), &|_| {})
            .await
            .unwrap_err();
        match &err {
            CloudWatchError::QueryFailed {
                query_id,
                status: got,
                log_groups,
            } => {
                assert_eq!(query_id, "q-f");
                assert_eq!(got, status);
                assert_eq!(log_groups, &["/vpc/a".to_owned(), "/vpc/b".to_owned()]);
            }
            other => panic!("{status}: unexpected {other:?}"),
        }
        assert!(err.to_string().contains("q-f"), "{err}");
        // A query that ended needs no StopQuery.
        assert_eq!(stop.num_calls(), 0, "{status}");
        assert!(runner.running_query_ids().is_empty());
    }
}

#[tokio::test]
async fn missing_status_is_an_error_not_a_hang() {
    let start = start_rule("q-x");
    let results =
        mock!(Client::get_query_results).then_output(|| GetQueryResultsOutput::builder().build());
    let stop = stop_ok();
    let runner = Runner::new(client(&[&start, &results, &stop]), fast());
    let err = runner
        .run(&query(&["/vpc/a"], 0, 10, 100), &|_| {})
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            CloudWatchError::Service {
                operation: "GetQueryResults",
                ..
            }
        ),
        "{err:?}"
    );
}

// ---------------------------------------------------------------- paging

#[tokio::test]
async fn reads_every_next_token_page() {
    let start = start_rule("q-p");
    let first = mock!(Client::get_query_results)
        .match_requests(|r| r.next_token().is_none())
        .then_output(|| {
            GetQueryResultsOutput::builder()
                .status(QueryStatus::Complete)
                .set_results(Some(vec![row(&[("n", "1")]), row(&[("n", "2")])]))
                .next_token("page-2")
                .build()
        });
    let second = mock!(Client::get_query_results)
        .match_requests(|r| r.next_token() == Some("page-2"))
        .then_output(|| {
            GetQueryResultsOutput::builder()
                .status(QueryStatus::Complete)
                .set_results(Some(vec![row(&[("n", "3")])]))
                .next_token("page-3")
                .build()
        });
    let third = mock!(Client::get_query_results)
        .match_requests(|r| r.next_token() == Some("page-3"))
        .then_output(|| {
            GetQueryResultsOutput::builder()
                .status(QueryStatus::Complete)
                .set_results(Some(vec![row(&[("n", "4")])]))
                .build()
        });
    let runner = Runner::new(client(&[&start, &first, &second, &third]), fast());
    let out = runner
        .run(&query(&["/vpc/a"], 0, 10, 100), &|_| {})
        .await
        .unwrap();
    assert_eq!(values(&out, "n"), ["1", "2", "3", "4"]);
    assert_eq!(
        (first.num_calls(), second.num_calls(), third.num_calls()),
        (1, 1, 1)
    );
}

#[tokio::test]
async fn repeated_next_token_is_an_error() {
    let start = start_rule("q-loop");
    let results = mock!(Client::get_query_results).then_output(|| {
        GetQueryResultsOutput::builder()
            .status(QueryStatus::Complete)
            .set_results(Some(vec![row(&[("n", "1")])]))
            .next_token("same")
            .build()
    });
    let runner = Runner::new(client(&[&start, &results]), fast());
    let err = runner
        .run(&query(&["/vpc/a"], 0, 10, 100), &|_| {})
        .await
        .unwrap_err();
    assert!(err.to_string().contains("same nextToken"), "{err}");
}

// ---------------------------------------------------------------- splitting

#[tokio::test]
async fn truncated_window_is_split_until_no_rows_are_lost() {
    // Events at 100, 101 and 103; limit 2.
    // [100,103] -> 2 rows (truncated) -> [100,101] + [102,103]
    // [100,101] -> 2 rows (truncated) -> [100,100] + [101,101]
    // [102,103] -> 1 row.
    let (start, results) = window_backend(vec![100, 101, 103], 2);
    let runner = Runner::new(client(&[&start, &results]), fast());
    let events = Events::default();
    let out = runner
        .run(&query(&["/vpc/a"], 100, 103, 2), &|p| events.push(p))
        .await
        .unwrap();

    let windows: Vec<(i64, i64)> = out.parts.iter().map(|p| (p.start_s, p.end_s)).collect();
    assert_eq!(windows, [(100, 100), (101, 101), (102, 103)]);
    assert_eq!(values(&out, "event"), ["e0", "e1", "e2"]);
    assert_eq!(out.queries_run, 5);
    assert_eq!(start.num_calls(), 5);
    // Statistics add up over every query run, the split ones included.
    assert_eq!(out.statistics.bytes_scanned, 5000.0);
    let splits: Vec<Progress> = events
        .all()
        .into_iter()
        .filter(|e| matches!(e, Progress::Split { .. }))
        .collect();
    assert_eq!(
        splits,
        [
            Progress::Split {
                start_s: 100,
                end_s: 103,
                parts: 2
            },
            Progress::Split {
                start_s: 100,
                end_s: 101,
                parts: 2
            },
        ]
    );
}

#[tokio::test]
async fn one_second_still_truncated_fails_loudly() {
    // Three events in second 100, limit 2: [100,101] splits, [100,100] cannot.
    let (start, results) = window_backend(vec![100, 100, 100], 2);
    let stop = stop_ok();
    let runner = Runner::new(client(&[&start, &results, &stop]), fast());
    let err = runner
        .run(&query(&["/vpc/a"], 100, 101, 2), &|_| {})
        .await
        .unwrap_err();
    match &err {
        CloudWatchError::TooManyRowsInOneSecond {
            second,
            limit,
            query,
            log_groups,
        } => {
            assert_eq!((*second, *limit), (100, 2));
            assert!(query.starts_with("fields"));
            assert_eq!(log_groups, &["/vpc/a".to_owned()]);
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(err.to_string().contains("second 100"), "{err}");
    assert!(runner.running_query_ids().is_empty());
}

// ---------------------------------------------------------------- 50-group chunks

#[tokio::test]
async fn more_than_fifty_groups_are_spread_over_several_queries() {
    let sizes = Arc::new(Mutex::new(Vec::new()));
    let seen = sizes.clone();
    let start = mock!(Client::start_query).then_compute_output(move |req| {
        seen.lock().unwrap().push(req.log_group_names().len());
        assert!(req.log_group_identifiers().is_empty());
        started(&format!("q{}", req.log_group_names()[0]))
    });
    let results = mock!(Client::get_query_results).then_compute_output(|req| {
        complete(vec![row(&[("query", req.query_id().unwrap_or_default())])])
    });
    let runner = Runner::new(client(&[&start, &results]), fast());
    let mut q = query(&[], 0, 60, 100);
    q.log_groups = groups(120);
    // Repeats are queried once.
    q.log_groups.push("/vpc/g000".to_owned());
    let out = runner.run(&q, &|_| {}).await.unwrap();

    let mut sizes = sizes.lock().unwrap().clone();
    sizes.sort_unstable();
    assert_eq!(sizes, [20, 50, 50]);
    assert_eq!(out.queries_run, 3);
    // Parts come back in chunk order.
    assert_eq!(
        values(&out, "query"),
        ["q/vpc/g000", "q/vpc/g050", "q/vpc/g100"]
    );
}

#[tokio::test]
async fn arns_are_sent_as_log_group_identifiers() {
    let start = mock!(Client::start_query)
        .match_requests(|r| {
            r.log_group_names().is_empty()
                && r.log_group_identifiers()
                    == [
                        "arn:aws:logs:us-east-1:123456789012:log-group:/vpc/a".to_owned(),
                        "/vpc/b".to_owned(),
                    ]
        })
        .then_output(|| started("q-arn"));
    let results = mock!(Client::get_query_results).then_output(|| complete(vec![]));
    let runner = Runner::new(client(&[&start, &results]), fast());
    let q = query(
        &[
            "arn:aws:logs:us-east-1:123456789012:log-group:/vpc/a:*",
            "/vpc/b",
        ],
        0,
        10,
        100,
    );
    let out = runner.run(&q, &|_| {}).await.unwrap();
    assert_eq!(out.parts.len(), 1);
}

#[tokio::test]
async fn concurrency_is_bounded() {
    let active = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let polls: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let (a, p) = (active.clone(), peak.clone());
    let start = mock!(Client::start_query).then_compute_output(move |req| {
        let now = a.fetch_add(1, Ordering::SeqCst) + 1;
        p.fetch_max(now, Ordering::SeqCst);
        started(&format!("q{}", req.log_group_names()[0]))
    });
    let a = active.clone();
    let results = mock!(Client::get_query_results).then_compute_output(move |req| {
        let id = req.query_id().unwrap_or_default().to_owned();
        let mut polls = polls.lock().unwrap();
        let n = polls.entry(id).or_insert(0);
        *n += 1;
        if *n < 3 {
            with_status(QueryStatus::Running)
        } else {
            a.fetch_sub(1, Ordering::SeqCst);
            complete(vec![])
        }
    });
    let mut options = fast();
    options.concurrency = 2;
    let runner = Runner::new(client(&[&start, &results]), options);
    let mut q = query(&[], 0, 10, 100);
    q.log_groups = groups(250);
    let out = runner.run(&q, &|_| {}).await.unwrap();
    assert_eq!(out.queries_run, 5);
    assert_eq!(peak.load(Ordering::SeqCst), 2);
}

// ---------------------------------------------------------------- retries

#[tokio::test]
async fn throttling_then_success() {
    let start = mock!(Client::start_query)
        .sequence()
        .error(|| StartQueryError::generic(throttled()))
        .output(|| started("q-t"))
        .build();
    let results = mock!(Client::get_query_results)
        .sequence()
        .error(|| GetQueryResultsError::generic(throttled()))
        .times(2)
        .output(|| complete(vec![row(&[("n", "1")])]))
        .build();
    let runner = Runner::new(client(&[&start, &results]), fast());
    let out = runner
        .run(&query(&["/vpc/a"], 0, 10, 100), &|_| {})
        .await
        .unwrap();
    assert_eq!(values(&out, "n"), ["1"]);
    assert_eq!((start.num_calls(), results.num_calls()), (2, 3));
}

#[tokio::test]
async fn limit_exceeded_then_success() {
    let start = mock!(Client::start_query)
        .sequence()
        .error(|| {
            StartQueryError::LimitExceededException(
                LimitExceededException::builder()
                    .message("Account maximum query concurrency limit of [30] reached.")
                    .build(),
            )
        })
        .times(3)
        .output(|| started("q-l"))
        .build();
    let results = mock!(Client::get_query_results).then_output(|| complete(vec![]));
    let runner = Runner::new(client(&[&start, &results]), fast());
    let out = runner
        .run(&query(&["/vpc/a"], 0, 10, 100), &|_| {})
        .await
        .unwrap();
    assert_eq!(out.queries_run, 1);
    assert_eq!(start.num_calls(), 4);
}

#[tokio::test]
async fn throttled_past_the_deadline_times_out_clearly() {
    let start = mock!(Client::start_query).then_error(|| StartQueryError::generic(throttled()));
    let mut options = fast();
    options.timeout = Duration::from_millis(40);
    let runner = Runner::new(client(&[&start]), options);
    let err = runner
        .run(&query(&["/vpc/a"], 0, 10, 100), &|_| {})
        .await
        .unwrap_err();
    match &err {
        CloudWatchError::TimedOut {
            waiting_for,
            timeout,
        } => {
            assert!(waiting_for.contains("ThrottlingException"), "{waiting_for}");
            assert_eq!(*timeout, Duration::from_millis(40));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(start.num_calls() > 1);
}

#[tokio::test]
async fn query_running_past_the_deadline_times_out_and_is_stopped() {
    let start = start_rule("q-slow");
    let results =
        mock!(Client::get_query_results).then_output(|| with_status(QueryStatus::Running));
    let stop = mock!(Client::stop_query)
        .match_requests(|r| r.query_id() == Some("q-slow"))
        .then_output(|| StopQueryOutput::builder().success(true).build());
    let mut options = fast();
    options.timeout = Duration::from_millis(30);
    let runner = Runner::new(client(&[&start, &results, &stop]), options);
    let err = runner
        .run(&query(&["/vpc/a"], 0, 10, 100), &|_| {})
        .await
        .unwrap_err();
    assert!(
        matches!(&err, CloudWatchError::TimedOut { waiting_for, .. } if waiting_for.contains("q-slow")),
        "{err:?}"
    );
    assert_eq!(stop.num_calls(), 1);
    assert!(runner.running_query_ids().is_empty());
}

// ---------------------------------------------------------------- stopping

#[tokio::test]
async fn stop_all_stops_queries_left_running_by_a_dropped_run() {
    let start = mock!(Client::start_query)
        .then_compute_output(|req| started(&format!("q{}", req.log_group_names()[0])));
    let results =
        mock!(Client::get_query_results).then_output(|| with_status(QueryStatus::Running));
    let stopped = Arc::new(Mutex::new(Vec::new()));
    let log = stopped.clone();
    let stop = mock!(Client::stop_query).then_compute_output(move |req| {
        log.lock()
            .unwrap()
            .push(req.query_id().unwrap_or_default().to_owned());
        StopQueryOutput::builder().success(true).build()
    });
    let runner = Runner::new(client(&[&start, &results, &stop]), fast());
    let mut q = query(&[], 0, 10, 100);
    q.log_groups = groups(60);

    // The caller gives up (Ctrl-C) and drops the run future.
    let dropped = tokio::time::timeout(Duration::from_millis(50), runner.run(&q, &|_| {})).await;
    assert!(dropped.is_err());
    assert_eq!(runner.running_query_ids(), ["q/vpc/g000", "q/vpc/g050"]);

    let errors = runner.stop_all().await;
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(stop.num_calls(), 2);
    let mut stopped = stopped.lock().unwrap().clone();
    stopped.sort();
    assert_eq!(stopped, ["q/vpc/g000", "q/vpc/g050"]);
    assert!(runner.running_query_ids().is_empty());
    // Nothing left: a second call sends nothing.
    assert!(runner.stop_all().await.is_empty());
    assert_eq!(stop.num_calls(), 2);
}

#[tokio::test]
async fn stop_all_collects_stop_query_errors() {
    let start = start_rule("q-s");
    let results =
        mock!(Client::get_query_results).then_output(|| with_status(QueryStatus::Running));
    let stop = mock!(Client::stop_query).then_error(|| {
        StopQueryError::InvalidParameterException(
            InvalidParameterException::builder()
                .message("Query is not running")
                .build(),
        )
    });
    let runner = Runner::new(client(&[&start, &results, &stop]), fast());
    let dropped = tokio::time::timeout(
        Duration::from_millis(30),
        runner.run(&query(&["/vpc/a"], 0, 10, 100), &|_| {}),
    )
    .await;
    assert!(dropped.is_err());
    let errors = runner.stop_all().await;
    assert_eq!(errors.len(), 1);
    assert!(
        matches!(
            &errors[0],
            CloudWatchError::InvalidParameter {
                operation: "StopQuery",
                ..
            }
        ),
        "{errors:?}"
    );
}

#[tokio::test]
async fn run_stops_its_own_running_queries_when_one_fails() {
    let start = mock!(Client::start_query)
        .then_compute_output(|req| started(&format!("q{}", req.log_group_names()[0])));
    let polls_of_first = Arc::new(AtomicUsize::new(0));
    let results = mock!(Client::get_query_results).then_compute_output(move |req| {
        if req.query_id() == Some("q/vpc/g000") {
            if polls_of_first.fetch_add(1, Ordering::SeqCst) < 2 {
                with_status(QueryStatus::Running)
            } else {
                with_status(QueryStatus::Failed)
            }
        } else {
            with_status(QueryStatus::Running)
        }
    });
    let stop = mock!(Client::stop_query)
        .match_requests(|r| r.query_id() == Some("q/vpc/g050"))
        .then_output(|| StopQueryOutput::builder().success(true).build());
    let runner = Runner::new(client(&[&start, &results, &stop]), fast());
    let mut q = query(&[], 0, 10, 100);
    q.log_groups = groups(60);
    let err = runner.run(&q, &|_| {}).await.unwrap_err();
    assert!(
        matches!(&err, CloudWatchError::QueryFailed { query_id, status, .. }
            if query_id == "q/vpc/g000" && status == "Failed"),
        "{err:?}"
    );
    assert_eq!(stop.num_calls(), 1);
    assert!(runner.running_query_ids().is_empty());
}

#[tokio::test]
async fn stop_all_interrupts_a_run_in_progress() {
    let start = start_rule("q-i");
    let results =
        mock!(Client::get_query_results).then_output(|| with_status(QueryStatus::Running));
    let stop = stop_ok();
    let runner = Runner::new(client(&[&start, &results, &stop]), fast());
    let q = query(&["/vpc/a"], 0, 10, 100);
    let (result, errors) = tokio::join!(runner.run(&q, &|_| {}), async {
        tokio::time::sleep(Duration::from_millis(20)).await;
        runner.stop_all().await
    });
    assert!(errors.is_empty(), "{errors:?}");
    assert!(
        matches!(result, Err(CloudWatchError::Interrupted)),
        "{result:?}"
    );
    assert_eq!(stop.num_calls(), 1);
    // The runner still works for the next run.
    let start2 = start_rule("q-next");
    let results2 = mock!(Client::get_query_results).then_output(|| complete(vec![]));
    let runner2 = Runner::new(client(&[&start2, &results2]), fast());
    assert!(runner2.run(&q, &|_| {}).await.is_ok());
}

// ---------------------------------------------------------------- error mapping

#[tokio::test]
async fn resource_not_found_names_the_group() {
    for (groups, message, expected) in [
        (
            vec!["/vpc/missing"],
            "The specified log group does not exist.",
            "/vpc/missing",
        ),
        (
            vec!["/vpc/a", "/vpc/missing"],
            "Log group '/vpc/missing' does not exist for account ID '123456789012'",
            "/vpc/missing",
        ),
    ] {
        let start = mock!(Client::start_query).then_error(move || {
            StartQueryError::ResourceNotFoundException(
                ResourceNotFoundException::builder()
                    .message(message)
                    .build(),
            )
        });
        let runner = Runner::new(client(&[&start]), fast());
        let err = runner
            .run(&query(&groups, 0, 10, 100), &|_| {})
            .await
            .unwrap_err();
        assert!(
            matches!(&err, CloudWatchError::LogGroupNotFound { name } if name == expected),
            "{err:?}"
        );
        assert!(err.to_string().contains(expected));
    }
}

#[tokio::test]
async fn malformed_query_reports_line_and_column() {
    let text = "fields @timestamp\n| filter action = = \"REJECT\"";
    let offset = i32::try_from(text.find("= =").unwrap() + 2).unwrap();
    let start = mock!(Client::start_query).then_error(move || {
        StartQueryError::MalformedQueryException(
            MalformedQueryException::builder()
                .message("Query is malformed")
                .query_compile_error(
                    QueryCompileError::builder()
                        .location(
                            QueryCompileErrorLocation::builder()
                                .start_char_offset(offset)
                                .end_char_offset(offset + 1)
                                .build(),
                        )
                        .message("mismatched input '=' expecting {Expression}")
                        .build(),
                )
                .build(),
        )
    });
    let runner = Runner::new(client(&[&start]), fast());
    let mut q = query(&["/vpc/a"], 0, 10, 100);
    q.query_string = text.to_owned();
    let err = runner.run(&q, &|_| {}).await.unwrap_err();
    match &err {
        CloudWatchError::MalformedQuery {
            query,
            line,
            column,
            message,
        } => {
            assert_eq!(query, text);
            assert_eq!((*line, *column), (Some(2), Some(19)));
            assert!(message.contains("mismatched input"));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(
        err.caret_display().as_deref(),
        Some("2 | | filter action = = \"REJECT\"\n  |                   ^")
    );
}

#[tokio::test]
async fn access_denied_names_the_iam_action() {
    let start = mock!(Client::start_query).then_error(|| {
        StartQueryError::generic(
            ErrorMetadata::builder()
                .code("AccessDeniedException")
                .message("User is not authorized to perform: logs:StartQuery")
                .build(),
        )
    });
    let runner = Runner::new(client(&[&start]), fast());
    let err = runner
        .run(&query(&["/vpc/a"], 0, 10, 100), &|_| {})
        .await
        .unwrap_err();
    assert!(
        matches!(&err, CloudWatchError::AccessDenied { action: "logs:StartQuery", resource, .. }
            if resource == "/vpc/a"),
        "{err:?}"
    );

    let describe = mock!(Client::describe_log_groups).then_error(|| {
        DescribeLogGroupsError::generic(
            ErrorMetadata::builder()
                .code("AccessDeniedException")
                .message("no")
                .build(),
        )
    });
    let err = discover_log_groups(&client(&[&describe]), "/vpc/")
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            CloudWatchError::AccessDenied {
                action: "logs:DescribeLogGroups",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("logs:DescribeLogGroups"));
}

#[tokio::test]
async fn other_service_errors_keep_code_and_message() {
    let start = mock!(Client::start_query).then_error(|| {
        StartQueryError::generic(
            ErrorMetadata::builder()
                .code("InternalFailure")
                .message("boom")
                .build(),
        )
    });
    let runner = Runner::new(client(&[&start]), fast());
    let err = runner
        .run(&query(&["/vpc/a"], 0, 10, 100), &|_| {})
        .await
        .unwrap_err();
    match &err {
        CloudWatchError::Service {
            operation,
            code,
            message,
        } => {
            assert_eq!(*operation, "StartQuery");
            assert_eq!(code.as_deref(), Some("InternalFailure"));
            assert!(message.contains("boom"), "{message}");
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[derive(Debug)]
struct NoCredentialsAnywhere;

impl ProvideCredentials for NoCredentialsAnywhere {
    fn provide_credentials<'a>(&'a self) -> creds_future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        creds_future::ProvideCredentials::ready(Err(CredentialsError::not_loaded(
            "no providers in chain provided credentials",
        )))
    }
}

#[tokio::test]
async fn missing_credentials_map_to_no_credentials() {
    let conf = aws_sdk_cloudwatchlogs::Config::builder()
        .with_test_defaults_v2()
        .credentials_provider(NoCredentialsAnywhere)
        .http_client(aws_smithy_mocks::create_mock_http_client())
        .retry_config(RetryConfig::disabled())
        .build();
    let runner = Runner::new(Client::from_conf(conf), fast());
    let err = runner
        .run(&query(&["/vpc/a"], 0, 10, 100), &|_| {})
        .await
        .unwrap_err();
    assert!(
        matches!(&err, CloudWatchError::NoCredentials { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("AWS_ACCESS_KEY_ID"));
}

#[tokio::test]
async fn invalid_requests_send_nothing() {
    // A client without rules panics on any request.
    let runner = Runner::new(client(&[]), fast());
    let mut cases = vec![
        query(&[], 0, 10, 100),
        query(&["/vpc/a"], 0, 10, 0),
        query(&["/vpc/a"], 0, 10, MAX_LIMIT + 1),
        query(&["/vpc/a"], 10, 9, 100),
        query(&["/vpc/a"], -1, 9, 100),
        query(&[" "], 0, 10, 100),
    ];
    let mut empty = query(&["/vpc/a"], 0, 10, 100);
    empty.query_string = "  ".into();
    cases.push(empty);
    for q in cases {
        let err = runner.run(&q, &|_| {}).await.unwrap_err();
        assert!(
            matches!(err, CloudWatchError::InvalidRequest { .. }),
            "{q:?}: {err:?}"
        );
    }
}

// ---------------------------------------------------------------- discovery and client

#[tokio::test]
async fn discover_reads_every_page() {
    let describe = mock!(Client::describe_log_groups)
        .match_requests(|r| r.log_group_name_prefix() == Some("/vpc/"))
        .sequence()
        .output(|| {
            DescribeLogGroupsOutput::builder()
                .log_groups(LogGroup::builder().log_group_name("/vpc/a").build())
                .log_groups(LogGroup::builder().log_group_name("/vpc/b").build())
                .next_token("n2")
                .build()
        })
        .output(|| {
            DescribeLogGroupsOutput::builder()
                .log_groups(LogGroup::builder().log_group_name("/vpc/c").build())
                .log_groups(LogGroup::builder().build())
                .build()
        })
        .build();
    let names = discover_log_groups(&client(&[&describe]), "/vpc/")
        .await
        .unwrap();
    assert_eq!(names, ["/vpc/a", "/vpc/b", "/vpc/c"]);
    assert_eq!(describe.num_calls(), 2);
}

#[tokio::test]
async fn discover_without_prefix_sends_none() {
    let describe = mock!(Client::describe_log_groups)
        .match_requests(|r| r.log_group_name_prefix().is_none())
        .then_output(|| {
            DescribeLogGroupsOutput::builder()
                .log_groups(LogGroup::builder().log_group_name("/x").build())
                .build()
        });
    let names = discover_log_groups(&client(&[&describe]), "")
        .await
        .unwrap();
    assert_eq!(names, ["/x"]);
}

#[test]
fn client_config_needs_region_and_credentials() {
    use aws_config::{Region, SdkConfig};
    use aws_sdk_cloudwatchlogs::config::{Credentials, SharedCredentialsProvider};

    let err = client_from_config(&SdkConfig::builder().build()).unwrap_err();
    assert!(matches!(err, CloudWatchError::NoRegion));
    assert!(err.to_string().contains("--region"));
    assert!(err.to_string().contains("AWS_REGION"));

    let err = client_from_config(
        &SdkConfig::builder()
            .region(Region::new("eu-west-1"))
            .build(),
    )
    .unwrap_err();
    assert!(matches!(err, CloudWatchError::NoCredentials { .. }));

    let client = client_from_config(
        &SdkConfig::builder()
            .region(Region::new("eu-west-1"))
            .credentials_provider(SharedCredentialsProvider::new(Credentials::for_tests()))
            .build(),
    )
    .unwrap();
    assert_eq!(
        client.config().region().map(|r| r.as_ref()),
        Some("eu-west-1")
    );
}

#[tokio::test]
async fn build_client_applies_overrides() {
    // With an explicit region nothing is looked up on the network, and
    // credentials are only resolved on the first call.
    let client = build_client(&ClientSettings {
        profile: None,
        region: Some("eu-central-1".into()),
        endpoint_url: Some("http://127.0.0.1:5999".into()),
    })
    .await
    .unwrap();
    assert_eq!(
        client.config().region().map(|r| r.as_ref()),
        Some("eu-central-1")
    );
}
