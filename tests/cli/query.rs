//! `flowsift query` and `flowsift templates`: output shapes, errors and exit statuses.

use serde_json::{Value, json};

use crate::common::{fixture, flowsift, json, sample, stderr_of, stdout_of};

const V2: &str = "flowlogs-reader/v2_records_cwl_messages.log";

/// A file of flow-log lines, `flows.log` in a temporary folder that lasts as long as the
/// folder handle.
fn flows_file(text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flows.log");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

#[test]
fn json_rows_are_typed_and_keyed_by_field() {
    let rows = json(
        flowsift()
            .args(["query", "-o", "json", "--input"])
            .arg(fixture(V2))
            .arg("filter logStatus = \"OK\" | stats count(*) as flows, sum(bytes) as bytes by action | sort action"),
    );
    assert_eq!(
        rows,
        json!([{"action": "ACCEPT", "flows": 2, "bytes": 2520}, {"action": "REJECT", "flows": 1, "bytes": 1680}])
    );
}

#[test]
fn csv_and_table_outputs() {
    let csv = stdout_of(
        flowsift()
            .args([
                "query",
                "-o",
                "csv",
                "fields interfaceId, dstPort | filter dstPort = 443",
                "--input",
            ])
            .arg(fixture(V2)),
    );
    assert_eq!(
        csv,
        "interfaceId,dstPort\neni-102010ab,443\neni-102010cd,443\n"
    );
    let table = stdout_of(
        flowsift()
            .args(["query", "stats count(*) as n by interfaceId", "--input"])
            .arg(fixture(V2)),
    );
    assert!(
        table.contains("INTERFACEID") && table.contains("eni-4b118871"),
        "{table}"
    );
}

#[test]
fn a_query_outside_the_subset_fails_with_a_caret_and_status_2() {
    let (code, stderr) = stderr_of(
        flowsift()
            .args([
                "query",
                "filter action = \"REJECT\"\n| unmask @message",
                "--input",
            ])
            .arg(fixture(V2)),
    );
    assert_eq!(code, 2);
    assert!(stderr.contains("line 2, column 3"), "{stderr}");
    assert!(
        stderr.contains("  2 | | unmask @message\n    |   ^"),
        "{stderr}"
    );
}

#[test]
fn missing_inputs_and_bad_windows_are_clear_errors() {
    let (code, stderr) =
        stderr_of(flowsift().args(["query", "stats count(*)", "--input", "/nonexistent/flows"]));
    assert_eq!(code, 1);
    assert!(
        stderr.contains("/nonexistent/flows: no such file or folder"),
        "{stderr}"
    );
    let (code, stderr) = stderr_of(
        flowsift()
            .args(["query", "stats count(*)", "--since", "soon", "--input"])
            .arg(fixture(V2)),
    );
    assert_eq!(code, 2);
    assert!(stderr.contains("`soon` is not a duration"), "{stderr}");
    let (code, stderr) = stderr_of(
        flowsift()
            .args([
                "query",
                "stats count(*)",
                "--log-format",
                "version",
                "--input",
            ])
            .arg(fixture(V2)),
    );
    assert_eq!(code, 2);
    assert!(
        stderr.contains("--log-format: `version` in the log format is not a `${field}` token"),
        "{stderr}"
    );
}

#[test]
fn the_window_selects_records_by_start_time() {
    let rows = json(
        flowsift()
            .args([
                "query",
                "-o",
                "json",
                "--start",
                "2015-08-12T13:47:43Z",
                "--end",
                "1439387263",
                "stats count(*) as n",
                "--input",
            ])
            .arg(fixture(V2)),
    );
    assert_eq!(rows, json!([{"n": 2}]));
}

#[test]
fn templates_run_with_parameters_and_are_listed() {
    let rows = json(
        flowsift()
            .args([
                "query",
                "-o",
                "json",
                "--template",
                "port-sources",
                "--param",
                "port=22",
                "--input",
            ])
            .arg(sample()),
    );
    let rows = rows.as_array().unwrap();
    assert!(!rows.is_empty());
    assert!(
        rows.iter()
            .all(|r| r["flows"].as_i64().unwrap() > 0 && r["srcAddr"].is_string())
    );
    let (code, stderr) = stderr_of(
        flowsift()
            .args(["query", "--template", "port-sources", "--input"])
            .arg(sample()),
    );
    assert_eq!(code, 2);
    assert!(stderr.contains("needs --param port=VALUE"), "{stderr}");
    let (code, _) = stderr_of(
        flowsift()
            .args(["query", "--template", "nope", "--input"])
            .arg(sample()),
    );
    assert_eq!(code, 2);
    let list: Value = json(flowsift().args(["templates", "-o", "json"]));
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"ports-inbound") && names.contains(&"port-sources"),
        "{names:?}"
    );
}

#[test]
fn unknown_fields_are_warned_about() {
    let (code, stderr) = stderr_of(
        flowsift()
            .args(["query", "filter tcpFlags = 2 | stats count(*)", "--input"])
            .arg(fixture(V2)),
    );
    assert_eq!(code, 0);
    assert!(
        stderr.contains("the query uses `tcpFlags`, which the records of"),
        "{stderr}"
    );
}

/// A reader that stops early (`| head`) is not a failure, whatever the output format and
/// whether the rows are written as the files are read (a listing) or after (groups): the
/// answer is bigger than the pipe and the output buffer, so the writes meet the closed pipe.
#[test]
fn a_closed_pipe_ends_the_output_quietly() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let lines: String = (0..40_000)
        .map(|i| format!("2 123 eni-1 10.0.0.1 10.0.0.2 40000 {i} 6 1 100 1000 1005 ACCEPT OK\n"))
        .collect();
    let (_dir, path) = flows_file(&lines);
    let queries = ["stats count(*) as n by dstPort", "fields dstPort, bytes"];
    for (format, query) in ["csv", "json", "table"]
        .into_iter()
        .flat_map(|f| queries.map(|q| (f, q)))
    {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_flowsift"))
            .args(["query", "-o", format, query, "--input"])
            .arg(&path)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        assert!(!first.is_empty(), "{format}, {query}");
        // The reader is gone once the BufReader is dropped.
        let status = child.wait().unwrap();
        assert!(status.success(), "{format}, {query}: {status}");
    }
}

/// An answer larger than `--memory-limit` goes through temporary files and comes out the
/// same; the summary says so. A temporary folder that cannot be written is a clear error, and
/// so is a size that is not one.
#[test]
fn answers_beyond_the_memory_limit_go_through_temporary_files() {
    let run = |args: &[&str], tmp: Option<&str>| {
        let mut cmd = flowsift();
        cmd.args(args).arg("--input").arg(sample());
        if let Some(tmp) = tmp {
            cmd.env("TMPDIR", tmp);
        }
        cmd.output().expect("the binary runs")
    };
    let query =
        "stats count(*) as flows, sum(bytes) as bytes by interfaceId, srcAddr, dstPort, protocol";
    for args in [
        vec!["query", "-o", "csv", query],
        vec!["ports", "-o", "json"],
        vec!["talkers", "-o", "json", "--port", "443"],
        vec!["audit", "outbound", "-o", "json"],
    ] {
        let roomy = run(&args, None);
        let tight = run(&[&args[..], &["--memory-limit", "16K"]].concat(), None);
        assert!(roomy.status.success() && tight.status.success(), "{args:?}");
        assert!(roomy.stdout.len() > 100, "{args:?}");
        assert_eq!(
            String::from_utf8_lossy(&tight.stdout),
            String::from_utf8_lossy(&roomy.stdout),
            "{args:?}"
        );
        let (roomy_err, tight_err) = (
            String::from_utf8_lossy(&roomy.stderr),
            String::from_utf8_lossy(&tight.stderr),
        );
        assert!(!roomy_err.contains("temporary files"), "{roomy_err}");
        assert!(
            tight_err.contains("went through temporary files"),
            "{tight_err}"
        );
    }
    let failed = run(
        &["query", "--memory-limit", "16K", query],
        Some("/nonexistent/flowsift-tmp"),
    );
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert_eq!(failed.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("cannot create a temporary file in /nonexistent/flowsift-tmp")
            && stderr.contains("TMPDIR"),
        "{stderr}"
    );
    let (code, stderr) = stderr_of(flowsift().args(["query", "--memory-limit", "12XB", query]));
    assert_eq!(code, 2);
    assert!(stderr.contains("`12XB` is not a size"), "{stderr}");
}

/// A listing is written while the input is read: its JSON and CSV hold every row, in file
/// order.
#[test]
fn listings_are_written_in_file_order() {
    let text: String = (0..200_000)
        .map(|i| {
            format!(
                "2 123 eni-a 10.0.{}.{} 10.0.0.9 40000 443 6 1 {i} 1000 1005 ACCEPT OK\n",
                i / 250 % 250,
                i % 250
            )
        })
        .collect();
    let (_dir, path) = flows_file(&text);
    let query = "fields srcAddr, bytes | filter bytes % 2 = 0";
    let csv = stdout_of(
        flowsift()
            .args(["query", "-o", "csv", query, "--input"])
            .arg(&path),
    );
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 100_001);
    assert_eq!(lines[0], "srcAddr,bytes");
    for (k, line) in lines[1..].iter().enumerate() {
        let i = 2 * k;
        assert_eq!(*line, format!("10.0.{}.{},{i}", i / 250 % 250, i % 250));
    }
    let rows = json(
        flowsift()
            .args(["query", "-o", "json", query, "--input"])
            .arg(&path),
    );
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 100_000);
    assert_eq!(rows[4321], json!({"srcAddr": "10.0.34.142", "bytes": 8642}));
}

/// A table of more rows than it holds to size its columns has every row of the CSV, in the
/// same order, for a listing written as it is read and for a `stats` answer.
#[test]
fn long_tables_have_the_rows_of_the_csv() {
    let text: String = (0..30_000)
        .map(|i| {
            format!(
                "2 123 eni-{} 10.0.{}.{} 10.0.0.9 40000 {} 6 1 {i} 1000 1005 ACCEPT OK\n",
                i % 7,
                i / 250 % 250,
                i % 250,
                i % 5000
            )
        })
        .collect();
    let (_dir, path) = flows_file(&text);
    for query in [
        "fields srcAddr, bytes, interfaceId | filter bytes % 3 > 0",
        "stats count(*) as flows, sum(bytes) as bytes by interfaceId, dstPort",
    ] {
        let output = |format: &str| {
            stdout_of(
                flowsift()
                    .args(["query", "-o", format, query, "--input"])
                    .arg(&path),
            )
        };
        let csv = output("csv");
        let table = output("table");
        let csv_rows: Vec<Vec<&str>> = csv.lines().map(|l| l.split(',').collect()).collect();
        let table_rows: Vec<Vec<&str>> = table
            .lines()
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert!(csv_rows.len() > 10_000, "{query}: {} rows", csv_rows.len());
        assert_eq!(table_rows.len(), csv_rows.len(), "{query}");
        let header: Vec<String> = csv_rows[0].iter().map(|c| c.to_uppercase()).collect();
        assert_eq!(table_rows[0], header, "{query}");
        assert_eq!(table_rows[1..], csv_rows[1..], "{query}");
    }
}

/// Under `--strict`, the rows before the first malformed line are written, as a table too
/// (which holds its first rows to size its columns), and the error follows them.
#[test]
fn a_strict_table_keeps_the_rows_before_the_error() {
    let mut text: String = (0..5)
        .map(|i| {
            format!(
                "2 123 eni-a 10.0.0.{i} 10.0.0.9 40000 443 6 1 {}00 1000 1005 ACCEPT OK\n",
                i + 1
            )
        })
        .collect();
    text.push_str("2 123 eni-a 10.0.0.9 10.0.0.9 40000 443 6 1 x 1000 1005 ACCEPT OK\n");
    text.push_str("2 123 eni-a 10.0.0.7 10.0.0.9 40000 443 6 1 700 1000 1005 ACCEPT OK\n");
    let (_dir, path) = flows_file(&text);
    let out = flowsift()
        .args(["query", "--strict", "fields srcAddr, bytes", "--input"])
        .arg(&path)
        .assert()
        .code(1)
        .get_output()
        .clone();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let rows: Vec<Vec<&str>> = stdout
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    let mut expected = vec![vec!["SRCADDR", "BYTES"]];
    let lines: Vec<(String, String)> = (0..5)
        .map(|i| (format!("10.0.0.{i}"), format!("{}00", i + 1)))
        .collect();
    expected.extend(lines.iter().map(|(a, b)| vec![a.as_str(), b.as_str()]));
    assert_eq!(rows, expected, "{stdout}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("flows.log:6"), "{stderr}");
}

/// A `sort` whose rows outgrow its share of `--memory-limit` sorts them through temporary
/// files: the bytes written are those of the sort held in memory, for a listing and for a
/// `stats` answer, and the summary says where the rows went.
#[test]
fn sorts_beyond_the_memory_limit_go_through_temporary_files() {
    let text: String = (0..60_000)
        .map(|i| {
            format!(
                "2 123 eni-{} 10.0.{}.{} 10.0.0.9 40000 {} 6 1 {} 1000 1005 ACCEPT OK\n",
                i % 4,
                i / 250 % 250,
                i % 250,
                i % 7_499,
                (i * 7_919) % 100_003
            )
        })
        .collect();
    // 29,996 groups of interfaceId and dstPort (4 and 7,499 have no common factor).
    let (_dir, path) = flows_file(&text);
    let run = |query: &str, format: &str, limit: &str| {
        let out = flowsift()
            .args([
                "query",
                "-o",
                format,
                query,
                "--memory-limit",
                limit,
                "--input",
            ])
            .arg(&path)
            .output()
            .expect("the binary runs");
        assert!(out.status.success(), "{query}");
        (
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    for (query, rows) in [
        ("fields srcAddr, bytes | sort bytes desc, srcAddr", 60_000),
        (
            "stats sum(bytes) as bytes by interfaceId, dstPort | sort bytes desc | limit 19000",
            19_000,
        ),
    ] {
        for format in ["csv", "json"] {
            let (roomy, roomy_err) = run(query, format, "1G");
            let (tight, tight_err) = run(query, format, "1M");
            assert!(!roomy_err.contains("temporary files"), "{roomy_err}");
            assert!(
                tight_err.contains(" of sorted rows went through temporary files"),
                "{tight_err}"
            );
            assert_eq!(tight, roomy, "{query} as {format}");
            if format == "csv" {
                let bytes: Vec<i64> = roomy
                    .lines()
                    .skip(1)
                    .map(|l| l.rsplit(',').next().unwrap().parse().unwrap())
                    .collect();
                assert_eq!(bytes.len(), rows, "{query}");
                assert!(bytes.windows(2).all(|w| w[0] >= w[1]), "{query}: sorted");
            }
        }
    }
}
