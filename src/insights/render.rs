//! Renders a [`Query`] as canonical Logs Insights text.
//!
//! Owns the canonical spelling: one command per line joined with `\n| `, lowercase keywords,
//! minimal parentheses, double-quoted strings, backticks only where a field name needs them.
//! It must not validate or evaluate anything, and it must stay the inverse of the parser:
//! `parse(&render(&q)) == Ok(q)` for every query the parser can produce.
//!
//! Trees the parser never builds cannot all be spelled: non-finite floats, field names with a
//! backtick or newline, empty lists of names, `*` outside `count`, regexes or periods outside
//! `like`/`=~`/`bin`. Those still render, but not to text that parses back to the same tree.

use super::ast::{
    AggArg, AggFunc, Aggregate, BinaryOp, Command, Expr, Function, Literal, Parse, ParsePattern,
    Projection, Query, UnaryOp,
};
use super::parser::KEYWORDS;

/// Renders the whole query.
pub fn render(q: &Query) -> String {
    let commands: Vec<String> = q.commands.iter().map(command).collect();
    commands.join("\n| ")
}

fn command(c: &Command) -> String {
    match c {
        Command::Fields(items) => format!("fields {}", projections(items)),
        Command::Display(items) => format!("display {}", projections(items)),
        Command::Filter(e) => format!("filter {}", expr(e)),
        Command::Stats(stats) => {
            let aggs: Vec<String> = stats.aggregates.iter().map(aggregate).collect();
            let mut out = format!("stats {}", aggs.join(", "));
            if !stats.by.is_empty() {
                let keys: Vec<String> = stats
                    .by
                    .iter()
                    .map(|k| aliased(expr(&k.expr), k.alias.as_deref()))
                    .collect();
                out.push_str(" by ");
                out.push_str(&keys.join(", "));
            }
            out
        }
        Command::Sort(keys) => {
            let keys: Vec<String> = keys
                .iter()
                .map(|k| {
                    let e = expr(&k.expr);
                    if k.descending { format!("{e} desc") } else { e }
                })
                .collect();
            format!("sort {}", keys.join(", "))
        }
        Command::Limit(n) => format!("limit {n}"),
        Command::Dedup(names) => format!("dedup {}", field_names(names)),
        Command::Parse(Parse { field, pattern }) => match pattern {
            ParsePattern::Glob { pattern, names } => format!(
                "parse {} {} as {}",
                field_name(field),
                quote(pattern),
                field_names(names)
            ),
            ParsePattern::Regex(re) => format!("parse {} {}", field_name(field), regex(re)),
        },
    }
}

fn projections(items: &[Projection]) -> String {
    let items: Vec<String> = items
        .iter()
        .map(|p| aliased(expr(&p.expr), p.alias.as_deref()))
        .collect();
    items.join(", ")
}

fn aliased(text: String, alias: Option<&str>) -> String {
    match alias {
        Some(a) => format!("{text} as {}", field_name(a)),
        None => text,
    }
}

fn aggregate(a: &Aggregate) -> String {
    let name = match a.func {
        AggFunc::Count => "count",
        AggFunc::CountDistinct => "count_distinct",
        AggFunc::Sum => "sum",
        AggFunc::Avg => "avg",
        AggFunc::Min => "min",
        AggFunc::Max => "max",
    };
    let arg = match &a.arg {
        AggArg::Star => "*".to_string(),
        AggArg::Expr(e) => expr(e),
    };
    aliased(format!("{name}({arg})"), a.alias.as_deref())
}

fn field_names(names: &[String]) -> String {
    let names: Vec<String> = names.iter().map(|n| field_name(n)).collect();
    names.join(", ")
}

/// A field name as the parser reads it back: bare when it lexes as one identifier that is not a
/// keyword, otherwise in backticks.
pub fn field_name(name: &str) -> String {
    let mut chars = name.chars();
    let plain = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '@')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '@'))
        && !KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(name));
    if plain {
        name.to_string()
    } else {
        format!("`{name}`")
    }
}

fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if matches!(c, '\\' | '"') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Bodies from the parser are kept as written, so they are emitted untouched except that a bare
/// `/` from a hand-built tree is escaped to keep the literal closed.
fn regex(body: &str) -> String {
    let mut out = String::with_capacity(body.len() + 2);
    out.push('/');
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                out.push('\\');
                if let Some(escaped) = chars.next() {
                    out.push(escaped);
                }
            }
            '/' => out.push_str("\\/"),
            c => out.push(c),
        }
    }
    out.push('/');
    out
}

/// Shortest text that reads back as the same `f64`. Rust's `Display` never uses exponents and
/// prints the shortest round-tripping digits; `.0` keeps whole values from reading back as ints.
fn float(f: f64) -> String {
    if f.is_nan() {
        return "(0.0 / 0.0)".to_string();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "(1.0 / 0.0)"
        } else {
            "(-1.0 / 0.0)"
        }
        .to_string();
    }
    let text = f.to_string();
    if text.contains('.') {
        text
    } else {
        format!("{text}.0")
    }
}

// Binding strength, loosest first, mirroring the parser's grammar levels.
const OR: u8 = 1;
const AND: u8 = 2;
const NOT: u8 = 3;
const CMP: u8 = 4;
const ADD: u8 = 5;
const MUL: u8 = 6;
const NEG: u8 = 7;
const ATOM: u8 = 8;

fn op_prec(op: BinaryOp) -> u8 {
    match op {
        BinaryOp::Or => OR,
        BinaryOp::And => AND,
        BinaryOp::Eq
        | BinaryOp::Ne
        | BinaryOp::Lt
        | BinaryOp::Le
        | BinaryOp::Gt
        | BinaryOp::Ge
        | BinaryOp::Like
        | BinaryOp::NotLike
        | BinaryOp::Match => CMP,
        BinaryOp::Add | BinaryOp::Sub => ADD,
        BinaryOp::Mul | BinaryOp::Div | BinaryOp::Mod => MUL,
    }
}

fn prec(e: &Expr) -> u8 {
    match e {
        Expr::Binary { op, .. } => op_prec(*op),
        Expr::In { .. } => CMP,
        Expr::Unary {
            op: UnaryOp::Not, ..
        } => NOT,
        Expr::Unary {
            op: UnaryOp::Neg, ..
        } => NEG,
        _ => ATOM,
    }
}

fn op_text(op: BinaryOp) -> &'static str {
    match op {
        BinaryOp::Or => "or",
        BinaryOp::And => "and",
        BinaryOp::Eq => "=",
        BinaryOp::Ne => "!=",
        BinaryOp::Lt => "<",
        BinaryOp::Le => "<=",
        BinaryOp::Gt => ">",
        BinaryOp::Ge => ">=",
        BinaryOp::Like => "like",
        BinaryOp::NotLike => "not like",
        BinaryOp::Match => "=~",
        BinaryOp::Add => "+",
        BinaryOp::Sub => "-",
        BinaryOp::Mul => "*",
        BinaryOp::Div => "/",
        BinaryOp::Mod => "%",
    }
}

/// `e`, parenthesized if it binds looser than `min`.
fn operand(e: &Expr, min: u8) -> String {
    if prec(e) < min {
        format!("({})", expr(e))
    } else {
        expr(e)
    }
}

/// Renders one expression, as it names an unaliased column.
pub fn render_expr(e: &Expr) -> String {
    expr(e)
}

fn expr(e: &Expr) -> String {
    match e {
        Expr::Field(name) => field_name(name),
        Expr::Literal(lit) => literal(lit),
        Expr::Regex(body) => regex(body),
        Expr::Unary {
            op: UnaryOp::Not,
            expr: inner,
        } => format!("not {}", operand(inner, NOT)),
        Expr::Unary {
            op: UnaryOp::Neg,
            expr: inner,
        } => match **inner {
            // The parser folds `-5` into a negative literal, so a negated literal needs parens
            // to stay a negation.
            Expr::Literal(Literal::Int(_) | Literal::Float(_)) => format!("-({})", expr(inner)),
            _ => format!("-{}", operand(inner, NEG)),
        },
        Expr::Binary { left, op, right } => {
            let p = op_prec(*op);
            // Left-associative levels allow an equal-strength left operand; comparisons are
            // non-associative so neither side may be another comparison.
            let left_min = if p == CMP { p + 1 } else { p };
            format!(
                "{} {} {}",
                operand(left, left_min),
                op_text(*op),
                operand(right, p + 1)
            )
        }
        Expr::In {
            expr: inner,
            list,
            negated,
        } => {
            let items: Vec<String> = list.iter().map(expr).collect();
            let op = if *negated { "not in" } else { "in" };
            format!("{} {op} [{}]", operand(inner, CMP + 1), items.join(", "))
        }
        Expr::Call { func, args } => {
            let name = match func {
                Function::Bin => "bin",
                Function::IsIpv4InSubnet => "isIpv4InSubnet",
                Function::IsIpInSubnet => "isIpInSubnet",
            };
            let args: Vec<String> = args.iter().map(expr).collect();
            format!("{name}({})", args.join(", "))
        }
    }
}

fn literal(lit: &Literal) -> String {
    match lit {
        Literal::Int(n) => n.to_string(),
        Literal::Float(f) => float(*f),
        Literal::Str(s) => quote(s),
        Literal::Duration { millis, text } if text.is_empty() => format!("{millis}ms"),
        Literal::Duration { text, .. } => text.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::ast::{GroupKey, SortKey, Stats};
    use super::super::parser::parse;
    use super::*;
    use proptest::prelude::*;

    fn field(name: &str) -> Expr {
        Expr::Field(name.to_string())
    }

    fn int(n: i64) -> Expr {
        Expr::Literal(Literal::Int(n))
    }

    fn bin(left: Expr, op: BinaryOp, right: Expr) -> Expr {
        Expr::Binary {
            left: Box::new(left),
            op,
            right: Box::new(right),
        }
    }

    fn neg(e: Expr) -> Expr {
        Expr::Unary {
            op: UnaryOp::Neg,
            expr: Box::new(e),
        }
    }

    fn not(e: Expr) -> Expr {
        Expr::Unary {
            op: UnaryOp::Not,
            expr: Box::new(e),
        }
    }

    fn filter(e: Expr) -> Query {
        Query {
            commands: vec![Command::Filter(e)],
        }
    }

    fn assert_round_trip(q: &Query) -> String {
        let text = render(q);
        match parse(&text) {
            Ok(back) => assert_eq!(&back, q, "rendered:\n{text}"),
            Err(e) => panic!("{}", e.display_with_source(&text)),
        }
        text
    }

    #[test]
    fn canonical_text_for_a_typical_query() {
        let text = "FIELDS @timestamp, srcAddr AS src\n|FILTER action=='REJECT'&&dstPort IN [22,3389] # ssh/rdp\n| stats COUNT() as n, sum(bytes) by bin(5m) as t, src | sort n DESC, t ASC | limit 10";
        let q = parse(text).unwrap_or_else(|e| panic!("{}", e.display_with_source(text)));
        let rendered = render(&q);
        assert_eq!(
            rendered,
            "fields @timestamp, srcAddr as src\n\
             | filter action = \"REJECT\" and dstPort in [22, 3389]\n\
             | stats count(*) as n, sum(bytes) by bin(5m) as t, src\n\
             | sort n desc, t\n\
             | limit 10"
        );
        assert_eq!(parse(&rendered), Ok(q));
    }

    #[test]
    fn every_command_renders_and_round_trips() {
        let q = Query {
            commands: vec![
                Command::Display(vec![Projection {
                    expr: field("a"),
                    alias: Some("b c".into()),
                }]),
                Command::Stats(Stats {
                    aggregates: vec![Aggregate {
                        func: AggFunc::CountDistinct,
                        arg: AggArg::Expr(field("x")),
                        alias: None,
                    }],
                    by: vec![GroupKey {
                        expr: field("y"),
                        alias: None,
                    }],
                }),
                Command::Sort(vec![SortKey {
                    expr: field("x"),
                    descending: false,
                }]),
                Command::Dedup(vec!["a".into(), "in".into()]),
                Command::Parse(Parse {
                    field: "@message".into(),
                    pattern: ParsePattern::Glob {
                        pattern: "say \"*\" \\ *".into(),
                        names: vec!["a".into(), "b".into()],
                    },
                }),
                Command::Parse(Parse {
                    field: "log line".into(),
                    pattern: ParsePattern::Regex(r"(?<a>\d+)\/(?<b>x)".into()),
                }),
            ],
        };
        assert_eq!(
            assert_round_trip(&q),
            "display a as `b c`\n\
             | stats count_distinct(x) by y\n\
             | sort x\n\
             | dedup a, `in`\n\
             | parse @message \"say \\\"*\\\" \\\\ *\" as a, b\n\
             | parse `log line` /(?<a>\\d+)\\/(?<b>x)/"
        );
    }

    #[test]
    fn field_names_get_backticks_only_when_needed() {
        assert_eq!(field_name("srcAddr"), "srcAddr");
        assert_eq!(field_name("@timestamp"), "@timestamp");
        assert_eq!(field_name("a.b_c@1"), "a.b_c@1");
        assert_eq!(field_name("dst-port"), "`dst-port`");
        assert_eq!(field_name("5xx"), "`5xx`");
        assert_eq!(field_name("DESC"), "`DESC`");
        assert_eq!(field_name("by"), "`by`");
        assert_eq!(field_name("bin"), "bin");
        assert_eq!(field_name("filter"), "filter");
    }

    #[test]
    fn strings_escape_backslash_and_double_quote_only() {
        let q = filter(bin(
            field("a"),
            BinaryOp::Eq,
            Expr::Literal(Literal::Str("q\"b\\s'n\nt\t#".into())),
        ));
        assert_eq!(assert_round_trip(&q), "filter a = \"q\\\"b\\\\s'n\nt\t#\"");
    }

    #[test]
    fn floats_round_trip_exactly() {
        for f in [
            0.1,
            1.0,
            -2.5,
            1e21,
            1e-7,
            f64::MAX,
            f64::MIN_POSITIVE,
            5e-324,
            123_456_789.123_456_79,
            0.1 + 0.2,
        ] {
            let q = filter(Expr::Literal(Literal::Float(f)));
            let text = assert_round_trip(&q);
            assert!(!text["filter ".len()..].contains('e'), "{text}");
        }
        assert_eq!(
            render(&filter(Expr::Literal(Literal::Float(3.0)))),
            "filter 3.0"
        );
    }

    #[test]
    fn integer_extremes_and_negation_round_trip() {
        for e in [
            int(i64::MIN),
            int(i64::MAX),
            neg(int(5)),
            neg(int(-5)),
            neg(neg(field("a"))),
            neg(Expr::Literal(Literal::Float(0.5))),
            bin(field("a"), BinaryOp::Sub, int(-5)),
            bin(int(-5), BinaryOp::Mul, neg(field("b"))),
        ] {
            assert_round_trip(&filter(e));
        }
        assert_eq!(render(&filter(neg(int(5)))), "filter -(5)");
        assert_eq!(render(&filter(neg(int(-5)))), "filter -(-5)");
    }

    #[test]
    fn parentheses_follow_precedence_and_associativity() {
        let cases = [
            (
                bin(
                    field("a"),
                    BinaryOp::Sub,
                    bin(field("b"), BinaryOp::Sub, field("c")),
                ),
                "a - (b - c)",
            ),
            (
                bin(
                    bin(field("a"), BinaryOp::Sub, field("b")),
                    BinaryOp::Sub,
                    field("c"),
                ),
                "a - b - c",
            ),
            (
                bin(
                    bin(field("a"), BinaryOp::Add, field("b")),
                    BinaryOp::Mul,
                    field("c"),
                ),
                "(a + b) * c",
            ),
            (
                bin(
                    bin(field("a"), BinaryOp::Eq, field("b")),
                    BinaryOp::Eq,
                    field("c"),
                ),
                "(a = b) = c",
            ),
            (
                not(bin(field("a"), BinaryOp::And, field("b"))),
                "not (a and b)",
            ),
            (
                bin(not(field("a")), BinaryOp::Eq, field("b")),
                "(not a) = b",
            ),
            (bin(not(field("a")), BinaryOp::Or, field("b")), "not a or b"),
            (
                bin(
                    field("a"),
                    BinaryOp::Or,
                    bin(field("b"), BinaryOp::Or, field("c")),
                ),
                "a or (b or c)",
            ),
            (neg(bin(field("a"), BinaryOp::Add, field("b"))), "-(a + b)"),
            (
                Expr::In {
                    expr: Box::new(bin(field("a"), BinaryOp::Lt, field("b"))),
                    list: vec![bin(field("x"), BinaryOp::Or, field("y"))],
                    negated: true,
                },
                "(a < b) not in [x or y]",
            ),
        ];
        for (e, text) in cases {
            let q = filter(e);
            assert_eq!(assert_round_trip(&q), format!("filter {text}"));
        }
    }

    #[test]
    fn non_finite_floats_render_as_equivalent_divisions() {
        assert_eq!(
            render(&filter(Expr::Literal(Literal::Float(f64::INFINITY)))),
            "filter (1.0 / 0.0)"
        );
        assert!(parse(&render(&filter(Expr::Literal(Literal::Float(f64::NAN))))).is_ok());
    }

    #[test]
    fn rendering_is_a_fixed_point() {
        let text = "filter not (a or b) and -(c + 1) * 2 > -3.5 | stats min(x) by `k k`";
        let once = render(&parse(text).unwrap_or_else(|e| panic!("{e}")));
        let twice = render(&parse(&once).unwrap_or_else(|e| panic!("{e}")));
        assert_eq!(once, twice);
    }

    // ---- generators of trees the parser can produce ----

    fn name() -> impl Strategy<Value = String> {
        prop_oneof![
            "[A-Za-z_@][A-Za-z0-9_.@]{0,6}",
            Just("@timestamp".to_string()),
            prop::sample::select(KEYWORDS.to_vec()).prop_map(str::to_string),
            "[^`\n]{1,6}",
        ]
    }

    fn duration() -> impl Strategy<Value = Expr> {
        (
            1i64..100_000,
            prop::sample::select(vec![
                ("ms", 1i64),
                ("s", 1_000),
                ("m", 60_000),
                ("h", 3_600_000),
                ("d", 86_400_000),
                ("w", 604_800_000),
                ("M", 60_000),
            ]),
        )
            .prop_map(|(n, (unit, ms))| {
                Expr::Literal(Literal::Duration {
                    millis: n * ms,
                    text: format!("{n}{unit}"),
                })
            })
    }

    fn regex_body() -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop::sample::select(vec![
                "a", "Z", ".", r"\d", r"\/", "x*", "[0-9]+", "(?i)", "#", " ", r"\\", "^",
            ]),
            0..6,
        )
        .prop_map(|parts| parts.concat())
    }

    fn leaf() -> impl Strategy<Value = Expr> {
        prop_oneof![
            name().prop_map(Expr::Field),
            any::<i64>().prop_map(|n| Expr::Literal(Literal::Int(n))),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(|f| Expr::Literal(Literal::Float(f))),
            any::<String>().prop_map(|s| Expr::Literal(Literal::Str(s))),
            duration().prop_map(|d| Expr::Call {
                func: Function::Bin,
                args: vec![d],
            }),
        ]
    }

    fn expr_tree() -> impl Strategy<Value = Expr> {
        leaf().prop_recursive(5, 48, 4, |inner| {
            let ops = prop::sample::select(vec![
                BinaryOp::Or,
                BinaryOp::And,
                BinaryOp::Eq,
                BinaryOp::Ne,
                BinaryOp::Lt,
                BinaryOp::Le,
                BinaryOp::Gt,
                BinaryOp::Ge,
                BinaryOp::Add,
                BinaryOp::Sub,
                BinaryOp::Mul,
                BinaryOp::Div,
                BinaryOp::Mod,
            ]);
            let like_rhs = prop_oneof![
                any::<String>().prop_map(|s| Expr::Literal(Literal::Str(s))),
                regex_body().prop_map(Expr::Regex),
            ];
            prop_oneof![
                (inner.clone(), ops, inner.clone()).prop_map(|(l, op, r)| bin(l, op, r)),
                (
                    inner.clone(),
                    prop::sample::select(vec![BinaryOp::Like, BinaryOp::NotLike]),
                    like_rhs
                )
                    .prop_map(|(l, op, r)| bin(l, op, r)),
                (inner.clone(), regex_body()).prop_map(|(l, r)| bin(
                    l,
                    BinaryOp::Match,
                    Expr::Regex(r)
                )),
                inner.clone().prop_map(not),
                inner.clone().prop_map(neg),
                (
                    inner.clone(),
                    prop::collection::vec(inner.clone(), 0..3),
                    any::<bool>()
                )
                    .prop_map(|(e, list, negated)| Expr::In {
                        expr: Box::new(e),
                        list,
                        negated,
                    }),
                (
                    prop::sample::select(vec![Function::IsIpv4InSubnet, Function::IsIpInSubnet]),
                    inner.clone(),
                    inner
                )
                    .prop_map(|(func, a, b)| Expr::Call {
                        func,
                        args: vec![a, b],
                    }),
            ]
        })
    }

    fn alias() -> impl Strategy<Value = Option<String>> {
        prop::option::of(name())
    }

    fn aggregate_strategy() -> impl Strategy<Value = Aggregate> {
        (
            prop::sample::select(vec![
                AggFunc::Count,
                AggFunc::CountDistinct,
                AggFunc::Sum,
                AggFunc::Avg,
                AggFunc::Min,
                AggFunc::Max,
            ]),
            expr_tree(),
            any::<bool>(),
            alias(),
        )
            .prop_map(|(func, e, star, alias)| Aggregate {
                func,
                arg: if star && func == AggFunc::Count {
                    AggArg::Star
                } else {
                    AggArg::Expr(e)
                },
                alias,
            })
    }

    fn glob() -> impl Strategy<Value = ParsePattern> {
        prop::collection::vec(("[^*]{0,4}", name()), 1..4).prop_flat_map(|pairs| {
            "[^*]{0,4}".prop_map(move |tail| {
                let mut pattern = String::new();
                let mut names = Vec::new();
                for (text, n) in &pairs {
                    pattern.push_str(text);
                    pattern.push('*');
                    names.push(n.clone());
                }
                pattern.push_str(&tail);
                ParsePattern::Glob { pattern, names }
            })
        })
    }

    fn parse_regex() -> impl Strategy<Value = ParsePattern> {
        prop::collection::vec(("[a-z_][a-z0-9_]{0,4}", regex_body()), 1..3).prop_map(|groups| {
            let body: String = groups
                .iter()
                .enumerate()
                .map(|(i, (n, inner))| format!("(?<{n}{i}>{inner})"))
                .collect::<Vec<_>>()
                .join(" ");
            ParsePattern::Regex(body)
        })
    }

    fn projection() -> impl Strategy<Value = Projection> {
        (expr_tree(), alias()).prop_map(|(expr, alias)| Projection { expr, alias })
    }

    fn command_strategy() -> impl Strategy<Value = Command> {
        prop_oneof![
            prop::collection::vec(projection(), 1..3).prop_map(Command::Fields),
            prop::collection::vec(projection(), 1..3).prop_map(Command::Display),
            expr_tree().prop_map(Command::Filter),
            (
                prop::collection::vec(aggregate_strategy(), 1..3),
                prop::collection::vec(
                    (expr_tree(), alias()).prop_map(|(expr, alias)| GroupKey { expr, alias }),
                    0..3
                )
            )
                .prop_map(|(aggregates, by)| Command::Stats(Stats { aggregates, by })),
            prop::collection::vec(
                (expr_tree(), any::<bool>())
                    .prop_map(|(expr, descending)| SortKey { expr, descending }),
                1..3
            )
            .prop_map(Command::Sort),
            (1..=u64::MAX).prop_map(Command::Limit),
            prop::collection::vec(name(), 1..3).prop_map(Command::Dedup),
            (name(), prop_oneof![glob(), parse_regex()])
                .prop_map(|(field, pattern)| Command::Parse(Parse { field, pattern })),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        #[test]
        fn render_then_parse_is_identity(
            commands in prop::collection::vec(command_strategy(), 1..5)
        ) {
            let q = Query { commands };
            let text = render(&q);
            let back = parse(&text).map_err(|e| {
                TestCaseError::fail(e.display_with_source(&text))
            })?;
            prop_assert_eq!(back, q, "rendered:\n{}", text);
        }
    }
}
