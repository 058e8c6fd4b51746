//! Every fixture from other projects parses to the values those projects expect.

use serde_json::{Value, json};

use crate::common::{fixture, flowsift, json, stderr_of, without_nulls};

fn expected(test: &str) -> Value {
    let text = std::fs::read_to_string(fixture("flowlogs-reader/expected_parsed.json")).unwrap();
    let all: Value = serde_json::from_str(&text).unwrap();
    // The reference gives times as {utc, epoch}; records carry epoch seconds.
    fn flatten(v: &Value) -> Value {
        match v {
            Value::Object(m) if m.contains_key("epoch") => m["epoch"].clone(),
            Value::Object(m) => {
                Value::Object(m.iter().map(|(k, v)| (k.clone(), flatten(v))).collect())
            }
            Value::Array(a) => Value::Array(a.iter().map(flatten).collect()),
            other => other.clone(),
        }
    }
    flatten(&all[test])
}

fn records(path: &str, extra: &[&str]) -> Value {
    let mut cmd = flowsift();
    cmd.args([
        "query",
        "--records",
        "-o",
        "json",
        "-q",
        "fields @message",
        "--input",
    ])
    .arg(fixture(path))
    .args(extra);
    without_nulls(&json(&mut cmd))
}

#[test]
fn flowlogs_reader_v2_messages_parse_like_the_reference() {
    let got = records("flowlogs-reader/v2_records_cwl_messages.log", &[]);
    assert_eq!(got.as_array().unwrap().len(), 5);
    assert_eq!(got[0], expected("test_parse"));
    assert_eq!(got[3]["log_status"], "NODATA");
    assert_eq!(got[4]["log_status"], "SKIPDATA");
}

#[test]
fn flowlogs_reader_s3_files_with_headers_parse_like_the_reference() {
    for (file, test) in [
        ("v3_s3_file.log", "test_serial_v3"),
        ("v4_s3_file.log", "test_serial_v4"),
        ("v5_s3_file.log", "test_serial_v5"),
        ("v6_s3_file.log", "test_serial_v6"),
    ] {
        let got = records(&format!("flowlogs-reader/{file}"), &[]);
        assert_eq!(got, expected(test), "{file}");
    }
}

#[test]
fn flowlogs_reader_parquet_parses_like_the_reference() {
    let got = records("flowlogs-reader/flows.parquet", &[]);
    assert_eq!(got, expected("test_serial_parquet"));
    // Folders find Parquet files too.
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        fixture("flowlogs-reader/flows.parquet"),
        dir.path().join("part-0.parquet"),
    )
    .unwrap();
    let rows = json(
        flowsift()
            .args([
                "query",
                "-o",
                "json",
                "stats count(*) as n by logStatus",
                "--input",
            ])
            .arg(dir.path()),
    );
    assert_eq!(
        rows,
        json!([{"logStatus": "NODATA", "n": 2}, {"logStatus": "OK", "n": 1}])
    );
}

#[test]
fn a_bogus_line_is_counted_with_file_and_line_not_fatal() {
    let mut cmd = flowsift();
    cmd.args(["query", "stats count(*) as n", "-o", "json", "--input"])
        .arg(fixture("flowlogs-reader/v5_s3_file.log"));
    let out = cmd.assert().success().get_output().clone();
    let rows: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows, json!([{"n": 2}]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("skipped 1 malformed line"), "{stderr}");
    assert!(
        stderr.contains("v5_s3_file.log:4: expected 29 fields"),
        "{stderr}"
    );
}

#[test]
fn skipdata_says_coverage_is_incomplete() {
    let (code, stderr) = stderr_of(
        flowsift()
            .args(["query", "stats count(*)", "--input"])
            .arg(fixture("flowlogs-reader/v2_records_cwl_messages.log")),
    );
    assert_eq!(code, 0);
    assert!(stderr.contains("1 SKIPDATA record(s)"), "{stderr}");
    assert!(stderr.contains("coverage is incomplete"), "{stderr}");
    assert!(stderr.contains("1 NODATA"), "{stderr}");
}

/// Reads the OTLP expectation: each log record's attributes as (key, value text).
fn otel_expected() -> Vec<Vec<(String, String)>> {
    let text = std::fs::read_to_string(fixture(
        "otel-contrib/valid_vpc_flow_log_expected_multi.yaml",
    ))
    .unwrap();
    let mut records: Vec<Vec<(String, String)>> = Vec::new();
    let mut key = None;
    for line in text.lines().map(str::trim) {
        if line.starts_with("- attributes:") {
            records.push(Vec::new());
        } else if let Some(k) = line.strip_prefix("- key: ") {
            key = Some(k.to_owned());
        } else if let Some((kind, v)) = line.split_once(": ") {
            if let (Some(k), true) = (&key, kind == "stringValue" || kind == "intValue") {
                if let Some(record) = records.last_mut() {
                    record.push((k.clone(), v.trim_matches('"').to_owned()));
                }
                key = None;
            }
            if let (Some(record), Some(ns)) =
                (records.last_mut(), line.strip_prefix("timeUnixNano: "))
            {
                record.push(("timeUnixNano".to_owned(), ns.trim_matches('"').to_owned()));
            }
        }
    }
    records
}

#[test]
fn otel_multi_file_parses_to_the_otlp_expectation() {
    let got = records("otel-contrib/valid_vpc_flow_log_multi.log", &[]);
    let expected = otel_expected();
    assert_eq!(expected.len(), 2);
    assert_eq!(got.as_array().unwrap().len(), 2);
    let names = [
        ("aws.vpc.flow.log.version", "version"),
        ("network.interface.name", "interface_id"),
        ("source.port", "srcport"),
        ("destination.port", "dstport"),
        ("aws.vpc.flow.packets", "packets"),
        ("aws.vpc.flow.bytes", "bytes"),
        ("aws.vpc.flow.start", "start"),
        ("aws.vpc.flow.action", "action"),
        ("aws.vpc.flow.status", "log_status"),
        ("source.address", "srcaddr"),
        ("destination.address", "dstaddr"),
    ];
    for (record, attributes) in got.as_array().unwrap().iter().zip(&expected) {
        let mut checked = 0;
        for (key, value) in attributes {
            if let Some((_, ours)) = names.iter().find(|(k, _)| k == key) {
                let v = &record[*ours];
                let text = v
                    .as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| v.to_string());
                assert_eq!(&text, value, "{ours}");
                checked += 1;
            }
            if key == "network.protocol.name" {
                assert_eq!((value.as_str(), &record["protocol"]), ("tcp", &json!(6)));
            }
            if key == "timeUnixNano" {
                assert_eq!(
                    record["end"].as_i64().unwrap() * 1_000_000_000,
                    value.parse::<i64>().unwrap()
                );
            }
        }
        assert_eq!(checked, names.len());
    }
}

#[test]
fn otel_nodata_and_ecs_files_parse() {
    let got = records("otel-contrib/valid_vpc_flow_log.log", &[]);
    assert_eq!(
        got,
        json!([{"version": 2, "account_id": "12345678910", "interface_id": "eni-0eb1e4178af74336c", "start": 1742570089, "end": 1742570142, "log_status": "NODATA"}])
    );
    let got = records("otel-contrib/valid_vpc_flow_log_ecs.log", &[]);
    assert_eq!(got[0]["ecs_cluster_name"], "my-cluster");
    assert_eq!(got[0]["ecs_task_id"], "abcdef1234567890");
    assert_eq!(got[0]["ecs_second_container_id"], "container-2");
    assert_eq!(got[0]["dstport"], 22);
}

#[test]
fn a_line_with_too_many_fields_is_reported_not_misparsed() {
    let path = fixture("otel-contrib/vpc_flow_log_too_many_fields.log");
    let mut cmd = flowsift();
    cmd.args([
        "query",
        "--records",
        "-o",
        "json",
        "fields @message",
        "--input",
    ])
    .arg(&path);
    let out = cmd.assert().success().get_output().clone();
    assert_eq!(
        serde_json::from_slice::<Value>(&out.stdout).unwrap(),
        json!([])
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("too_many_fields.log:2: expected 14 fields (the layout of the file's header line), found 15"), "{stderr}");
    let (code, stderr) = stderr_of(
        flowsift()
            .args(["query", "--strict", "fields @message", "--input"])
            .arg(&path),
    );
    assert_eq!(code, 1);
    assert!(
        stderr.contains("too_many_fields.log:2: malformed record"),
        "{stderr}"
    );
}

#[test]
fn cloudwatch_subscription_payloads_parse_with_default_and_custom_formats() {
    let got = records("otel-contrib/valid_vpc_flow_cw.json", &[]);
    assert_eq!(got.as_array().unwrap().len(), 2);
    assert_eq!(got[1]["dstport"], 3389);
    assert_eq!(got[1]["action"], "REJECT");
    let got = records(
        "otel-contrib/valid_vpc_flow_cw_custom.json",
        &[
            "--log-format",
            "${version} ${interface-id} ${srcaddr} ${dstaddr}",
        ],
    );
    assert_eq!(
        got,
        json!([
            {"version": 2, "interface_id": "eni-1235b8ca123456789", "srcaddr": "172.31.16.139", "dstaddr": "172.31.16.21"},
            {"version": 2, "interface_id": "eni-1235b8ca123456789", "srcaddr": "172.31.9.69", "dstaddr": "172.31.9.12"}
        ])
    );
    // Without the format, the 4-field records do not fit the default layout and are counted.
    let (_, stderr) = stderr_of(
        flowsift()
            .args(["query", "stats count(*)", "--input"])
            .arg(fixture("otel-contrib/valid_vpc_flow_cw_custom.json")),
    );
    assert!(stderr.contains("skipped 2 malformed line"), "{stderr}");
}
