//! `RemoteSource` against a small Logs Insights simulator behind aws-smithy-mocks: what is
//! sent, and how split windows come back together.

use std::time::Duration;

use aws_sdk_cloudwatchlogs::Client;
use aws_sdk_cloudwatchlogs::config::retry::RetryConfig;
use aws_sdk_cloudwatchlogs::operation::get_query_results::GetQueryResultsOutput;
use aws_sdk_cloudwatchlogs::operation::start_query::StartQueryOutput;
use aws_sdk_cloudwatchlogs::types::{QueryStatistics, QueryStatus, ResultField};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};

use super::remote::{Aggregate, RemoteSource};
use super::{RunOptions, Runner};
use crate::flow::LogFormat;
use crate::insights::parse;
use crate::source::Value;
use crate::source::local::QuerySpec;

/// (second, destination port, bytes): the events of one log group.
const EVENTS: [(i64, i64, i64); 7] = [
    (100, 22, 10),
    (101, 443, 20),
    (101, 22, 30),
    (102, 80, 40),
    (103, 443, 50),
    (103, 8080, 60),
    (104, 22, 70),
];

fn field(name: &str, value: &str) -> ResultField {
    ResultField::builder().field(name).value(value).build()
}

/// Answers `stats count(*) as n, sum(bytes) as b by dstPort` over the window encoded in the
/// query id, the way Logs Insights would, at most `limit` rows (then the caller must split).
fn simulator() -> (Rule, Rule) {
    let start = mock!(Client::start_query).then_compute_output(|req| {
        StartQueryOutput::builder()
            .query_id(format!(
                "{}:{}",
                req.start_time().unwrap_or(0),
                req.end_time().unwrap_or(0)
            ))
            .build()
    });
    let results = mock!(Client::get_query_results).then_compute_output(|req| {
        let id = req.query_id().unwrap_or_default();
        let (s, e) = id.split_once(':').unwrap_or(("0", "0"));
        let (s, e): (i64, i64) = (s.parse().unwrap_or(0), e.parse().unwrap_or(0));
        let mut groups: std::collections::BTreeMap<i64, (i64, i64)> = Default::default();
        for (t, port, bytes) in EVENTS {
            if (s..=e).contains(&t) {
                let g = groups.entry(port).or_default();
                g.0 += 1;
                g.1 += bytes;
            }
        }
        // Logs Insights may list aggregates before keys; the merge must not care.
        let rows = groups
            .iter()
            .map(|(port, (n, b))| {
                vec![
                    field("n", &n.to_string()),
                    field("b", &b.to_string()),
                    field("dstPort", &port.to_string()),
                ]
            })
            .collect();
        GetQueryResultsOutput::builder()
            .status(QueryStatus::Complete)
            .set_results(Some(rows))
            .statistics(QueryStatistics::builder().bytes_scanned(100.0).build())
            .build()
    });
    (start, results)
}

fn runner(rules: &[&Rule]) -> Runner {
    let client = mock_client!(aws_sdk_cloudwatchlogs, RuleMode::MatchAny, rules, |b| b
        .retry_config(RetryConfig::disabled()));
    Runner::new(
        client,
        RunOptions {
            concurrency: 2,
            timeout: Duration::from_secs(10),
            poll_initial: Duration::from_millis(1),
            poll_max: Duration::from_millis(2),
        },
    )
}

fn source<'r>(runner: &'r Runner, limit: i32, format: Option<&str>) -> RemoteSource<'r> {
    RemoteSource {
        runner,
        log_groups: vec!["/vpc/flows".to_owned()],
        format: format.map_or_else(LogFormat::default_v2, |f| LogFormat::parse(f).unwrap()),
        custom_format: format.is_some(),
        aggregate: Aggregate::Remote,
        strict: false,
        limit,
    }
}

fn spec(text: &str) -> QuerySpec {
    QuerySpec {
        query: parse(text).unwrap(),
        records: false,
    }
}

#[tokio::test]
async fn split_windows_merge_into_the_unsplit_answer() {
    let q = spec("stats count(*) as n, sum(bytes) as b by dstPort | sort b desc | limit 3");
    let mut answers = Vec::new();
    // A limit of 3 groups splits [100,104] three times over; 10 needs no split.
    for limit in [3, 10] {
        let (start, results) = simulator();
        let runner = runner(&[&start, &results]);
        let out = source(&runner, limit, None)
            .answer(std::slice::from_ref(&q), (100, 104), &|_| {})
            .await
            .unwrap();
        assert_eq!(
            out.queries_run,
            if limit == 3 { 7 } else { 1 },
            "limit {limit}"
        );
        answers.push(out.outputs[0].table.clone());
    }
    assert_eq!(answers[0], answers[1]);
    let t = &answers[0];
    assert_eq!(t.columns, vec!["dstPort", "n", "b"]);
    assert_eq!(
        t.rows,
        vec![
            vec![Value::Int(22), Value::Int(3), Value::Int(110)],
            vec![Value::Int(443), Value::Int(2), Value::Int(70)],
            vec![Value::Int(8080), Value::Int(1), Value::Int(60)],
        ]
    );
}

#[tokio::test]
async fn commands_after_stats_are_not_sent_and_a_custom_format_is_parsed_first() {
    let start = mock!(Client::start_query)
        .match_requests(|r| {
            r.query_string().is_some_and(|q| {
                q.starts_with("parse @message \"* * *\" as version, interfaceId, dstPort\n| filter dstPort = 22\n| stats count(*) as n by interfaceId")
                    && !q.contains("sort")
            })
        })
        .then_output(|| StartQueryOutput::builder().query_id("q").build());
    let results = mock!(Client::get_query_results).then_output(|| {
        GetQueryResultsOutput::builder()
            .status(QueryStatus::Complete)
            .set_results(Some(vec![vec![
                field("interfaceId", "eni-1"),
                field("n", "4"),
            ]]))
            .build()
    });
    let runner = runner(&[&start, &results]);
    let q = spec("filter dstPort = 22 | stats count(*) as n by interfaceId | sort n desc");
    let out = source(&runner, 100, Some("${version} ${interface-id} ${dstport}"))
        .answer(&[q], (0, 10), &|_| {})
        .await
        .unwrap();
    assert_eq!(start.num_calls(), 1);
    assert_eq!(
        out.outputs[0].table.rows,
        vec![vec![Value::Str("eni-1".into()), Value::Int(4)]]
    );
}

/// Raw events of the window in the query id, capped at the StartQuery limit, as rows of
/// `srcAddr` and `bytes`: enough to see how split raw answers are finished.
fn raw_simulator() -> (Rule, Rule) {
    let start = mock!(Client::start_query).then_compute_output(|req| {
        let limit = req.limit().unwrap_or(10_000);
        StartQueryOutput::builder()
            .query_id(format!(
                "{}:{}:{limit}",
                req.start_time().unwrap_or(0),
                req.end_time().unwrap_or(0)
            ))
            .build()
    });
    let results = mock!(Client::get_query_results).then_compute_output(|req| {
        let id = req.query_id().unwrap_or_default();
        let parts: Vec<i64> = id.split(':').map(|p| p.parse().unwrap_or(0)).collect();
        let rows = EVENTS
            .iter()
            .enumerate()
            .filter(|(_, (t, _, _))| (parts[0]..=parts[1]).contains(t))
            .take(usize::try_from(parts[2]).unwrap_or(0))
            .map(|(i, (_, _, bytes))| {
                vec![
                    field("srcAddr", &format!("10.0.0.{i}")),
                    field("bytes", &bytes.to_string()),
                ]
            })
            .collect();
        GetQueryResultsOutput::builder()
            .status(QueryStatus::Complete)
            .set_results(Some(rows))
            .build()
    });
    (start, results)
}

#[tokio::test]
async fn a_split_raw_query_is_sorted_and_limited_over_all_parts() {
    let q = spec("fields srcAddr | sort bytes desc | limit 2");
    for limit in [3, 100] {
        let (start, results) = raw_simulator();
        let runner = runner(&[&start, &results]);
        let out = source(&runner, limit, None)
            .answer(std::slice::from_ref(&q), (100, 104), &|_| {})
            .await
            .unwrap();
        let t = &out.outputs[0].table;
        assert_eq!(t.columns, vec!["srcAddr"], "limit {limit}");
        // The two largest byte counts are events 6 (70) and 5 (60).
        assert_eq!(
            t.rows,
            vec![
                vec![Value::Str("10.0.0.6".into())],
                vec![Value::Str("10.0.0.5".into())]
            ],
            "limit {limit}"
        );
        assert!(start.num_calls() > 1 || limit == 100);
    }
}

#[tokio::test]
async fn group_keys_the_format_lacks_are_not_sent_and_come_back_null() {
    // A custom format without tcp-flags: the key is left out of the query sent.
    let start = mock!(Client::start_query)
        .match_requests(|r| {
            r.query_string()
                .is_some_and(|q| q.ends_with("by interfaceId, dstPort") && !q.contains("tcpFlags"))
        })
        .then_output(|| StartQueryOutput::builder().query_id("q").build());
    let results = mock!(Client::get_query_results).then_output(|| {
        GetQueryResultsOutput::builder()
            .status(QueryStatus::Complete)
            .set_results(Some(vec![vec![
                field("interfaceId", "eni-1"),
                field("dstPort", "22"),
                field("n", "4"),
            ]]))
            .build()
    });
    let runner = runner(&[&start, &results]);
    let q = spec("stats count(*) as n by interfaceId, tcpFlags, dstPort");
    let format = Some("${version} ${interface-id} ${dstport}");
    let out = source(&runner, 100, format)
        .answer(&[q], (0, 10), &|_| {})
        .await
        .unwrap();
    assert_eq!(start.num_calls(), 1);
    let t = &out.outputs[0].table;
    assert_eq!(t.columns, vec!["interfaceId", "tcpFlags", "dstPort", "n"]);
    assert_eq!(
        t.rows,
        vec![vec![
            Value::Str("eni-1".into()),
            Value::Null,
            Value::Int(22),
            Value::Int(4)
        ]]
    );
}
