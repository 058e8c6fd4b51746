//! The syntax tree of the Logs Insights subset flowsift speaks.
//!
//! Owns the shape of a parsed query; it must not know how a query is evaluated or sent.
//! The parser builds it, the renderer turns it back into text, and both the local engine and
//! the CloudWatch runner consume it.

/// A whole query: commands separated by `|`, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub commands: Vec<Command>,
}

/// One command of the pipeline.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// `fields a, b as c, x + 1 as d`
    Fields(Vec<Projection>),
    /// `display a, b`
    Display(Vec<Projection>),
    /// `filter <expr>`
    Filter(Expr),
    /// `stats agg(...) [as name], ... [by key [as name], ...]`
    Stats(Stats),
    /// `sort key [asc|desc], ...`
    Sort(Vec<SortKey>),
    /// `limit n`
    Limit(u64),
    /// `dedup a, b`
    Dedup(Vec<String>),
    /// `parse field "glob with * wildcards" as a, b, ...` or `parse field /(?<name>...)/`
    Parse(Parse),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Projection {
    pub expr: Expr,
    pub alias: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Stats {
    pub aggregates: Vec<Aggregate>,
    pub by: Vec<GroupKey>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Aggregate {
    pub func: AggFunc,
    pub arg: AggArg,
    pub alias: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AggFunc {
    Count,
    CountDistinct,
    Sum,
    Avg,
    Min,
    Max,
}

#[derive(Debug, Clone, PartialEq)]
pub enum AggArg {
    /// `count(*)`
    Star,
    Expr(Expr),
}

#[derive(Debug, Clone, PartialEq)]
pub struct GroupKey {
    /// A field, an expression, or `bin(period)` as `Expr::Call { func: Function::Bin, .. }`.
    pub expr: Expr,
    pub alias: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SortKey {
    pub expr: Expr,
    pub descending: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Parse {
    /// The field parsed, usually `@message`.
    pub field: String,
    pub pattern: ParsePattern,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ParsePattern {
    /// `"* * [*]" as a, b, c`: each `*` captures into the next name.
    Glob { pattern: String, names: Vec<String> },
    /// `/(?<name>\S+) .../`: named capture groups give the field names.
    Regex(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A field name as written, without backticks: `dstPort`, `@timestamp`, `my-field`.
    Field(String),
    Literal(Literal),
    /// `/pattern/` as the right side of `like`, `not like` and `=~`.
    Regex(String),
    Unary {
        op: UnaryOp,
        expr: Box<Expr>,
    },
    Binary {
        left: Box<Expr>,
        op: BinaryOp,
        right: Box<Expr>,
    },
    /// `expr in [a, b]` / `expr not in [a, b]`
    In {
        expr: Box<Expr>,
        list: Vec<Expr>,
        negated: bool,
    },
    Call {
        func: Function,
        args: Vec<Expr>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Int(i64),
    Float(f64),
    Str(String),
    /// A time period such as `5m` in `bin(5m)`, in milliseconds.
    Duration {
        millis: i64,
        text: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnaryOp {
    Not,
    Neg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    /// `like` with a string (substring) or a regex.
    Like,
    NotLike,
    /// `=~` with a regex.
    Match,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    /// `bin(period)`: @timestamp rounded down to the period.
    Bin,
    /// `isIpv4InSubnet(field, "cidr")`
    IsIpv4InSubnet,
    /// `isIpInSubnet(field, "cidr")`
    IsIpInSubnet,
}
