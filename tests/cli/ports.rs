//! `flowsift ports`: service ports inferred from both legs of every connection, and the
//! optimizer's rules in the JSON contract of DESIGN.md.

use std::fmt::Write as _;
use std::path::Path;

use serde_json::{Value, json};

use crate::common::{flowsift, json, sample, stderr_of, stdout_of};

const V5_HEADER: &str = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status tcp-flags flow-direction";
const SERVER: &str = "eni-0a1b2c3d4e5f60718";
const SERVER_ADDR: &str = "10.0.1.10";

/// Both legs, as the server's interface logs them, of `count` connections from each client to
/// each port; plus the server's own outbound calls to 443 elsewhere and a rejected scan.
fn traffic(ports: &[u16], with_flags: bool) -> String {
    let mut out = String::new();
    let mut ephemeral = 33000;
    let mut t = 1_795_132_800;
    let mut record = |src: &str,
                      dst: &str,
                      sp: u32,
                      dp: u32,
                      flags: u32,
                      direction: &str,
                      action: &str,
                      t: u64| {
        let tail = if with_flags {
            format!(" {flags} {direction}")
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "5 123456789012 {SERVER} {src} {dst} {sp} {dp} 6 10 1000 {t} {} {action} OK{tail}",
            t + 30
        );
    };
    for (i, &port) in ports.iter().enumerate() {
        for client in 1..=3 {
            ephemeral += 1;
            t += 7;
            let peer = format!("198.51.100.{}", client + i);
            record(
                &peer,
                SERVER_ADDR,
                ephemeral,
                u32::from(port),
                3,
                "ingress",
                "ACCEPT",
                t,
            );
            record(
                SERVER_ADDR,
                &peer,
                u32::from(port),
                ephemeral,
                19,
                "egress",
                "ACCEPT",
                t,
            );
        }
    }
    for call in 0..40 {
        ephemeral += 1;
        t += 11;
        let api = format!("203.0.113.{}", call % 5);
        record(SERVER_ADDR, &api, ephemeral, 443, 3, "egress", "ACCEPT", t);
        record(
            &api,
            SERVER_ADDR,
            443,
            ephemeral,
            19,
            "ingress",
            "ACCEPT",
            t,
        );
    }
    for port in [23, 3389, 445] {
        record(
            "192.0.2.66",
            SERVER_ADDR,
            40000,
            port,
            2,
            "ingress",
            "REJECT",
            t,
        );
    }
    if with_flags {
        format!("{V5_HEADER}\n{out}")
    } else {
        // The default v2 layout: drop the last two columns and the header.
        out.lines()
            .map(|l| {
                l.split(' ')
                    .take(14)
                    .collect::<Vec<_>>()
                    .join(" ")
                    .replacen("5 ", "2 ", 1)
                    + "\n"
            })
            .collect()
    }
}

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn ports_json(input: &Path, max_rules: usize, max_open: u32) -> Value {
    json(
        flowsift()
            .args([
                "ports",
                "-o",
                "json",
                "--max-rules",
                &max_rules.to_string(),
                "--max-open-ports",
                &max_open.to_string(),
                "--input",
            ])
            .arg(input),
    )
}

const DESIGN_PORTS: [u16; 8] = [80, 81, 82, 85, 86, 1001, 1002, 1020];

#[test]
fn the_design_example_three_rules_three_open() {
    let dir = tempfile::tempdir().unwrap();
    let input = write(dir.path(), "flows.log", &traffic(&DESIGN_PORTS, true));
    let report = ports_json(&input, 3, 3);
    assert_eq!(
        report["constraints"],
        json!({"max_rules": 3, "max_open_ports": 3})
    );
    assert!(report["window"]["start"].is_string() && report["window"]["end"].is_string());
    let entries = report["interfaces"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{report:#}");
    let e = &entries[0];
    assert_eq!(e["interface_id"], SERVER);
    assert_eq!(e["protocol"], "tcp");
    assert_eq!(e["service_ports"], json!(DESIGN_PORTS));
    assert_eq!(e["feasible"], true);
    assert_eq!(
        e["rules"],
        json!([
            {"from_port": 80, "to_port": 86, "unused_ports": 2},
            {"from_port": 1001, "to_port": 1002, "unused_ports": 0},
            {"from_port": 1020, "to_port": 1020, "unused_ports": 0}
        ])
    );
    assert_eq!(e["unused_port_count"], 2);
    assert_eq!(e["unused_ranges"], json!([[83, 84]]));
    assert!(e.get("hint").is_none());
    // The 40 reply ports of the interface's own calls to 443 are not rules.
    assert_eq!(e["reply_flows_ignored"], 40);
    assert_eq!(e["uncertain_ports"], json!([]));
}

#[test]
fn more_rules_than_needed_leave_nothing_open() {
    let dir = tempfile::tempdir().unwrap();
    let input = write(dir.path(), "flows.log", &traffic(&DESIGN_PORTS, true));
    let e = &ports_json(&input, 10, 3)["interfaces"][0];
    let ranges: Vec<(i64, i64)> = e["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["from_port"].as_i64().unwrap(),
                r["to_port"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(ranges, vec![(80, 82), (85, 86), (1001, 1002), (1020, 1020)]);
    assert_eq!(e["unused_port_count"], 0);
}

#[test]
fn an_infeasible_setting_names_what_would_work() {
    let dir = tempfile::tempdir().unwrap();
    let input = write(dir.path(), "flows.log", &traffic(&DESIGN_PORTS, true));
    let e = &ports_json(&input, 1, 3)["interfaces"][0];
    assert_eq!(e["feasible"], false);
    assert_eq!(e["rules"], json!([]));
    assert_eq!(e["hint"], json!({"max_rules": 3, "max_open_ports": 933}));
    let out = flowsift()
        .args([
            "ports",
            "--max-rules",
            "1",
            "--max-open-ports",
            "3",
            "--input",
        ])
        .arg(&input)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let table = String::from_utf8_lossy(&out);
    assert!(
        table.contains("infeasible: needs --max-rules 3 or --max-open-ports 933"),
        "{table}"
    );
    let e = &ports_json(&input, 1, 1000)["interfaces"][0];
    assert_eq!(
        e["rules"],
        json!([{"from_port": 80, "to_port": 1020, "unused_ports": 933}])
    );
}

#[test]
fn without_flags_or_direction_the_v2_format_gives_the_same_ports() {
    let dir = tempfile::tempdir().unwrap();
    let input = write(dir.path(), "flows.log", &traffic(&DESIGN_PORTS, false));
    let e = &ports_json(&input, 60, 0)["interfaces"][0];
    assert_eq!(e["service_ports"], json!(DESIGN_PORTS));
    assert_eq!(e["own_address"], SERVER_ADDR);
    assert_eq!(e["reply_flows_ignored"], 40);
}

#[test]
fn rejected_traffic_never_becomes_a_rule() {
    let dir = tempfile::tempdir().unwrap();
    let input = write(dir.path(), "flows.log", &traffic(&[8443], true));
    let e = &ports_json(&input, 60, 0)["interfaces"][0];
    assert_eq!(e["service_ports"], json!([8443]));
}

#[test]
fn a_lone_high_port_conversation_is_uncertain_not_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = traffic(&[80], false);
    // One peer, one peer port, both unremarkable: nothing tells who started it.
    text.push_str(&format!("2 123456789012 {SERVER} 198.51.100.9 {SERVER_ADDR} 5000 6000 6 3 300 1795140000 1795140030 ACCEPT OK\n"));
    text.push_str(&format!("2 123456789012 {SERVER} {SERVER_ADDR} 198.51.100.9 6000 5000 6 3 300 1795140000 1795140030 ACCEPT OK\n"));
    let input = write(dir.path(), "flows.log", &text);
    let e = &ports_json(&input, 60, 0)["interfaces"][0];
    assert_eq!(e["service_ports"], json!([80]));
    let uncertain = e["uncertain_ports"].as_array().unwrap();
    assert_eq!(uncertain.len(), 1, "{e:#}");
    assert_eq!(uncertain[0]["port"], 6000);
}

/// The service ports the generator used, per interface and protocol.
fn truth() -> Vec<(String, String, Vec<u64>)> {
    let text = std::fs::read_to_string(sample().join("truth.json")).unwrap();
    let truth: Value = serde_json::from_str(&text).unwrap();
    let mut out = Vec::new();
    for iface in truth["interfaces"].as_array().unwrap() {
        for (protocol, ports) in iface["service_ports"].as_object().unwrap() {
            let ports: Vec<u64> = ports
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p.as_u64().unwrap())
                .collect();
            if !ports.is_empty() {
                out.push((
                    iface["id"].as_str().unwrap().to_owned(),
                    protocol.clone(),
                    ports,
                ));
            }
        }
    }
    out.sort();
    out
}

fn found(report: &Value) -> Vec<(String, String, Vec<u64>)> {
    let mut out: Vec<(String, String, Vec<u64>)> = report["interfaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            assert_eq!(e["uncertain_ports"], json!([]), "{e:#}");
            (
                e["interface_id"].as_str().unwrap().to_owned(),
                e["protocol"].as_str().unwrap().to_owned(),
                e["service_ports"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| p.as_u64().unwrap())
                    .collect(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn the_bundled_sample_gives_the_generators_service_ports() {
    let expected = truth();
    assert!(expected.len() >= 5);
    // Both halves on their own (v2 without header; v5 gzip with header) and together.
    for input in [
        sample(),
        sample().join("cloudwatch-export"),
        sample().join("AWSLogs"),
    ] {
        assert_eq!(
            found(&ports_json(&input, 60, 0)),
            expected,
            "{}",
            input.display()
        );
    }
}

#[test]
fn interface_filter_and_csv() {
    let web = "eni-0a1b2c3d4e5f60718";
    let report = json(
        flowsift()
            .args(["ports", "-o", "json", "--interface", web, "--input"])
            .arg(sample()),
    );
    let ids: Vec<&str> = report["interfaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["interface_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![web]);
    let csv = stdout_of(
        flowsift()
            .args(["ports", "-o", "csv", "--interface", web, "--input"])
            .arg(sample()),
    );
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "interface_id,protocol,from_port,to_port,unused_ports,feasible,hint_max_rules,hint_max_open_ports"
    );
    assert_eq!(
        lines[1..],
        [
            format!("{web},tcp,80,80,0,true,,"),
            format!("{web},tcp,443,443,0,true,,")
        ]
    );
    let (code, stderr) = stderr_of(
        flowsift()
            .args(["ports", "--interface", "eni-nope", "--input"])
            .arg(sample()),
    );
    assert_eq!(code, 0);
    assert!(
        stderr.contains("interface eni-nope has no accepted inbound traffic"),
        "{stderr}"
    );
}

#[test]
fn a_high_port_service_reached_from_low_source_ports_is_kept_when_flags_show_the_syn() {
    // Load balancers and NAT pick source ports from 1024-65535: a gRPC server on 50051 sees
    // low peer ports, which without flags look like the replies to its own connections.
    let mut text = format!("{V5_HEADER}\n");
    for i in 0..6u32 {
        let (peer, port) = (format!("10.0.9.{}", i + 1), 2000 + i);
        text.push_str(&format!("5 123456789012 {SERVER} {peer} {SERVER_ADDR} {port} 50051 6 10 900 1795132800 1795132830 ACCEPT OK 3 ingress\n"));
        text.push_str(&format!("5 123456789012 {SERVER} {SERVER_ADDR} {peer} 50051 {port} 6 10 900 1795132800 1795132830 ACCEPT OK 19 egress\n"));
    }
    let dir = tempfile::tempdir().unwrap();
    let input = write(dir.path(), "flows.log", &text);
    let e = &ports_json(&input, 60, 0)["interfaces"][0];
    assert_eq!(e["service_ports"], json!([50051]), "{e:#}");
}
