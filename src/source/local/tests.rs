//! Engine tests through `run`: query semantics over small files, parallel chunking, layouts.

use std::path::PathBuf;

use proptest::prelude::*;

use super::*;
use crate::insights::parse;
use crate::source::Value;
use crate::source::local::eval::Streamed;

const HEADER_V2: &str = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status";

/// A default-format record: (eni, src, dst, srcport, dstport, proto, bytes, start, action).
type Rec<'a> = (&'a str, &'a str, &'a str, i64, i64, i64, i64, i64, &'a str);

fn lines(records: &[Rec<'_>]) -> String {
    records
        .iter()
        .map(|(eni, src, dst, sp, dp, proto, bytes, start, action)| {
            format!(
                "2 123 {eni} {src} {dst} {sp} {dp} {proto} 1 {bytes} {start} {} {action} OK\n",
                start + 5
            )
        })
        .collect()
}

fn sample() -> String {
    lines(&[
        (
            "eni-a", "10.0.0.1", "10.0.0.9", 40000, 22, 6, 100, 1000, "ACCEPT",
        ),
        (
            "eni-a", "10.0.0.2", "10.0.0.9", 40001, 22, 6, 300, 1060, "ACCEPT",
        ),
        (
            "eni-a",
            "198.51.100.7",
            "10.0.0.9",
            5555,
            3389,
            6,
            60,
            1200,
            "REJECT",
        ),
        (
            "eni-b", "10.0.0.1", "10.0.1.5", 40002, 53, 17, 80, 1300, "ACCEPT",
        ),
        (
            "eni-b", "10.0.0.1", "10.0.1.5", 40003, 53, 17, 20, 1310, "ACCEPT",
        ),
    ])
}

struct Fixture {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

fn file(content: &str) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flows.log");
    std::fs::write(&path, content).unwrap();
    Fixture { _dir: dir, path }
}

fn options(path: &std::path::Path, chunk_bytes: u64) -> LocalOptions {
    LocalOptions {
        inputs: vec![path.to_path_buf()],
        format: LogFormat::default_v2(),
        strict: false,
        chunk_bytes,
        stream: false,
        memory_limit: None,
    }
}

fn query_with(content: &str, query: &str, window: Window, chunk_bytes: u64) -> (Table, Statistics) {
    let f = file(content);
    let spec = QuerySpec {
        query: parse(query).unwrap(),
        records: false,
    };
    let run = run(&options(&f.path, chunk_bytes), &[spec], window, &NoProgress).unwrap();
    (
        run.outputs.into_iter().next().unwrap().table,
        run.statistics,
    )
}

fn query(content: &str, text: &str) -> Table {
    query_with(content, text, Window::default(), files::CHUNK_BYTES).0
}

fn s(text: &str) -> Value {
    Value::Str(text.into())
}

use crate::source::{Statistics, Table};

#[test]
fn stats_aggregates_by_keys_with_aliases() {
    let t = query(
        &sample(),
        "stats count(*) as flows, sum(bytes) as total, avg(bytes), min(srcPort), max(srcPort), count_distinct(srcAddr) as peers by interfaceId as eni, protocol",
    );
    assert_eq!(
        t.columns,
        vec![
            "eni",
            "protocol",
            "flows",
            "total",
            "avg(bytes)",
            "min(srcPort)",
            "max(srcPort)",
            "peers"
        ]
    );
    assert_eq!(
        t.rows,
        vec![
            vec![
                s("eni-a"),
                Value::Int(6),
                Value::Int(3),
                Value::Int(460),
                Value::Float(460.0 / 3.0),
                Value::Int(5555),
                Value::Int(40001),
                Value::Int(3)
            ],
            vec![
                s("eni-b"),
                Value::Int(17),
                Value::Int(2),
                Value::Int(100),
                Value::Float(50.0),
                Value::Int(40002),
                Value::Int(40003),
                Value::Int(1)
            ],
        ]
    );
}

#[test]
fn filters_compare_match_and_combine() {
    let count = |q: &str| {
        let t = query(&sample(), &format!("filter {q} | stats count(*) as n"));
        t.rows[0][0].clone()
    };
    assert_eq!(count("action = \"ACCEPT\""), Value::Int(4));
    assert_eq!(count("action != \"ACCEPT\""), Value::Int(1));
    assert_eq!(count("dstPort = 22 and bytes > 100"), Value::Int(1));
    assert_eq!(count("dstPort = 22 or protocol = 17"), Value::Int(4));
    assert_eq!(count("not (dstPort = 22)"), Value::Int(3));
    assert_eq!(count("dstPort in [22, 3389]"), Value::Int(3));
    assert_eq!(count("dstPort not in [22, 3389]"), Value::Int(2));
    assert_eq!(count("srcAddr like \"198.51\""), Value::Int(1));
    assert_eq!(count("srcAddr not like \"198.51\""), Value::Int(4));
    assert_eq!(count("interfaceId like /^eni-[ab]$/"), Value::Int(5));
    assert_eq!(count("interfaceId =~ /b$/"), Value::Int(2));
    assert_eq!(
        count("isIpv4InSubnet(srcAddr, \"10.0.0.0/8\")"),
        Value::Int(4)
    );
    assert_eq!(
        count("isIpInSubnet(srcAddr, \"198.51.100.0/24\")"),
        Value::Int(1)
    );
    assert_eq!(count("bytes * 2 >= 200 and bytes / 2 < 100"), Value::Int(1));
    assert_eq!(count("bytes % 100 = 0"), Value::Int(2));
    // A comparison with a field the layout does not have matches nothing, negated or not.
    assert_eq!(count("tcpFlags = 2"), Value::Int(0));
    assert_eq!(count("tcpFlags != 2"), Value::Int(0));
    // Numbers compare with numeric text.
    assert_eq!(count("dstPort = \"22\""), Value::Int(2));
}

#[test]
fn sort_limit_dedup_and_fields() {
    let t = query(
        &sample(),
        "fields interfaceId, dstPort, bytes | sort bytes desc | limit 2",
    );
    assert_eq!(t.columns, vec!["interfaceId", "dstPort", "bytes"]);
    assert_eq!(
        t.rows,
        vec![
            vec![s("eni-a"), Value::Int(22), Value::Int(300)],
            vec![s("eni-a"), Value::Int(22), Value::Int(100)]
        ]
    );
    let t = query(
        &sample(),
        "fields interfaceId, dstPort | dedup interfaceId, dstPort",
    );
    assert_eq!(t.rows.len(), 3);
    let t = query(
        &sample(),
        "fields bytes * 8 as bits, srcAddr | sort bits asc | limit 1",
    );
    assert_eq!(t.rows, vec![vec![Value::Int(160), s("10.0.0.1")]]);
    // Default columns without `fields`.
    let t = query(&sample(), "limit 1");
    assert_eq!(t.columns, vec!["@timestamp", "@message"]);
    assert_eq!(t.rows[0][0], Value::Time(1_000_000));
    // Sorting by a field the output does not show.
    let t = query(&sample(), "fields srcAddr | sort bytes asc | limit 1");
    assert_eq!(t.columns, vec!["srcAddr"]);
    assert_eq!(t.rows, vec![vec![s("10.0.0.1")]]);
    // Commands after stats see the stats columns.
    let t = query(
        &sample(),
        "stats sum(bytes) as b by interfaceId | filter b > 200 | display interfaceId",
    );
    assert_eq!(t.rows, vec![vec![s("eni-a")]]);
}

#[test]
fn bin_groups_timestamps() {
    let t = query(&sample(), "stats count(*) as n by bin(5m) as t");
    assert_eq!(
        t.rows,
        vec![
            vec![Value::Time(900_000), Value::Int(2)],
            vec![Value::Time(1_200_000), Value::Int(3)],
        ]
    );
}

#[test]
fn parse_extracts_fields_from_message() {
    let t = query(
        &sample(),
        "parse @message \"* * * * * * * *\" as v, acct, eni, src, dst, sp, dp, rest | filter dp = 53 | stats count(*) as n, sum(sp) as ports by eni",
    );
    assert_eq!(
        t.rows,
        vec![vec![s("eni-b"), Value::Int(2), Value::Int(80005)]]
    );
    let t = query(
        &sample(),
        "parse @message /(?<acct>\\d+) (?<eni>eni-\\w+)/ | stats count(*) by eni",
    );
    assert_eq!(t.rows.len(), 2);
}

#[test]
fn unknown_fields_after_stats_are_an_error_naming_the_columns() {
    let f = file(&sample());
    let spec = QuerySpec {
        query: parse("stats count(*) as n by dstPort | sort flows desc").unwrap(),
        records: false,
    };
    let err = run(
        &options(&f.path, files::CHUNK_BYTES),
        &[spec],
        Window::default(),
        &NoProgress,
    )
    .unwrap_err();
    assert!(err.to_string().contains("`flows` is not a field"), "{err}");
    assert!(err.to_string().contains("dstPort, n"), "{err}");
}

#[test]
fn window_filters_on_start_inclusive() {
    let window = Window {
        start_s: Some(1060),
        end_s: Some(1300),
    };
    let (t, stats) = query_with(&sample(), "stats count(*) as n", window, files::CHUNK_BYTES);
    assert_eq!(t.rows, vec![vec![Value::Int(3)]]);
    assert_eq!(stats.outside_window, 2);
}

#[test]
fn headers_nodata_skipdata_and_malformed_lines_are_counted() {
    let content = format!(
        "{HEADER_V2}\n{}2 123 eni-c - - - - - - - 1 2 - NODATA\n2 123 eni-d - - - - - - - 1 2 - SKIPDATA\nbogus line\n\n{HEADER_V2}\n{}",
        sample(),
        sample()
    );
    let (t, stats) = query_with(
        &content,
        "filter logStatus = \"OK\" | stats count(*) as n",
        Window::default(),
        files::CHUNK_BYTES,
    );
    assert_eq!(t.rows, vec![vec![Value::Int(10)]]);
    assert_eq!(stats.records_scanned, 12);
    assert_eq!(stats.nodata_records, 1);
    assert_eq!(stats.skipdata_records, 1);
    assert_eq!(stats.malformed_lines, 1);
    assert_eq!(stats.malformed_examples[0].line, 9);
    assert!(
        stats.malformed_examples[0]
            .reason
            .contains("expected 14 fields"),
        "{:?}",
        stats.malformed_examples
    );
}

#[test]
fn strict_stops_at_the_first_malformed_line() {
    let f = file(&format!("{}bogus\n", sample()));
    let mut opts = options(&f.path, files::CHUNK_BYTES);
    opts.strict = true;
    let spec = QuerySpec {
        query: parse("stats count(*)").unwrap(),
        records: false,
    };
    let err = run(&opts, &[spec], Window::default(), &NoProgress).unwrap_err();
    assert!(matches!(err, LocalError::Strict { line: 6, .. }), "{err}");
}

#[test]
fn chunked_reading_gives_the_same_answer_with_true_line_numbers() {
    let mut content = String::new();
    for i in 0..400 {
        content.push_str(&sample().replace("eni-a", &format!("eni-{}", i % 7)));
        if i == 333 {
            content.push_str("bogus\n");
        }
    }
    let q = "stats count(*) as n, sum(bytes) as b, count_distinct(srcPort) as p by interfaceId, dstPort";
    let (whole, whole_stats) = query_with(&content, q, Window::default(), u64::MAX);
    for chunk in [97, 1000, 4096] {
        let (chunked, stats) = query_with(&content, q, Window::default(), chunk);
        assert_eq!(chunked, whole, "chunk {chunk}");
        assert_eq!(stats.records_scanned, whole_stats.records_scanned);
        let lines = |s: &Statistics| {
            s.malformed_examples
                .iter()
                .map(|m| (m.line, m.reason.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(lines(&stats), lines(&whole_stats));
    }
    assert_eq!(whole_stats.malformed_examples[0].line, 334 * 5 + 1);
    // Raw rows keep file order across chunks.
    let (whole, _) = query_with(
        &content,
        "fields srcPort, bytes",
        Window::default(),
        u64::MAX,
    );
    let (chunked, _) = query_with(&content, "fields srcPort, bytes", Window::default(), 501);
    assert_eq!(chunked, whole);
}

#[test]
fn chunks_inherit_the_layout_of_the_files_header() {
    // A custom order: a chunk read with the default layout would fail every line.
    let header = "interface-id bytes start version account-id srcaddr dstaddr srcport dstport protocol packets end action log-status";
    let mut content = format!("{header}\n");
    for i in 0..300 {
        content.push_str(&format!(
            "eni-{} {} 1000 2 123 10.0.0.1 10.0.0.2 40000 443 6 1 1005 ACCEPT OK\n",
            i % 3,
            i
        ));
    }
    let q = "stats count(*) as n, sum(bytes) as b by interfaceId";
    let (whole, _) = query_with(&content, q, Window::default(), u64::MAX);
    let (chunked, stats) = query_with(&content, q, Window::default(), 700);
    assert_eq!(stats.malformed_lines, 0);
    assert_eq!(chunked, whole);
    assert_eq!(whole.rows.len(), 3);
}

#[test]
fn a_layout_change_inside_a_chunked_file_is_read_correctly() {
    let custom_header = "interface-id dstport bytes";
    let mut content = sample().repeat(50);
    content.push_str(custom_header);
    content.push('\n');
    for i in 0..200 {
        content.push_str(&format!("eni-x {} 10\n", 1000 + i));
    }
    let q = "stats count(*) as n, sum(bytes) as b by interfaceId";
    let (whole, _) = query_with(&content, q, Window::default(), u64::MAX);
    let (chunked, stats) = query_with(&content, q, Window::default(), 512);
    assert_eq!(chunked, whole);
    assert_eq!(stats.malformed_lines, 0);
    assert!(
        whole
            .rows
            .contains(&vec![s("eni-x"), Value::Int(200), Value::Int(2000)])
    );
}

#[test]
fn several_queries_share_one_pass() {
    let f = file(&sample());
    let specs: Vec<QuerySpec> = [
        "stats count(*) as n",
        "filter protocol = 17 | stats count(*) as n",
    ]
    .iter()
    .map(|q| QuerySpec {
        query: parse(q).unwrap(),
        records: false,
    })
    .collect();
    let run = run(
        &options(&f.path, files::CHUNK_BYTES),
        &specs,
        Window::default(),
        &NoProgress,
    )
    .unwrap();
    assert_eq!(run.outputs[0].table.rows, vec![vec![Value::Int(5)]]);
    assert_eq!(run.outputs[1].table.rows, vec![vec![Value::Int(2)]]);
    assert_eq!(run.outputs[1].records_matched, 2);
    assert_eq!(run.statistics.records_scanned, 5);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever bytes a file holds, a run never panics: it answers or it errors.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048), chunk in 1u64..256) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.log");
        std::fs::write(&path, &bytes).unwrap();
        let specs: Vec<QuerySpec> = ["stats count(*), sum(bytes), count_distinct(srcAddr) by interfaceId, bin(1m)", "fields @message | sort dstPort desc"]
            .iter()
            .map(|q| QuerySpec { query: parse(q).unwrap(), records: !q.starts_with("stats") })
            .collect();
        let _ = run(&options(&path, chunk), &specs, Window::default(), &NoProgress);
    }

    /// Lines made of plausible tokens never panic the record parser: each is a header, a
    /// record or a counted malformed line.
    #[test]
    fn token_soup_parses_or_is_counted(tokens in proptest::collection::vec("[-0-9a-zA-Z.:]{1,12}", 1..20)) {
        let line = tokens.join(" ");
        let header = crate::flow::LogFormat::from_header_line(&line).is_some();
        let expected = if header { 0 } else { 1 };
        // A query that reads the time needs the start column to be a number or `-`; one
        // that does not takes any token there.
        let start_ok = tokens.get(10).is_some_and(|t| t == "-" || t.parse::<i64>().is_ok());
        for (query, start_read) in [("stats count(*) as n", false), ("stats count(*) as n by bin(5m)", true)] {
            let (_, stats) = query_with(&format!("{line}\n"), query, Window::default(), files::CHUNK_BYTES);
            prop_assert_eq!(stats.records_scanned + stats.malformed_lines, expected);
            let fields_ok = tokens.len() == 14 && (start_ok || !start_read);
            prop_assert_eq!(stats.records_scanned, u64::from(!header && fields_ok));
        }
    }
}

#[test]
fn split_stats_answers_merge_by_name_and_finish_locally() {
    use crate::source::local::eval::{QueryShape, merge_stats, post_process};
    let q = parse("stats count(*) as n, sum(bytes) as b, min(srcPort) as lo, max(srcPort) as hi by dstPort | sort n desc | limit 2").unwrap();
    let shape = QueryShape::new(&q, false).unwrap();
    // Two windows' answers, with the columns in another order than the query's.
    let part = |rows: Vec<[i64; 5]>| Table {
        columns: ["b", "dstPort", "n", "hi", "lo"].map(String::from).to_vec(),
        rows: rows
            .into_iter()
            .map(|r| r.into_iter().map(Value::Int).collect())
            .collect(),
    };
    let mut both = part(vec![[100, 22, 2, 50, 40], [10, 53, 1, 9, 9]]);
    both.rows.extend(
        part(vec![
            [300, 22, 3, 70, 30],
            [5, 80, 1, 1, 1],
            [7, 53, 1, 8, 8],
        ])
        .rows,
    );
    let (merged, approximate) = merge_stats(shape.stats().unwrap(), vec![both]);
    assert!(!approximate);
    let finished = post_process(&shape, merged).unwrap();
    assert_eq!(finished.columns, vec!["dstPort", "n", "b", "lo", "hi"]);
    assert_eq!(
        finished.rows,
        vec![
            [22, 5, 400, 30, 70].map(Value::Int).to_vec(),
            [53, 2, 17, 8, 9].map(Value::Int).to_vec(),
        ]
    );
}

#[test]
fn text_in_a_number_field_the_query_reads_is_a_malformed_line() {
    let content = format!(
        "{}2 123 eni-a 10.0.0.1 10.0.0.9 x 22 6 1 10 1000 1005 ACCEPT OK\n",
        sample()
    );
    let (t, stats) = query_with(
        &content,
        "stats count(*) as n by srcPort",
        Window::default(),
        files::CHUNK_BYTES,
    );
    assert_eq!(stats.malformed_lines, 1);
    assert_eq!(stats.malformed_examples[0].line, 6);
    assert!(
        stats.malformed_examples[0]
            .reason
            .contains("`srcport` is `x`, not a number"),
        "{:?}",
        stats.malformed_examples
    );
    assert_eq!(t.rows.len(), 5);
    // A query that does not read the column takes the record as it is.
    let (_, stats) = query_with(
        &content,
        "stats count(*) as n by interfaceId",
        Window::default(),
        files::CHUNK_BYTES,
    );
    assert_eq!(stats.malformed_lines, 0);
}

#[test]
fn the_start_column_is_checked_only_when_the_time_is_read() {
    let content = format!(
        "{}2 123 eni-a 10.0.0.1 10.0.0.9 1 22 6 1 10 soon 1005 ACCEPT OK\n",
        sample()
    );
    let window = Window {
        start_s: Some(0),
        end_s: None,
    };
    for (query, window, malformed) in [
        ("stats count(*) as n by interfaceId", Window::default(), 0),
        ("stats count(*) as n by bin(1m)", Window::default(), 1),
        ("fields @timestamp", Window::default(), 1),
        ("stats count(*) as n by interfaceId", window, 1),
    ] {
        let (t, stats) = query_with(&content, query, window, files::CHUNK_BYTES);
        assert_eq!(stats.malformed_lines, malformed, "{query} {window:?}");
        assert_eq!(stats.records_scanned, 6 - malformed, "{query} {window:?}");
        if malformed == 1 {
            assert!(
                stats.malformed_examples[0]
                    .reason
                    .contains("`start` is `soon`, not a number"),
                "{:?}",
                stats.malformed_examples
            );
        } else {
            let total: i64 = t.rows.iter().map(|r| r[1].as_i64().unwrap()).sum();
            assert_eq!(total, 6);
        }
    }
}

#[test]
fn parse_after_sort_is_refused_and_dedup_keeps_nulls() {
    let f = file(&sample());
    let spec = QuerySpec {
        query: parse("sort bytes | parse @message \"* *\" as a, b").unwrap(),
        records: false,
    };
    let err = run(
        &options(&f.path, files::CHUNK_BYTES),
        &[spec],
        Window::default(),
        &NoProgress,
    )
    .unwrap_err();
    assert!(err.to_string().contains("put `parse` before"), "{err}");
    let t = query(&sample(), "fields interfaceId, tcpFlags | dedup tcpFlags");
    assert_eq!(t.rows.len(), 5, "rows with a null dedup field are all kept");
}

/// One generated record for the grouping model: (eni, srcaddr, dstport or `-`, protocol,
/// bytes or `-`, packets).
type GroupRec = (String, String, Option<i64>, i64, Option<i64>, i64);

fn group_rec() -> impl Strategy<Value = GroupRec> {
    // Byte counts around the edges of the key codes: null, small, 2^31 - 1, 2^31 and beyond;
    // `bytes - 1000` below makes the small ones negative.
    let bytes = prop_oneof![
        Just(None),
        (0i64..3000).prop_map(Some),
        Just(Some((1 << 31) + 999)),
        Just(Some((1 << 31) + 1000)),
        Just(Some(1 << 40)),
    ];
    (
        "eni-[a-d]",
        "10\\.0\\.0\\.[1-3]",
        prop_oneof![Just(None), (0i64..70000).prop_map(Some)],
        prop_oneof![Just(6i64), Just(17)],
        bytes,
        0i64..100,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Groups agree with a plain model however the input is cut into units (so threads merge
    /// groups whose dictionaries differ), with nulls, negative and large numbers and text in
    /// the keys, and with more `by` expressions than a key holds inline. Rows come in the
    /// order of their key values.
    #[test]
    fn groups_match_a_model_whatever_the_chunking(records in proptest::collection::vec(group_rec(), 1..120), chunk in 64u64..4096) {
        let opt = |v: Option<i64>| v.map_or("-".to_owned(), |n| n.to_string());
        let content: String = records
            .iter()
            .map(|(eni, src, port, proto, bytes, packets)| {
                format!("2 123 {eni} {src} 10.0.9.9 40000 {} {proto} {packets} {} 1000 1005 ACCEPT OK\n", opt(*port), opt(*bytes))
            })
            .collect();
        let value = |v: Option<i64>| v.map_or(Value::Null, Value::Int);
        for (query, key) in [
            (
                                "stats count(*) as n, sum(packets) as p, min(srcAddr) as lo, max(bytes) as hi, sum(bytes) as sb by interfaceId, bytes - 1000 as b, dstPort",
                Box::new(|r: &GroupRec| vec![s(&r.0), value(r.4.map(|b| b - 1000)), value(r.2)]) as Box<dyn Fn(&GroupRec) -> Vec<Value>>,
            ),
            (
                                "stats count(*) as n, sum(packets) as p, min(srcAddr) as lo, max(bytes) as hi, sum(bytes) as sb by protocol, interfaceId, dstPort, srcAddr, bytes, action",
                Box::new(|r: &GroupRec| vec![Value::Int(r.3), s(&r.0), value(r.2), s(&r.1), value(r.4), s("ACCEPT")]),
            ),
        ] {
                        // Key, then count, packets, least source, most bytes, sum of bytes (nulls skipped).
            type Entry = (Vec<Value>, i64, i64, String, Option<i64>, Option<i64>);
            let mut model: Vec<Entry> = Vec::new();
            for r in &records {
                let k = key(r);
                let plus = |a: Option<i64>, b: Option<i64>| match (a, b) {
                    (Some(a), Some(b)) => Some(a + b),
                    (a, b) => a.or(b),
                };
                match model.iter_mut().find(|e| e.0 == k) {
                    Some(e) => {
                        e.1 += 1;
                        e.2 += r.5;
                        if r.1 < e.3 {
                            e.3 = r.1.clone();
                        }
                        e.4 = e.4.max(r.4);
                        e.5 = plus(e.5, r.4);
                    }
                    None => model.push((k, 1, r.5, r.1.clone(), r.4, r.4)),
                }
            }
            model.sort_by(|a, b| {
                a.0.iter().zip(&b.0).map(|(x, y)| x.total_cmp(y)).find(|o| o.is_ne()).unwrap_or(std::cmp::Ordering::Equal)
            });
            let expected: Vec<Vec<Value>> = model
                .into_iter()
                .map(|(mut k, n, p, lo, hi, sb)| {
                    k.extend([Value::Int(n), Value::Int(p), s(&lo), value(hi), value(sb)]);
                    k
                })
                .collect();
            let (table, _) = query_with(&content, query, Window::default(), chunk);
            prop_assert_eq!(table.rows, expected, "{}", query);
        }
    }
}

/// With `--records`, the records follow their rows through the commands after the record
/// stage: a sort reorders them, a limit and a dedup drop them with their rows.
#[test]
fn records_follow_their_rows_through_sort_limit_and_dedup() {
    use crate::flow::FieldValue;
    let f = file(&sample());
    let spec = QuerySpec {
        query: parse("fields srcPort, bytes | sort bytes desc | dedup srcAddr | limit 2").unwrap(),
        records: true,
    };
    let run = run(
        &options(&f.path, 64),
        &[spec],
        Window::default(),
        &NoProgress,
    )
    .unwrap();
    let output = &run.outputs[0];
    let bytes: Vec<Value> = output.table.rows.iter().map(|r| r[1].clone()).collect();
    assert_eq!(bytes, vec![Value::Int(300), Value::Int(100)]);
    assert_eq!(output.table.columns, vec!["srcPort", "bytes"]);
    let ports: Vec<&FieldValue> = output
        .records
        .iter()
        .map(|r| r.get(Field::SrcPort))
        .collect();
    assert_eq!(
        ports,
        vec![&FieldValue::Int(40001), &FieldValue::Int(40000)]
    );
}

/// A line that is not UTF-8 is one malformed line, at its own line number, whichever block of
/// the read it falls in; the lines around it are read.
#[test]
fn a_line_that_is_not_utf8_is_counted_with_its_line_number() {
    let good = sample();
    let mut content = good.as_bytes().to_vec();
    content.extend_from_slice(b"2 123 eni-a \xff\xfe - - - - - - 1 2 - NODATA\n");
    content.extend_from_slice(good.as_bytes());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flows.log");
    std::fs::write(&path, &content).unwrap();
    for chunk in [16, 100, files::CHUNK_BYTES] {
        let spec = QuerySpec {
            query: parse("stats count(*) as n").unwrap(),
            records: false,
        };
        let run = run(
            &options(&path, chunk),
            &[spec],
            Window::default(),
            &NoProgress,
        )
        .unwrap();
        assert_eq!(
            run.outputs[0].table.rows,
            vec![vec![Value::Int(10)]],
            "chunk {chunk}"
        );
        let stats = &run.statistics;
        assert_eq!(stats.malformed_lines, 1, "chunk {chunk}");
        assert_eq!(stats.malformed_examples[0].line, 6, "chunk {chunk}");
        assert_eq!(stats.malformed_examples[0].reason, "not UTF-8 text");
    }
}

/// A streamed answer (`LocalOptions::stream`) has the rows a held one has, in the same order,
/// across the chunks rows are made in; with commands after `stats` nothing is streamed.
#[test]
fn streamed_stats_rows_are_the_held_rows() {
    let content: String = (0..40_000)
        .map(|i| {
            format!(
                "2 123 eni-{} 10.0.0.1 10.0.0.2 40000 {} 6 1 {} 1000 1005 ACCEPT OK\n",
                i % 7,
                i % 20_011,
                i
            )
        })
        .collect();
    let f = file(&content);
    let answer = |query: &str, stream: bool| {
        let spec = QuerySpec {
            query: parse(query).unwrap(),
            records: false,
        };
        let options = LocalOptions {
            stream,
            ..options(&f.path, 100_000)
        };
        run(&options, &[spec], Window::default(), &NoProgress)
            .unwrap()
            .outputs
            .remove(0)
    };
    let query = "stats count(*) as n, sum(bytes) as b by interfaceId, dstPort";
    let held = answer(query, false);
    assert!(held.stream.is_none());
    let streamed = answer(query, true);
    assert!(streamed.table.rows.is_empty());
    assert_eq!(streamed.table.columns, held.table.columns);
    let rows = rows_of(&streamed);
    // 7 and 20,011 are coprime: every line is a group of its own.
    assert_eq!(rows.len(), 40_000);
    assert_eq!(rows, held.table.rows);
    // A failing consumer stops the rows early.
    let mut seen = 0;
    let stopped = streamed.try_for_each_row(|_| fail_at(20_000, &mut seen));
    assert!(stopped.is_err_and(|e| e.to_string() == "stop"));
    assert_eq!(seen, 20_000);
    // As CSV, rendered in parallel a run of rows at a time: the bytes of the held table.
    let mut csv = Vec::new();
    crate::render::csv_out::write_query_csv(&streamed, &mut csv).unwrap();
    let held_csv = crate::render::csv_out::query_csv(&held.table).unwrap();
    assert_eq!(String::from_utf8(csv).unwrap(), held_csv);
    assert_eq!(held_csv.lines().count(), 40_001);
    // As JSON, the same: the bytes of the held rows serialized as one array.
    let mut json = Vec::new();
    crate::render::write_query_json(&streamed, &mut json).unwrap();
    let keyed: Vec<_> = held
        .table
        .rows
        .iter()
        .map(|row| crate::source::KeyedRow::new(&held.table.columns, row))
        .collect();
    let held_json = serde_json::to_string_pretty(&keyed).unwrap() + "\n";
    assert_eq!(String::from_utf8(json).unwrap(), held_json);
    let none = answer(&format!("filter dstPort < 0 | {query}"), true);
    let mut json = Vec::new();
    crate::render::write_query_json(&none, &mut json).unwrap();
    assert_eq!(json, b"[]\n");
    // A failing writer stops the rendering early.
    let mut writes = 0;
    let stopped = streamed.try_for_each_rendered(
        |rows| Ok(vec![0; rows.count()]),
        |_| fail_at(3, &mut writes),
    );
    assert!(stopped.is_err_and(|e| e.to_string() == "stop"));
    assert_eq!(writes, 3);
    // A sort's rows are streamed too, from the sort (held here: there is no memory limit).
    let sorted = answer(
        &format!("{query} | sort b desc | fields b, interfaceId"),
        true,
    );
    assert!(matches!(sorted.stream, Some(Streamed::Sorted(_))));
    assert!(sorted.table.rows.is_empty());
    assert_eq!(sorted.table.columns, ["b", "interfaceId"]);
    let mut expected: Vec<Vec<Value>> = held
        .table
        .rows
        .iter()
        .map(|r| vec![r[3].clone(), r[0].clone()])
        .collect();
    expected.sort_by(|x, y| y[0].total_cmp(&x[0]));
    assert_eq!(rows_of(&sorted), expected);
    // Read twice, the same rows.
    assert_eq!(rows_of(&sorted), expected);
}

/// A `sort` whose rows outgrow its share of the memory limit writes them to runs on disk and
/// reads them back merged as they are written: the rows, their order (ties in input order)
/// and the CSV are those of the answer held whole, and the summary counts the bytes.
#[test]
fn a_sort_past_the_memory_limit_streams_its_rows_from_disk() {
    let content: String = (0..30_000u64)
        .map(|i| {
            format!(
                "2 123 eni-{} 10.0.0.1 10.0.0.2 {} {} 6 1 {} 1000 1005 ACCEPT OK\n",
                i % 3,
                40_000 + i % 7,
                i % 1_000,
                (i * 37) % 101
            )
        })
        .collect();
    // 21,000 groups (3 x 7 x 1,000), of one record or two.
    let f = file(&content);
    let answer =
        |text: &str, limit: Option<u64>, stream: bool| run_limited(&f, text, limit, stream);
    let base = "stats count(*) as n, sum(bytes) as b by interfaceId, srcPort, dstPort";
    for post in [
        "sort b desc",
        "sort n, b desc | filter n > 1 | fields b, srcPort",
        "sort b | limit 9000 | sort n desc",
    ] {
        let text = format!("{base} | {post}");
        let held = answer(&text, None, false);
        assert_eq!(held.statistics.sorted_spilled_bytes, 0);
        let held = held.outputs.into_iter().next().unwrap().table;
        assert!(held.rows.len() > 5_000, "{post}: {} rows", held.rows.len());
        let spilled = answer(&text, Some(1), true);
        assert!(
            spilled.statistics.spilled_bytes > 0,
            "{post}: groups on disk"
        );
        assert!(
            spilled.statistics.sorted_spilled_bytes > 0,
            "{post}: the sort's rows went to disk too"
        );
        let streamed = spilled.outputs.into_iter().next().unwrap();
        assert!(
            matches!(streamed.stream, Some(Streamed::Sorted(_))),
            "{post}"
        );
        assert_eq!(streamed.table.columns, held.columns, "{post}");
        assert_eq!(rows_of(&streamed), held.rows, "{post}");
        let mut csv = Vec::new();
        crate::render::csv_out::write_query_csv(&streamed, &mut csv).unwrap();
        let held_csv = crate::render::csv_out::query_csv(&held).unwrap();
        assert_eq!(String::from_utf8(csv).unwrap(), held_csv, "{post}");
        // Not streamed, the same rows, held: written to disk, they would all be read back.
        let mut held_whole = answer(&text, Some(1), false);
        assert_eq!(held_whole.statistics.sorted_spilled_bytes, 0, "{post}");
        let held_whole = held_whole.outputs.remove(0);
        assert!(held_whole.stream.is_none());
        assert_eq!(held_whole.table, held, "{post}");
    }
}

/// Text arguments of `min`, `max` and `count_distinct`, tens of thousands of them, give every
/// group its own minimum, maximum and distinct count, however the input is cut.
#[test]
fn text_aggregates_match_a_model_across_many_records() {
    use std::collections::{BTreeMap, BTreeSet};
    let addr = |i: usize| format!("10.{}.{}.{}", i % 3, (i * 7) % 256, (i * 13) % 97);
    let mut model: BTreeMap<i64, (String, String, BTreeSet<String>)> = BTreeMap::new();
    let mut content = String::new();
    for i in 0..30_000usize {
        let port = (i * 31 % 1_000) as i64;
        let (src, dst) = (addr(i), addr(i / 5));
        content.push_str(&format!(
            "2 123 eni-1 {src} {dst} 40000 {port} 6 1 10 1000 1005 ACCEPT OK\n"
        ));
        let entry = model
            .entry(port)
            .or_insert_with(|| (src.clone(), src.clone(), BTreeSet::new()));
        entry.0 = entry.0.clone().min(src.clone());
        entry.1 = entry.1.clone().max(src);
        entry.2.insert(dst);
    }
    let expected: Vec<Vec<Value>> = model
        .into_iter()
        .map(|(port, (lo, hi, distinct))| {
            vec![
                Value::Int(port),
                Value::Str(lo.as_str().into()),
                Value::Str(hi.as_str().into()),
                Value::Int(distinct.len() as i64),
            ]
        })
        .collect();
    let query = "stats min(srcAddr) as lo, max(srcAddr) as hi, count_distinct(dstAddr) as d \
                 by dstPort";
    for chunk in [64 * 1024, 1 << 30] {
        let (table, _) = query_with(&content, query, Window::default(), chunk);
        assert_eq!(table.rows, expected, "chunk {chunk}");
    }
}

/// Groups agree with a model through every aggregate while they are few (they stay in the
/// front tables) and after they are many (front tables move their groups to the shards a
/// thousand at a time): 20,000 groups, each met in two records in a row (the second updates
/// the group in its front table) and met again 40,000 records later (when it has moved, so
/// its states merge with those of the shard's table).
#[test]
fn aggregates_match_a_model_while_groups_are_few_and_after() {
    use std::collections::{BTreeMap, BTreeSet};
    // Count, sum of bytes, least and most source, destinations, sum of packets.
    type Entry = (i64, i64, String, String, BTreeSet<String>, i64);
    let mut model: BTreeMap<i64, Entry> = BTreeMap::new();
    let mut content = String::new();
    for i in 0..80_000usize {
        let port = (i / 2 * 7_919 % 20_000) as i64;
        let src = format!("10.0.{}.{}", i % 7, i % 251);
        let dst = format!("10.1.0.{}", i % 5);
        let (packets, bytes) = ((i % 9) as i64, (i % 1_013) as i64);
        content.push_str(&format!(
            "2 123 eni-1 {src} {dst} 40000 {port} 6 {packets} {bytes} 1000 1005 ACCEPT OK\n"
        ));
        let e = model
            .entry(port)
            .or_insert_with(|| (0, 0, src.clone(), src.clone(), BTreeSet::new(), 0));
        e.0 += 1;
        e.1 += bytes;
        e.2 = e.2.clone().min(src.clone());
        e.3 = e.3.clone().max(src);
        e.4.insert(dst);
        e.5 += packets;
    }
    let expected: Vec<Vec<Value>> = model
        .into_iter()
        .map(|(port, (n, b, lo, hi, d, p))| {
            vec![
                Value::Int(port),
                Value::Int(n),
                Value::Int(b),
                s(&lo),
                s(&hi),
                Value::Int(d.len() as i64),
                Value::Float(p as f64 / n as f64),
            ]
        })
        .collect();
    let query = "stats count(*) as n, sum(bytes) as b, min(srcAddr) as lo, max(srcAddr) as hi, \
                 count_distinct(dstAddr) as d, avg(packets) as a by dstPort";
    for chunk in [256 * 1024, 1 << 30] {
        let (table, _) = query_with(&content, query, Window::default(), chunk);
        assert_eq!(table.rows.len(), 20_000, "chunk {chunk}");
        assert_eq!(table.rows, expected, "chunk {chunk}");
    }
}

/// Sums and averages of fractions are the same to the last bit however the input is cut into
/// units (so threads add them in other orders and merge their parts): they are exact until
/// the answer rounds them once.
#[test]
fn float_sums_do_not_depend_on_the_order_of_the_records() {
    let content: String = (0..20_000u64)
        .map(|i| {
            format!(
                "2 123 eni-{} 10.0.0.1 10.0.0.2 40000 80 6 1 {} 1000 1005 ACCEPT OK\n",
                i % 3,
                (i * 7_919) % 100_003 + u64::from(i % 5 == 0) * (1 << 60)
            )
        })
        .collect();
    let query = "stats sum(bytes / 7) as s, avg(bytes / 7) as a, sum(bytes * 1000) as big \
                 by interfaceId";
    let (first, _) = query_with(&content, query, Window::default(), 1 << 30);
    let bits = |rows: &[Vec<Value>]| -> Vec<Vec<u64>> {
        rows.iter()
            .map(|row| {
                row[1..]
                    .iter()
                    .map(|v| match v {
                        Value::Float(x) => x.to_bits(),
                        other => panic!("not a float: {other:?}"),
                    })
                    .collect()
            })
            .collect()
    };
    assert_eq!(first.rows.len(), 3);
    for chunk in [257, 4_096, 65_536] {
        let (table, _) = query_with(&content, query, Window::default(), chunk);
        assert_eq!(bits(&table.rows), bits(&first.rows), "chunk {chunk}");
    }
}

/// Groups past the memory limit go to runs on disk and come back merged: every kind of key
/// and aggregate gives the answer it gives in memory, held or streamed, including through
/// rounds of merging (a limit of one byte writes a run every 1,024 records, far more runs
/// than are merged at once).
#[test]
fn spilled_groups_answer_as_held_ones() {
    let content: String = (0..60_000u64)
        .map(|i| {
            let dst = if i % 11 == 0 {
                "-".to_owned()
            } else {
                format!("10.1.{}.{}", i % 5, i % 13)
            };
            format!(
                "2 123 eni-{} 10.0.{}.{} {dst} {} {} {} {} {} {} {} {} OK\n",
                i % 7,
                i % 3,
                (i * 7) % 251,
                40_000 + i % 97,
                i % 20_011,
                [6, 17][(i % 2) as usize],
                i % 9,
                (i * 37) % 5_003,
                1_000 + (i % 600),
                1_005 + (i % 600),
                ["ACCEPT", "REJECT"][(i % 3 == 0) as usize],
            )
        })
        .collect();
    let f = file(&content);
    let queries = [
        "stats count(*) as n, sum(bytes) as b by interfaceId, dstPort, protocol",
        "stats min(srcAddr) as lo, max(dstAddr) as hi, count_distinct(srcAddr) as d, \
         avg(bytes) as a, min(bytes) as mn, max(start) as mx, count(dstAddr) as c by action, dstPort",
        "stats count(*) as n by srcAddr, dstAddr, srcPort, dstPort, protocol, action",
        "stats sum(bytes) as b, min(packets) as p by bin(1m), dstAddr",
        "stats sum(bytes / 3) as f, avg(bytes / 7) as a by action, protocol",
        "stats count(*) as n, sum(bytes) as b",
        "filter dstPort < 0 | stats count(*) as n by dstPort",
        "stats count(*) as n by dstPort | sort n desc, dstPort | limit 5",
    ];
    for text in queries {
        let answer = |limit: Option<u64>, stream: bool| run_limited(&f, text, limit, stream);
        let held = answer(None, false);
        assert_eq!(held.statistics.spilled_bytes, 0, "{text}");
        let held = held.outputs.into_iter().next().unwrap();
        let empty = text.starts_with("filter dstPort < 0");
        assert_eq!(held.table.rows.is_empty(), empty, "{text}");
        let spilled = answer(Some(1), false);
        assert_eq!(spilled.statistics.spilled_bytes > 0, !empty, "{text}");
        assert_eq!(spilled.outputs[0].table, held.table, "{text}");
        // Streamed, row by row and as CSV.
        let streamed = answer(Some(1), true).outputs.into_iter().next().unwrap();
        assert_eq!(rows_of(&streamed), held.table.rows, "{text}");
        let mut csv = Vec::new();
        crate::render::csv_out::write_query_csv(&streamed, &mut csv).unwrap();
        let held_csv = crate::render::csv_out::query_csv(&held.table).unwrap();
        assert_eq!(String::from_utf8(csv).unwrap(), held_csv, "{text}");
    }
}

/// A limit that every thread's groups fit in writes nothing; one they outgrow writes runs,
/// and the answer is the same.
#[test]
fn memory_limit_decides_whether_groups_spill() {
    let content: String = (0..30_000u64)
        .map(|i| {
            format!(
                "2 123 eni-{} 10.0.0.1 10.0.0.2 40000 {} 6 1 {} 1000 1005 ACCEPT OK\n",
                i % 3,
                i,
                i
            )
        })
        .collect();
    let f = file(&content);
    let answer = |limit: u64| {
        let spec = QuerySpec {
            query: parse("stats count(*) as n, sum(bytes) as b by interfaceId, dstPort").unwrap(),
            records: false,
        };
        let options = LocalOptions {
            memory_limit: Some(limit),
            ..options(&f.path, 100_000)
        };
        run(&options, &[spec], Window::default(), &NoProgress).unwrap()
    };
    let roomy = answer(1 << 30);
    let tight = answer(256 << 10);
    assert_eq!(roomy.statistics.spilled_bytes, 0);
    assert!(tight.statistics.spilled_bytes > 0);
    assert_eq!(roomy.outputs[0].table.rows.len(), 30_000);
    assert_eq!(tight.outputs[0].table, roomy.outputs[0].table);
}

/// The limit is shared by the threads that get work and by the `stats` queries: one unit
/// (a gzip file is one) gives its one thread the whole share.
#[test]
fn the_memory_limit_is_shared_by_the_threads_with_work_and_the_stats_queries() {
    let shapes: Vec<QueryShape> = [
        "stats count(*) by dstPort",
        "fields srcAddr",
        "stats sum(bytes) by srcAddr",
    ]
    .iter()
    .map(|q| QueryShape::new(&parse(q).unwrap(), false).unwrap())
    .collect();
    assert_eq!(group_limit(None, &shapes, 8), 0);
    assert_eq!(group_limit(Some(1 << 20), &shapes, 1), 1 << 19);
    let threads = rayon::current_num_threads() as u64;
    assert_eq!(
        group_limit(Some(1 << 30), &shapes, 1000) as u64,
        (1 << 30) / (2 * threads)
    );
    assert_eq!(group_limit(Some(1), &shapes, 4), 1);
}

/// Runs `text` over `f` in chunks of 200,000 bytes, under a memory limit, held or streamed.
fn run_limited(f: &Fixture, text: &str, limit: Option<u64>, stream: bool) -> LocalRun {
    let spec = QuerySpec {
        query: parse(text).unwrap(),
        records: false,
    };
    let options = LocalOptions {
        stream,
        memory_limit: limit,
        ..options(&f.path, 200_000)
    };
    run(&options, &[spec], Window::default(), &NoProgress).unwrap()
}

/// Counts a call in `calls`; the `n`th fails with "stop".
fn fail_at(n: usize, calls: &mut usize) -> std::io::Result<()> {
    *calls += 1;
    if *calls == n {
        Err(std::io::Error::other("stop"))
    } else {
        Ok(())
    }
}

/// Every row of an answer, streamed or held, as `try_for_each_row` gives them.
fn rows_of(output: &crate::source::QueryOutput) -> Vec<Vec<Value>> {
    let mut rows = Vec::new();
    output
        .try_for_each_row(|row| {
            rows.push(row.to_vec());
            Ok::<(), std::io::Error>(())
        })
        .unwrap();
    rows
}

fn gzip_file(dir: &std::path::Path, name: &str, members: &[&str]) -> PathBuf {
    use std::io::Write;
    let mut bytes = Vec::new();
    for member in members {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(member.as_bytes()).unwrap();
        bytes.extend(e.finish().unwrap());
    }
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Gzip files decompressed whole (no limit) and streamed (a limit too small for a file to be
/// decompressed whole) give the same answers and the same malformed lines, with their line
/// numbers: files of one member with and without a last newline, of several members that fit
/// the last one's size and that do not.
#[test]
fn gzip_files_read_whole_answer_as_streamed_ones() {
    let dir = tempfile::tempdir().unwrap();
    let record = |i: u64| {
        format!(
            "2 123 eni-{} 10.0.0.1 10.0.0.2 40000 {} 6 1 {i} 1000 1005 ACCEPT OK\n",
            i % 3,
            i % 50
        )
    };
    let block = |from: u64, n: u64| (from..from + n).map(record).collect::<String>();
    let mut damaged = block(0, 300);
    damaged.push_str("2 123 eni-0 10.0.0.1 10.0.0.2 40000 x 6 1 7 1000 1005 ACCEPT OK\n");
    damaged.push_str(&block(300, 5));
    let last_line = block(0, 200);
    gzip_file(dir.path(), "a.log.gz", &[&damaged]);
    gzip_file(dir.path(), "b.log.gz", &[last_line.trim_end()]);
    gzip_file(dir.path(), "c.log.gz", &[&block(0, 10), &block(10, 400)]);
    gzip_file(dir.path(), "d.log.gz", &[&block(0, 100), &block(0, 100)]);
    let answer = |limit: Option<u64>| {
        let spec = QuerySpec {
            query: parse("stats count(*) as n, sum(bytes) as b by interfaceId, dstPort").unwrap(),
            records: false,
        };
        let options = LocalOptions {
            memory_limit: limit,
            ..options(dir.path(), files::CHUNK_BYTES)
        };
        run(&options, &[spec], Window::default(), &NoProgress).unwrap()
    };
    let whole = answer(None);
    // Half of a thread's share is under a kilobyte: every file is streamed.
    let streamed = answer(Some(2048));
    assert_eq!(whole.outputs[0].table, streamed.outputs[0].table);
    assert_eq!(whole.statistics.records_scanned, 300 + 5 + 200 + 410 + 200);
    assert_eq!(
        whole.statistics.records_scanned,
        streamed.statistics.records_scanned
    );
    let lines = |run: &LocalRun| {
        run.statistics
            .malformed_examples
            .iter()
            .map(|m| (m.path.clone(), m.line))
            .collect::<Vec<_>>()
    };
    assert_eq!(lines(&whole).len(), 1);
    assert!(lines(&whole)[0].0.ends_with("a.log.gz") && lines(&whole)[0].1 == 301);
    assert_eq!(lines(&whole), lines(&streamed));
}

/// A gzip file decompressed whole holds its buffers while its records are folded, so the
/// groups leave room for them: at the smallest limit that the groups of a plain file fit in,
/// the same records from a gzip file make them go to disk.
#[test]
fn groups_leave_room_for_a_gzip_file_decompressed_whole() {
    let dir = tempfile::tempdir().unwrap();
    let content: String = (0..20_000u64)
        .map(|i| {
            format!(
                "2 123 eni-a 10.0.0.1 10.0.0.2 {} {} 6 {} {i} 1000 1005 ACCEPT OK\n",
                i / 200,
                i % 200,
                i % 7
            )
        })
        .collect();
    let plain = dir.path().join("flows.log");
    std::fs::write(&plain, &content).unwrap();
    let gz = gzip_file(dir.path(), "flows.log.gz", &[&content]);
    let gz_len = std::fs::metadata(&gz).unwrap().len();
    let spilled = |path: &std::path::Path, limit: u64| {
        let spec = QuerySpec {
            query: parse(
                "stats count(*) as n, sum(bytes) as b, min(bytes), max(bytes), sum(packets), \
                 min(packets), max(packets), count(bytes), sum(start), min(end), max(end), \
                 count(packets) by srcPort, dstPort",
            )
            .unwrap(),
            records: false,
        };
        let options = LocalOptions {
            memory_limit: Some(limit),
            ..options(path, files::CHUNK_BYTES)
        };
        let run = run(&options, &[spec], Window::default(), &NoProgress).unwrap();
        assert_eq!(run.outputs[0].table.rows.len(), 20_000);
        run.statistics.spilled_bytes
    };
    // The smallest limit (to within 1/64) that the plain file's groups fit in.
    let (mut over, mut fits) = (1024u64, 256 << 20);
    while fits - over > fits / 64 {
        let mid = over + (fits - over) / 2;
        if spilled(&plain, mid) == 0 {
            fits = mid;
        } else {
            over = mid;
        }
    }
    // One file is one thread's work: half its share is the most a file decompressed whole may
    // take, and this one takes less.
    assert!(gz_len + content.len() as u64 <= fits / 2, "{fits}");
    assert_eq!(spilled(&plain, fits), 0);
    assert!(spilled(&gz, fits) > 0, "{fits}");
}

/// The commands after `stats` get its rows as they are made, from groups held or merged from
/// disk, across chunks of rows (16,384): a limit stops the reading at the right row, a sort kept
/// to a limit gives the rows a sort of all of them gives, and a total over nothing is still a
/// row for the commands after it.
#[test]
fn commands_after_stats_take_its_rows_held_or_spilled() {
    let content: String = (0..60_000u64)
        .map(|i| {
            format!(
                "2 123 eni-{} 10.0.0.1 10.0.0.2 {} {} 6 1 {} 1000 1005 ACCEPT OK\n",
                i % 3,
                40_000 + i % 7,
                i % 30_011,
                (i * 37) % 5_003
            )
        })
        .collect();
    let f = file(&content);
    let base = "stats count(*) as n, sum(bytes) as b by dstPort, srcPort";
    let answer = |text: &str, limit: Option<u64>| {
        let spec = QuerySpec {
            query: parse(text).unwrap(),
            records: false,
        };
        let options = LocalOptions {
            memory_limit: limit,
            ..options(&f.path, 200_000)
        };
        let r = run(&options, &[spec], Window::default(), &NoProgress).unwrap();
        (
            r.outputs.into_iter().next().unwrap().table,
            r.statistics.spilled_bytes,
        )
    };
    for limit in [None, Some(1)] {
        let (all, spilled) = answer(base, limit);
        assert_eq!(spilled > 0, limit.is_some());
        assert!(all.rows.len() > 20_000, "{}", all.rows.len());
        for (post, expect) in [
            ("limit 5", all.rows[..5].to_vec()),
            ("limit 20000", all.rows[..20000].to_vec()),
            ("limit 17000 | limit 16390", all.rows[..16390].to_vec()),
            (
                "filter srcPort > 29990 | limit 7",
                all.rows
                    .iter()
                    .filter(|r| r[1].as_i64().unwrap() > 29990)
                    .take(7)
                    .cloned()
                    .collect(),
            ),
            ("sort b desc | limit 3", {
                let mut v = all.rows.clone();
                v.sort_by(|x, y| y[3].total_cmp(&x[3]));
                v.truncate(3);
                v
            }),
            ("sort n | limit 1500 | sort b desc | limit 4", {
                let mut v = all.rows.clone();
                v.sort_by(|x, y| x[2].total_cmp(&y[2]));
                v.truncate(1500);
                v.sort_by(|x, y| y[3].total_cmp(&x[3]));
                v.truncate(4);
                v
            }),
        ] {
            let (t, _) = answer(&format!("{base} | {post}"), limit);
            assert_eq!(t.rows, expect, "{post} {limit:?}");
        }
    }
    for limit in [None, Some(1)] {
        let (t, _) = answer(
            "filter dstPort < 0 | stats count(*) as n, sum(bytes) as s | fields n + 1 as m, s",
            limit,
        );
        assert_eq!(t.rows, vec![vec![Value::Int(1), Value::Null]]);
        let (t, _) = answer("filter dstPort < 0 | stats count(*) as n | limit 1", limit);
        assert_eq!(t.rows, vec![vec![Value::Int(0)]]);
    }
}
