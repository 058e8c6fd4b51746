//! The embedded Logs Insights engine: compiles a parsed query against a record layout and
//! evaluates it over records, then finishes the rows.
//!
//! A query runs in three stages. Record stages (`parse`, `fields`, `filter`, `display` before
//! any `stats`, `sort`, `limit` or `dedup`) run per record with every field name resolved once
//! to a slot, so no record is looked up by name. `stats` folds records into per-group states
//! that merge across threads. The remaining commands run over the resulting rows.
//!
//! Semantics follow the Logs Insights query syntax reference,
//! https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/CWL_QuerySyntax.html :
//! `like "text"` matches a substring and `like /re/` a regular expression (case-sensitive);
//! a comparison with a missing field matches nothing; `count(field)` counts records where the
//! field exists; aggregations skip missing values; `bin(period)` rounds `@timestamp` down.

use std::collections::HashMap;
use std::sync::Arc;

use ipnet::IpNet;
use regex::Regex;
use rustc_hash::FxHashSet;

use super::value::{ExactSum, Number, Scalar};
use crate::flow::{Field, FieldKind, FlowRecord, LogFormat, normalize_epoch_s};
use crate::insights::ast::{
    AggArg, AggFunc, BinaryOp, Command, Expr, Function, Literal, ParsePattern, Query, UnaryOp,
};
use crate::insights::render::render_expr;
use crate::source::{Table, Value};

mod groups;
mod post;
mod row_runs;
mod spill;
pub use groups::{Groups, SortedGroups};
pub use post::SortedRows;
use post::{Post, Shown};
pub use spill::SpillError;

/// A query the engine cannot run, with the reason in the user's terms.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("invalid regular expression /{pattern}/: {message}")]
    Regex { pattern: String, message: String },
    #[error("`{text}` is not a CIDR block such as \"10.0.0.0/8\"")]
    Cidr { text: String },
    #[error("{function} takes {expected}")]
    Arity {
        function: &'static str,
        expected: &'static str,
    },
    #[error("{what} is not supported by the local engine after `stats`")]
    AfterStats { what: &'static str },
    #[error("only one `stats` command per query is supported")]
    SecondStats,
    #[error(
        "put `parse` before `sort`, `limit` and `dedup`: the local engine parses records as it reads them"
    )]
    ParseLate,
    #[error("`{name}` is not a field of the rows here; the fields are: {available}")]
    UnknownRowField { name: String, available: String },
    #[error("`--records` prints whole flow records, so the query cannot use `stats`")]
    RecordsWithStats,
}

/// Where a value comes from while a record is evaluated.
#[derive(Debug, Clone, Copy, PartialEq)]
enum SlotKind {
    Column {
        index: usize,
        int: bool,
        epoch: bool,
    },
    Timestamp,
    Message,
    Extra(usize),
    Null,
}

#[derive(Debug, Clone)]
enum CExpr {
    Slot(usize),
    Const(Value),
    Not(Box<CExpr>),
    Neg(Box<CExpr>),
    And(Box<CExpr>, Box<CExpr>),
    Or(Box<CExpr>, Box<CExpr>),
    Compare(BinaryOp, Box<CExpr>, Box<CExpr>),
    /// `field OP integer` (the operator turned round for `integer OP field`): `Compare`
    /// without evaluating the constant, and without comparing by type when the field holds an
    /// integer, as ports, protocols and byte counts do. A filter is evaluated for every record,
    /// and its calls into `eval` were most of its cost.
    IntCompare {
        op: BinaryOp,
        slot: usize,
        value: i64,
    },
    /// `field [not] in [integers]`, as `In` decides it, without evaluating the constants.
    IntIn {
        slot: usize,
        list: Vec<i64>,
        negated: bool,
    },
    /// The common `field = "TEXT"` test, decided on bytes.
    TextEq {
        slot: usize,
        text: String,
        negated: bool,
    },
    Contains {
        expr: Box<CExpr>,
        text: String,
        negated: bool,
    },
    Matches {
        expr: Box<CExpr>,
        regex: Regex,
        negated: bool,
    },
    Arith(BinaryOp, Box<CExpr>, Box<CExpr>),
    In {
        expr: Box<CExpr>,
        list: Vec<CExpr>,
        negated: bool,
    },
    InSubnet {
        expr: Box<CExpr>,
        net: IpNet,
        v4_only: bool,
    },
    Bin {
        period_ms: i64,
    },
}

/// Read access to the values of whatever is being evaluated: a record or a row.
trait Context<'a> {
    fn get(&self, slot: usize) -> Scalar<'a>;
    fn timestamp_ms(&self) -> Option<i64>;
}

struct RecordContext<'a> {
    line: &'a str,
    spans: &'a [(usize, usize)],
    ints: &'a [Option<i64>],
    slots: &'a [SlotKind],
    extras: &'a [Value],
    timestamp_ms: Option<i64>,
}

impl<'a> Context<'a> for RecordContext<'a> {
    #[inline]
    fn get(&self, slot: usize) -> Scalar<'a> {
        match self.slots.get(slot) {
            Some(SlotKind::Column { index, int, epoch }) => {
                if *int {
                    // Integer columns were parsed, once, when the record was checked; a record
                    // whose token there is neither `-` nor a number never gets here.
                    return match self.ints.get(*index).copied().flatten() {
                        Some(n) if *epoch => Scalar::Int(normalize_epoch_s(n)),
                        Some(n) => Scalar::Int(n),
                        None => Scalar::Null,
                    };
                }
                match self.spans.get(*index).map(|&(s, e)| &self.line[s..e]) {
                    None | Some("-") => Scalar::Null,
                    Some(token) => Scalar::Str(token),
                }
            }
            Some(SlotKind::Timestamp) => self.timestamp_ms.map_or(Scalar::Null, Scalar::Time),
            Some(SlotKind::Message) => Scalar::Str(self.line),
            Some(SlotKind::Extra(i)) => {
                self.extras.get(*i).map_or(Scalar::Null, Scalar::from_value)
            }
            Some(SlotKind::Null) | None => Scalar::Null,
        }
    }

    fn timestamp_ms(&self) -> Option<i64> {
        self.timestamp_ms
    }
}

struct RowContext<'a> {
    values: &'a [Value],
}

impl<'a> Context<'a> for RowContext<'a> {
    fn get(&self, slot: usize) -> Scalar<'a> {
        self.values
            .get(slot)
            .map_or(Scalar::Null, Scalar::from_value)
    }

    fn timestamp_ms(&self) -> Option<i64> {
        None
    }
}

impl CExpr {
    /// The value of the expression. A field, what most expressions evaluated for every
    /// record are (keys, aggregated values), is read here, inlined where it is asked for:
    /// through `eval_node`, whose frame is sized for its largest case, it cost several times
    /// the read itself.
    #[inline]
    fn eval<'a, C: Context<'a>>(&'a self, ctx: &C) -> Scalar<'a> {
        match self {
            CExpr::Slot(slot) => ctx.get(*slot),
            _ => self.eval_node(ctx),
        }
    }

    /// Whether the expression holds: `eval(ctx).is_true()`, without making the values of the
    /// tests a filter is made of (`and`, `or`, `not` and the specialised comparisons).
    fn test<'a, C: Context<'a>>(&'a self, ctx: &C) -> bool {
        match self {
            CExpr::Not(e) => !e.test(ctx),
            CExpr::And(a, b) => a.test(ctx) && b.test(ctx),
            CExpr::Or(a, b) => a.test(ctx) || b.test(ctx),
            CExpr::IntCompare { op, slot, value } => int_compare(*op, &ctx.get(*slot), *value),
            CExpr::IntIn {
                slot,
                list,
                negated,
            } => int_in(&ctx.get(*slot), list, *negated),
            CExpr::TextEq {
                slot,
                text,
                negated,
            } => text_eq(&ctx.get(*slot), text, *negated),
            _ => self.eval_node(ctx).is_true(),
        }
    }

    fn eval_node<'a, C: Context<'a>>(&'a self, ctx: &C) -> Scalar<'a> {
        match self {
            CExpr::Slot(slot) => ctx.get(*slot),
            CExpr::Const(value) => Scalar::from_value(value),
            CExpr::Neg(e) => match e.eval(ctx).as_number() {
                Some(Number::Int(n)) => n.checked_neg().map_or(Scalar::Null, Scalar::Int),
                Some(Number::Float(x)) => Scalar::Float(-x),
                None => Scalar::Null,
            },
            CExpr::Not(_)
            | CExpr::And(..)
            | CExpr::Or(..)
            | CExpr::IntCompare { .. }
            | CExpr::IntIn { .. }
            | CExpr::TextEq { .. } => Scalar::Bool(self.test(ctx)),
            CExpr::Compare(op, a, b) => {
                let ordering = a.eval(ctx).compare(&b.eval(ctx));
                Scalar::Bool(ordering.is_some_and(|o| holds(*op, o)))
            }
            CExpr::Contains {
                expr,
                text,
                negated,
            } => text_test(&expr.eval(ctx), *negated, |s| s.contains(text.as_str())),
            CExpr::Matches {
                expr,
                regex,
                negated,
            } => text_test(&expr.eval(ctx), *negated, |s| regex.is_match(s)),
            CExpr::Arith(op, a, b) => arith(*op, &a.eval(ctx), &b.eval(ctx)),
            CExpr::In {
                expr,
                list,
                negated,
            } => {
                let value = expr.eval(ctx);
                if matches!(value, Scalar::Null) {
                    return Scalar::Bool(false);
                }
                let found = list
                    .iter()
                    .any(|item| value.compare(&item.eval(ctx)).is_some_and(|o| o.is_eq()));
                Scalar::Bool(found != *negated)
            }
            CExpr::InSubnet { expr, net, v4_only } => {
                let value = expr.eval(ctx);
                let inside = value
                    .as_str()
                    .and_then(|s| s.parse::<std::net::IpAddr>().ok())
                    .is_some_and(|ip| (!*v4_only || ip.is_ipv4()) && net.contains(&ip));
                Scalar::Bool(inside)
            }
            CExpr::Bin { period_ms } => match ctx.timestamp_ms() {
                Some(ms) => ms
                    .checked_sub(ms.rem_euclid(*period_ms))
                    .map_or(Scalar::Null, Scalar::Time),
                None => Scalar::Null,
            },
        }
    }
}

/// `field OP value` for an integer `value`, as `Compare` decides it.
fn int_compare(op: BinaryOp, field: &Scalar<'_>, value: i64) -> bool {
    let ordering = match field {
        // What `compare` gives two integers.
        Scalar::Int(n) => Some(n.cmp(&value)),
        other => other.compare(&Scalar::Int(value)),
    };
    ordering.is_some_and(|o| holds(op, o))
}

/// `field [not] in [integers]`, as `In` decides it: null is in no list, and not outside one.
fn int_in(field: &Scalar<'_>, list: &[i64], negated: bool) -> bool {
    let found = match field {
        Scalar::Null => return false,
        Scalar::Int(n) => list.contains(n),
        other => list
            .iter()
            .any(|&item| other.compare(&Scalar::Int(item)).is_some_and(|o| o.is_eq())),
    };
    found != negated
}

/// `field = "text"` (or `!=`), as `Compare` decides it, on bytes where the field is text.
fn text_eq(field: &Scalar<'_>, text: &str, negated: bool) -> bool {
    let equal = match field {
        Scalar::Null => return false,
        value => match value.as_str() {
            Some(s) => groups::same_bytes(s.as_bytes(), text.as_bytes()),
            None => value.compare(&Scalar::Str(text)).is_some_and(|o| o.is_eq()),
        },
    };
    equal != negated
}

/// Whether a comparison's `ordering` satisfies `op`.
fn holds(op: BinaryOp, ordering: std::cmp::Ordering) -> bool {
    match op {
        BinaryOp::Eq => ordering.is_eq(),
        BinaryOp::Ne => ordering.is_ne(),
        BinaryOp::Lt => ordering.is_lt(),
        BinaryOp::Le => ordering.is_le(),
        BinaryOp::Gt => ordering.is_gt(),
        BinaryOp::Ge => ordering.is_ge(),
        _ => false,
    }
}

fn text_test(value: &Scalar<'_>, negated: bool, test: impl Fn(&str) -> bool) -> Scalar<'static> {
    let text = match value {
        Scalar::Null => return Scalar::Bool(false),
        Scalar::Str(s) => test(s),
        Scalar::Owned(s) => test(s),
        other => test(&other.to_value().to_string()),
    };
    Scalar::Bool(text != negated)
}

fn arith(op: BinaryOp, a: &Scalar<'_>, b: &Scalar<'_>) -> Scalar<'static> {
    let (Some(x), Some(y)) = (a.as_number(), b.as_number()) else {
        return Scalar::Null;
    };
    if let (Number::Int(x), Number::Int(y)) = (x, y) {
        let result = match op {
            BinaryOp::Add => x.checked_add(y),
            BinaryOp::Sub => x.checked_sub(y),
            BinaryOp::Mul => x.checked_mul(y),
            BinaryOp::Mod => x.checked_rem(y),
            // Division of integers keeps the fraction, as Logs Insights shows it.
            BinaryOp::Div if y != 0 && x % y == 0 => x.checked_div(y),
            BinaryOp::Div => None,
            _ => None,
        };
        if let Some(n) = result {
            return Scalar::Int(n);
        }
        if matches!(op, BinaryOp::Mod) {
            return Scalar::Null;
        }
    }
    let (x, y) = (x.as_f64(), y.as_f64());
    let result = match op {
        BinaryOp::Add => x + y,
        BinaryOp::Sub => x - y,
        BinaryOp::Mul => x * y,
        BinaryOp::Div => x / y,
        BinaryOp::Mod => x % y,
        _ => f64::NAN,
    };
    if result.is_finite() {
        Scalar::Float(result)
    } else {
        Scalar::Null
    }
}

/// Names visible while compiling: names defined by earlier commands shadow record fields.
struct Scope<'f> {
    format: Option<&'f LogFormat>,
    defined: HashMap<String, usize>,
    slots: Vec<SlotKind>,
    by_kind: Vec<(SlotKind, usize)>,
    extras: usize,
    /// Names the query uses that the layout does not have (they are null).
    missing: Vec<String>,
}

impl<'f> Scope<'f> {
    fn for_format(format: &'f LogFormat) -> Self {
        Scope {
            format: Some(format),
            defined: HashMap::new(),
            slots: Vec::new(),
            by_kind: Vec::new(),
            extras: 0,
            missing: Vec::new(),
        }
    }

    fn slot_of_kind(&mut self, kind: SlotKind) -> usize {
        if let Some((_, slot)) = self.by_kind.iter().find(|(k, _)| *k == kind) {
            return *slot;
        }
        self.slots.push(kind);
        let slot = self.slots.len() - 1;
        self.by_kind.push((kind, slot));
        slot
    }

    fn resolve(&mut self, name: &str) -> usize {
        if let Some(slot) = self.defined.get(name) {
            return *slot;
        }
        let kind = match name {
            "@timestamp" => SlotKind::Timestamp,
            "@message" => SlotKind::Message,
            _ => match self.format.and_then(|f| f.resolve(name).map(|i| (f, i))) {
                Some((format, index)) => {
                    let column = &format.columns()[index];
                    SlotKind::Column {
                        index,
                        int: column.kind() == FieldKind::Int,
                        epoch: matches!(column.field, Some(Field::Start | Field::End)),
                    }
                }
                None => {
                    if !self.missing.iter().any(|m| m == name) {
                        self.missing.push(name.to_owned());
                    }
                    SlotKind::Null
                }
            },
        };
        self.slot_of_kind(kind)
    }

    /// Defines a new name holding a per-record value computed by a command.
    fn define(&mut self, name: &str) -> usize {
        let extra = self.extras;
        self.extras += 1;
        self.slots.push(SlotKind::Extra(extra));
        let slot = self.slots.len() - 1;
        self.defined.insert(name.to_owned(), slot);
        slot
    }
}

/// Resolves names to row columns after `stats`.
struct RowScope<'c> {
    columns: &'c [String],
}

trait Resolver {
    fn slot(&mut self, name: &str) -> Result<usize, PlanError>;

    /// Notes that an expression reads the record's time without naming a field (`bin`).
    fn reads_time(&mut self) {}
}

impl Resolver for Scope<'_> {
    fn slot(&mut self, name: &str) -> Result<usize, PlanError> {
        Ok(self.resolve(name))
    }

    fn reads_time(&mut self) {
        self.slot_of_kind(SlotKind::Timestamp);
    }
}

impl Resolver for RowScope<'_> {
    fn slot(&mut self, name: &str) -> Result<usize, PlanError> {
        self.columns
            .iter()
            .position(|c| c == name)
            .ok_or_else(|| PlanError::UnknownRowField {
                name: name.to_owned(),
                available: self.columns.join(", "),
            })
    }
}

fn compile_regex(pattern: &str) -> Result<Regex, PlanError> {
    Regex::new(pattern).map_err(|e| PlanError::Regex {
        pattern: pattern.to_owned(),
        message: e.to_string(),
    })
}

fn literal_value(literal: &Literal) -> Value {
    match literal {
        Literal::Int(n) => Value::Int(*n),
        Literal::Float(x) => Value::Float(*x),
        Literal::Str(s) => Value::Str(s.as_str().into()),
        Literal::Duration { millis, .. } => Value::Int(*millis),
    }
}

fn compile_expr<R: Resolver>(expr: &Expr, scope: &mut R) -> Result<CExpr, PlanError> {
    Ok(match expr {
        Expr::Field(name) => CExpr::Slot(scope.slot(name)?),
        Expr::Literal(literal) => CExpr::Const(literal_value(literal)),
        Expr::Regex(pattern) => CExpr::Const(Value::Str(pattern.as_str().into())),
        Expr::Unary { op, expr } => {
            let inner = Box::new(compile_expr(expr, scope)?);
            match op {
                UnaryOp::Not => CExpr::Not(inner),
                UnaryOp::Neg => CExpr::Neg(inner),
            }
        }
        Expr::Binary { left, op, right } => compile_binary(left, *op, right, scope)?,
        Expr::In {
            expr,
            list,
            negated,
        } => {
            let ints: Option<Vec<i64>> = list
                .iter()
                .map(|e| match e {
                    Expr::Literal(Literal::Int(n)) => Some(*n),
                    _ => None,
                })
                .collect();
            match (&**expr, ints) {
                (Expr::Field(name), Some(ints)) => CExpr::IntIn {
                    slot: scope.slot(name)?,
                    list: ints,
                    negated: *negated,
                },
                _ => CExpr::In {
                    expr: Box::new(compile_expr(expr, scope)?),
                    list: list
                        .iter()
                        .map(|e| compile_expr(e, scope))
                        .collect::<Result<_, _>>()?,
                    negated: *negated,
                },
            }
        }
        Expr::Call { func, args } => match func {
            Function::Bin => match args.as_slice() {
                [Expr::Literal(Literal::Duration { millis, .. })] if *millis > 0 => {
                    scope.reads_time();
                    CExpr::Bin { period_ms: *millis }
                }
                _ => {
                    return Err(PlanError::Arity {
                        function: "bin",
                        expected: "one time period, such as bin(5m)",
                    });
                }
            },
            Function::IsIpv4InSubnet | Function::IsIpInSubnet => {
                let name = if *func == Function::IsIpInSubnet {
                    "isIpInSubnet"
                } else {
                    "isIpv4InSubnet"
                };
                let [value, Expr::Literal(Literal::Str(cidr))] = args.as_slice() else {
                    return Err(PlanError::Arity {
                        function: name,
                        expected: "a field and a CIDR string, such as (srcAddr, \"10.0.0.0/8\")",
                    });
                };
                let net: IpNet = cidr
                    .parse()
                    .or_else(|_| cidr.parse::<std::net::IpAddr>().map(IpNet::from))
                    .map_err(|_| PlanError::Cidr { text: cidr.clone() })?;
                CExpr::InSubnet {
                    expr: Box::new(compile_expr(value, scope)?),
                    net,
                    v4_only: *func == Function::IsIpv4InSubnet,
                }
            }
        },
    })
}

/// A comparison: `IntCompare` for a field and an integer, else `Compare`.
fn compile_compare<R: Resolver>(
    left: &Expr,
    op: BinaryOp,
    right: &Expr,
    scope: &mut R,
) -> Result<CExpr, PlanError> {
    Ok(match (left, right) {
        (Expr::Field(name), Expr::Literal(Literal::Int(value))) => CExpr::IntCompare {
            op,
            slot: scope.slot(name)?,
            value: *value,
        },
        (Expr::Literal(Literal::Int(value)), Expr::Field(name)) => CExpr::IntCompare {
            // `5 < x` is `x > 5`.
            op: match op {
                BinaryOp::Lt => BinaryOp::Gt,
                BinaryOp::Le => BinaryOp::Ge,
                BinaryOp::Gt => BinaryOp::Lt,
                BinaryOp::Ge => BinaryOp::Le,
                other => other,
            },
            slot: scope.slot(name)?,
            value: *value,
        },
        _ => CExpr::Compare(
            op,
            Box::new(compile_expr(left, scope)?),
            Box::new(compile_expr(right, scope)?),
        ),
    })
}

fn compile_binary<R: Resolver>(
    left: &Expr,
    op: BinaryOp,
    right: &Expr,
    scope: &mut R,
) -> Result<CExpr, PlanError> {
    let boxed = |e: &Expr, scope: &mut R| compile_expr(e, scope).map(Box::new);
    Ok(match op {
        BinaryOp::And => CExpr::And(boxed(left, scope)?, boxed(right, scope)?),
        BinaryOp::Or => CExpr::Or(boxed(left, scope)?, boxed(right, scope)?),
        BinaryOp::Eq | BinaryOp::Ne => {
            let negated = op == BinaryOp::Ne;
            match (left, right) {
                (Expr::Field(name), Expr::Literal(Literal::Str(text)))
                | (Expr::Literal(Literal::Str(text)), Expr::Field(name)) => CExpr::TextEq {
                    slot: scope.slot(name)?,
                    text: text.clone(),
                    negated,
                },
                _ => compile_compare(left, op, right, scope)?,
            }
        }
        BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => {
            compile_compare(left, op, right, scope)?
        }
        BinaryOp::Like | BinaryOp::NotLike | BinaryOp::Match => {
            let negated = op == BinaryOp::NotLike;
            let expr = boxed(left, scope)?;
            match right {
                Expr::Regex(pattern) => CExpr::Matches {
                    expr,
                    regex: compile_regex(pattern)?,
                    negated,
                },
                Expr::Literal(Literal::Str(text)) if op == BinaryOp::Match => CExpr::Matches {
                    expr,
                    regex: compile_regex(text)?,
                    negated,
                },
                Expr::Literal(Literal::Str(text)) => CExpr::Contains {
                    expr,
                    text: text.clone(),
                    negated,
                },
                other => CExpr::Contains {
                    expr,
                    text: render_expr(other),
                    negated,
                },
            }
        }
        BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div | BinaryOp::Mod => {
            CExpr::Arith(op, boxed(left, scope)?, boxed(right, scope)?)
        }
    })
}

/// The name Logs Insights gives an unaliased column: the field name, or the text as written.
fn column_name(expr: &Expr, alias: Option<&String>) -> String {
    match (alias, expr) {
        (Some(alias), _) => alias.clone(),
        (None, Expr::Field(name)) => name.clone(),
        (None, other) => render_expr(other),
    }
}

fn aggregate_name(func: AggFunc, arg: &AggArg) -> String {
    let name = match func {
        AggFunc::Count => "count",
        AggFunc::CountDistinct => "count_distinct",
        AggFunc::Sum => "sum",
        AggFunc::Avg => "avg",
        AggFunc::Min => "min",
        AggFunc::Max => "max",
    };
    match arg {
        AggArg::Star => format!("{name}(*)"),
        AggArg::Expr(e) => format!("{name}({})", render_expr(e)),
    }
}

/// A record-stage command compiled for one layout.
#[derive(Debug)]
enum RecordStage {
    Filter(CExpr),
    Compute { expr: CExpr },
    Parse { source: usize, regex: Regex },
}

#[derive(Debug)]
struct CompiledStats {
    keys: Vec<CExpr>,
    aggregates: Vec<(AggFunc, Option<CExpr>)>,
}

/// How a query splits into stages; independent of any layout.
#[derive(Debug, Clone)]
pub struct QueryShape {
    record: Vec<Command>,
    stats: Option<crate::insights::ast::Stats>,
    post: Vec<Command>,
    /// The columns a query without `stats` returns before its post-stage commands.
    raw_columns: Vec<(String, Expr)>,
    /// Extra columns the post-stage commands need that the output does not show.
    hidden_columns: Vec<String>,
    records: bool,
}

impl QueryShape {
    pub fn new(query: &Query, records: bool) -> Result<Self, PlanError> {
        let split = query
            .commands
            .iter()
            .position(|c| {
                matches!(
                    c,
                    Command::Stats(_) | Command::Sort(_) | Command::Limit(_) | Command::Dedup(_)
                )
            })
            .unwrap_or(query.commands.len());
        let record = query.commands[..split].to_vec();
        let mut rest = query.commands[split..].iter();
        let mut post = Vec::new();
        let mut stats = None;
        if let Some(Command::Stats(s)) = query.commands.get(split) {
            stats = Some(s.clone());
            rest.next();
        }
        for command in rest {
            match command {
                Command::Stats(_) => return Err(PlanError::SecondStats),
                Command::Parse(_) if stats.is_some() => {
                    return Err(PlanError::AfterStats { what: "`parse`" });
                }
                Command::Parse(_) => return Err(PlanError::ParseLate),
                other => post.push(other.clone()),
            }
        }
        if records && stats.is_some() {
            return Err(PlanError::RecordsWithStats);
        }
        let mut raw_columns = Vec::new();
        let mut display = None;
        for command in &record {
            match command {
                Command::Fields(list) => {
                    for p in list {
                        let name = column_name(&p.expr, p.alias.as_ref());
                        raw_columns.retain(|(n, _): &(String, Expr)| *n != name);
                        raw_columns.push((name.clone(), Expr::Field(name)));
                    }
                }
                Command::Display(list) => {
                    display = Some(
                        list.iter()
                            .map(|p| {
                                let name = column_name(&p.expr, p.alias.as_ref());
                                (name.clone(), Expr::Field(name))
                            })
                            .collect(),
                    )
                }
                _ => {}
            }
        }
        if let Some(display) = display {
            raw_columns = display;
        }
        if raw_columns.is_empty() {
            for name in ["@timestamp", "@message"] {
                raw_columns.push((name.to_owned(), Expr::Field(name.to_owned())));
            }
        }
        let mut hidden_columns = Vec::new();
        if stats.is_none() {
            let mut defined: Vec<String> = raw_columns.iter().map(|(n, _)| n.clone()).collect();
            for command in &post {
                for name in referenced_fields(command) {
                    if !defined.contains(&name) && !hidden_columns.contains(&name) {
                        hidden_columns.push(name);
                    }
                }
                if let Command::Fields(list) | Command::Display(list) = command {
                    defined.extend(list.iter().filter_map(|p| p.alias.clone()));
                }
            }
        }
        Ok(QueryShape {
            record,
            stats,
            post,
            raw_columns,
            hidden_columns,
            records,
        })
    }

    pub fn has_stats(&self) -> bool {
        self.stats.is_some()
    }

    /// The number of rows the answer can hold at most, when the query ends in `limit`
    /// without a `sort`, `filter` or `dedup` before it: such queries keep only that many
    /// rows per work unit.
    fn leading_limit(&self) -> Option<usize> {
        match self.post.first() {
            Some(Command::Limit(n)) if self.stats.is_none() => usize::try_from(*n).ok(),
            _ => None,
        }
    }
}

fn referenced_fields(command: &Command) -> Vec<String> {
    fn walk(expr: &Expr, out: &mut Vec<String>) {
        match expr {
            Expr::Field(name) => out.push(name.clone()),
            Expr::Unary { expr, .. } => walk(expr, out),
            Expr::Binary { left, right, .. } => {
                walk(left, out);
                walk(right, out);
            }
            Expr::In { expr, list, .. } => {
                walk(expr, out);
                list.iter().for_each(|e| walk(e, out));
            }
            Expr::Call { args, .. } => args.iter().for_each(|e| walk(e, out)),
            Expr::Literal(_) | Expr::Regex(_) => {}
        }
    }
    let mut out = Vec::new();
    match command {
        Command::Filter(e) => walk(e, &mut out),
        Command::Sort(keys) => keys.iter().for_each(|k| walk(&k.expr, &mut out)),
        Command::Dedup(names) => out.extend(names.iter().cloned()),
        Command::Fields(list) | Command::Display(list) => {
            list.iter().for_each(|p| walk(&p.expr, &mut out))
        }
        _ => {}
    }
    out
}

/// A query compiled for one record layout.
#[derive(Debug)]
pub struct Plan {
    slots: Vec<SlotKind>,
    stages: Vec<RecordStage>,
    extras: usize,
    stats: Option<CompiledStats>,
    /// Without `stats`: what each row holds (shown columns, then hidden ones).
    projection: Vec<CExpr>,
    records: bool,
    /// Query fields the layout does not have.
    pub missing_fields: Vec<String>,
}

impl Plan {
    pub fn compile(shape: &QueryShape, format: &LogFormat) -> Result<Self, PlanError> {
        let mut scope = Scope::for_format(format);
        let mut stages = Vec::new();
        for command in &shape.record {
            match command {
                Command::Filter(e) => {
                    stages.push(RecordStage::Filter(compile_expr(e, &mut scope)?))
                }
                Command::Fields(list) | Command::Display(list) => {
                    for p in list {
                        if matches!(p.expr, Expr::Field(ref n) if p.alias.is_none() || p.alias.as_ref() == Some(n))
                        {
                            continue;
                        }
                        let expr = compile_expr(&p.expr, &mut scope)?;
                        scope.define(&column_name(&p.expr, p.alias.as_ref()));
                        stages.push(RecordStage::Compute { expr });
                    }
                }
                Command::Parse(parse) => {
                    let source = scope.resolve(&parse.field);
                    let (regex, names) = parse_regex(&parse.pattern)?;
                    stages.push(RecordStage::Parse { source, regex });
                    for name in names {
                        scope.define(&name);
                    }
                }
                // The shape puts these after the record stage.
                Command::Stats(_) | Command::Sort(_) | Command::Limit(_) | Command::Dedup(_) => {}
            }
        }
        let stats = match &shape.stats {
            Some(stats) => Some(CompiledStats {
                keys: stats
                    .by
                    .iter()
                    .map(|k| compile_expr(&k.expr, &mut scope))
                    .collect::<Result<_, _>>()?,
                aggregates: stats
                    .aggregates
                    .iter()
                    .map(|a| {
                        let arg = match &a.arg {
                            AggArg::Star => None,
                            AggArg::Expr(e) => Some(compile_expr(e, &mut scope)?),
                        };
                        Ok((a.func, arg))
                    })
                    .collect::<Result<_, PlanError>>()?,
            }),
            None => None,
        };
        let mut projection = Vec::new();
        if stats.is_none() {
            for (_, expr) in &shape.raw_columns {
                projection.push(compile_expr(expr, &mut scope)?);
            }
            for name in &shape.hidden_columns {
                projection.push(CExpr::Slot(scope.resolve(name)));
            }
        }
        Ok(Plan {
            slots: scope.slots,
            stages,
            extras: scope.extras,
            stats,
            projection,
            records: shape.records,
            missing_fields: scope.missing,
        })
    }

    /// Whether the plan reads the record's time (`@timestamp`, `bin`).
    pub fn reads_time(&self) -> bool {
        self.slots.contains(&SlotKind::Timestamp)
    }

    /// The integer columns of the layout this plan reads.
    pub fn int_columns(&self) -> impl Iterator<Item = usize> + '_ {
        self.slots.iter().filter_map(|s| match s {
            SlotKind::Column {
                index, int: true, ..
            } => Some(*index),
            _ => None,
        })
    }
}

/// Turns a `parse` pattern into a regex with one capture per name. In a glob, each `*`
/// captures as little as it can, except a trailing `*`, which takes the rest of the text.
fn parse_regex(pattern: &ParsePattern) -> Result<(Regex, Vec<String>), PlanError> {
    match pattern {
        ParsePattern::Glob { pattern, names } => {
            let pieces: Vec<&str> = pattern.split('*').collect();
            let mut re = String::new();
            for (i, piece) in pieces.iter().enumerate() {
                re.push_str(&regex::escape(piece));
                if i + 1 < pieces.len() {
                    let last = i + 2 == pieces.len() && pieces[i + 1].is_empty();
                    re.push_str(if last { "(.*)" } else { "(.*?)" });
                }
            }
            Ok((compile_regex(&re)?, names.clone()))
        }
        ParsePattern::Regex(text) => {
            let regex = compile_regex(text)?;
            let names = regex.capture_names().flatten().map(str::to_owned).collect();
            Ok((regex, names))
        }
    }
}

/// One record to evaluate: its line, token spans, `@timestamp` and its integer columns as
/// parsed when the record was checked (by column; `None` for `-` and for columns not read as
/// integers).
pub struct RecordInput<'a> {
    pub line: &'a str,
    pub spans: &'a [(usize, usize)],
    pub ints: &'a [Option<i64>],
    pub timestamp_ms: Option<i64>,
}

/// Per-thread scratch space, reused across records.
#[derive(Default)]
pub struct Scratch {
    extras: Vec<Value>,
    key: Vec<u8>,
}

/// What one unit of work produced for one query; partials merge in input order.
#[derive(Debug)]
// One partial a query a thread: its size does not matter, and groups are used in place.
#[allow(clippy::large_enum_variant)]
pub enum Partial {
    Groups(Groups),
    Rows(Vec<RawRow>),
}

#[derive(Debug, Clone)]
pub struct RawRow {
    pub values: Vec<Value>,
    pub record: Option<FlowRecord>,
}

impl Plan {
    /// Evaluates one record; returns whether it passed the record stages.
    pub fn feed(
        &self,
        input: &RecordInput<'_>,
        format: &Arc<LogFormat>,
        scratch: &mut Scratch,
        partial: &mut Partial,
        row_cap: Option<usize>,
    ) -> bool {
        scratch.extras.clear();
        for stage in &self.stages {
            let ctx = RecordContext {
                line: input.line,
                spans: input.spans,
                ints: input.ints,
                slots: &self.slots,
                extras: &scratch.extras,
                timestamp_ms: input.timestamp_ms,
            };
            match stage {
                RecordStage::Filter(e) => {
                    if !e.test(&ctx) {
                        return false;
                    }
                }
                RecordStage::Compute { expr } => {
                    let value = expr.eval(&ctx).to_value();
                    scratch.extras.push(value);
                }
                RecordStage::Parse { source, regex } => {
                    let text = ctx.get(*source);
                    let captures = text.as_str().and_then(|t| regex.captures(t));
                    let values: Vec<Value> = (1..regex.captures_len())
                        .map(|i| {
                            captures
                                .as_ref()
                                .and_then(|c| c.get(i))
                                .map_or(Value::Null, |m| Value::Str(m.as_str().into()))
                        })
                        .collect();
                    scratch.extras.extend(values);
                }
            }
        }
        debug_assert!(scratch.extras.len() <= self.extras);
        let ctx = RecordContext {
            line: input.line,
            spans: input.spans,
            ints: input.ints,
            slots: &self.slots,
            extras: &scratch.extras,
            timestamp_ms: input.timestamp_ms,
        };
        match (partial, &self.stats) {
            (Partial::Groups(groups), Some(stats)) => groups.fold(stats, &ctx, &mut scratch.key),
            (Partial::Rows(rows), None) => {
                if row_cap.is_some_and(|cap| rows.len() >= cap) {
                    return true;
                }
                let values = self
                    .projection
                    .iter()
                    .map(|e| e.eval(&ctx).to_value())
                    .collect();
                let record = if self.records {
                    FlowRecord::parse(input.line, format).ok()
                } else {
                    None
                };
                rows.push(RawRow { values, record });
            }
            _ => {}
        }
        true
    }
}

/// Aggregation state of one group. Groups hold millions of these, so each is 16 bytes: the
/// running sum, minimum or maximum is one variant a kind of value, an exact sum and an
/// average's sum and count are boxed, and a text minimum or maximum is where its text is in
/// the groups' [`Texts`].
#[derive(Debug, Clone)]
enum AggState {
    Count(u64),
    Distinct(Box<FxHashSet<Vec<u8>>>),
    /// `sum` before its first number; then an integer while the integers fit; then a float
    /// while every addition is exact (fractions such as `bytes / 1024`); then kept exactly
    /// and rounded when the answer is made. So a sum never depends on the order of its terms.
    SumNone,
    SumInt(i64),
    SumFloat(f64),
    SumExact(Box<ExactSum>),
    Avg(Box<Mean>),
    MinNone,
    MinInt(i64),
    MinFloat(f64),
    MinTime(i64),
    MinText(TextRef),
    MaxNone,
    MaxInt(i64),
    MaxFloat(f64),
    MaxTime(i64),
    MaxText(TextRef),
}

/// The text minimums and maximums of a set of groups, one after another, so that a state
/// holds 8 bytes and the text costs its own bytes only (not an allocation a group). A text
/// replaced by one no longer overwrites it in place; the text left behind by longer ones is
/// reclaimed by [`Texts::compacted`] once it is most of the buffer.
#[derive(Debug, Default, Clone)]
struct Texts {
    text: String,
    /// Bytes that some state still refers to.
    live: usize,
}

/// Where a text is in [`Texts`].
#[derive(Debug, Clone, Copy)]
struct TextRef {
    start: u32,
    len: u32,
}

impl Texts {
    fn capacity(&self) -> usize {
        self.text.capacity()
    }

    fn get(&self, at: TextRef) -> &str {
        &self.text[at.start as usize..][..at.len as usize]
    }

    /// Holds `text` in place of `old`: where `old` was, when it fits.
    fn replace(&mut self, old: Option<TextRef>, text: &str) -> TextRef {
        let offset = |n: usize| {
            // 4 GiB of minimums and maximums in one shard is more than its groups could take.
            u32::try_from(n).expect("under 4 GiB of text minimums and maximums in one shard")
        };
        if let Some(old) = old {
            self.live -= old.len as usize;
            let start = old.start as usize;
            if text.len() <= old.len as usize && self.text.is_char_boundary(start + text.len()) {
                self.text.replace_range(start..start + text.len(), text);
                self.live += text.len();
                return TextRef {
                    start: old.start,
                    len: offset(text.len()),
                };
            }
        }
        let start = offset(self.text.len());
        self.text.push_str(text);
        self.live += text.len();
        TextRef {
            start,
            len: offset(text.len()),
        }
    }

    fn release(&mut self, old: TextRef) {
        self.live -= old.len as usize;
    }

    /// Whether most of the buffer is text no state refers to any more.
    fn wasteful(&self) -> bool {
        self.text.len() > 2 * self.live + (1 << 20)
    }

    /// The texts of `states` (which are all of this buffer's), in a new buffer without the
    /// rest; `states` are updated to point there.
    fn compacted(&self, states: &mut [AggState]) -> Texts {
        let mut fresh = Texts::default();
        for state in states {
            state.move_text(self, &mut fresh);
        }
        fresh
    }
}

/// The sum (a `sum`'s state, so as exact as a sum) and the count of the numbers an average
/// has seen.
#[derive(Debug, Clone)]
struct Mean {
    sum: AggState,
    n: u64,
}

impl Default for Mean {
    fn default() -> Self {
        Mean {
            sum: AggState::SumNone,
            n: 0,
        }
    }
}

impl AggState {
    fn new(func: AggFunc) -> Self {
        match func {
            AggFunc::Count => AggState::Count(0),
            AggFunc::CountDistinct => AggState::Distinct(Box::default()),
            AggFunc::Sum => AggState::SumNone,
            AggFunc::Avg => AggState::Avg(Box::default()),
            AggFunc::Min => AggState::MinNone,
            AggFunc::Max => AggState::MaxNone,
        }
    }

    /// The minimum or maximum so far, if this is one and has a value.
    fn bound<'t>(&self, texts: &'t Texts) -> Option<Scalar<'t>> {
        match *self {
            AggState::MinInt(n) | AggState::MaxInt(n) => Some(Scalar::Int(n)),
            AggState::MinFloat(x) | AggState::MaxFloat(x) => Some(Scalar::Float(x)),
            AggState::MinTime(t) | AggState::MaxTime(t) => Some(Scalar::Time(t)),
            AggState::MinText(at) | AggState::MaxText(at) => Some(Scalar::Str(texts.get(at))),
            _ => None,
        }
    }

    fn text_ref(&self) -> Option<TextRef> {
        match *self {
            AggState::MinText(at) | AggState::MaxText(at) => Some(at),
            _ => None,
        }
    }

    /// Moves this state's text, if it has one, from `from` to `to`.
    fn move_text(&mut self, from: &Texts, to: &mut Texts) {
        if let AggState::MinText(at) | AggState::MaxText(at) = self {
            *at = to.replace(None, from.get(*at));
        }
    }

    fn is_min(&self) -> bool {
        matches!(
            self,
            AggState::MinNone
                | AggState::MinInt(_)
                | AggState::MinFloat(_)
                | AggState::MinTime(_)
                | AggState::MinText(_)
        )
    }

    /// Makes this minimum (or maximum) hold `value`; text goes into `texts`.
    fn set_bound(&mut self, min: bool, value: &Scalar<'_>, texts: &mut Texts) {
        let old = self.text_ref();
        if let Some(text) = value.as_str() {
            let at = texts.replace(old, text);
            *self = if min {
                AggState::MinText(at)
            } else {
                AggState::MaxText(at)
            };
            return;
        }
        if let Some(old) = old {
            texts.release(old);
        }
        // Text was handled above: what is left is a number, a time or null.
        *self = match (min, value.to_value()) {
            (true, Value::Int(n)) => AggState::MinInt(n),
            (true, Value::Float(x)) => AggState::MinFloat(x),
            (true, Value::Time(t)) => AggState::MinTime(t),
            (true, _) => AggState::MinNone,
            (false, Value::Int(n)) => AggState::MaxInt(n),
            (false, Value::Float(x)) => AggState::MaxFloat(x),
            (false, Value::Time(t)) => AggState::MaxTime(t),
            (false, _) => AggState::MaxNone,
        };
    }

    /// Adds a number to a sum: an integer while the integers fit, a float while additions are
    /// exact, an exact sum after. Returns the heap bytes the state grew by.
    fn add(&mut self, number: Number) -> usize {
        match (&mut *self, number) {
            (AggState::SumExact(sum), number) => {
                let before = sum.heap_bytes();
                sum.add(number);
                return sum.heap_bytes().saturating_sub(before);
            }
            (AggState::SumNone, Number::Int(n)) => {
                *self = AggState::SumInt(n);
                return 0;
            }
            (AggState::SumNone, Number::Float(x)) if x.is_finite() => {
                *self = AggState::SumFloat(x);
                return 0;
            }
            (AggState::SumInt(a), Number::Int(n)) => {
                if let Some(total) = a.checked_add(n) {
                    *a = total;
                    return 0;
                }
            }
            (AggState::SumInt(a), number) => {
                if let Some(total) = exact_f64_sum(Number::Int(*a), number) {
                    *self = AggState::SumFloat(total);
                    return 0;
                }
            }
            (AggState::SumFloat(a), number) => {
                if let Some(total) = exact_f64_sum(Number::Float(*a), number) {
                    *a = total;
                    return 0;
                }
            }
            (AggState::SumNone, _) => {}
            _ => return 0,
        }
        let mut sum = ExactSum::default();
        match *self {
            AggState::SumInt(a) => sum.add(Number::Int(a)),
            AggState::SumFloat(a) => sum.add(Number::Float(a)),
            _ => {}
        }
        sum.add(number);
        let heap = size_of::<ExactSum>() + 16 + sum.heap_bytes();
        *self = AggState::SumExact(Box::new(sum));
        heap
    }

    /// Folds one value in; returns the heap bytes the state grew by, roughly (a distinct
    /// count's new value and its place in the set), so that groups know their memory.
    fn update(
        &mut self,
        value: Option<&Scalar<'_>>,
        key: &mut Vec<u8>,
        texts: &mut Texts,
    ) -> usize {
        let value = match value {
            None => {
                // count(*)
                if let AggState::Count(n) = self {
                    *n += 1;
                }
                return 0;
            }
            Some(Scalar::Null) => return 0,
            Some(v) => v,
        };
        // The states of most aggregates and the values flow logs give them, decided without
        // making the state a value to compare (`total_cmp` orders two integers, two times or
        // two texts as these do): the general way below was most of an update's cost.
        match (&mut *self, value) {
            (AggState::SumInt(sum), Scalar::Int(n)) => {
                if let Some(total) = sum.checked_add(*n) {
                    *sum = total;
                    return 0;
                }
            }
            (AggState::MinInt(bound), Scalar::Int(n))
            | (AggState::MinTime(bound), Scalar::Time(n)) => {
                *bound = (*bound).min(*n);
                return 0;
            }
            (AggState::MaxInt(bound), Scalar::Int(n))
            | (AggState::MaxTime(bound), Scalar::Time(n)) => {
                *bound = (*bound).max(*n);
                return 0;
            }
            (AggState::MinText(at), Scalar::Str(text)) => {
                if *text < texts.get(*at) {
                    *at = texts.replace(Some(*at), text);
                }
                return 0;
            }
            (AggState::MaxText(at), Scalar::Str(text)) => {
                if *text > texts.get(*at) {
                    *at = texts.replace(Some(*at), text);
                }
                return 0;
            }
            _ => {}
        }
        match self {
            AggState::Count(n) => *n += 1,
            AggState::Distinct(set) => {
                key.clear();
                encode_key(value, key);
                if !set.contains(key.as_slice()) {
                    set.insert(key.clone());
                    return key.len() + 56;
                }
            }
            AggState::SumNone
            | AggState::SumInt(_)
            | AggState::SumFloat(_)
            | AggState::SumExact(_) => {
                if let Some(number) = value.as_number() {
                    return self.add(number);
                }
            }
            AggState::Avg(mean) => {
                if let Some(number) = value.as_number() {
                    mean.n += 1;
                    return mean.sum.add(number);
                }
            }
            _ => {
                let min = self.is_min();
                let replace = self.bound(texts).is_none_or(|current| {
                    let o = value.total_cmp(&current);
                    if min { o.is_lt() } else { o.is_gt() }
                });
                if replace {
                    self.set_bound(min, value, texts);
                }
            }
        }
        0
    }

    /// Merges another set of groups' state, whose texts are in `theirs`, into this one,
    /// whose texts are in `mine`.
    ///
    /// Returns the heap bytes, as `update` counted them, that `other` held and that are gone
    /// now, roughly: values a set had already, an exact sum merged into another.
    fn merge(&mut self, other: AggState, mine: &mut Texts, theirs: &Texts) -> usize {
        let mut freed = 0;
        match (&mut *self, other) {
            (AggState::Count(a), AggState::Count(b)) => *a += b,
            (AggState::Distinct(a), AggState::Distinct(b)) => {
                for value in *b {
                    if a.contains(&value) {
                        freed += value.len() + 56;
                    } else {
                        a.insert(value);
                    }
                }
            }
            (
                AggState::SumNone
                | AggState::SumInt(_)
                | AggState::SumFloat(_)
                | AggState::SumExact(_),
                b,
            ) => match b {
                AggState::SumInt(n) => {
                    self.add(Number::Int(n));
                }
                AggState::SumFloat(x) => {
                    self.add(Number::Float(x));
                }
                AggState::SumExact(mut theirs) => match self {
                    AggState::SumExact(sum) => {
                        sum.merge(&theirs);
                        freed += size_of::<ExactSum>() + 16 + theirs.heap_bytes();
                    }
                    AggState::SumInt(a) => {
                        theirs.add(Number::Int(*a));
                        *self = AggState::SumExact(theirs);
                    }
                    AggState::SumFloat(a) => {
                        theirs.add(Number::Float(*a));
                        *self = AggState::SumExact(theirs);
                    }
                    _ => *self = AggState::SumExact(theirs),
                },
                _ => {}
            },
            (AggState::Avg(mean), AggState::Avg(other)) => {
                let Mean { sum, n } = *other;
                freed += mean.sum.merge(sum, mine, theirs);
                mean.n += n;
            }
            (a, b) => {
                let min = a.is_min();
                let Some(their_bound) = b.bound(theirs).map(|s| s.to_value()) else {
                    return freed;
                };
                let replace = a.bound(mine).is_none_or(|m| {
                    let o = their_bound.total_cmp(&m.to_value());
                    if min { o.is_lt() } else { o.is_gt() }
                });
                if replace {
                    a.set_bound(min, &Scalar::from_value(&their_bound), mine);
                }
            }
        }
        freed
    }

    /// Appends this state, with its text, to a spill file's record (see `groups::spill`).
    fn write(&self, texts: &Texts, out: &mut Vec<u8>) {
        let (tag, word): (u8, Option<[u8; 8]>) = match self {
            AggState::Count(n) => (0, Some(n.to_le_bytes())),
            AggState::Distinct(set) => (1, Some((set.len() as u64).to_le_bytes())),
            AggState::SumNone => (2, None),
            AggState::SumInt(n) => (3, Some(n.to_le_bytes())),
            AggState::SumFloat(x) => (4, Some(x.to_le_bytes())),
            AggState::SumExact(_) => (16, None),
            AggState::Avg(mean) => (5, Some(mean.n.to_le_bytes())),
            AggState::MinNone => (6, None),
            AggState::MinInt(n) => (7, Some(n.to_le_bytes())),
            AggState::MinFloat(x) => (8, Some(x.to_le_bytes())),
            AggState::MinTime(t) => (9, Some(t.to_le_bytes())),
            AggState::MinText(_) => (10, None),
            AggState::MaxNone => (11, None),
            AggState::MaxInt(n) => (12, Some(n.to_le_bytes())),
            AggState::MaxFloat(x) => (13, Some(x.to_le_bytes())),
            AggState::MaxTime(t) => (14, Some(t.to_le_bytes())),
            AggState::MaxText(_) => (15, None),
        };
        out.push(tag);
        out.extend_from_slice(word.as_ref().map_or(&[][..], |w| &w[..]));
        if let AggState::Avg(mean) = self {
            mean.sum.write(texts, out);
        }
        if let AggState::SumExact(sum) = self {
            let (whole, floats, partials, special) = sum.parts();
            out.extend_from_slice(&whole.to_le_bytes());
            out.push(u8::from(floats));
            out.extend_from_slice(&special.to_le_bytes());
            out.extend_from_slice(&(partials.len() as u64).to_le_bytes());
            for x in partials {
                out.extend_from_slice(&x.to_le_bytes());
            }
        }
        let mut bytes = |b: &[u8]| {
            out.extend_from_slice(&(b.len() as u64).to_le_bytes());
            out.extend_from_slice(b);
        };
        match self {
            AggState::Distinct(set) => set.iter().for_each(|value| bytes(value)),
            AggState::MinText(at) | AggState::MaxText(at) => bytes(texts.get(*at).as_bytes()),
            _ => {}
        }
    }

    /// Reads a state `write` wrote from the front of `bytes`, its text into `texts`; `None`
    /// when the bytes are not one.
    fn read(bytes: &mut &[u8], texts: &mut Texts) -> Option<AggState> {
        fn take<'b>(bytes: &mut &'b [u8], n: usize) -> Option<&'b [u8]> {
            let (taken, rest) = bytes.split_at_checked(n)?;
            *bytes = rest;
            Some(taken)
        }
        fn word(bytes: &mut &[u8]) -> Option<[u8; 8]> {
            take(bytes, 8)?.try_into().ok()
        }
        fn len(bytes: &mut &[u8]) -> Option<usize> {
            usize::try_from(u64::from_le_bytes(word(bytes)?)).ok()
        }
        let int = |bytes: &mut &[u8]| word(bytes).map(i64::from_le_bytes);
        let float = |bytes: &mut &[u8]| word(bytes).map(f64::from_le_bytes);
        let exact = |bytes: &mut &[u8]| -> Option<ExactSum> {
            let whole = i128::from_le_bytes(take(bytes, 16)?.try_into().ok()?);
            let floats = match take(bytes, 1)? {
                [0] => false,
                [1] => true,
                _ => return None,
            };
            let special = float(bytes)?;
            let n = len(bytes)?;
            // Each partial takes 8 bytes: a count past what is left is damage, not a size.
            if n > bytes.len() / 8 {
                return None;
            }
            let partials = (0..n).map(|_| float(bytes)).collect::<Option<Vec<f64>>>()?;
            Some(ExactSum::from_parts(whole, floats, partials, special))
        };
        let mut text = |bytes: &mut &[u8]| -> Option<TextRef> {
            let n = len(bytes)?;
            let text = std::str::from_utf8(take(bytes, n)?).ok()?;
            Some(texts.replace(None, text))
        };
        let (&tag, rest) = bytes.split_first()?;
        *bytes = rest;
        Some(match tag {
            0 => AggState::Count(u64::from_le_bytes(word(bytes)?)),
            1 => {
                let n = len(bytes)?;
                let mut set = FxHashSet::default();
                for _ in 0..n {
                    let len = len(bytes)?;
                    set.insert(take(bytes, len)?.to_vec());
                }
                AggState::Distinct(Box::new(set))
            }
            2 => AggState::SumNone,
            3 => AggState::SumInt(int(bytes)?),
            4 => AggState::SumFloat(float(bytes)?),
            5 => {
                let n = u64::from_le_bytes(word(bytes)?);
                // The sum inside: one of the sum's tags (and never another average).
                if !matches!(bytes.first(), Some(2 | 3 | 4 | 16)) {
                    return None;
                }
                let sum = AggState::read(bytes, texts)?;
                let is_sum = matches!(
                    sum,
                    AggState::SumNone
                        | AggState::SumInt(_)
                        | AggState::SumFloat(_)
                        | AggState::SumExact(_)
                );
                AggState::Avg(Box::new(Mean {
                    sum: is_sum.then_some(sum)?,
                    n,
                }))
            }
            6 => AggState::MinNone,
            7 => AggState::MinInt(int(bytes)?),
            8 => AggState::MinFloat(float(bytes)?),
            9 => AggState::MinTime(int(bytes)?),
            10 => AggState::MinText(text(bytes)?),
            11 => AggState::MaxNone,
            12 => AggState::MaxInt(int(bytes)?),
            13 => AggState::MaxFloat(float(bytes)?),
            14 => AggState::MaxTime(int(bytes)?),
            15 => AggState::MaxText(text(bytes)?),
            16 => AggState::SumExact(Box::new(exact(bytes)?)),
            _ => return None,
        })
    }

    /// Heap bytes a new state of `func` holds beyond its 16, roughly (an allocation costs its
    /// bytes and about 16 more); a distinct count's values add theirs as they come (`update`).
    fn heap_bytes(func: AggFunc) -> usize {
        match func {
            // The boxed `Mean`; its exact sum's floats add theirs as they come (`update`).
            AggFunc::Avg => size_of::<Mean>() + 16,
            AggFunc::CountDistinct => 48,
            _ => 0,
        }
    }

    fn finish(&self, texts: &Texts) -> Value {
        match self {
            AggState::Count(n) => Value::Int(i64::try_from(*n).unwrap_or(i64::MAX)),
            AggState::Distinct(set) => Value::Int(i64::try_from(set.len()).unwrap_or(i64::MAX)),
            AggState::SumInt(n) => Value::Int(*n),
            AggState::SumFloat(x) => Value::Float(*x),
            AggState::SumExact(sum) => sum
                .integer()
                .map_or_else(|| Value::Float(sum.value()), Value::Int),
            AggState::Avg(mean) if mean.n == 0 => Value::Null,
            AggState::Avg(mean) => match mean.sum.finish(texts).as_f64() {
                Some(sum) => Value::Float(sum / mean.n as f64),
                None => Value::Null,
            },
            other => other.bound(texts).map_or(Value::Null, |b| b.to_value()),
        }
    }
}

/// `a + b` as a float, when both are floats (or integers that floats hold exactly) and their
/// sum is one exactly: no rounding, so the order of such additions does not matter.
fn exact_f64_sum(a: Number, b: Number) -> Option<f64> {
    let float = |n: Number| match n {
        // 2^53: every integer up to it is a float.
        Number::Int(n) if n.unsigned_abs() <= 1 << 53 => Some(n as f64),
        Number::Float(x) if x.is_finite() => Some(x),
        _ => None,
    };
    let (a, b) = (float(a)?, float(b)?);
    let sum = a + b;
    // Knuth's TwoSum: the rounding error of `a + b`, exactly.
    let b_part = sum - a;
    let error = (a - (sum - b_part)) + (b - b_part);
    (sum.is_finite() && error == 0.0).then_some(sum)
}

/// Appends a scalar to a group key. The encoding preserves order: keys compare as bytes the
/// way their values sort (nulls, then numbers, then times, then text), so groups are ordered
/// without decoding them. Numbers and numeric text do not share an encoding: a port is an
/// integer in a typed column and the same text everywhere else.
fn encode_key(value: &Scalar<'_>, key: &mut Vec<u8>) {
    const TAG_NULL: u8 = 0;
    const TAG_INT: u8 = 1;
    const TAG_FLOAT: u8 = 2;
    const TAG_TIME: u8 = 3;
    const TAG_TEXT: u8 = 4;
    // Flipping the sign bit makes two's complement sort as unsigned big-endian bytes.
    let ordered_int = |n: i64| (n.cast_unsigned() ^ (1 << 63)).to_be_bytes();
    match value {
        Scalar::Null => key.push(TAG_NULL),
        Scalar::Int(n) => {
            key.push(TAG_INT);
            key.extend_from_slice(&ordered_int(*n));
        }
        Scalar::Bool(b) => {
            key.push(TAG_INT);
            key.extend_from_slice(&ordered_int(i64::from(*b)));
        }
        Scalar::Float(x) => {
            key.push(TAG_FLOAT);
            // IEEE 754 bits sort as integers once negative values are inverted.
            let bits = x.to_bits();
            let ordered = if bits >> 63 == 1 {
                !bits
            } else {
                bits | (1 << 63)
            };
            key.extend_from_slice(&ordered.to_be_bytes());
        }
        Scalar::Time(ms) => {
            key.push(TAG_TIME);
            key.extend_from_slice(&ordered_int(*ms));
        }
        Scalar::Str(_) | Scalar::Owned(_) => {
            let text = value.as_str().unwrap_or_default();
            key.push(TAG_TEXT);
            // Zero bytes are escaped and a zero pair ends the text, so a prefix sorts first.
            if memchr::memchr(0, text.as_bytes()).is_none() {
                key.extend_from_slice(text.as_bytes());
            } else {
                for &b in text.as_bytes() {
                    key.push(b);
                    if b == 0 {
                        key.push(0xff);
                    }
                }
            }
            key.extend_from_slice(&[0, 0]);
        }
    }
}

/// Decodes a key written by `encode_key`, one value per group-by expression.
fn decode_key(bytes: &[u8]) -> Vec<Value> {
    let mut values = Vec::new();
    decode_key_after(bytes, &[], &mut values, 0);
    values
}

/// The eight bytes of `bytes` from `at`, as a little-endian word: keys and texts are compared
/// a word at a time.
fn le_word(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
}

/// The length of the bytes `a` and `b` start with alike, found a word at a time.
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    let n = a.len().min(b.len());
    let mut at = 0;
    while at + 8 <= n {
        let differ = le_word(a, at) ^ le_word(b, at);
        if differ != 0 {
            // Little-endian: the first differing byte is the lowest set one.
            return at + (differ.trailing_zeros() / 8) as usize;
        }
        at += 8;
    }
    at + a[at..n]
        .iter()
        .zip(&b[at..n])
        .take_while(|(x, y)| x == y)
        .count()
}

/// As `decode_key`, appending the values to `values`, for keys that come in order: a text
/// wholly in the bytes this key shares with the one before (`prev_key`, whose values start at
/// `values[prev]`) is that row's value again, shared rather than allocated (sorted rows repeat
/// their first keys, such as an interface, for thousands of rows).
fn decode_key_after(mut bytes: &[u8], prev_key: &[u8], values: &mut Vec<Value>, prev: usize) {
    let total = bytes.len();
    let shared = common_prefix(bytes, prev_key);
    let start = values.len();
    let take8 = |b: &[u8]| -> Option<[u8; 8]> { b.get(..8).and_then(|s| s.try_into().ok()) };
    let int = |raw: [u8; 8]| (u64::from_be_bytes(raw) ^ (1 << 63)).cast_signed();
    while let Some((&tag, rest)) = bytes.split_first() {
        bytes = rest;
        let value = match tag {
            0 => Value::Null,
            1..=3 => {
                let Some(raw) = take8(bytes) else { break };
                bytes = &bytes[8..];
                match tag {
                    1 => Value::Int(int(raw)),
                    2 => {
                        let ordered = u64::from_be_bytes(raw);
                        let bits = if ordered >> 63 == 1 {
                            ordered & !(1 << 63)
                        } else {
                            !ordered
                        };
                        Value::Float(f64::from_bits(bits))
                    }
                    _ => Value::Time(int(raw)),
                }
            }
            _ => {
                let to_value = |text: &[u8]| {
                    Value::Str(match std::str::from_utf8(text) {
                        Ok(text) => text.into(),
                        Err(_) => String::from_utf8_lossy(text).into(),
                    })
                };
                // Most texts have no zero byte: they end at the first.
                let zero = memchr::memchr(0, bytes).unwrap_or(bytes.len());
                let ends_here = bytes.get(zero + 1) == Some(&0);
                // Where its encoding (with its two-byte end) ends in the key.
                let end = total - bytes.len() + zero + 2;
                let same = prev + (values.len() - start);
                if ends_here && end <= shared && same < start {
                    values.push(values[same].clone());
                    bytes = &bytes[zero + 2..];
                    continue;
                }
                if ends_here || zero + 1 >= bytes.len() {
                    let value = to_value(&bytes[..zero]);
                    bytes = bytes.get(zero + 2..).unwrap_or_default();
                    values.push(value);
                    continue;
                }
                let mut text = Vec::new();
                // Up to each zero byte: an escaped zero (then 0xff) or the end (then 0).
                loop {
                    let zero = memchr::memchr(0, bytes).unwrap_or(bytes.len());
                    text.extend_from_slice(&bytes[..zero]);
                    match bytes.get(zero + 1) {
                        Some(0) | None => {
                            bytes = bytes.get(zero + 2..).unwrap_or_default();
                            break;
                        }
                        Some(_) => {
                            text.push(0);
                            bytes = &bytes[zero + 2..];
                        }
                    }
                }
                to_value(&text)
            }
        };
        values.push(value);
    }
}

impl Partial {
    pub fn merge(&mut self, other: Partial) {
        match (self, other) {
            (Partial::Groups(a), Partial::Groups(b)) => a.merge(b),
            (Partial::Rows(a), Partial::Rows(b)) => a.extend(b),
            _ => {}
        }
    }

    /// Called once the thread has fed its last record (see `Groups::finish_reading`).
    pub fn finish_reading(&mut self) {
        if let Partial::Groups(groups) = self {
            groups.finish_reading();
        }
    }

    /// Finishes the work on every record fed so far (groups move from their front tables to
    /// their shards), and reports groups that could not be written to disk.
    pub fn settle(&mut self) -> Result<(), SpillError> {
        match self {
            Partial::Groups(groups) => groups.settle_or_error(),
            Partial::Rows(_) => Ok(()),
        }
    }
}

/// The finished answer: rows after `stats` and the post-stage commands.
pub struct Finished {
    pub table: Table,
    pub records: Vec<FlowRecord>,
    /// With `stream`, the rows of an answer left to be made as they are written: `table` has
    /// its columns and no rows.
    pub stream: Option<Streamed>,
    /// Bytes of groups that went to disk on the way.
    pub spilled_bytes: u64,
    /// Bytes of rows that `sort`s wrote to disk.
    pub sorted_spilled_bytes: u64,
}

/// An answer whose rows are made as they are written, rather than held.
#[derive(Debug, Clone)]
pub enum Streamed {
    /// The groups of a `stats` answer by keys that no command follows, in key order.
    Groups(SortedGroups),
    /// The rows of a `stats` answer that a `sort` orders, read back from disk if they
    /// outgrew the memory limit.
    Sorted(SortedRows),
}

/// The hidden column that, with `--records`, numbers the record each raw row came from.
const RECORD_COLUMN: &str = "\u{1}record";

/// Finishes a query: turns the merged partial into rows and runs the post-stage commands,
/// whose `sort`s hold at most `sort_budget` bytes of rows (0: no limit). With `stream`, a
/// `stats` answer by keys that no command follows is left as sorted groups, and one that a
/// `sort` orders as sorted rows, to be made into rows as they are written.
pub fn finish(
    shape: &QueryShape,
    partial: Partial,
    stream: bool,
    sort_budget: usize,
) -> Result<Finished, super::LocalError> {
    let raw = match (partial, &shape.stats) {
        (Partial::Groups(groups), Some(stats)) => {
            return finish_groups(shape, stats, groups, stream, sort_budget);
        }
        (Partial::Rows(raw), _) => raw,
        (Partial::Groups(_), None) => Vec::new(),
    };
    let columns = raw_columns(shape);
    let mut records = Vec::new();
    let rows = raw
        .into_iter()
        .map(|mut r| {
            if shape.records {
                r.values.push(Value::Int(records.len() as i64));
                records.push(r.record);
            }
            r.values
        })
        .collect();
    apply_post(&shape.post, columns, rows, shape.raw_columns.len(), records)
}

/// The columns of a query's raw rows, as the commands after the record stage see them.
fn raw_columns(shape: &QueryShape) -> Vec<String> {
    let mut columns: Vec<String> = shape.raw_columns.iter().map(|(n, _)| n.clone()).collect();
    columns.extend(shape.hidden_columns.iter().cloned());
    if shape.records {
        columns.push(RECORD_COLUMN.to_owned());
    }
    columns
}

/// The commands after the record stage of a query without `stats`, for raw rows written as
/// they are read: rows go in in input order and come out as soon as the commands let them
/// (a `sort` holds them until the input ends).
pub struct RawRows {
    post: Post,
    shown: Shown,
}

impl RawRows {
    /// The commands of `shape`, whose `sort`s hold at most `sort_budget` bytes of rows (0: no
    /// limit) and write the rest to disk.
    pub fn new(shape: &QueryShape, sort_budget: usize) -> Result<Self, PlanError> {
        let post = Post::compile(&shape.post, raw_columns(shape))?.with_sort_budget(sort_budget);
        let shown = post.shown(shape.raw_columns.len());
        Ok(RawRows { post, shown })
    }

    /// Whether rows come out as they go in: no command after the record stage.
    pub fn passes_through(&self) -> bool {
        self.post.is_empty()
    }

    /// The columns of the rows that come out.
    pub fn columns(&self) -> &[String] {
        &self.shown.columns
    }

    /// Runs rows through the commands, while they want more; gives the rows that came out.
    pub fn push(&mut self, rows: Vec<RawRow>) -> Result<Vec<Vec<Value>>, SpillError> {
        for row in rows {
            if !self.post.wants_more() {
                break;
            }
            self.post.push_owned(row.values)?;
        }
        Ok(self.post.take_rows(&self.shown))
    }

    /// Bytes of rows the `sort`s wrote to disk so far.
    pub fn spilled_bytes(&self) -> u64 {
        self.post.spilled_bytes()
    }

    /// Whether another row could still come out (see `Post::wants_more`).
    pub fn wants_more(&self) -> bool {
        self.post.wants_more()
    }

    /// Ends the input: the rows a `sort` held, in order, through the commands after it, to
    /// `emit` a chunk at a time (see `Post::end_input_with`).
    pub fn finish<E: From<SpillError>>(
        &mut self,
        emit: &mut dyn FnMut(Vec<Vec<Value>>) -> Result<bool, E>,
    ) -> Result<(), E> {
        let shown = &self.shown;
        self.post
            .end_input_with(&mut |rows| emit(shown.cut_rows(rows)))
    }
}

/// Finishes a `stats` answer. Its rows go through the commands after `stats` as they are made,
/// so that only the rows those commands keep are held.
fn finish_groups(
    shape: &QueryShape,
    stats: &crate::insights::ast::Stats,
    groups: Groups,
    stream: bool,
    sort_budget: usize,
) -> Result<Finished, super::LocalError> {
    let mut columns: Vec<String> = stats
        .by
        .iter()
        .map(|k| column_name(&k.expr, k.alias.as_ref()))
        .collect();
    columns.extend(stats.aggregates.iter().map(|a| {
        a.alias
            .clone()
            .unwrap_or_else(|| aggregate_name(a.func, &a.arg))
    }));
    if stream && shape.post.is_empty() && !stats.by.is_empty() {
        let (sorted, spilled_bytes) = groups.sorted()?;
        return Ok(Finished {
            table: Table {
                columns,
                rows: Vec::new(),
            },
            records: Vec::new(),
            stream: Some(Streamed::Groups(sorted)),
            spilled_bytes,
            sorted_spilled_bytes: 0,
        });
    }
    let shown = columns.len();
    // Sorted rows go to disk only when they are then read as they are written: an answer
    // held whole would read them all back.
    let sort_budget = if stream { sort_budget } else { 0 };
    let mut commands = Post::compile(&shape.post, columns)?.with_sort_budget(sort_budget);
    let (sorted, spilled_bytes) = groups.sorted()?;
    let mut empty = true;
    let mut pushed = Ok(());
    sorted.for_each_row(|row| {
        empty = false;
        pushed = commands.push(row);
        pushed.is_ok() && commands.wants_more()
    })?;
    pushed?;
    if empty && stats.by.is_empty() {
        // A total over nothing is still one row: count 0, other aggregates null.
        let total: Vec<Value> = stats
            .aggregates
            .iter()
            .map(|a| AggState::new(a.func).finish(&Texts::default()))
            .collect();
        commands.push(&total)?;
    }
    if stream && commands.sorts() > 0 {
        // The rows are in the sorts (and on disk past their budget): they are read, and go
        // through the commands after the sorts, as they are written.
        let shown = commands.shown(shown);
        let sorted = SortedRows::new(commands, shown)?;
        return Ok(Finished {
            table: Table {
                columns: sorted.columns().to_vec(),
                rows: Vec::new(),
            },
            records: Vec::new(),
            sorted_spilled_bytes: sorted.spilled_bytes(),
            stream: Some(Streamed::Sorted(sorted)),
            spilled_bytes,
        });
    }
    let sorted_spilled_bytes = commands.spilled_bytes();
    let (table, _) = commands.finish(shown, None, Vec::new())?;
    Ok(Finished {
        table,
        records: Vec::new(),
        stream: None,
        spilled_bytes,
        sorted_spilled_bytes,
    })
}

/// Runs the commands after the record stage (and after `stats`) over rows. `shown` is how many
/// leading columns the output shows when no `fields`/`display` chooses.
fn apply_post(
    post: &[Command],
    columns: Vec<String>,
    rows: Vec<Vec<Value>>,
    shown: usize,
    records: Vec<Option<FlowRecord>>,
) -> Result<Finished, super::LocalError> {
    let record_column = columns.iter().position(|c| c == RECORD_COLUMN);
    let mut commands = Post::compile(post, columns)?;
    for row in rows {
        commands.push_owned(row)?;
        if !commands.wants_more() {
            break;
        }
    }
    let (table, records) = commands.finish(shown, record_column, records)?;
    Ok(Finished {
        table,
        records,
        stream: None,
        spilled_bytes: 0,
        sorted_spilled_bytes: 0,
    })
}

impl QueryShape {
    pub fn row_cap(&self) -> Option<usize> {
        self.leading_limit()
    }

    /// The part of the query a remote engine answers before flowsift finishes it: the record
    /// stage and `stats`. The commands after `stats` run locally, after split windows merge.
    pub fn remote_part(&self) -> Query {
        let mut commands = self.record.clone();
        if let Some(stats) = &self.stats {
            commands.push(Command::Stats(stats.clone()));
        }
        Query { commands }
    }

    /// The record-stage filters and parses only, for fetching whole records.
    pub fn record_filters(&self) -> Vec<Command> {
        self.record
            .iter()
            .filter(|c| matches!(c, Command::Filter(_) | Command::Parse(_)))
            .cloned()
            .collect()
    }

    /// The commands after the record stage (after `stats` where there is one).
    pub fn post(&self) -> &[Command] {
        &self.post
    }

    /// The record-stage commands.
    pub fn record_stage(&self) -> &[Command] {
        &self.record
    }

    /// Without `stats`: the fields the later commands use that the output does not show.
    pub fn hidden_columns(&self) -> &[String] {
        &self.hidden_columns
    }

    /// Without `stats`: the row's columns, shown ones first.
    pub fn row_columns(&self) -> Vec<String> {
        let mut names: Vec<String> = self.raw_columns.iter().map(|(n, _)| n.clone()).collect();
        names.extend(self.hidden_columns.iter().cloned());
        names
    }

    /// Without `stats`: how many of `row_columns` the output shows.
    pub fn shown_columns(&self) -> usize {
        self.raw_columns.len()
    }

    /// The stats command, if any.
    pub fn stats(&self) -> Option<&crate::insights::ast::Stats> {
        self.stats.as_ref()
    }

    /// Whether a command after the record stage is a `sort`.
    pub fn sorts(&self) -> bool {
        self.post.iter().any(|c| matches!(c, Command::Sort(_)))
    }
}

/// Finishes rows a remote engine returned for a query without `stats`: lines the columns up
/// as `names` (the first `shown` are the output), then runs the post-stage commands.
pub fn post_process_columns(
    shape: &QueryShape,
    table: Table,
    names: &[String],
    shown: usize,
) -> Result<Table, super::LocalError> {
    let positions: Vec<Option<usize>> = names.iter().map(|n| table.column(n)).collect();
    let rows = table
        .rows
        .into_iter()
        .map(|row| {
            positions
                .iter()
                .map(|p| p.and_then(|i| row.get(i).cloned()).unwrap_or(Value::Null))
                .collect()
        })
        .collect();
    Ok(apply_post(&shape.post, names.to_vec(), rows, shown, Vec::new())?.table)
}

/// Finishes rows a remote engine returned: runs the post-stage commands over them.
pub fn post_process(shape: &QueryShape, table: Table) -> Result<Table, super::LocalError> {
    let shown = table.columns.len();
    Ok(apply_post(&shape.post, table.columns, table.rows, shown, Vec::new())?.table)
}

/// Merges the stats answers of several time windows into one, group by group: counts and sums
/// add, minimums and maximums combine. `avg` and `count_distinct` cannot be combined exactly
/// from their results alone; the merge keeps the largest `count_distinct` (a lower bound) and
/// the mean of the averages, and reports that it did.
pub fn merge_stats(stats: &crate::insights::ast::Stats, parts: Vec<Table>) -> (Table, bool) {
    let keys = stats.by.len();
    let mut approximate = false;
    let mut merged: Vec<Vec<Value>> = Vec::new();
    let mut index: HashMap<Vec<u8>, (usize, u32)> = HashMap::new();
    // The columns a stats answer has, keys first, whatever order a remote engine used.
    let columns: Vec<String> = stats
        .by
        .iter()
        .map(|k| column_name(&k.expr, k.alias.as_ref()))
        .chain(stats.aggregates.iter().map(|a| {
            a.alias
                .clone()
                .unwrap_or_else(|| aggregate_name(a.func, &a.arg))
        }))
        .collect();
    let several = parts.len() > 1;
    for part in parts {
        // Remote rows are sparse: line each part's columns up by name.
        let positions: Vec<Option<usize>> = columns.iter().map(|c| part.column(c)).collect();
        for row in part.rows {
            let row: Vec<Value> = positions
                .iter()
                .map(|p| p.and_then(|i| row.get(i).cloned()).unwrap_or(Value::Null))
                .collect();
            let mut key = Vec::new();
            for v in row.iter().take(keys) {
                encode_key(&Scalar::from_value(v), &mut key);
            }
            match index.get_mut(&key) {
                None => {
                    index.insert(key, (merged.len(), 1));
                    merged.push(row);
                }
                Some((at, seen)) => {
                    *seen += 1;
                    let n = *seen;
                    let target = &mut merged[*at];
                    for (i, agg) in stats.aggregates.iter().enumerate() {
                        let (Some(current), Some(new)) =
                            (target.get(keys + i).cloned(), row.get(keys + i))
                        else {
                            continue;
                        };
                        target[keys + i] = combine(agg.func, &current, new, n, &mut approximate);
                    }
                }
            }
        }
    }
    if several
        && stats
            .aggregates
            .iter()
            .any(|a| matches!(a.func, AggFunc::Avg | AggFunc::CountDistinct))
    {
        approximate = approximate || !merged.is_empty();
    }
    (
        Table {
            columns,
            rows: merged,
        },
        approximate,
    )
}

fn combine(func: AggFunc, current: &Value, new: &Value, n: u32, approximate: &mut bool) -> Value {
    let number = |v: &Value| Scalar::from_value(v).as_number();
    match (func, current, new) {
        (_, Value::Null, other) | (_, other, Value::Null) => other.clone(),
        (AggFunc::Count | AggFunc::Sum, a, b) => match (number(a), number(b)) {
            (Some(Number::Int(x)), Some(Number::Int(y))) => x
                .checked_add(y)
                .map_or(Value::Float(x as f64 + y as f64), Value::Int),
            (Some(x), Some(y)) => Value::Float(x.as_f64() + y.as_f64()),
            _ => a.clone(),
        },
        (AggFunc::Min, a, b) => {
            if b.total_cmp(a).is_lt() {
                b.clone()
            } else {
                a.clone()
            }
        }
        (AggFunc::Max, a, b) => {
            if b.total_cmp(a).is_gt() {
                b.clone()
            } else {
                a.clone()
            }
        }
        (AggFunc::CountDistinct, a, b) => {
            *approximate = true;
            if b.total_cmp(a).is_gt() {
                b.clone()
            } else {
                a.clone()
            }
        }
        (AggFunc::Avg, a, b) => {
            *approximate = true;
            // A running mean of the parts' averages.
            match (number(a), number(b)) {
                (Some(x), Some(y)) => {
                    Value::Float(x.as_f64() + (y.as_f64() - x.as_f64()) / f64::from(n))
                }
                _ => a.clone(),
            }
        }
    }
}

#[cfg(test)]
mod compare_tests {
    use super::*;
    use proptest::prelude::*;

    /// Every field is slot 0.
    struct OneField;

    impl Resolver for OneField {
        fn slot(&mut self, _: &str) -> Result<usize, PlanError> {
            Ok(0)
        }
    }

    fn field_value() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            (-5i64..5).prop_map(Value::Int),
            any::<i64>().prop_map(Value::Int),
            (-5.0f64..5.0).prop_map(Value::Float),
            (-5i64..5).prop_map(Value::Time),
            "(-?[0-9]{1,2}|[a-z]{0,3}|-)".prop_map(|s| Value::Str(s.into())),
        ]
    }

    fn comparison() -> impl Strategy<Value = BinaryOp> {
        prop_oneof![
            Just(BinaryOp::Eq),
            Just(BinaryOp::Ne),
            Just(BinaryOp::Lt),
            Just(BinaryOp::Le),
            Just(BinaryOp::Gt),
            Just(BinaryOp::Ge),
        ]
    }

    /// Whether `e` holds, its `and`, `or` and `not` decided here and everything else by
    /// `eval`: a reference for `test` that does not go through it.
    fn reference(e: &CExpr, ctx: &RowContext<'_>) -> bool {
        match e {
            CExpr::Not(a) => !reference(a, ctx),
            CExpr::And(a, b) => reference(a, ctx) && reference(b, ctx),
            CExpr::Or(a, b) => reference(a, ctx) || reference(b, ctx),
            other => other.eval_node(ctx).is_true(),
        }
    }

    /// A test of field 0 as the compiler specialises it, and the same test made of the
    /// general comparisons.
    fn leaf_pair() -> impl Strategy<Value = (CExpr, CExpr)> {
        let slot = || Box::new(CExpr::Slot(0));
        prop_oneof![
            (comparison(), -5i64..5).prop_map(move |(op, value)| (
                CExpr::IntCompare { op, slot: 0, value },
                CExpr::Compare(op, slot(), Box::new(CExpr::Const(Value::Int(value)))),
            )),
            (proptest::collection::vec(-5i64..5, 0..3), any::<bool>()).prop_map(
                move |(list, negated)| (
                    CExpr::IntIn {
                        slot: 0,
                        list: list.clone(),
                        negated
                    },
                    CExpr::In {
                        expr: slot(),
                        list: list
                            .into_iter()
                            .map(|n| CExpr::Const(Value::Int(n)))
                            .collect(),
                        negated,
                    },
                )
            ),
            ("(-?[0-9]|[a-z]{0,2}|-)", any::<bool>()).prop_map(move |(text, negated)| (
                CExpr::TextEq {
                    slot: 0,
                    text: text.clone(),
                    negated
                },
                CExpr::Compare(
                    if negated { BinaryOp::Ne } else { BinaryOp::Eq },
                    slot(),
                    Box::new(CExpr::Const(Value::Str(text.into()))),
                ),
            )),
            // The field itself, true when it is a non-zero number.
            Just(()).prop_map(move |()| (CExpr::Slot(0), CExpr::Slot(0))),
        ]
    }

    fn predicate_pair() -> impl Strategy<Value = (CExpr, CExpr)> {
        leaf_pair().prop_recursive(3, 12, 2, |inner| {
            prop_oneof![
                inner
                    .clone()
                    .prop_map(|(s, g)| (CExpr::Not(Box::new(s)), CExpr::Not(Box::new(g)))),
                (inner.clone(), inner.clone()).prop_map(|((s1, g1), (s2, g2))| (
                    CExpr::And(Box::new(s1), Box::new(s2)),
                    CExpr::And(Box::new(g1), Box::new(g2)),
                )),
                (inner.clone(), inner).prop_map(|((s1, g1), (s2, g2))| (
                    CExpr::Or(Box::new(s1), Box::new(s2)),
                    CExpr::Or(Box::new(g1), Box::new(g2)),
                )),
            ]
        })
    }

    proptest! {
        /// `field OP integer` and `integer OP field` compile to `IntCompare`, which decides as
        /// `Compare` of the two expressions does, whatever the field holds.
        #[test]
        fn integer_comparisons_decide_as_compare_does(
            v in field_value(),
            op in comparison(),
            c in prop_oneof![-5i64..5, any::<i64>()],
            constant_first in any::<bool>(),
        ) {
            let field = Expr::Field("x".to_owned());
            let constant = Expr::Literal(Literal::Int(c));
            let (left, right) = if constant_first { (&constant, &field) } else { (&field, &constant) };
            let compiled = compile_compare(left, op, right, &mut OneField).unwrap();
            prop_assert!(matches!(compiled, CExpr::IntCompare { .. }), "not an IntCompare");
            let slot = || Box::new(CExpr::Slot(0));
            let int = || Box::new(CExpr::Const(Value::Int(c)));
            let generic = if constant_first {
                CExpr::Compare(op, int(), slot())
            } else {
                CExpr::Compare(op, slot(), int())
            };
            let values = [v];
            let ctx = RowContext { values: &values };
            prop_assert_eq!(compiled.eval(&ctx).is_true(), generic.eval(&ctx).is_true());
        }

        /// `test` decides a filter as `eval(..).is_true()` of the same filter made of the
        /// general comparisons would: whole trees of `and`, `or` and `not` over the
        /// specialised tests, whatever the field holds.
        #[test]
        fn filters_decide_as_their_general_forms_do(
            v in field_value(),
            (specialised, general) in predicate_pair(),
        ) {
            let values = [v];
            let ctx = RowContext { values: &values };
            let expected = reference(&general, &ctx);
            prop_assert_eq!(specialised.test(&ctx), expected);
            if !matches!(specialised, CExpr::Slot(_)) {
                prop_assert_eq!(specialised.eval(&ctx), Scalar::Bool(expected));
            }
        }

        /// `field [not] in [integers]` compiles to `IntIn`, which decides as `In` does.
        #[test]
        fn integer_lists_decide_as_in_does(
            v in field_value(),
            list in proptest::collection::vec(-5i64..5, 0..4),
            negated in any::<bool>(),
        ) {
            let expr = Expr::In {
                expr: Box::new(Expr::Field("x".to_owned())),
                list: list.iter().map(|&n| Expr::Literal(Literal::Int(n))).collect(),
                negated,
            };
            let compiled = compile_expr(&expr, &mut OneField).unwrap();
            prop_assert!(matches!(compiled, CExpr::IntIn { .. }), "not an IntIn");
            let generic = CExpr::In {
                expr: Box::new(CExpr::Slot(0)),
                list: list.iter().map(|&n| CExpr::Const(Value::Int(n))).collect(),
                negated,
            };
            let values = [v];
            let ctx = RowContext { values: &values };
            prop_assert_eq!(compiled.eval(&ctx).is_true(), generic.eval(&ctx).is_true());
        }
    }
}

#[cfg(test)]
mod key_tests {
    use super::*;
    use proptest::prelude::*;

    fn aggregated_value() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            (-5i64..5).prop_map(Value::Int),
            prop_oneof![Just(i64::MAX), Just(i64::MIN), Just(i64::MAX - 1)].prop_map(Value::Int),
            (-5.0f64..5.0).prop_map(Value::Float),
            (-5i64..5).prop_map(Value::Time),
            "[a-c]{0,3}".prop_map(|s| Value::Str(s.into())),
        ]
    }

    proptest! {
        /// `update` keeps what the general way keeps (sums by `add`; minimums and maximums by
        /// `total_cmp`), whichever of its shortcuts a value takes: integers and times of their
        /// own kind, texts, sums that overflow, values of mixed kinds.
        #[test]
        fn updates_keep_what_the_general_order_keeps(
            values in proptest::collection::vec(aggregated_value(), 0..12),
            func in prop_oneof![Just(AggFunc::Min), Just(AggFunc::Max), Just(AggFunc::Sum)],
        ) {
            let (mut key, mut texts, mut expected_texts) =
                (Vec::new(), Texts::default(), Texts::default());
            let (mut state, mut expected) = (AggState::new(func), AggState::new(func));
            for value in &values {
                let value = Scalar::from_value(value);
                state.update(Some(&value), &mut key, &mut texts);
                if matches!(value, Scalar::Null) {
                    continue;
                }
                if func == AggFunc::Sum {
                    if let Some(number) = value.as_number() {
                        expected.add(number);
                    }
                    continue;
                }
                let min = expected.is_min();
                let replace = expected.bound(&expected_texts).is_none_or(|current| {
                    let o = value.total_cmp(&current);
                    if min { o.is_lt() } else { o.is_gt() }
                });
                if replace {
                    expected.set_bound(min, &value, &mut expected_texts);
                }
            }
            prop_assert_eq!(state.finish(&texts), expected.finish(&expected_texts));
        }
    }

    #[test]
    fn an_aggregation_state_is_16_bytes() {
        assert_eq!(std::mem::size_of::<AggState>(), 16);
    }

    /// Merging a state reports the heap its `update`s counted that is gone: the values a set
    /// had already (not those it gains), an exact sum merged into another; groups moving from
    /// their front tables subtract it, so a group that passes through them again and again
    /// with the same values does not count them again each time.
    #[test]
    fn merging_reports_the_heap_it_frees() {
        let (mut key, mut texts) = (Vec::new(), Texts::default());
        let mut update = |state: &mut AggState, value: Scalar<'_>| {
            state.update(Some(&value), &mut key, &mut texts)
        };
        let (mut a, mut b) = (
            AggState::new(AggFunc::CountDistinct),
            AggState::new(AggFunc::CountDistinct),
        );
        update(&mut a, Scalar::Str("10.0.0.1"));
        let shared = update(&mut b, Scalar::Str("10.0.0.1"));
        let gained = update(&mut b, Scalar::Str("10.0.0.22"));
        assert!(shared > 0 && gained > 0);
        assert_eq!(a.merge(b, &mut Texts::default(), &Texts::default()), shared);
        assert!(matches!(&a, AggState::Distinct(set) if set.len() == 2));

        let exact = |update: &mut dyn FnMut(&mut AggState, Scalar<'_>) -> usize| {
            let mut sum = AggState::new(AggFunc::Sum);
            let counted =
                update(&mut sum, Scalar::Float(0.1)) + update(&mut sum, Scalar::Float(1e-30));
            assert!(matches!(sum, AggState::SumExact(_)));
            (sum, counted)
        };
        let (mut a, _) = exact(&mut update);
        let (b, counted) = exact(&mut update);
        assert_eq!(
            a.merge(b, &mut Texts::default(), &Texts::default()),
            counted
        );
        let (b, _) = exact(&mut update);
        let mut int = AggState::SumInt(5);
        assert_eq!(
            int.merge(b, &mut Texts::default(), &Texts::default()),
            0,
            "it stays"
        );
    }

    /// Text minimums and maximums stay right while their texts are replaced in place, moved
    /// to the end, compacted away and merged from another buffer: with texts of every
    /// length, multi-byte characters among them.
    /// An average's sum is read back only as a sum's state: damaged bytes that nest averages
    /// are refused at once, however deep, rather than read until the stack runs out.
    #[test]
    fn an_average_holds_only_a_sum() {
        let nested: Vec<u8> = std::iter::repeat_n([5u8, 0, 0, 0, 0, 0, 0, 0, 0], 100_000)
            .flatten()
            .collect();
        assert!(AggState::read(&mut &nested[..], &mut Texts::default()).is_none());
        let mut mean = AggState::new(AggFunc::Avg);
        mean.update(
            Some(&Scalar::Float(0.25)),
            &mut Vec::new(),
            &mut Texts::default(),
        );
        let mut written = Vec::new();
        mean.write(&Texts::default(), &mut written);
        let read = AggState::read(&mut &written[..], &mut Texts::default()).unwrap();
        assert_eq!(read.finish(&Texts::default()), Value::Float(0.25));
    }

    /// Values equal as numbers but not alike (0 and -0.0, 5 and 5.0, an integer sum that went
    /// past 2^63 on the way) give one answer whatever order they come in, added one by one
    /// or merged from two threads' states.
    #[test]
    fn bounds_and_sums_do_not_depend_on_the_order_of_equal_values() {
        let mut texts = Texts::default();
        let fold = |func: AggFunc, values: &[Scalar<'_>]| {
            let mut state = AggState::new(func);
            for v in values {
                state.update(Some(v), &mut Vec::new(), &mut Texts::default());
            }
            state
        };
        let finish = |state: &AggState| match state.finish(&Texts::default()) {
            Value::Float(x) => format!("float {:x}", x.to_bits()),
            other => format!("{other:?}"),
        };
        let big = i64::MAX - 2;
        for (func, values) in [
            (
                AggFunc::Min,
                vec![Scalar::Float(0.0), Scalar::Float(-0.0), Scalar::Int(0)],
            ),
            (
                AggFunc::Max,
                vec![Scalar::Float(0.0), Scalar::Float(-0.0), Scalar::Int(0)],
            ),
            (
                AggFunc::Min,
                vec![Scalar::Int(5), Scalar::Float(5.0), Scalar::Time(5)],
            ),
            (
                AggFunc::Max,
                vec![Scalar::Int(5), Scalar::Float(5.0), Scalar::Time(5)],
            ),
            (
                AggFunc::Sum,
                vec![Scalar::Int(big), Scalar::Int(3), Scalar::Int(-2)],
            ),
            (
                AggFunc::Avg,
                vec![Scalar::Int(big), Scalar::Int(3), Scalar::Int(-2)],
            ),
        ] {
            let forward = fold(func, &values);
            let reversed: Vec<Scalar<'_>> = values.iter().rev().cloned().collect();
            assert_eq!(
                finish(&fold(func, &reversed)),
                finish(&forward),
                "{func:?} {values:?}"
            );
            for split in 0..=values.len() {
                for (a, b) in [
                    (&values[..split], &values[split..]),
                    (&values[split..], &values[..split]),
                ] {
                    let mut merged = fold(func, a);
                    merged.merge(fold(func, b), &mut texts, &Texts::default());
                    assert_eq!(finish(&merged), finish(&forward), "{func:?} {a:?} + {b:?}");
                }
            }
        }
        // The integer sum that passed 2^63 on the way is an integer, as the one that did not.
        let sum = fold(
            AggFunc::Sum,
            &[Scalar::Int(big), Scalar::Int(3), Scalar::Int(-2)],
        );
        assert_eq!(sum.finish(&texts), Value::Int(big + 1));
    }

    #[test]
    fn text_bounds_survive_replacement_compaction_and_merging() {
        let words = [
            "b", "é", "aé", "zzzz", "ab", "éé", "a", "yy", "z", "ba", "ééé",
        ];
        let mut seed: u64 = 3;
        let mut next = || {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            (seed >> 33) as usize
        };
        let (mut texts, mut other_texts) = (Texts::default(), Texts::default());
        let mut states = vec![AggState::MinNone, AggState::MaxNone, AggState::MinNone];
        let mut other = vec![AggState::MinNone, AggState::MaxNone, AggState::MinNone];
        let mut seen: Vec<Vec<String>> = vec![Vec::new(); 3];
        let mut scratch = Vec::new();
        let mut compactions = 0;
        const ROUNDS: usize = 300_000;
        for round in 0..ROUNDS {
            let i = next() % 3;
            // Minimums that always replace (their numbers fall), of any length, padded with
            // one- and two-byte characters; maximums the same way up; the third at random.
            let pad = ["a", "é"][next() % 2].repeat(next() % 40);
            let word = match i {
                0 => format!("{:06}{pad}", ROUNDS - round),
                1 => format!("{round:06}{pad}"),
                _ => format!("{}{}", words[next() % words.len()], next() % 7),
            };
            let (target, buffer) = if round % 10 == 0 {
                (&mut other[i], &mut other_texts)
            } else {
                (&mut states[i], &mut texts)
            };
            target.update(Some(&Scalar::Str(&word)), &mut scratch, buffer);
            seen[i].push(word);
            if texts.wasteful() {
                texts = texts.compacted(&mut states);
                compactions += 1;
            }
        }
        // Replacements that do not fit leave text behind: enough of it to compact many times.
        assert!(compactions > 0);
        for (mine, theirs) in states.iter_mut().zip(other) {
            mine.merge(theirs, &mut texts, &other_texts);
        }
        let texts = texts.compacted(&mut states);
        for (i, state) in states.iter().enumerate() {
            let expected = if i == 1 {
                seen[i].iter().max()
            } else {
                seen[i].iter().min()
            };
            assert_eq!(
                state.finish(&texts),
                Value::Str(expected.unwrap().as_str().into()),
                "state {i}"
            );
        }
        assert_eq!(texts.live, texts.text.len());
    }

    fn scalar(v: &Value) -> Scalar<'_> {
        Scalar::from_value(v)
    }

    fn value() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<i64>().prop_map(Value::Int),
            (-1e12f64..1e12).prop_map(Value::Float),
            any::<i64>().prop_map(Value::Time),
            "[a\\x00-z0-9.]{0,6}".prop_map(|s| Value::Str(s.into())),
        ]
    }

    proptest! {
        /// Keys decode to what was encoded, and compare as bytes the way the values sort.
        #[test]
        fn keys_round_trip_and_preserve_order(a in proptest::collection::vec(value(), 1..4), b in proptest::collection::vec(value(), 1..4)) {
            let encode = |vs: &[Value]| {
                let mut key = Vec::new();
                for v in vs {
                    encode_key(&scalar(v), &mut key);
                }
                key
            };
            let (ka, kb) = (encode(&a), encode(&b));
            prop_assert_eq!(decode_key(&ka), a.clone());
            let same_types = a.len() == b.len() && a.iter().zip(&b).all(|(x, y)| std::mem::discriminant(x) == std::mem::discriminant(y));
            if same_types {
                let by_value = a.iter().zip(&b).map(|(x, y)| x.total_cmp(y)).find(|o| o.is_ne()).unwrap_or(std::cmp::Ordering::Equal);
                prop_assert_eq!(ka.cmp(&kb), by_value);
            }
        }

        /// The common prefix is found a word at a time as a byte at a time finds it.
        #[test]
        fn common_prefixes_are_found_a_word_at_a_time(
            a in proptest::collection::vec(0u8..3, 0..40),
            b in proptest::collection::vec(0u8..3, 0..40),
        ) {
            let naive = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
            prop_assert_eq!(common_prefix(&a, &b), naive);
            prop_assert_eq!(common_prefix(&a, &a), a.len());
            if !a.is_empty() {
                let at = b.len() % a.len();
                let mut flipped = a.clone();
                flipped[at] ^= 0x80;
                prop_assert_eq!(common_prefix(&a, &flipped), at);
                prop_assert_eq!(common_prefix(&a, &a[..at]), at);
            }
        }

        /// A key decoded after another (sharing its first values, or not) decodes to its own
        /// values, whatever it takes from the one before.
        #[test]
        fn keys_decode_alike_after_another(
            a in proptest::collection::vec(value(), 1..4),
            shared in 0usize..4,
            tail in proptest::collection::vec(value(), 0..3),
        ) {
            let encode = |vs: &[Value]| {
                let mut key = Vec::new();
                for v in vs {
                    encode_key(&scalar(v), &mut key);
                }
                key
            };
            let b: Vec<Value> = a[..shared.min(a.len())].iter().cloned().chain(tail).collect();
            let (ka, kb) = (encode(&a), encode(&b));
            let after = |key: &[u8], prev_key: &[u8], prev: &[Value]| {
                let mut values = prev.to_vec();
                decode_key_after(key, prev_key, &mut values, 0);
                values.split_off(prev.len())
            };
            prop_assert_eq!(after(&kb, &ka, &a), b.clone());
            prop_assert_eq!(after(&ka, &kb, &b), a);
        }
    }

    /// Texts that only start alike, or a key that ends inside the previous key's text, are
    /// decoded, not taken from the row before; a text the two keys share is taken.
    #[test]
    fn a_key_takes_only_whole_shared_texts_from_the_one_before() {
        let encode = |vs: &[Value]| {
            let mut key = Vec::new();
            for v in vs {
                encode_key(&scalar(v), &mut key);
            }
            key
        };
        let s = |t: &str| Value::Str(t.into());
        let pairs = [
            (
                vec![s("abc"), Value::Int(1)],
                vec![s("abcd"), Value::Int(1)],
            ),
            (vec![s("abcd")], vec![s("abc")]),
            (vec![s("eni-1"), s("x")], vec![s("eni-1"), s("y")]),
        ];
        // After other rows: the previous row's values start at `prev`, and its aggregates
        // follow its key values.
        let after = |key: &[u8], prev_key: &[u8], prev: &[Value]| {
            let mut values = vec![Value::Int(7), Value::Null];
            values.extend_from_slice(prev);
            values.push(Value::Int(9));
            decode_key_after(key, prev_key, &mut values, 2);
            values.split_off(prev.len() + 3)
        };
        for (a, b) in pairs {
            let (ka, kb) = (encode(&a), encode(&b));
            assert_eq!(after(&kb, &ka, &a), b);
        }
        // The shared interface is the previous row's, not a copy.
        let (a, b) = (vec![s("eni-1"), s("x")], vec![s("eni-1"), s("y")]);
        let row = after(&encode(&b), &encode(&a), &a);
        match (&row[0], &a[0]) {
            (Value::Str(x), Value::Str(y)) => assert!(Arc::ptr_eq(x, y)),
            _ => unreachable!(),
        }
    }
}
