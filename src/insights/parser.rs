//! Parses the CloudWatch Logs Insights subset flowsift speaks into a [`Query`].
//!
//! Owns the lexer, the recursive-descent grammar and [`ParseError`] with its source display.
//! It must not evaluate queries or talk to AWS, and it must never accept text the AST cannot
//! represent: anything outside the subset is an error that names the unsupported piece and
//! points at it.

use super::ast::{
    AggArg, AggFunc, Aggregate, BinaryOp, Command, Expr, Function, GroupKey, Literal, Parse,
    ParsePattern, Projection, Query, SortKey, Stats, UnaryOp,
};

/// Words that always act as keywords; a field with one of these names needs backticks.
pub(super) const KEYWORDS: [&str; 9] =
    ["and", "or", "not", "like", "in", "as", "by", "asc", "desc"];

/// Appended to every rejection of valid Insights syntax we choose not to model, so users can
/// tell "you made a typo" apart from "flowsift cannot do this".
const OUTSIDE: &str = "outside the subset flowsift supports";

/// How many parentheses, calls, lists and prefix operators may nest. Recursion is bounded so
/// hostile input yields an error instead of overflowing the stack.
const MAX_NESTING: usize = 64;

/// How deep a single expression tree may grow, including long `a or b or c ...` chains that the
/// parser builds iteratively: dropping, comparing and rendering trees is recursive.
const MAX_TREE_DEPTH: usize = 256;

/// Why a query was rejected and where, with 1-based line and column (columns count characters).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} at line {line}, column {column}")]
pub struct ParseError {
    pub message: String,
    pub line: usize,
    pub column: usize,
}

impl ParseError {
    fn at(src: &str, offset: usize, message: impl Into<String>) -> Self {
        let mut offset = offset.min(src.len());
        while !src.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &src[..offset];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        ParseError {
            message: message.into(),
            line: before.matches('\n').count() + 1,
            column: before[line_start..].chars().count() + 1,
        }
    }

    /// The error followed by the offending line of `text` and a caret under the column, in the
    /// style of rustc. `text` must be the query that was parsed; if the line is missing only the
    /// message is returned.
    pub fn display_with_source(&self, text: &str) -> String {
        let header = self.to_string();
        let Some(line) = self
            .line
            .checked_sub(1)
            .and_then(|i| text.split('\n').nth(i))
        else {
            return header;
        };
        let line = line.strip_suffix('\r').unwrap_or(line);
        let gutter = format!("  {}", self.line);
        let blank = " ".repeat(gutter.len());
        let wanted = self.column.saturating_sub(1);
        // Tabs are copied so the caret lines up however the terminal expands them.
        let mut pad: String = line
            .chars()
            .take(wanted)
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        let short = wanted.saturating_sub(line.chars().count());
        pad.extend(std::iter::repeat_n(' ', short));
        format!("{header}\n{gutter} | {line}\n{blank} | {pad}^")
    }
}

/// Parses one query. See the module docs for what is accepted.
pub fn parse(text: &str) -> Result<Query, ParseError> {
    Parser::new(text)?.query()
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident,
    /// A backtick-quoted field name, without the backticks.
    Quoted(String),
    Int,
    Float,
    Duration {
        millis: i64,
    },
    Str(String),
    /// Only produced on request, since `/` is otherwise division.
    Regex(String),
    Pipe,
    OrOr,
    AndAnd,
    Comma,
    LParen,
    RParen,
    LBracket,
    RBracket,
    Star,
    Slash,
    Percent,
    Plus,
    Minus,
    Eq,
    EqEq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Match,
    Eof,
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    start: usize,
    end: usize,
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == '@'
}

fn is_ident_continue(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '@')
}

fn is_keyword(word: &str) -> bool {
    KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(word))
}

struct Lexer<'a> {
    src: &'a str,
    pos: usize,
}

impl<'a> Lexer<'a> {
    fn err(&self, offset: usize, message: impl Into<String>) -> ParseError {
        ParseError::at(self.src, offset, message)
    }

    fn peek_char(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    fn char_after(&self, skip: usize) -> Option<char> {
        self.src[self.pos..].chars().nth(skip)
    }

    fn eat_while(&mut self, keep: impl Fn(char) -> bool) {
        while let Some(c) = self.peek_char().filter(|&c| keep(c)) {
            self.pos += c.len_utf8();
        }
    }

    fn skip_trivia(&mut self) {
        loop {
            match self.peek_char() {
                Some(c) if c.is_whitespace() => self.pos += c.len_utf8(),
                Some('#') => self.eat_while(|c| c != '\n'),
                _ => return,
            }
        }
    }

    fn next_token(&mut self) -> Result<Token, ParseError> {
        self.skip_trivia();
        let start = self.pos;
        let Some(c) = self.peek_char() else {
            return Ok(Token {
                tok: Tok::Eof,
                start,
                end: start,
            });
        };
        if is_ident_start(c) {
            self.eat_while(is_ident_continue);
            return Ok(Token {
                tok: Tok::Ident,
                start,
                end: self.pos,
            });
        }
        match c {
            '0'..='9' => return self.number(start),
            '"' | '\'' => return self.string(start, c),
            '`' => return self.quoted_field(start),
            _ => {}
        }
        let next = self.char_after(1);
        let (tok, len) = match (c, next) {
            ('|', Some('|')) => (Tok::OrOr, 2),
            ('|', _) => (Tok::Pipe, 1),
            ('&', Some('&')) => (Tok::AndAnd, 2),
            ('=', Some('=')) => (Tok::EqEq, 2),
            ('=', Some('~')) => (Tok::Match, 2),
            ('=', _) => (Tok::Eq, 1),
            ('!', Some('=')) => (Tok::Ne, 2),
            ('<', Some('=')) => (Tok::Le, 2),
            ('<', _) => (Tok::Lt, 1),
            ('>', Some('=')) => (Tok::Ge, 2),
            ('>', _) => (Tok::Gt, 1),
            (',', _) => (Tok::Comma, 1),
            ('(', _) => (Tok::LParen, 1),
            (')', _) => (Tok::RParen, 1),
            ('[', _) => (Tok::LBracket, 1),
            (']', _) => (Tok::RBracket, 1),
            ('*', _) => (Tok::Star, 1),
            ('/', _) => (Tok::Slash, 1),
            ('%', _) => (Tok::Percent, 1),
            ('+', _) => (Tok::Plus, 1),
            ('-', _) => (Tok::Minus, 1),
            _ => return Err(self.err(start, format!("unexpected character `{c}`"))),
        };
        self.pos += len;
        Ok(Token {
            tok,
            start,
            end: self.pos,
        })
    }

    fn number(&mut self, start: usize) -> Result<Token, ParseError> {
        self.eat_while(|c| c.is_ascii_digit());
        let mut is_float = false;
        if self.peek_char() == Some('.') {
            if !self.char_after(1).is_some_and(|c| c.is_ascii_digit()) {
                return Err(self.err(self.pos, "expected digits after the decimal point"));
            }
            self.pos += 1;
            self.eat_while(|c| c.is_ascii_digit());
            is_float = true;
        }
        let digits_end = self.pos;
        if self.peek_char().is_some_and(|c| c.is_ascii_alphabetic()) {
            return self.duration(start, digits_end, is_float);
        }
        if self.peek_char().is_some_and(is_ident_continue) {
            self.eat_while(is_ident_continue);
            let text = &self.src[start..self.pos];
            return Err(self.err(start, format!("invalid number `{text}`")));
        }
        Ok(Token {
            tok: if is_float { Tok::Float } else { Tok::Int },
            start,
            end: self.pos,
        })
    }

    fn duration(
        &mut self,
        start: usize,
        digits_end: usize,
        is_float: bool,
    ) -> Result<Token, ParseError> {
        self.eat_while(|c| c.is_ascii_alphabetic());
        let unit = &self.src[digits_end..self.pos];
        if self.peek_char().is_some_and(is_ident_continue) {
            self.eat_while(is_ident_continue);
            let text = &self.src[start..self.pos];
            return Err(self.err(start, format!("invalid number `{text}`")));
        }
        let unit_millis: i64 = match unit.to_ascii_lowercase().as_str() {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 604_800_000,
            _ => {
                return Err(self.err(
                    digits_end,
                    format!("unsupported time unit `{unit}` ({OUTSIDE}; use ms, s, m, h, d or w)"),
                ));
            }
        };
        let text = &self.src[start..self.pos];
        if is_float {
            return Err(self.err(
                start,
                format!("time period `{text}` must be a whole number"),
            ));
        }
        let millis = self.src[start..digits_end]
            .parse::<i64>()
            .ok()
            .and_then(|n| n.checked_mul(unit_millis))
            .ok_or_else(|| self.err(start, format!("time period `{text}` is too large")))?;
        Ok(Token {
            tok: Tok::Duration { millis },
            start,
            end: self.pos,
        })
    }

    fn string(&mut self, start: usize, quote: char) -> Result<Token, ParseError> {
        self.pos += 1;
        let mut value = String::new();
        loop {
            let Some(c) = self.peek_char() else {
                return Err(self.err(start, "unterminated string"));
            };
            self.pos += c.len_utf8();
            if c == quote {
                break;
            }
            if c != '\\' {
                value.push(c);
                continue;
            }
            let Some(escaped) = self.peek_char() else {
                return Err(self.err(start, "unterminated string"));
            };
            value.push(match escaped {
                '\\' | '"' | '\'' => escaped,
                'n' => '\n',
                't' => '\t',
                'r' => '\r',
                other => {
                    return Err(self.err(
                        self.pos - 1,
                        format!("unsupported escape `\\{other}` in string"),
                    ));
                }
            });
            self.pos += escaped.len_utf8();
        }
        Ok(Token {
            tok: Tok::Str(value),
            start,
            end: self.pos,
        })
    }

    fn quoted_field(&mut self, start: usize) -> Result<Token, ParseError> {
        self.pos += 1;
        self.eat_while(|c| c != '`' && c != '\n');
        if self.peek_char() != Some('`') {
            return Err(self.err(start, "unterminated backtick-quoted field name"));
        }
        let name = &self.src[start + 1..self.pos];
        self.pos += 1;
        if name.is_empty() {
            return Err(self.err(start, "empty field name"));
        }
        Ok(Token {
            tok: Tok::Quoted(name.to_string()),
            start,
            end: self.pos,
        })
    }

    /// Lexes `/.../` starting at the slash at `start`. The body is kept exactly as written
    /// (including `\/`), because the regex crate accepts `\/` and the AST stores original text.
    fn regex(&mut self, start: usize) -> Result<Token, ParseError> {
        self.pos = start + 1;
        loop {
            match self.peek_char() {
                None | Some('\n') => {
                    return Err(self.err(start, "unterminated regex; close it with `/`"));
                }
                Some('\\') => {
                    self.pos += 1;
                    match self.peek_char() {
                        None | Some('\n') => {
                            return Err(self.err(start, "unterminated regex; close it with `/`"));
                        }
                        Some(c) => self.pos += c.len_utf8(),
                    }
                }
                Some('/') => {
                    let body = self.src[start + 1..self.pos].to_string();
                    self.pos += 1;
                    return Ok(Token {
                        tok: Tok::Regex(body),
                        start,
                        end: self.pos,
                    });
                }
                Some(c) => self.pos += c.len_utf8(),
            }
        }
    }
}

/// An expression with the depth of its tree, so depth limits cost no extra traversal.
struct Node {
    expr: Expr,
    depth: usize,
}

fn leaf(expr: Expr) -> Node {
    Node { expr, depth: 1 }
}

enum CmpOp {
    Binary(BinaryOp),
    In { negated: bool },
}

struct Parser<'a> {
    src: &'a str,
    lexer: Lexer<'a>,
    /// The one token of lookahead.
    cur: Token,
    /// End of the last consumed token: errors at the end of input point just past it.
    prev_end: usize,
    nesting: usize,
}

impl<'a> Parser<'a> {
    fn new(src: &'a str) -> Result<Self, ParseError> {
        let mut lexer = Lexer { src, pos: 0 };
        let cur = lexer.next_token()?;
        Ok(Parser {
            src,
            lexer,
            cur,
            prev_end: 0,
            nesting: 0,
        })
    }

    fn bump(&mut self) -> Result<Token, ParseError> {
        let next = self.lexer.next_token()?;
        self.prev_end = self.cur.end;
        Ok(std::mem::replace(&mut self.cur, next))
    }

    fn text(&self, t: &Token) -> &'a str {
        &self.src[t.start..t.end]
    }

    fn err_at(&self, offset: usize, message: impl Into<String>) -> ParseError {
        ParseError::at(self.src, offset, message)
    }

    fn err_here(&self, message: impl Into<String>) -> ParseError {
        let offset = if self.cur.tok == Tok::Eof {
            self.prev_end
        } else {
            self.cur.start
        };
        self.err_at(offset, message)
    }

    fn found(&self) -> String {
        if self.cur.tok == Tok::Eof {
            return "end of query".to_string();
        }
        let text = self.text(&self.cur);
        let first_line = text.lines().next().unwrap_or("");
        let short: String = first_line.chars().take(30).collect();
        let prefix = if self.cur.tok == Tok::Ident && is_keyword(text) {
            "keyword "
        } else {
            ""
        };
        if short.len() < text.len() {
            format!("{prefix}`{short}...`")
        } else {
            format!("{prefix}`{text}`")
        }
    }

    fn expected(&self, what: &str) -> ParseError {
        self.err_here(format!("expected {what}, found {}", self.found()))
    }

    fn is_kw(&self, kw: &str) -> bool {
        self.cur.tok == Tok::Ident && self.text(&self.cur).eq_ignore_ascii_case(kw)
    }

    fn eat_kw(&mut self, kw: &str) -> Result<bool, ParseError> {
        if self.is_kw(kw) {
            self.bump()?;
            return Ok(true);
        }
        Ok(false)
    }

    fn eat(&mut self, tok: &Tok) -> Result<bool, ParseError> {
        if &self.cur.tok == tok {
            self.bump()?;
            return Ok(true);
        }
        Ok(false)
    }

    fn expect(&mut self, tok: &Tok, what: &str) -> Result<Token, ParseError> {
        if &self.cur.tok == tok {
            return self.bump();
        }
        Err(self.expected(what))
    }

    fn enter(&mut self) -> Result<(), ParseError> {
        self.nesting += 1;
        if self.nesting > MAX_NESTING {
            return Err(self.err_here(format!(
                "expression nested too deeply (more than {MAX_NESTING} levels)"
            )));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.nesting -= 1;
    }

    fn node(&self, expr: Expr, depth: usize, at: usize) -> Result<Node, ParseError> {
        if depth > MAX_TREE_DEPTH {
            return Err(self.err_at(
                at,
                format!("expression too deep (more than {MAX_TREE_DEPTH} levels)"),
            ));
        }
        Ok(Node { expr, depth })
    }

    fn binary(&self, left: Node, op: BinaryOp, right: Node, at: usize) -> Result<Node, ParseError> {
        let depth = 1 + left.depth.max(right.depth);
        let expr = Expr::Binary {
            left: Box::new(left.expr),
            op,
            right: Box::new(right.expr),
        };
        self.node(expr, depth, at)
    }

    // ---- commands ----

    fn query(&mut self) -> Result<Query, ParseError> {
        match self.cur.tok {
            Tok::Eof => {
                return Err(self.err_here("empty query: expected a command such as `fields`"));
            }
            Tok::Pipe => return Err(self.err_here("a query must not start with `|`")),
            _ => {}
        }
        let mut commands = Vec::new();
        loop {
            let command = self.command()?;
            let name = command_name(&command);
            commands.push(command);
            match self.cur.tok {
                Tok::Eof => return Ok(Query { commands }),
                Tok::Pipe => {
                    self.bump()?;
                    if self.cur.tok == Tok::Eof {
                        return Err(self.err_here("expected a command after `|`"));
                    }
                }
                _ => {
                    return Err(self.err_here(format!(
                        "unexpected {} after the `{name}` command; separate commands with `|`",
                        self.found()
                    )));
                }
            }
        }
    }

    fn command(&mut self) -> Result<Command, ParseError> {
        if self.cur.tok != Tok::Ident {
            return Err(self.expected("a command such as `fields`, `filter` or `stats`"));
        }
        let name_tok = self.cur.clone();
        let name = self.text(&name_tok);
        let command = match name.to_ascii_lowercase().as_str() {
            "fields" => {
                self.bump()?;
                Command::Fields(self.projections()?)
            }
            "display" => {
                self.bump()?;
                Command::Display(self.projections()?)
            }
            "filter" => {
                self.bump()?;
                Command::Filter(self.expr()?)
            }
            "stats" => {
                self.bump()?;
                Command::Stats(self.stats()?)
            }
            "sort" => {
                self.bump()?;
                Command::Sort(self.sort_keys()?)
            }
            "limit" => {
                self.bump()?;
                Command::Limit(self.limit()?)
            }
            "dedup" => {
                self.bump()?;
                Command::Dedup(self.comma_list(Self::field_name)?)
            }
            "parse" => {
                self.bump()?;
                Command::Parse(self.parse_command()?)
            }
            _ => {
                return Err(self.err_at(
                    name_tok.start,
                    format!("unsupported command `{name}` ({OUTSIDE})"),
                ));
            }
        };
        Ok(command)
    }

    fn comma_list<T>(
        &mut self,
        item: impl Fn(&mut Self) -> Result<T, ParseError>,
    ) -> Result<Vec<T>, ParseError> {
        let mut items = vec![item(self)?];
        while self.eat(&Tok::Comma)? {
            items.push(item(self)?);
        }
        Ok(items)
    }

    fn alias(&mut self) -> Result<Option<String>, ParseError> {
        if self.eat_kw("as")? {
            return Ok(Some(self.field_name()?));
        }
        Ok(None)
    }

    fn field_name(&mut self) -> Result<String, ParseError> {
        match &self.cur.tok {
            Tok::Ident if !is_keyword(self.text(&self.cur)) => {
                let t = self.bump()?;
                Ok(self.text(&t).to_string())
            }
            Tok::Ident => {
                let word = self.text(&self.cur);
                Err(self.err_here(format!(
                    "expected a field name, found keyword `{word}` (write `{word}` in backticks to use it as a field)"
                )))
            }
            Tok::Quoted(name) => {
                let name = name.clone();
                self.bump()?;
                Ok(name)
            }
            _ => Err(self.expected("a field name")),
        }
    }

    fn projections(&mut self) -> Result<Vec<Projection>, ParseError> {
        self.comma_list(|p| {
            let expr = p.expr()?;
            let alias = p.alias()?;
            Ok(Projection { expr, alias })
        })
    }

    fn stats(&mut self) -> Result<Stats, ParseError> {
        let aggregates = self.comma_list(Self::aggregate)?;
        let mut by = Vec::new();
        if self.eat_kw("by")? {
            by = self.comma_list(|p| {
                let expr = p.expr()?;
                let alias = p.alias()?;
                Ok(GroupKey { expr, alias })
            })?;
        }
        Ok(Stats { aggregates, by })
    }

    fn aggregate(&mut self) -> Result<Aggregate, ParseError> {
        const EXPECTED: &str = "an aggregate function such as `count(*)`";
        if self.cur.tok != Tok::Ident || is_keyword(self.text(&self.cur)) {
            return Err(self.expected(EXPECTED));
        }
        let name_tok = self.cur.clone();
        let name = self.text(&name_tok);
        let func = match name.to_ascii_lowercase().as_str() {
            "count" => AggFunc::Count,
            "count_distinct" => AggFunc::CountDistinct,
            "sum" => AggFunc::Sum,
            "avg" => AggFunc::Avg,
            "min" => AggFunc::Min,
            "max" => AggFunc::Max,
            _ => {
                let found = self.found();
                self.bump()?;
                if self.cur.tok == Tok::LParen {
                    return Err(self.err_at(
                        name_tok.start,
                        format!("unsupported stats function `{name}` ({OUTSIDE})"),
                    ));
                }
                return Err(self.err_at(
                    name_tok.start,
                    format!("expected {EXPECTED}, found {found}"),
                ));
            }
        };
        self.bump()?;
        self.expect(&Tok::LParen, &format!("`(` after `{name}`"))?;
        let arg = match (&self.cur.tok, func) {
            (Tok::Star, AggFunc::Count) => {
                self.bump()?;
                AggArg::Star
            }
            (Tok::RParen, AggFunc::Count) => AggArg::Star,
            (Tok::Star, _) => {
                return Err(self.err_here(format!(
                    "`*` is only allowed in `count(*)`, not in `{name}`"
                )));
            }
            _ => AggArg::Expr(self.expr()?),
        };
        self.expect(&Tok::RParen, "`)`")?;
        if matches!(
            self.cur.tok,
            Tok::Plus | Tok::Minus | Tok::Star | Tok::Slash | Tok::Percent
        ) {
            return Err(self.err_here(format!("arithmetic on aggregate results is {OUTSIDE}")));
        }
        let alias = self.alias()?;
        Ok(Aggregate { func, arg, alias })
    }

    fn sort_keys(&mut self) -> Result<Vec<SortKey>, ParseError> {
        self.comma_list(|p| {
            let expr = p.expr()?;
            let descending = if p.eat_kw("desc")? {
                true
            } else {
                p.eat_kw("asc")?;
                false
            };
            Ok(SortKey { expr, descending })
        })
    }

    fn limit(&mut self) -> Result<u64, ParseError> {
        if self.cur.tok != Tok::Int {
            return Err(self.expected("a positive whole number after `limit`"));
        }
        let t = self.cur.clone();
        let text = self.text(&t);
        let n: u64 = text
            .parse()
            .map_err(|_| self.err_at(t.start, format!("limit `{text}` is too large")))?;
        if n == 0 {
            return Err(self.err_at(t.start, "limit must be at least 1"));
        }
        self.bump()?;
        Ok(n)
    }

    fn parse_command(&mut self) -> Result<Parse, ParseError> {
        if !matches!(self.cur.tok, Tok::Ident | Tok::Quoted(_)) {
            return Err(self.expected("the field to parse, such as `@message`"));
        }
        let field = self.field_name()?;
        let pattern = match self.cur.tok.clone() {
            Tok::Str(pattern) => {
                let pattern_tok = self.bump()?;
                if !self.eat_kw("as")? {
                    return Err(self.expected("`as` and the names the `*` wildcards capture into"));
                }
                let names = self.comma_list(Self::field_name)?;
                let stars = pattern.matches('*').count();
                if stars == 0 {
                    return Err(
                        self.err_at(pattern_tok.start, "the parse pattern has no `*` wildcard")
                    );
                }
                if stars != names.len() {
                    return Err(self.err_at(
                        pattern_tok.start,
                        format!(
                            "the parse pattern has {stars} `*` wildcard(s) but {} name(s) follow `as`",
                            names.len()
                        ),
                    ));
                }
                ParsePattern::Glob { pattern, names }
            }
            Tok::Slash => ParsePattern::Regex(self.regex(true)?),
            _ => return Err(self.expected("a \"glob * pattern\" or a /regex/ after the field")),
        };
        Ok(Parse { field, pattern })
    }

    /// Lexes the regex starting at the current `/` and checks it compiles, so bad patterns fail
    /// at parse time with a position instead of later in the engine.
    fn regex(&mut self, need_names: bool) -> Result<String, ParseError> {
        let start = self.cur.start;
        self.cur = self.lexer.regex(start)?;
        let Tok::Regex(body) = self.cur.tok.clone() else {
            return Err(self.err_here("expected a /regex/"));
        };
        match regex::Regex::new(&to_rust_regex(&body)) {
            Ok(re) if need_names && re.capture_names().flatten().next().is_none() => {
                return Err(self.err_at(
                    start,
                    "the parse regex has no named capture group such as `(?<name>...)`",
                ));
            }
            Ok(_) => {}
            Err(e) => {
                return Err(
                    self.err_at(start, format!("invalid regex: {}", regex_error_summary(&e)))
                );
            }
        }
        self.bump()?;
        Ok(body)
    }

    // ---- expressions, lowest precedence first ----

    fn expr(&mut self) -> Result<Expr, ParseError> {
        Ok(self.or_expr()?.expr)
    }

    fn or_expr(&mut self) -> Result<Node, ParseError> {
        self.enter()?;
        let mut left = self.and_expr()?;
        while self.is_kw("or") || self.cur.tok == Tok::OrOr {
            let at = self.bump()?.start;
            let right = self.and_expr()?;
            left = self.binary(left, BinaryOp::Or, right, at)?;
        }
        self.leave();
        Ok(left)
    }

    fn and_expr(&mut self) -> Result<Node, ParseError> {
        let mut left = self.not_expr()?;
        while self.is_kw("and") || self.cur.tok == Tok::AndAnd {
            let at = self.bump()?.start;
            let right = self.not_expr()?;
            left = self.binary(left, BinaryOp::And, right, at)?;
        }
        Ok(left)
    }

    fn not_expr(&mut self) -> Result<Node, ParseError> {
        if !self.is_kw("not") {
            return self.cmp_expr();
        }
        let at = self.bump()?.start;
        self.enter()?;
        let inner = self.not_expr()?;
        self.leave();
        let expr = Expr::Unary {
            op: UnaryOp::Not,
            expr: Box::new(inner.expr),
        };
        self.node(expr, inner.depth + 1, at)
    }

    /// Consumes a comparison operator if one is next.
    fn cmp_op(&mut self) -> Result<Option<CmpOp>, ParseError> {
        let op = match self.cur.tok {
            Tok::Eq | Tok::EqEq => CmpOp::Binary(BinaryOp::Eq),
            Tok::Ne => CmpOp::Binary(BinaryOp::Ne),
            Tok::Lt => CmpOp::Binary(BinaryOp::Lt),
            Tok::Le => CmpOp::Binary(BinaryOp::Le),
            Tok::Gt => CmpOp::Binary(BinaryOp::Gt),
            Tok::Ge => CmpOp::Binary(BinaryOp::Ge),
            Tok::Match => CmpOp::Binary(BinaryOp::Match),
            _ if self.is_kw("like") => CmpOp::Binary(BinaryOp::Like),
            _ if self.is_kw("in") => CmpOp::In { negated: false },
            _ if self.is_kw("not") => {
                self.bump()?;
                if self.is_kw("like") {
                    CmpOp::Binary(BinaryOp::NotLike)
                } else if self.is_kw("in") {
                    CmpOp::In { negated: true }
                } else {
                    return Err(self.expected("`like` or `in` after `not`"));
                }
            }
            _ => return Ok(None),
        };
        self.bump()?;
        Ok(Some(op))
    }

    fn at_cmp_op(&self) -> bool {
        matches!(
            self.cur.tok,
            Tok::Eq | Tok::EqEq | Tok::Ne | Tok::Lt | Tok::Le | Tok::Gt | Tok::Ge | Tok::Match
        ) || self.is_kw("like")
            || self.is_kw("in")
            || self.is_kw("not")
    }

    fn cmp_expr(&mut self) -> Result<Node, ParseError> {
        let left = self.add_expr()?;
        let at = self.cur.start;
        let Some(op) = self.cmp_op()? else {
            return Ok(left);
        };
        let node = match op {
            CmpOp::Binary(op @ (BinaryOp::Like | BinaryOp::NotLike)) => {
                let right = match self.cur.tok.clone() {
                    Tok::Str(s) => {
                        self.bump()?;
                        Expr::Literal(Literal::Str(s))
                    }
                    Tok::Slash => Expr::Regex(self.regex(false)?),
                    _ => return Err(self.expected("a string or /regex/ after `like`")),
                };
                self.binary(left, op, leaf(right), at)?
            }
            CmpOp::Binary(BinaryOp::Match) => {
                if self.cur.tok != Tok::Slash {
                    return Err(self.expected("a /regex/ after `=~`"));
                }
                let right = leaf(Expr::Regex(self.regex(false)?));
                self.binary(left, BinaryOp::Match, right, at)?
            }
            CmpOp::Binary(op) => {
                let right = self.add_expr()?;
                self.binary(left, op, right, at)?
            }
            CmpOp::In { negated } => {
                self.expect(&Tok::LBracket, "`[` to start the list")?;
                let mut list = Vec::new();
                let mut depth = left.depth;
                if self.cur.tok != Tok::RBracket {
                    for item in self.comma_list(Self::or_expr)? {
                        depth = depth.max(item.depth);
                        list.push(item.expr);
                    }
                }
                self.expect(&Tok::RBracket, "`,` or `]`")?;
                let expr = Expr::In {
                    expr: Box::new(left.expr),
                    list,
                    negated,
                };
                self.node(expr, depth + 1, at)?
            }
        };
        if self.at_cmp_op() {
            return Err(self.err_here("comparisons cannot be chained; add parentheses"));
        }
        Ok(node)
    }

    fn add_expr(&mut self) -> Result<Node, ParseError> {
        let mut left = self.mul_expr()?;
        loop {
            let op = match self.cur.tok {
                Tok::Plus => BinaryOp::Add,
                Tok::Minus => BinaryOp::Sub,
                _ => return Ok(left),
            };
            let at = self.bump()?.start;
            let right = self.mul_expr()?;
            left = self.binary(left, op, right, at)?;
        }
    }

    fn mul_expr(&mut self) -> Result<Node, ParseError> {
        let mut left = self.unary()?;
        loop {
            let op = match self.cur.tok {
                Tok::Star => BinaryOp::Mul,
                Tok::Slash => BinaryOp::Div,
                Tok::Percent => BinaryOp::Mod,
                _ => return Ok(left),
            };
            let at = self.bump()?.start;
            let right = self.unary()?;
            left = self.binary(left, op, right, at)?;
        }
    }

    fn unary(&mut self) -> Result<Node, ParseError> {
        if self.cur.tok != Tok::Minus {
            return self.primary();
        }
        let at = self.bump()?.start;
        // `-5` becomes a negative literal rather than a negation so that every i64, including
        // i64::MIN, has a spelling, and so negative literals round-trip through the renderer.
        match self.cur.tok {
            Tok::Int => {
                let t = self.bump()?;
                let text = format!("-{}", self.text(&t));
                let n = text
                    .parse::<i64>()
                    .map_err(|_| self.err_at(at, format!("integer `{text}` is out of range")))?;
                Ok(leaf(Expr::Literal(Literal::Int(n))))
            }
            Tok::Float => {
                let t = self.bump()?;
                let f = self.float(&t)?;
                Ok(leaf(Expr::Literal(Literal::Float(-f))))
            }
            _ => {
                self.enter()?;
                let inner = self.unary()?;
                self.leave();
                let expr = Expr::Unary {
                    op: UnaryOp::Neg,
                    expr: Box::new(inner.expr),
                };
                self.node(expr, inner.depth + 1, at)
            }
        }
    }

    fn float(&self, t: &Token) -> Result<f64, ParseError> {
        let text = self.text(t);
        match text.parse::<f64>() {
            Ok(f) if f.is_finite() => Ok(f),
            _ => Err(self.err_at(t.start, format!("number `{text}` is out of range"))),
        }
    }

    fn primary(&mut self) -> Result<Node, ParseError> {
        let t = self.cur.clone();
        let text = self.text(&t);
        let expr = match &t.tok {
            Tok::Int => {
                let n = text.parse::<i64>().map_err(|_| {
                    self.err_at(t.start, format!("integer `{text}` is out of range"))
                })?;
                self.bump()?;
                Expr::Literal(Literal::Int(n))
            }
            Tok::Float => {
                let f = self.float(&t)?;
                self.bump()?;
                Expr::Literal(Literal::Float(f))
            }
            Tok::Str(s) => {
                let s = s.clone();
                self.bump()?;
                Expr::Literal(Literal::Str(s))
            }
            Tok::Quoted(name) => {
                let name = name.clone();
                self.bump()?;
                Expr::Field(name)
            }
            Tok::Ident if is_keyword(text) => return Err(self.expected("an expression")),
            Tok::Ident => {
                self.bump()?;
                if self.cur.tok == Tok::LParen {
                    return self.call(&t);
                }
                Expr::Field(text.to_string())
            }
            Tok::LParen => {
                self.bump()?;
                let inner = self.or_expr()?;
                self.expect(&Tok::RParen, "`)`")?;
                return Ok(inner);
            }
            Tok::Duration { .. } => {
                return Err(self.err_here(format!(
                    "a time period such as `{text}` is only allowed as the argument of `bin()`"
                )));
            }
            Tok::Slash => {
                return Err(
                    self.err_here("a /regex/ is only allowed after `like`, `not like` or `=~`")
                );
            }
            _ => return Err(self.expected("an expression")),
        };
        Ok(leaf(expr))
    }

    /// Parses the arguments of a call whose name `name_tok` was consumed; `(` is current.
    fn call(&mut self, name_tok: &Token) -> Result<Node, ParseError> {
        let name = self.text(name_tok);
        let func = match name.to_ascii_lowercase().as_str() {
            "bin" => return self.bin_call(),
            "isipv4insubnet" => Function::IsIpv4InSubnet,
            "isipinsubnet" => Function::IsIpInSubnet,
            "count" | "count_distinct" | "sum" | "avg" | "min" | "max" => {
                return Err(self.err_at(
                    name_tok.start,
                    format!("aggregate function `{name}` is only allowed as a `stats` aggregate, not inside an expression"),
                ))
            }
            _ => {
                return Err(self.err_at(
                    name_tok.start,
                    format!("unsupported function `{name}` ({OUTSIDE})"),
                ))
            }
        };
        self.bump()?;
        let mut args = Vec::new();
        let mut depth = 0;
        if self.cur.tok != Tok::RParen {
            for arg in self.comma_list(Self::or_expr)? {
                depth = depth.max(arg.depth);
                args.push(arg.expr);
            }
        }
        self.expect(&Tok::RParen, "`,` or `)`")?;
        if args.len() != 2 {
            return Err(self.err_at(
                name_tok.start,
                format!(
                    "`{name}` takes 2 arguments (an address and a CIDR), found {}",
                    args.len()
                ),
            ));
        }
        self.node(Expr::Call { func, args }, depth + 1, name_tok.start)
    }

    fn bin_call(&mut self) -> Result<Node, ParseError> {
        self.bump()?;
        let Tok::Duration { millis } = self.cur.tok else {
            return Err(self.expected("a time period such as `5m` in `bin()`"));
        };
        let t = self.bump()?;
        if millis <= 0 {
            return Err(self.err_at(t.start, "the `bin()` period must be greater than zero"));
        }
        self.expect(&Tok::RParen, "`)` after the `bin()` period")?;
        let text = self.text(&t).to_string();
        let period = Expr::Literal(Literal::Duration { millis, text });
        Ok(Node {
            expr: Expr::Call {
                func: Function::Bin,
                args: vec![period],
            },
            depth: 2,
        })
    }
}

fn command_name(command: &Command) -> &'static str {
    match command {
        Command::Fields(_) => "fields",
        Command::Display(_) => "display",
        Command::Filter(_) => "filter",
        Command::Stats(_) => "stats",
        Command::Sort(_) => "sort",
        Command::Limit(_) => "limit",
        Command::Dedup(_) => "dedup",
        Command::Parse(_) => "parse",
    }
}

/// Rewrites Insights' `(?<name>` groups to `(?P<name>`, leaving escapes and lookaround-looking
/// text alone, so validation works on every regex crate version flowsift may build against.
pub(super) fn to_rust_regex(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == '\\' {
            if let Some(escaped) = chars.next() {
                out.push(escaped);
            }
            continue;
        }
        if c == '(' && out_rest_starts_group(&mut chars) {
            out.push_str("?P<");
        }
    }
    out
}

/// Consumes `?<` when it opens a named group (the name starts with a letter or `_`).
fn out_rest_starts_group(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> bool {
    let mut ahead = chars.clone();
    let opens = ahead.next() == Some('?')
        && ahead.next() == Some('<')
        && ahead
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if opens {
        chars.next();
        chars.next();
    }
    opens
}

/// The regex crate's syntax errors span several lines with their own caret; keep only the
/// reason, since our caret already points at the literal.
fn regex_error_summary(e: &regex::Error) -> String {
    let full = e.to_string();
    full.lines()
        .find_map(|l| l.trim().strip_prefix("error: "))
        .map(str::to_string)
        .unwrap_or_else(|| full.split_whitespace().collect::<Vec<_>>().join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn field(name: &str) -> Expr {
        Expr::Field(name.to_string())
    }

    fn int(n: i64) -> Expr {
        Expr::Literal(Literal::Int(n))
    }

    fn string(s: &str) -> Expr {
        Expr::Literal(Literal::Str(s.to_string()))
    }

    fn bin(left: Expr, op: BinaryOp, right: Expr) -> Expr {
        Expr::Binary {
            left: Box::new(left),
            op,
            right: Box::new(right),
        }
    }

    fn unary(op: UnaryOp, e: Expr) -> Expr {
        Expr::Unary {
            op,
            expr: Box::new(e),
        }
    }

    fn one(text: &str) -> Command {
        let q = parse(text).unwrap_or_else(|e| panic!("{}", e.display_with_source(text)));
        assert_eq!(q.commands.len(), 1, "{text}");
        q.commands
            .into_iter()
            .next()
            .unwrap_or_else(|| unreachable!())
    }

    fn filter(text: &str) -> Expr {
        match one(&format!("filter {text}")) {
            Command::Filter(e) => e,
            other => panic!("not a filter: {other:?}"),
        }
    }

    /// Asserts the error, its position and a fragment of its message.
    fn fails(text: &str, line: usize, column: usize, fragment: &str) -> ParseError {
        let shown: String = text.chars().take(80).collect();
        let err = match parse(text) {
            Ok(q) => panic!("expected an error for {shown:?}, got {q:?}"),
            Err(e) => e,
        };
        assert!(
            err.message.contains(fragment),
            "{shown:?}: message {:?} lacks {fragment:?}",
            err.message
        );
        assert_eq!((err.line, err.column), (line, column), "{shown:?}: {}", err);
        err
    }

    fn proj(expr: Expr, alias: Option<&str>) -> Projection {
        Projection {
            expr,
            alias: alias.map(str::to_string),
        }
    }

    // ---- commands ----

    #[test]
    fn fields_with_aliases_and_expressions() {
        assert_eq!(
            one("fields @timestamp, srcAddr as src, bytes / packets as avgSize"),
            Command::Fields(vec![
                proj(field("@timestamp"), None),
                proj(field("srcAddr"), Some("src")),
                proj(
                    bin(field("bytes"), BinaryOp::Div, field("packets")),
                    Some("avgSize")
                ),
            ])
        );
    }

    #[test]
    fn display_command() {
        assert_eq!(
            one("display a, `dst-port` as `port no`"),
            Command::Display(vec![
                proj(field("a"), None),
                proj(field("dst-port"), Some("port no")),
            ])
        );
    }

    #[test]
    fn stats_with_every_aggregate_and_keys() {
        let cmd = one(
            "stats count(*), count(), count(x) as c, count_distinct(dstPort), sum(bytes), \
             avg(bytes), min(start), max(end) as last by srcAddr, bin(5m) as t",
        );
        let Command::Stats(stats) = cmd else {
            panic!("not stats")
        };
        let funcs: Vec<_> = stats.aggregates.iter().map(|a| a.func).collect();
        assert_eq!(
            funcs,
            [
                AggFunc::Count,
                AggFunc::Count,
                AggFunc::Count,
                AggFunc::CountDistinct,
                AggFunc::Sum,
                AggFunc::Avg,
                AggFunc::Min,
                AggFunc::Max
            ]
        );
        assert_eq!(stats.aggregates[0].arg, AggArg::Star);
        assert_eq!(stats.aggregates[1].arg, AggArg::Star);
        assert_eq!(stats.aggregates[2].arg, AggArg::Expr(field("x")));
        assert_eq!(stats.aggregates[2].alias.as_deref(), Some("c"));
        assert_eq!(stats.aggregates[7].alias.as_deref(), Some("last"));
        assert_eq!(
            stats.by,
            vec![
                GroupKey {
                    expr: field("srcAddr"),
                    alias: None
                },
                GroupKey {
                    expr: Expr::Call {
                        func: Function::Bin,
                        args: vec![Expr::Literal(Literal::Duration {
                            millis: 300_000,
                            text: "5m".into()
                        })]
                    },
                    alias: Some("t".into())
                },
            ]
        );
    }

    #[test]
    fn stats_group_key_may_be_an_expression() {
        let Command::Stats(stats) = one("stats sum(bytes) by dstPort < 1024 as wellKnown") else {
            panic!("not stats")
        };
        assert_eq!(
            stats.by[0].expr,
            bin(field("dstPort"), BinaryOp::Lt, int(1024))
        );
    }

    #[test]
    fn bin_periods_in_every_unit() {
        for (text, millis) in [
            ("250ms", 250),
            ("30s", 30_000),
            ("5m", 300_000),
            ("1h", 3_600_000),
            ("2d", 172_800_000),
            ("1w", 604_800_000),
            ("5M", 300_000),
            ("10MS", 10),
        ] {
            let Command::Stats(stats) = one(&format!("stats count(*) by bin({text})")) else {
                panic!("not stats")
            };
            assert_eq!(
                stats.by[0].expr,
                Expr::Call {
                    func: Function::Bin,
                    args: vec![Expr::Literal(Literal::Duration {
                        millis,
                        text: text.into()
                    })]
                }
            );
        }
    }

    #[test]
    fn sort_defaults_to_ascending() {
        assert_eq!(
            one("sort bytes desc, srcAddr, @timestamp ASC"),
            Command::Sort(vec![
                SortKey {
                    expr: field("bytes"),
                    descending: true
                },
                SortKey {
                    expr: field("srcAddr"),
                    descending: false
                },
                SortKey {
                    expr: field("@timestamp"),
                    descending: false
                },
            ])
        );
    }

    #[test]
    fn limit_and_dedup() {
        assert_eq!(one("limit 20"), Command::Limit(20));
        assert_eq!(one("limit 18446744073709551615"), Command::Limit(u64::MAX));
        assert_eq!(
            one("dedup srcAddr, `dst addr`"),
            Command::Dedup(vec!["srcAddr".into(), "dst addr".into()])
        );
    }

    #[test]
    fn parse_glob_and_regex() {
        assert_eq!(
            one(r#"parse @message "* * [*]" as a, b, `c d`"#),
            Command::Parse(Parse {
                field: "@message".into(),
                pattern: ParsePattern::Glob {
                    pattern: "* * [*]".into(),
                    names: vec!["a".into(), "b".into(), "c d".into()]
                }
            })
        );
        assert_eq!(
            one(r"parse @message /(?<src>\S+) (?<path>\/\w+)/"),
            Command::Parse(Parse {
                field: "@message".into(),
                pattern: ParsePattern::Regex(r"(?<src>\S+) (?<path>\/\w+)".into())
            })
        );
        assert_eq!(
            one("parse msg '*=*' as k, v"),
            Command::Parse(Parse {
                field: "msg".into(),
                pattern: ParsePattern::Glob {
                    pattern: "*=*".into(),
                    names: vec!["k".into(), "v".into()]
                }
            })
        );
    }

    #[test]
    fn pipeline_over_lines_with_comments_and_blank_lines() {
        let text = "# top talkers\n\nfields srcAddr, bytes # who\n  # only a comment\n| filter action = \"REJECT\" # why\n\n| stats sum(bytes) as total by srcAddr\n| sort total desc\n| limit 10\n";
        let q = parse(text).unwrap_or_else(|e| panic!("{}", e.display_with_source(text)));
        let names: Vec<_> = q.commands.iter().map(command_name).collect();
        assert_eq!(names, ["fields", "filter", "stats", "sort", "limit"]);
        assert_eq!(
            q.commands[1],
            Command::Filter(bin(field("action"), BinaryOp::Eq, string("REJECT")))
        );
    }

    #[test]
    fn hash_inside_strings_backticks_and_regexes_is_not_a_comment() {
        assert_eq!(
            filter("a = '#x'"),
            bin(field("a"), BinaryOp::Eq, string("#x"))
        );
        assert_eq!(filter("`#a` = 1"), bin(field("#a"), BinaryOp::Eq, int(1)));
        assert_eq!(
            filter("a like /x#y/ # real comment"),
            bin(field("a"), BinaryOp::Like, Expr::Regex("x#y".into()))
        );
    }

    #[test]
    fn keywords_commands_functions_and_units_are_case_insensitive() {
        let text = "FIELDS a AS b | Filter a = 1 AND NOT b LIKE 'x' OR c Not In [1] \
                    | STATS COUNT(*) As n, Count_Distinct(a) BY BIN(5M) \
                    | SORT n DESC | LIMIT 5 | DEDUP a | Display a | PARSE @message 'x*' AS y \
                    | filter ISIPV4INSUBNET(a, '10.0.0.0/8') and IsIpInSubnet(a, '::/0')";
        let q = parse(text).unwrap_or_else(|e| panic!("{}", e.display_with_source(text)));
        assert_eq!(q.commands.len(), 9);
    }

    #[test]
    fn field_names_are_case_sensitive() {
        assert_eq!(
            filter("Bytes = 1"),
            bin(field("Bytes"), BinaryOp::Eq, int(1))
        );
        assert_ne!(filter("Bytes = 1"), filter("bytes = 1"));
    }

    // ---- expressions ----

    #[test]
    fn every_comparison_operator() {
        for (op_text, op) in [
            ("=", BinaryOp::Eq),
            ("==", BinaryOp::Eq),
            ("!=", BinaryOp::Ne),
            ("<", BinaryOp::Lt),
            ("<=", BinaryOp::Le),
            (">", BinaryOp::Gt),
            (">=", BinaryOp::Ge),
        ] {
            assert_eq!(
                filter(&format!("dstPort {op_text} 443")),
                bin(field("dstPort"), op, int(443))
            );
        }
    }

    #[test]
    fn like_not_like_match_and_in() {
        assert_eq!(
            filter("@message like 'REJECT'"),
            bin(field("@message"), BinaryOp::Like, string("REJECT"))
        );
        assert_eq!(
            filter(r"@message not like /^\d+ ok$/"),
            bin(
                field("@message"),
                BinaryOp::NotLike,
                Expr::Regex(r"^\d+ ok$".into())
            )
        );
        assert_eq!(
            filter(r"path =~ /a\/b/"),
            bin(field("path"), BinaryOp::Match, Expr::Regex(r"a\/b".into()))
        );
        assert_eq!(
            filter("dstPort in [22, 3389]"),
            Expr::In {
                expr: Box::new(field("dstPort")),
                list: vec![int(22), int(3389)],
                negated: false
            }
        );
        assert_eq!(
            filter("protocol not in ['6', 17, x + 1]"),
            Expr::In {
                expr: Box::new(field("protocol")),
                list: vec![string("6"), int(17), bin(field("x"), BinaryOp::Add, int(1))],
                negated: true
            }
        );
        assert_eq!(
            filter("a in []"),
            Expr::In {
                expr: Box::new(field("a")),
                list: vec![],
                negated: false
            }
        );
    }

    #[test]
    fn boolean_precedence() {
        // or < and < not < comparison
        assert_eq!(
            filter("not a = 1 and b = 2 or c = 3"),
            bin(
                bin(
                    unary(UnaryOp::Not, bin(field("a"), BinaryOp::Eq, int(1))),
                    BinaryOp::And,
                    bin(field("b"), BinaryOp::Eq, int(2))
                ),
                BinaryOp::Or,
                bin(field("c"), BinaryOp::Eq, int(3))
            )
        );
        assert_eq!(
            filter("a || b && c"),
            bin(
                field("a"),
                BinaryOp::Or,
                bin(field("b"), BinaryOp::And, field("c"))
            )
        );
        assert_eq!(
            filter("not not a"),
            unary(UnaryOp::Not, unary(UnaryOp::Not, field("a")))
        );
    }

    #[test]
    fn arithmetic_precedence_and_associativity() {
        assert_eq!(
            filter("a + b * c % d > 1"),
            bin(
                bin(
                    field("a"),
                    BinaryOp::Add,
                    bin(
                        bin(field("b"), BinaryOp::Mul, field("c")),
                        BinaryOp::Mod,
                        field("d")
                    )
                ),
                BinaryOp::Gt,
                int(1)
            )
        );
        assert_eq!(
            filter("a - b - c"),
            bin(
                bin(field("a"), BinaryOp::Sub, field("b")),
                BinaryOp::Sub,
                field("c")
            )
        );
        assert_eq!(
            filter("(a + b) * c"),
            bin(
                bin(field("a"), BinaryOp::Add, field("b")),
                BinaryOp::Mul,
                field("c")
            )
        );
        assert_eq!(filter("a-1"), bin(field("a"), BinaryOp::Sub, int(1)));
    }

    #[test]
    fn negation_and_negative_literals() {
        assert_eq!(filter("-5"), int(-5));
        assert_eq!(filter("- 5"), int(-5));
        assert_eq!(filter("-9223372036854775808"), int(i64::MIN));
        assert_eq!(filter("-1.5"), Expr::Literal(Literal::Float(-1.5)));
        assert_eq!(filter("-(5)"), unary(UnaryOp::Neg, int(5)));
        assert_eq!(filter("-a"), unary(UnaryOp::Neg, field("a")));
        assert_eq!(
            filter("--a"),
            unary(UnaryOp::Neg, unary(UnaryOp::Neg, field("a")))
        );
        assert_eq!(filter("a - -5"), bin(field("a"), BinaryOp::Sub, int(-5)));
        assert_eq!(
            filter("-a * b"),
            bin(unary(UnaryOp::Neg, field("a")), BinaryOp::Mul, field("b"))
        );
    }

    #[test]
    fn numbers_and_strings() {
        assert_eq!(filter("1.25"), Expr::Literal(Literal::Float(1.25)));
        assert_eq!(filter("10"), int(10));
        assert_eq!(filter("9223372036854775807"), int(i64::MAX));
        assert_eq!(filter(r#""a\"b\\c\'d\n\t\r""#), string("a\"b\\c'd\n\t\r"));
        assert_eq!(filter(r#"'it\'s "fine"'"#), string("it's \"fine\""));
        assert_eq!(filter("'two\nlines'"), string("two\nlines"));
    }

    #[test]
    fn fields_identifiers_and_backticks() {
        assert_eq!(filter("a.b_c@d"), field("a.b_c@d"));
        assert_eq!(filter("@timestamp"), field("@timestamp"));
        assert_eq!(filter("`dst-port`"), field("dst-port"));
        assert_eq!(filter("`and`"), field("and"));
        // Command and function names are only special in their positions.
        assert_eq!(
            filter("filter = bin"),
            bin(field("filter"), BinaryOp::Eq, field("bin"))
        );
    }

    #[test]
    fn subnet_calls() {
        assert_eq!(
            filter("isIpv4InSubnet(srcAddr, \"10.0.0.0/8\")"),
            Expr::Call {
                func: Function::IsIpv4InSubnet,
                args: vec![field("srcAddr"), string("10.0.0.0/8")]
            }
        );
        assert_eq!(
            filter("not isIpInSubnet(dstAddr, '2001:db8::/32')"),
            unary(
                UnaryOp::Not,
                Expr::Call {
                    func: Function::IsIpInSubnet,
                    args: vec![field("dstAddr"), string("2001:db8::/32")]
                }
            )
        );
    }

    // ---- errors ----

    #[test]
    fn unsupported_commands_are_named_and_located() {
        let e = fails(
            "fields @message\n| unmask @message",
            2,
            3,
            "unsupported command `unmask`",
        );
        assert!(e.message.contains(OUTSIDE));
        fails("pattern @message", 1, 1, "unsupported command `pattern`");
        fails("fields a | diff", 1, 12, "unsupported command `diff`");
        fails(
            "filterIndex region = 'x'",
            1,
            1,
            "unsupported command `filterIndex`",
        );
        fails(
            "SOURCE 'group' | fields a",
            1,
            1,
            "unsupported command `SOURCE`",
        );
    }

    #[test]
    fn unsupported_functions_are_named_and_located() {
        let e = fails(
            "filter strlen(a) > 3",
            1,
            8,
            "unsupported function `strlen`",
        );
        assert!(e.message.contains(OUTSIDE));
        fails(
            "filter ispresent(a)",
            1,
            8,
            "unsupported function `ispresent`",
        );
        fails(
            "fields a\n| stats count(*) by datefloor(@timestamp, 1h)",
            2,
            21,
            "unsupported function `datefloor`",
        );
        fails(
            "filter count(*) > 5",
            1,
            8,
            "only allowed as a `stats` aggregate",
        );
        fails(
            "stats count(*) by sum(a)",
            1,
            19,
            "only allowed as a `stats` aggregate",
        );
    }

    #[test]
    fn unsupported_stats_functions_are_named_and_located() {
        for name in ["pct", "stddev", "earliest", "latest", "sortsFirst"] {
            let e = fails(
                &format!("stats count(*), {name}(bytes, 50)"),
                1,
                17,
                &format!("unsupported stats function `{name}`"),
            );
            assert!(e.message.contains(OUTSIDE));
        }
        fails("stats bytes", 1, 7, "expected an aggregate function");
        fails("stats sum(*)", 1, 11, "only allowed in `count(*)`");
        fails("stats sum(a) / count(*)", 1, 14, "arithmetic on aggregate");
        fails(
            "stats count(*) by",
            1,
            18,
            "expected an expression, found end of query",
        );
        fails("stats", 1, 6, "expected an aggregate function");
    }

    #[test]
    fn bin_and_duration_errors() {
        fails(
            "stats count(*) by bin(5min)",
            1,
            24,
            "unsupported time unit `min`",
        );
        fails("stats count(*) by bin(1mo)", 1, 24, "outside the subset");
        fails("stats count(*) by bin(0m)", 1, 23, "greater than zero");
        fails("stats count(*) by bin(1.5m)", 1, 23, "whole number");
        fails("stats count(*) by bin(x)", 1, 23, "time period");
        fails(
            "stats count(*) by bin(5m, 1)",
            1,
            25,
            "`)` after the `bin()` period",
        );
        fails(
            "filter x > 5m",
            1,
            12,
            "only allowed as the argument of `bin()`",
        );
        fails(
            "stats count(*) by bin(99999999999999999w)",
            1,
            23,
            "too large",
        );
        fails("filter 5x", 1, 9, "unsupported time unit `x`");
        fails("filter 5_0", 1, 8, "invalid number `5_0`");
        fails("filter 1.", 1, 9, "digits after the decimal point");
    }

    #[test]
    fn parse_command_errors() {
        fails(
            "parse @message '* *' as a",
            1,
            16,
            "2 `*` wildcard(s) but 1 name(s)",
        );
        fails("parse @message 'abc' as a", 1, 16, "no `*` wildcard");
        fails("parse @message '*'", 1, 19, "expected `as`");
        fails("parse @message /(\\d+/", 1, 16, "invalid regex");
        fails("parse @message /\\d+/", 1, 16, "no named capture group");
        fails("parse @message /(?<a>x)", 1, 16, "unterminated regex");
        fails("parse '*' as a", 1, 7, "expected the field to parse");
        fails("parse @message a", 1, 16, "glob * pattern");
    }

    #[test]
    fn limit_errors() {
        fails("limit 0", 1, 7, "at least 1");
        fails("limit -1", 1, 7, "positive whole number");
        fails("limit 1.5", 1, 7, "positive whole number");
        fails("limit", 1, 6, "found end of query");
        fails("limit 18446744073709551616", 1, 7, "too large");
    }

    #[test]
    fn pipe_and_trailing_garbage_errors() {
        fails("", 1, 1, "empty query");
        fails("# nothing\n\n", 1, 1, "empty query");
        fails("| fields a", 1, 1, "must not start with `|`");
        fails("fields a |", 1, 11, "expected a command after `|`");
        fails("fields a | | limit 1", 1, 12, "expected a command");
        fails(
            "fields a\nfilter b",
            2,
            1,
            "unexpected `filter` after the `fields` command; separate commands with `|`",
        );
        fails("filter a = 1 b", 1, 14, "after the `filter` command");
        fails("limit 5 5", 1, 9, "after the `limit` command");
        fails("sort a desc asc", 1, 13, "after the `sort` command");
        fails(
            "fields a,",
            1,
            10,
            "expected an expression, found end of query",
        );
        fails("42", 1, 1, "expected a command");
    }

    #[test]
    fn expression_errors() {
        fails("filter a = b = c", 1, 14, "cannot be chained");
        fails("filter a < b like 'x'", 1, 14, "cannot be chained");
        fails("filter a = /x/", 1, 12, "only allowed after `like`");
        fails("filter a like b", 1, 15, "string or /regex/");
        fails("filter a =~ 'x'", 1, 13, "a /regex/ after `=~`");
        fails("filter a like /(/", 1, 15, "invalid regex");
        fails("filter a not b", 1, 14, "`like` or `in` after `not`");
        fails("filter a in 1", 1, 13, "`[`");
        fails("filter a in [1, 2", 1, 18, "`,` or `]`");
        fails("filter (a = 1", 1, 14, "expected `)`");
        fails("filter and = 1", 1, 8, "keyword `and`");
        fails("fields a as desc", 1, 13, "keyword `desc`");
        fails("filter isIpInSubnet(a)", 1, 8, "takes 2 arguments");
        fails("filter a & b", 1, 10, "unexpected character `&`");
        fails("filter a ! b", 1, 10, "unexpected character `!`");
        fails("filter a = $", 1, 12, "unexpected character `$`");
        fails("filter 99999999999999999999", 1, 8, "out of range");
        fails("filter -9223372036854775809", 1, 8, "out of range");
        fails("filter a >", 1, 11, "found end of query");
    }

    #[test]
    fn lexical_errors() {
        fails("filter a = 'abc", 1, 12, "unterminated string");
        fails("filter a = \"x\\q\"", 1, 14, "unsupported escape `\\q`");
        fails("filter `abc = 1", 1, 8, "unterminated backtick");
        fails("filter `` = 1", 1, 8, "empty field name");
        fails("filter a like /abc\n/", 1, 15, "unterminated regex");
    }

    #[test]
    fn positions_account_for_multiline_strings_and_wide_characters() {
        fails("filter a = 'x\ny' and strlen(a)", 2, 8, "strlen");
        fails("filter a = 'été' | foo", 1, 20, "unsupported command `foo`");
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = format!("filter {}a{}", "(".repeat(10_000), ")".repeat(10_000));
        fails(&deep, 1, 8 + MAX_NESTING, "nested too deeply");
        let nots = format!("filter {}a", "not ".repeat(10_000));
        assert!(parse(&nots).is_err());
        let negs = format!("filter {}a", "-".repeat(10_000));
        assert!(parse(&negs).is_err());
        let chain = format!("filter a{}", " or a".repeat(10_000));
        let e = fails(&chain, 1, 10 + 5 * (MAX_TREE_DEPTH - 1), "too deep");
        assert!(e.message.contains("256"));
        let ok = format!("filter a{}", " or a".repeat(MAX_TREE_DEPTH - 1));
        assert!(parse(&ok).is_ok());
    }

    #[test]
    fn display_with_source_matches_the_documented_shape() {
        let text = "fields @message\n| unmask @message";
        let e = fails(text, 2, 3, "unmask");
        assert_eq!(
            e.display_with_source(text),
            format!(
                "unsupported command `unmask` ({OUTSIDE}) at line 2, column 3\n  2 | | unmask @message\n    |   ^"
            )
        );
    }

    #[test]
    fn display_with_source_at_end_of_input_tabs_and_wide_gutters() {
        let text = "filter a >\n";
        let e = fails(text, 1, 11, "end of query");
        assert!(
            e.display_with_source(text)
                .ends_with("  1 | filter a >\n    |           ^")
        );

        let text = "filter\ta = $";
        let e = fails(text, 1, 12, "`$`");
        assert!(
            e.display_with_source(text)
                .ends_with("\n    |       \t    ^")
        );

        let text = format!("fields a\n{}| nope", "| limit 1\n".repeat(9));
        let e = fails(&text, 11, 3, "nope");
        assert!(
            e.display_with_source(&text)
                .ends_with("\n  11 | | nope\n     |   ^")
        );

        // A mismatched source degrades to the message alone rather than panicking.
        assert_eq!(e.display_with_source(""), e.to_string());
    }

    #[test]
    fn regex_group_syntax_is_converted_only_where_it_is_a_group() {
        assert_eq!(to_rust_regex(r"(?<a>x)"), r"(?P<a>x)");
        assert_eq!(to_rust_regex(r"\(?<a>x"), r"\(?<a>x");
        assert_eq!(to_rust_regex(r"(?<=x)"), r"(?<=x)");
        assert_eq!(to_rust_regex(r"(?P<a>x)"), r"(?P<a>x)");
    }

    /// Near-miss queries: commands whose arguments alternate operands and operators, with a
    /// little noise, so a useful share parses and exercises the renderer too.
    pub(super) fn soup() -> impl Strategy<Value = String> {
        let atom = prop::sample::select(vec![
            "a",
            "@message",
            "`x y`",
            "`and`",
            "1",
            "-2.5",
            "'s'",
            "\"q\\\"\"",
            "(a)",
            "-a",
            "count(*)",
            "sum(b)",
            "bin(5m)",
            "isIpInSubnet(a, 'c')",
            "[1, 'x']",
            "not a",
            "desc",
            "5m",
            "/x/",
            "\"* *\"",
            "/(?<n>x)/",
            "#c\n",
            "strlen(a)",
            "",
        ]);
        let op = prop::sample::select(vec![
            "=", "==", "!=", "<", ">=", "and", "or", "&&", "||", "+", "-", "*", "/", "%", "like",
            "not like", "=~", "in", "not in", "as", "by", "asc", "desc", ",", "(", ")", "|",
            "\n| ",
        ]);
        let command = prop::sample::select(vec![
            "fields",
            "display",
            "filter",
            "stats",
            "sort",
            "limit",
            "dedup",
            "parse @message",
            "unmask",
        ]);
        let segment = (
            command,
            prop::collection::vec((atom.clone(), op), 0..3),
            atom,
        )
            .prop_map(|(c, pairs, last)| {
                let mut s = c.to_string();
                for (a, o) in pairs {
                    s.push(' ');
                    s.push_str(a);
                    s.push(' ');
                    s.push_str(o);
                }
                s.push(' ');
                s.push_str(last);
                s
            });
        prop::collection::vec(segment, 1..3).prop_map(|segments| segments.join("\n| "))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn arbitrary_text_never_panics(text in any::<String>()) {
            if let Err(e) = parse(&text) {
                let _ = e.display_with_source(&text);
                prop_assert!(e.line >= 1 && e.column >= 1);
            }
        }

        #[test]
        fn token_soup_never_panics_and_round_trips_when_accepted(text in soup()) {
            if let Ok(q) = parse(&text) {
                let rendered = super::super::render::render(&q);
                prop_assert_eq!(parse(&rendered), Ok(q), "rendered: {}", rendered);
            }
        }
    }
}
