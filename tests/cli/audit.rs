//! `talkers`, `audit outbound` and `audit rules` on the sample, the AWS CLI examples and
//! small cases with known findings.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::common::{fixture, flowsift, json, repo, sample, stderr_of};

const APP: &str = "eni-0b7e4c19a2d35f861";
const BASTION: &str = "eni-0d25e8a6f3b49c173";

fn inventory(name: &str) -> PathBuf {
    repo().join("examples/inventory").join(name)
}

fn count_query(text: &str) -> i64 {
    let rows = json(
        flowsift()
            .args(["query", "-o", "json", text, "--input"])
            .arg(sample()),
    );
    rows[0]["n"].as_i64().unwrap()
}

#[test]
fn talkers_lists_every_source_of_a_port_sorted_by_flows() {
    let report = json(
        flowsift()
            .args(["talkers", "--port", "22", "-o", "json", "--input"])
            .arg(sample()),
    );
    let rows = report["rows"].as_array().unwrap();
    assert!(rows.len() > 3);
    assert!(
        rows.iter()
            .all(|r| r["port"] == 22 && r["protocol"] == "tcp")
    );
    let flows: Vec<i64> = rows.iter().map(|r| r["flows"].as_i64().unwrap()).collect();
    assert!(flows.windows(2).all(|w| w[0] >= w[1]), "{flows:?}");
    // Every record to port 22 that entered an interface counts once; the bastion's own ssh
    // sessions to app and db are its outbound traffic, not visitors.
    let total: i64 = flows.iter().sum();
    assert_eq!(
        total,
        count_query(&format!(
            "filter logStatus = \"OK\" and dstPort = 22 and not (interfaceId = \"{BASTION}\" and srcAddr = \"10.0.0.5\") | stats count(*) as n"
        ))
    );
    assert!(
        !rows
            .iter()
            .any(|r| r["interface_id"] == BASTION && r["srcaddr"] == "10.0.0.5")
    );
    assert!(rows.iter().any(|r| r["action"] == "REJECT"));
    for key in [
        "interface_id",
        "srcaddr",
        "packets",
        "bytes",
        "first_seen",
        "last_seen",
    ] {
        assert!(!rows[0][key].is_null(), "{key}");
    }
    assert!(report["window"]["start"].is_string());
}

#[test]
fn talkers_filters_and_sums_the_rest_in_the_table() {
    let report = json(
        flowsift()
            .args([
                "talkers",
                "--port",
                "22",
                "--interface",
                BASTION,
                "--protocol",
                "tcp",
                "-o",
                "json",
                "--input",
            ])
            .arg(sample()),
    );
    let rows = report["rows"].as_array().unwrap();
    assert!(rows.iter().all(|r| r["interface_id"] == BASTION));
    let out = flowsift()
        .args(["talkers", "--port", "22", "--top", "2", "--input"])
        .arg(sample())
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let table = String::from_utf8(out).unwrap();
    assert!(table.contains("more sources)"), "{table}");
    let udp = json(
        flowsift()
            .args([
                "talkers",
                "--port",
                "22",
                "--protocol",
                "udp",
                "-o",
                "json",
                "--input",
            ])
            .arg(sample()),
    );
    assert_eq!(udp["rows"], json!([]));
    let (code, stderr) = stderr_of(
        flowsift()
            .args(["talkers", "--port", "22", "--protocol", "sctpx", "--input"])
            .arg(sample()),
    );
    assert_eq!(code, 2);
    assert!(stderr.contains("--protocol `sctpx`"), "{stderr}");
}

fn findings(report: &Value) -> Vec<(String, String, String, Option<i64>)> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["interface_id"].as_str().unwrap().to_owned(),
                f["kind"].as_str().unwrap().to_owned(),
                f["destination"].as_str().unwrap().to_owned(),
                f["port"].as_i64(),
            )
        })
        .collect()
}

#[test]
fn the_outbound_review_of_the_sample() {
    let report = json(
        flowsift()
            .args(["audit", "outbound", "-o", "json", "--input"])
            .arg(sample()),
    );
    let found = findings(&report);
    let has = |iface: &str, kind: &str, dst: &str, port: i64| {
        found.iter().any(|f| {
            (f.0.as_str(), f.1.as_str(), f.2.as_str(), f.3) == (iface, kind, dst, Some(port))
        })
    };
    assert!(has(APP, "rejected", "198.51.100.25", 25), "{found:#?}");
    assert!(has(APP, "admin_port", "10.0.4.53", 53), "{found:#?}");
    assert!(
        has(APP, "external_destination", "203.0.113.200", 443),
        "{found:#?}"
    );
    assert!(has(BASTION, "admin_port", "10.0.3.30", 22), "{found:#?}");
    // Replies of the interfaces' own services (web answering clients) are not outbound traffic.
    assert!(
        found.iter().all(|f| f.3.is_none_or(|p| p < 32768)),
        "{found:#?}"
    );
    assert!(report["replies_ignored"].as_i64().unwrap() > 0);
    for f in report["findings"].as_array().unwrap() {
        assert!(!f["reason"].as_str().unwrap().is_empty());
    }
}

#[test]
fn allow_lists_and_admin_ports_shape_the_outbound_review() {
    let dir = tempfile::tempdir().unwrap();
    let allow = dir.path().join("allow.txt");
    std::fs::write(
        &allow,
        "# expected\n203.0.113.200/32 443 tcp payments API\n10.0.4.53 53 udp resolver\n",
    )
    .unwrap();
    let report = json(
        flowsift()
            .args([
                "audit",
                "outbound",
                "-o",
                "json",
                "--admin-ports",
                "22,53",
                "--allow",
            ])
            .arg(&allow)
            .arg("--input")
            .arg(sample()),
    );
    let found = findings(&report);
    assert!(
        !found
            .iter()
            .any(|f| f.2 == "203.0.113.200" || f.2 == "10.0.4.53"),
        "{found:#?}"
    );
    assert!(report["allowed"].as_i64().unwrap() >= 2);
    assert!(
        found
            .iter()
            .filter(|f| f.1 == "admin_port")
            .all(|f| f.3 == Some(22) || f.3 == Some(53))
    );
    assert_eq!(report["admin_ports"], "22,53");
    std::fs::write(&allow, "203.0.113.200/33 443 tcp\n").unwrap();
    let (code, stderr) = stderr_of(
        flowsift()
            .args(["audit", "outbound", "--allow"])
            .arg(&allow)
            .arg("--input")
            .arg(sample()),
    );
    assert_eq!(code, 1);
    assert!(
        stderr.contains("allow.txt:1: `203.0.113.200/33` is not a CIDR block"),
        "{stderr}"
    );
}

/// A NAT gateway's interface: private sources leaving for the internet through it.
fn nat_traffic(dir: &Path) -> PathBuf {
    let nat = "eni-0aaaaaaaaaaaaaaa1";
    let mut text = String::new();
    for (i, src) in ["10.0.2.20", "10.0.2.21", "10.0.2.22"].iter().enumerate() {
        for k in 0..3 {
            let sp = 40000 + i * 10 + k;
            text.push_str(&format!("2 123456789012 {nat} {src} 198.51.100.80 {sp} 443 6 10 5000 1795132800 1795132860 ACCEPT OK\n"));
            text.push_str(&format!("2 123456789012 {nat} 10.0.0.99 198.51.100.80 {sp} 443 6 10 5000 1795132800 1795132860 ACCEPT OK\n"));
            text.push_str(&format!("2 123456789012 {nat} 198.51.100.80 10.0.0.99 443 {sp} 6 10 9000 1795132800 1795132860 ACCEPT OK\n"));
        }
    }
    let path = dir.join("nat.log");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn nat_gateway_traffic_is_reviewed() {
    let dir = tempfile::tempdir().unwrap();
    let input = nat_traffic(dir.path());
    let report = json(
        flowsift()
            .args(["audit", "outbound", "-o", "json", "--input"])
            .arg(&input),
    );
    let found = findings(&report);
    assert!(
        found
            .iter()
            .any(|f| f.1 == "nat_gateway" && f.2 == "198.51.100.80"),
        "{found:#?}"
    );
}

fn rules_report(extra: &[&str]) -> Value {
    json(
        flowsift()
            .args(["audit", "rules", "-o", "json", "--security-groups"])
            .arg(inventory("describe-security-groups.json"))
            .arg("--network-interfaces")
            .arg(inventory("describe-network-interfaces.json"))
            .args(extra)
            .arg("--input")
            .arg(sample()),
    )
}

#[test]
fn the_rules_audit_finds_what_the_sample_inventory_was_written_to_contain() {
    let report = rules_report(&[]);
    let mut got: Vec<(String, String, String, Value)> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let r = &f["rule"];
            (
                f["group_id"].as_str().unwrap().to_owned(),
                format!(
                    "{} {}-{} {}",
                    r["protocol"].as_str().unwrap(),
                    r["from_port"],
                    r["to_port"],
                    r["source"].as_str().unwrap()
                ),
                f["kind"].as_str().unwrap().to_owned(),
                f["suggestion"].clone(),
            )
        })
        .collect();
    got.sort_by(|a, b| (&a.0, &a.1, &a.2).cmp(&(&b.0, &b.1, &b.2)));
    let g = |n: u8| format!("sg-0a11b22c33d44e55{n}");
    let none = Value::Null;
    let sources = |s: &[&str]| json!({ "sources": s });
    let mut expected = vec![
        (
            g(1),
            "tcp 443-443 ::/0".to_owned(),
            "unused".to_owned(),
            none.clone(),
        ),
        (
            g(2),
            "tcp 8000-8100 10.0.0.0/16".to_owned(),
            "ports_wider_than_used".to_owned(),
            json!({"port_ranges": [{"protocol": "tcp", "from_port": 8080, "to_port": 8081}, {"protocol": "tcp", "from_port": 8083, "to_port": 8083}]}),
        ),
        (
            g(2),
            "tcp 8000-8100 10.0.0.0/16".to_owned(),
            "source_wider_than_used".to_owned(),
            sources(&["10.0.1.10/32"]),
        ),
        (
            g(2),
            "tcp 9100-9100 0.0.0.0/0".to_owned(),
            "open_to_world_few_sources".to_owned(),
            sources(&["10.0.0.5/32"]),
        ),
        (
            g(2),
            "tcp 22-22 10.0.0.0/16".to_owned(),
            "source_wider_than_used".to_owned(),
            sources(&["10.0.0.5/32"]),
        ),
        (
            g(3),
            "tcp 5432-5432 sg-0a11b22c33d44e552".to_owned(),
            "not_checkable".to_owned(),
            none.clone(),
        ),
        (
            g(3),
            "tcp 3306-3306 10.0.0.0/16".to_owned(),
            "unused".to_owned(),
            none.clone(),
        ),
        (
            g(4),
            "tcp 22-22 198.51.100.0/25".to_owned(),
            "source_wider_than_used".to_owned(),
            sources(&["198.51.100.7/32"]),
        ),
        (
            g(4),
            "tcp 22-22 203.0.113.32/27".to_owned(),
            "source_wider_than_used".to_owned(),
            sources(&["203.0.113.45/32"]),
        ),
        (
            g(5),
            "udp 0-65535 10.0.0.0/16".to_owned(),
            "ports_wider_than_used".to_owned(),
            json!({"port_ranges": [{"protocol": "udp", "from_port": 514, "to_port": 514}, {"protocol": "udp", "from_port": 8125, "to_port": 8125}]}),
        ),
        (
            g(5),
            "udp 0-65535 10.0.0.0/16".to_owned(),
            "source_wider_than_used".to_owned(),
            sources(&["10.0.1.10/32", "10.0.2.20/32"]),
        ),
        (
            g(5),
            "all null-null 10.0.2.20/32".to_owned(),
            "ports_wider_than_used".to_owned(),
            json!({"port_ranges": [{"protocol": "udp", "from_port": 514, "to_port": 514}, {"protocol": "udp", "from_port": 8125, "to_port": 8125}]}),
        ),
        (
            g(6),
            "all null-null 10.0.0.0/8".to_owned(),
            "unused".to_owned(),
            none.clone(),
        ),
        (
            g(7),
            "tcp 8080-8080 0.0.0.0/0".to_owned(),
            "unused".to_owned(),
            none,
        ),
    ];
    expected.sort_by(|a, b| (&a.0, &a.1, &a.2).cmp(&(&b.0, &b.1, &b.2)));
    assert_eq!(got, expected);
    // The shape of DESIGN.md: observed traffic and a reason on every finding.
    let app_ports = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "source_wider_than_used" && f["group_id"] == g(2))
        .unwrap();
    assert_eq!(app_ports["observed"]["sources"], json!(["10.0.1.10"]));
    assert!(app_ports["observed"]["flows"].as_i64().unwrap() > 0);
    assert_eq!(
        app_ports["reason"],
        "one source address used this rule; it allows 65,536"
    );
    assert_eq!(report["unknown_interfaces"], json!([]));
}

#[test]
fn a_higher_wildcard_threshold_and_emitted_rules() {
    // With a threshold of 1 source, nothing open to the world is reported.
    let report = rules_report(&["--wildcard-threshold", "1"]);
    assert!(
        !report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["kind"] == "open_to_world_few_sources")
    );
    let out = flowsift()
        .args(["audit", "rules", "--emit", "aws-cli", "--security-groups"])
        .arg(inventory("describe-security-groups.json"))
        .arg("--network-interfaces")
        .arg(inventory("describe-network-interfaces.json"))
        .arg("--input")
        .arg(sample())
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let script = String::from_utf8(out).unwrap();
    let commands: Vec<&str> = script
        .lines()
        .filter(|l| l.starts_with("aws ec2 authorize-security-group-ingress"))
        .collect();
    assert_eq!(commands.len(), 3, "{script}");
    for command in &commands {
        let json_text = command
            .split(" --ip-permissions '")
            .nth(1)
            .unwrap()
            .trim_end_matches('\'');
        let permissions: Value = serde_json::from_str(json_text).unwrap();
        for p in permissions.as_array().unwrap() {
            assert!(
                p["IpProtocol"].is_string() && p["FromPort"].is_i64() && p["ToPort"].is_i64(),
                "{p}"
            );
        }
    }
    let logs = commands
        .iter()
        .find(|c| c.contains("sg-0a11b22c33d44e555"))
        .unwrap();
    // Two replaced rules asking for the same ports are merged: AWS refuses duplicates.
    assert_eq!(logs.matches("\"FromPort\":514").count(), 1, "{logs}");
    assert!(
        script.contains("# aws ec2 revoke-security-group-ingress --group-id sg-0a11b22c33d44e553")
    );
    let out = flowsift()
        .args(["audit", "rules", "--emit", "terraform", "--security-groups"])
        .arg(inventory("describe-security-groups.json"))
        .arg("--network-interfaces")
        .arg(inventory("describe-network-interfaces.json"))
        .arg("--input")
        .arg(sample())
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let tf = String::from_utf8(out).unwrap();
    // One resource per port range and block: app 4, bastion 2, logs 2 ranges x 2 sources.
    assert_eq!(
        tf.matches("resource \"aws_vpc_security_group_ingress_rule\"")
            .count(),
        10,
        "{tf}"
    );
    assert!(
        tf.contains("cidr_ipv4         = \"203.0.113.45/32\""),
        "{tf}"
    );
}

#[test]
fn the_aws_cli_examples_give_uncheckable_and_unattached_findings() {
    let dir = tempfile::tempdir().unwrap();
    let flows = dir.path().join("flows.log");
    std::fs::write(&flows, "2 123456789012 eni-e5aa89a3 203.0.113.9 10.0.1.17 40000 22 6 10 500 1795132800 1795132860 ACCEPT OK\n").unwrap();
    let report = json(
        flowsift()
            .args(["audit", "rules", "-o", "json", "--security-groups"])
            .arg(fixture(
                "aws-cli-examples/describe-security-groups.example1.json",
            ))
            .arg("--security-groups")
            .arg(fixture(
                "aws-cli-examples/describe-security-group-rules.example1.json",
            ))
            .arg("--network-interfaces")
            .arg(fixture(
                "aws-cli-examples/describe-network-interfaces.example1.json",
            ))
            .arg("--input")
            .arg(&flows),
    );
    let kinds: Vec<(String, String, String)> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["group_id"].as_str().unwrap().into(),
                f["rule"]["source"].as_str().unwrap().into(),
                f["kind"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert!(
        kinds.contains(&(
            "sg-903004f8".into(),
            "sg-903004f8".into(),
            "not_checkable".into()
        )),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&(
            "sg-903004f8".into(),
            "203.0.113.0/24".into(),
            "unused".into()
        )),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&(
            "sg-1234567890abcdef0".into(),
            "sg-1234567890abcdef0".into(),
            "not_checkable".into()
        )),
        "{kinds:?}"
    );
    // Egress rules are not audited.
    assert!(
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["rule"]["source"] != "::/0")
    );
}

#[test]
fn the_rules_audit_needs_interfaces_and_the_right_files() {
    let (code, stderr) = stderr_of(
        flowsift()
            .args(["audit", "rules", "--security-groups"])
            .arg(inventory("describe-security-groups.json"))
            .arg("--input")
            .arg(sample()),
    );
    assert_eq!(code, 2);
    assert!(stderr.contains("pass --network-interfaces"), "{stderr}");
    let (code, stderr) = stderr_of(
        flowsift()
            .args(["audit", "rules", "--security-groups"])
            .arg(inventory("describe-network-interfaces.json"))
            .arg("--network-interfaces")
            .arg(inventory("describe-network-interfaces.json"))
            .arg("--input")
            .arg(sample()),
    );
    assert_eq!(code, 1);
    assert!(
        stderr.contains("describe-network-interfaces.json")
            && stderr.contains("describe-security-groups"),
        "{stderr}"
    );
}
