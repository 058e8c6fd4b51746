//! `--log-group` end to end against a real moto server on 127.0.0.1 (started by
//! `scripts/test`, which sets FLOWSIFT_MOTO_ENDPOINT). moto understands only `fields`, `sort`
//! and `limit`, so these tests check the wiring (StartQuery, polling, paging, records, errors,
//! local aggregation), not Logs Insights' stats semantics; mocks cover the protocol's edge cases.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use assert_cmd::Command;
use aws_sdk_cloudwatchlogs::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_cloudwatchlogs::types::InputLogEvent;
use serde_json::Value;

use crate::common::{flowsift, json, sample, stderr_of};

const NEEDS_MOTO: &str = "needs a moto server: run scripts/test";

fn endpoint() -> String {
    std::env::var("FLOWSIFT_MOTO_ENDPOINT")
        .unwrap_or_else(|_| panic!("FLOWSIFT_MOTO_ENDPOINT is not set; {NEEDS_MOTO}"))
}

/// flowsift pointed at moto with test credentials, isolated from the user's AWS config.
fn flowsift_moto() -> Command {
    let mut cmd = flowsift();
    cmd.env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", "/nonexistent/flowsift-test-config")
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/flowsift-test-credentials",
        )
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ENDPOINT_URL", endpoint());
    cmd
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn client() -> aws_sdk_cloudwatchlogs::Client {
    let config = aws_sdk_cloudwatchlogs::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint())
        .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
        .build();
    aws_sdk_cloudwatchlogs::Client::from_conf(config)
}

fn now_s() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

/// The sample's default-format records, moved in time to end an hour ago.
struct Records {
    lines: Vec<(i64, String)>,
    start_s: i64,
    end_s: i64,
}

fn shifted_sample() -> Records {
    let text =
        std::fs::read_to_string(sample().join("cloudwatch-export/flows-default.log")).unwrap();
    let parsed: Vec<Vec<String>> = text
        .lines()
        .map(|l| l.split(' ').map(str::to_owned).collect())
        .collect();
    let first = parsed
        .iter()
        .map(|f| f[10].parse::<i64>().unwrap())
        .min()
        .unwrap();
    let last = parsed
        .iter()
        .map(|f| f[10].parse::<i64>().unwrap())
        .max()
        .unwrap();
    let shift = now_s() - 3600 - last;
    let lines = parsed
        .into_iter()
        .map(|mut f| {
            for i in [10, 11] {
                f[i] = (f[i].parse::<i64>().unwrap() + shift).to_string();
            }
            (f[10].parse::<i64>().unwrap(), f.join(" "))
        })
        .collect();
    Records {
        lines,
        start_s: first + shift,
        end_s: last + shift,
    }
}

/// A log group with one stream per interface, as VPC Flow Logs delivers to CloudWatch Logs.
fn log_group(name: &str, records: &Records) {
    let client = client();
    let mut streams: BTreeMap<String, Vec<(i64, String)>> = BTreeMap::new();
    for (start, line) in &records.lines {
        let eni = line.split(' ').nth(2).unwrap().to_owned();
        streams.entry(eni).or_default().push((*start, line.clone()));
    }
    runtime().block_on(async {
        client
            .create_log_group()
            .log_group_name(name)
            .send()
            .await
            .unwrap();
        for (stream, mut events) in streams {
            events.sort();
            client
                .create_log_stream()
                .log_group_name(name)
                .log_stream_name(&stream)
                .send()
                .await
                .unwrap();
            for batch in events.chunks(5000) {
                let events: Vec<InputLogEvent> = batch
                    .iter()
                    .map(|(t, m)| {
                        InputLogEvent::builder()
                            .timestamp(t * 1000)
                            .message(m)
                            .build()
                            .unwrap()
                    })
                    .collect();
                client
                    .put_log_events()
                    .log_group_name(name)
                    .log_stream_name(&stream)
                    .set_log_events(Some(events))
                    .send()
                    .await
                    .unwrap();
            }
        }
    });
}

fn unique(name: &str) -> String {
    format!("/flowsift/test/{name}/{}", std::process::id())
}

fn window(records: &Records) -> [String; 4] {
    [
        "--start".into(),
        records.start_s.to_string(),
        "--end".into(),
        records.end_s.to_string(),
    ]
}

#[test]
#[ignore = "needs a moto server: run scripts/test"]
fn a_fields_sort_limit_query_returns_the_latest_records() {
    let records = shifted_sample();
    let group = unique("query");
    log_group(&group, &records);
    let mut cmd = flowsift_moto();
    cmd.args(["query", "-o", "json", "--log-group", &group])
        .args(window(&records))
        .arg("fields @timestamp, @message | sort @timestamp desc | limit 5");
    let out = cmd.assert().success().get_output().clone();
    let rows: Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 5, "{rows:?}");
    let mut expected: Vec<(i64, String)> = records.lines.clone();
    expected.sort_by_key(|e| std::cmp::Reverse(e.0));
    for (row, (start, _)) in rows.iter().zip(&expected) {
        let message = row["@message"].as_str().unwrap();
        // Records that share a start time may come in any order; each must be one of them.
        assert!(
            expected.iter().any(|(t, m)| t == start && m == message),
            "{message} is not a record starting at {start}"
        );
        let timestamp =
            chrono::DateTime::parse_from_rfc3339(row["@timestamp"].as_str().unwrap()).unwrap();
        assert_eq!(timestamp.timestamp(), *start);
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Logs Insights: 1 query"), "{stderr}");
}

#[test]
#[ignore = "needs a moto server: run scripts/test"]
fn records_from_a_log_group_normalize_into_flow_records() {
    let records = shifted_sample();
    let group = unique("records");
    log_group(&group, &records);
    let rows = json(
        flowsift_moto()
            .args(["query", "--records", "-o", "json", "--log-group", &group])
            .args(window(&records))
            .arg("fields @message | limit 3"),
    );
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 3);
    for record in rows {
        assert_eq!(record["account_id"], "123456789012");
        assert!(record["interface_id"].as_str().unwrap().starts_with("eni-"));
        assert!(record["start"].is_i64() && record["version"] == 2);
    }
}

#[test]
#[ignore = "needs a moto server: run scripts/test"]
fn ports_aggregated_locally_from_a_log_group_equals_ports_on_the_same_files() {
    let records = shifted_sample();
    let group = unique("ports");
    log_group(&group, &records);
    let dir = tempfile::tempdir().unwrap();
    let file: PathBuf = dir.path().join("flows.log");
    let text: String = records
        .lines
        .iter()
        .map(|(_, l)| format!("{l}\n"))
        .collect();
    std::fs::write(&file, text).unwrap();
    let from_files = json(
        flowsift()
            .args(["ports", "-o", "json", "--input"])
            .arg(&file)
            .args(window(&records)),
    );
    let from_cloudwatch = json(
        flowsift_moto()
            .env_remove("AWS_ENDPOINT_URL")
            .args([
                "ports",
                "-o",
                "json",
                "--aggregate",
                "local",
                "--endpoint-url",
                &endpoint(),
                "--log-group",
                &group,
            ])
            .args(window(&records)),
    );
    assert!(
        from_files["interfaces"].as_array().unwrap().len() >= 5,
        "{from_files:#}"
    );
    assert_eq!(from_cloudwatch, from_files);
}

#[test]
#[ignore = "needs a moto server: run scripts/test"]
fn log_groups_are_found_by_prefix() {
    let records = shifted_sample();
    let prefix = unique("prefix");
    log_group(&format!("{prefix}/a"), &records);
    log_group(&format!("{prefix}/b"), &records);
    let rows = json(
        flowsift_moto()
            .args(["query", "-o", "json", "--log-group-prefix", &prefix])
            .args(window(&records))
            .arg("fields @message"),
    );
    // Both groups hold every record.
    assert_eq!(rows.as_array().unwrap().len(), 2 * records.lines.len());
}

#[test]
#[ignore = "needs a moto server: run scripts/test"]
fn a_missing_log_group_fails_clearly() {
    let group = unique("missing");
    let (code, stderr) = stderr_of(flowsift_moto().args([
        "query",
        "fields @message",
        "--since",
        "1h",
        "--log-group",
        &group,
    ]));
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains(&group) && stderr.contains("was not found"),
        "{stderr}"
    );
    let (code, stderr) = stderr_of(flowsift_moto().args([
        "query",
        "fields @message",
        "--log-group-prefix",
        "/no/such/prefix",
    ]));
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("no log group name starts with `/no/such/prefix`"),
        "{stderr}"
    );
}

#[test]
fn missing_credentials_or_region_say_what_to_set() {
    // No server is contacted: the client cannot even be built.
    let (code, stderr) = stderr_of(
        flowsift()
            .env("AWS_CONFIG_FILE", "/nonexistent/flowsift-test-config")
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                "/nonexistent/flowsift-test-credentials",
            )
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .args(["query", "fields @message", "--log-group", "/x"]),
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("--region") && stderr.contains("AWS_REGION"),
        "{stderr}"
    );
}

#[test]
#[ignore = "needs a moto server: run scripts/test"]
fn talkers_and_the_outbound_audit_work_on_a_log_group() {
    let records = shifted_sample();
    let group = unique("audits");
    log_group(&group, &records);
    let dir = tempfile::tempdir().unwrap();
    let file: PathBuf = dir.path().join("flows.log");
    let text: String = records
        .lines
        .iter()
        .map(|(_, l)| format!("{l}\n"))
        .collect();
    std::fs::write(&file, text).unwrap();
    for command in [vec!["talkers", "--port", "22"], vec!["audit", "outbound"]] {
        let from_files = json(
            flowsift()
                .args(&command)
                .args(["-o", "json", "--input"])
                .arg(&file)
                .args(window(&records)),
        );
        let from_cloudwatch = json(
            flowsift_moto()
                .args(&command)
                .args(["-o", "json", "--aggregate", "local", "--log-group", &group])
                .args(window(&records)),
        );
        assert_eq!(from_cloudwatch, from_files, "{command:?}");
    }
}
