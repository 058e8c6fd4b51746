//! The commands after the record stage (after `stats`, or on raw rows), run over rows one at a
//! time as they come, so that an answer of millions of groups is never held as rows unless a
//! command needs them all.
//!
//! `filter`, `fields`/`display`, `limit` and `dedup` look at one row at a time. `sort` needs
//! every row before it can give the first, so it collects them, sorts them when the input
//! ends, and passes them on to the commands after it. A `sort` that a `limit` follows keeps
//! little more than the rows the limit lets through: `stats ... | sort bytes desc | limit 10`,
//! the usual "top N", holds at most ten rows and a thousand more however many groups there
//! are. Once a `limit` that no `sort` comes before has let its rows through, no further row can
//! reach the output, and [`Post::wants_more`] tells the reader to stop.

use std::borrow::Cow;
use std::cmp::Ordering;

use rustc_hash::FxHashSet;

use super::{
    CExpr, FlowRecord, PlanError, Resolver, RowContext, RowScope, column_name, compile_expr,
    encode_key,
};
use crate::insights::ast::{Command, Expr};
use crate::source::local::value::Scalar;
use crate::source::{Table, Value};

/// The post-stage commands, compiled against the columns they see, and the rows that came out
/// of them so far.
pub(super) struct Post {
    stages: Vec<Stage>,
    columns: Vec<String>,
    /// The columns `fields`/`display` chose, by index (the last of them wins); `None`: the
    /// first `shown` columns.
    selection: Option<Vec<usize>>,
    rows: Vec<Vec<Value>>,
}

enum Stage {
    Filter(CExpr),
    /// The columns `fields`/`display` computes, appended to the row in order (each may use the
    /// ones before it).
    Compute(Vec<CExpr>),
    Limit {
        n: usize,
        passed: usize,
    },
    /// Rows with a null in a dedup field are kept, as Logs Insights documents.
    Dedup {
        slots: Vec<usize>,
        seen: FxHashSet<Vec<u8>>,
    },
    Sort(Sorting),
}

/// A `sort`: its keys, descending or not, and the rows so far with their key values.
///
/// The key values are held one row after another in one array, not as a vector a row:
/// sorting millions of rows then compares values that lie in the array being sorted (each
/// row's first key, beside its number) instead of following a pointer to a row's key at every
/// comparison, and the keys cost no allocation a row. Rows move in and out whole, never copied.
struct Sorting {
    keys: Vec<(CExpr, bool)>,
    /// The rows a `limit` right after the sort lets through: no more need be kept.
    keep: Option<usize>,
    rows: Vec<Vec<Value>>,
    /// The rows' key values, `keys.len()` a row.
    key_values: Vec<Value>,
    /// Once the rows were cut to `keep`, the key of the last row kept: a row that does not
    /// sort before it would come after it, and be cut.
    bound: Option<Vec<Value>>,
}

impl Sorting {
    fn new(keys: Vec<(CExpr, bool)>, keep: Option<usize>) -> Self {
        Sorting {
            keys,
            keep,
            rows: Vec::new(),
            key_values: Vec::new(),
            bound: None,
        }
    }

    fn push(&mut self, row: Cow<'_, [Value]>) {
        let ctx = RowContext { values: &row };
        if let Some(bound) = &self.bound {
            let order = self
                .keys
                .iter()
                .zip(bound)
                .map(|((e, descending), b)| {
                    directed(e.eval(&ctx).to_value().total_cmp(b), *descending)
                })
                .find(|o| o.is_ne());
            if order != Some(Ordering::Less) {
                return;
            }
        }
        self.key_values
            .extend(self.keys.iter().map(|(e, _)| e.eval(&ctx).to_value()));
        self.rows.push(row.into_owned());
        if let Some(keep) = self.keep {
            // Sorting and cutting the rows whenever they are twice (and at least a thousand
            // more than) what is kept costs a few comparisons a row.
            if self.rows.len() >= keep.saturating_mul(2).max(keep.saturating_add(1024)) {
                self.cut(keep);
            }
        }
    }

    /// The rows' numbers in key order, stably: rows of equal keys stay in the order they
    /// came (and rows kept from an earlier cut came before every row after them).
    fn order(&self) -> Vec<usize> {
        let k = self.keys.len();
        let Some(&(_, first_descending)) = self.keys.first() else {
            return (0..self.rows.len()).collect();
        };
        // The first key of each row sits beside its number; the others are looked up only
        // when first keys tie.
        let mut order: Vec<(Value, usize)> = (0..self.rows.len())
            .map(|i| (self.key_values[i * k].clone(), i))
            .collect();
        let rest = |i: usize, j: usize| {
            self.key_values[i * k + 1..(i + 1) * k]
                .iter()
                .zip(&self.key_values[j * k + 1..(j + 1) * k])
                .zip(&self.keys[1..])
                .map(|((x, y), (_, descending))| directed(x.total_cmp(y), *descending))
                .find(|o| o.is_ne())
                .unwrap_or(Ordering::Equal)
        };
        order.sort_by(|(a, i), (b, j)| {
            directed(a.total_cmp(b), first_descending).then_with(|| rest(*i, *j))
        });
        order.into_iter().map(|(_, i)| i).collect()
    }

    /// Sorts the rows and keeps the first `keep`, in order; the last of them bounds the rows
    /// to come.
    fn cut(&mut self, keep: usize) {
        let k = self.keys.len();
        let order = self.order();
        let mut rows = Vec::with_capacity(keep.min(order.len()));
        let mut key_values = Vec::with_capacity(rows.capacity() * k);
        for &i in order.iter().take(keep) {
            rows.push(std::mem::take(&mut self.rows[i]));
            key_values.extend_from_slice(&self.key_values[i * k..(i + 1) * k]);
        }
        self.rows = rows;
        self.key_values = key_values;
        if let Some(last) = keep.checked_sub(1).filter(|_| self.rows.len() == keep) {
            self.bound = Some(self.key_values[last * k..].to_vec());
        }
    }

    /// Every row, in key order (as many as `keep` lets through), leaving none held.
    fn drain_sorted(&mut self) -> impl Iterator<Item = Vec<Value>> + use<> {
        let mut order = self.order();
        if let Some(keep) = self.keep {
            order.truncate(keep);
        }
        self.key_values = Vec::new();
        let mut rows = std::mem::take(&mut self.rows);
        order.into_iter().map(move |i| std::mem::take(&mut rows[i]))
    }
}

fn directed(order: Ordering, descending: bool) -> Ordering {
    if descending { order.reverse() } else { order }
}

impl Post {
    /// Compiles `commands` against rows of `columns`.
    pub(super) fn compile(
        commands: &[Command],
        mut columns: Vec<String>,
    ) -> Result<Self, PlanError> {
        let mut stages = Vec::new();
        let mut selection = None;
        for (i, command) in commands.iter().enumerate() {
            let stage = match command {
                Command::Filter(e) => {
                    Stage::Filter(compile_expr(e, &mut RowScope { columns: &columns })?)
                }
                Command::Sort(keys) => {
                    let keys = keys
                        .iter()
                        .map(|k| {
                            Ok((
                                compile_expr(&k.expr, &mut RowScope { columns: &columns })?,
                                k.descending,
                            ))
                        })
                        .collect::<Result<_, PlanError>>()?;
                    let keep = match commands.get(i + 1) {
                        Some(Command::Limit(n)) => Some(limit(*n)),
                        _ => None,
                    };
                    Stage::Sort(Sorting::new(keys, keep))
                }
                Command::Limit(n) => Stage::Limit {
                    n: limit(*n),
                    passed: 0,
                },
                Command::Dedup(names) => {
                    let mut scope = RowScope { columns: &columns };
                    let slots = names
                        .iter()
                        .map(|n| scope.slot(n))
                        .collect::<Result<_, _>>()?;
                    Stage::Dedup {
                        slots,
                        seen: FxHashSet::default(),
                    }
                }
                Command::Fields(list) | Command::Display(list) => {
                    let mut chosen = Vec::new();
                    let mut computed = Vec::new();
                    for p in list {
                        let index = match (&p.expr, &p.alias) {
                            (Expr::Field(f), None) => RowScope { columns: &columns }.slot(f)?,
                            _ => {
                                computed.push(compile_expr(
                                    &p.expr,
                                    &mut RowScope { columns: &columns },
                                )?);
                                columns.push(column_name(&p.expr, p.alias.as_ref()));
                                columns.len() - 1
                            }
                        };
                        chosen.push(index);
                    }
                    selection = Some(chosen);
                    if computed.is_empty() {
                        continue;
                    }
                    Stage::Compute(computed)
                }
                Command::Stats(_) | Command::Parse(_) => continue,
            };
            stages.push(stage);
        }
        Ok(Post {
            stages,
            columns,
            selection,
            rows: Vec::new(),
        })
    }

    /// Whether there are no commands: rows come out as they go in, with the columns shown.
    pub(super) fn is_empty(&self) -> bool {
        self.stages.is_empty() && self.selection.is_none()
    }

    /// Runs a row through the commands. A row is copied only if a command keeps it or adds
    /// to it.
    pub(super) fn push(&mut self, row: &[Value]) {
        self.push_from(0, Cow::Borrowed(row));
    }

    /// Runs a row the caller no longer needs through the commands: it moves where they keep
    /// it, so rows held by the caller are not held twice.
    pub(super) fn push_owned(&mut self, row: Vec<Value>) {
        self.push_from(0, Cow::Owned(row));
    }

    fn push_from(&mut self, first: usize, mut row: Cow<'_, [Value]>) {
        for stage in &mut self.stages[first..] {
            match stage {
                Stage::Filter(e) => {
                    if !e.eval(&RowContext { values: &row }).is_true() {
                        return;
                    }
                }
                Stage::Compute(exprs) => {
                    for e in exprs.iter() {
                        let value = e.eval(&RowContext { values: &row }).to_value();
                        row.to_mut().push(value);
                    }
                }
                Stage::Limit { n, passed } => {
                    if *passed >= *n {
                        return;
                    }
                    *passed += 1;
                }
                Stage::Dedup { slots, seen } => {
                    if slots.iter().all(|&s| !row[s].is_null()) {
                        let mut key = Vec::new();
                        for &s in slots.iter() {
                            encode_key(&Scalar::from_value(&row[s]), &mut key);
                        }
                        if !seen.insert(key) {
                            return;
                        }
                    }
                }
                Stage::Sort(sorting) => {
                    sorting.push(row);
                    return;
                }
            }
        }
        self.rows.push(row.into_owned());
    }

    /// Whether another row could still reach the output (or a `sort`): not once a `limit` has
    /// let all its rows through. (A `limit` after a `sort` gets rows only when the input ends.)
    pub(super) fn wants_more(&self) -> bool {
        !self
            .stages
            .iter()
            .any(|stage| matches!(stage, Stage::Limit { n, passed } if passed >= n))
    }

    /// Ends the input: sorts, and runs the sorted rows through the commands after each sort.
    pub(super) fn end_input(&mut self) {
        for i in 0..self.stages.len() {
            let Stage::Sort(sorting) = &mut self.stages[i] else {
                continue;
            };
            for row in sorting.drain_sorted() {
                self.push_from(i + 1, Cow::Owned(row));
            }
        }
    }

    /// The columns the output shows: those `fields`/`display` chose, or the first `shown`.
    pub(super) fn shown(&self, shown: usize) -> Shown {
        let selection = self
            .selection
            .clone()
            .unwrap_or_else(|| (0..shown).collect());
        Shown {
            columns: selection.iter().map(|&i| self.columns[i].clone()).collect(),
            identity: selection.iter().enumerate().all(|(k, &i)| k == i),
            selection,
        }
    }

    /// Takes the rows that came out of the commands so far, in order, each cut to the
    /// columns shown.
    pub(super) fn take_rows(&mut self, shown: &Shown) -> Vec<Vec<Value>> {
        // Rows move out; a copy of every row would double the peak memory.
        std::mem::take(&mut self.rows)
            .into_iter()
            .map(|values| shown.cut(values))
            .collect()
    }

    /// Ends the input and gives the answer: the rows left, with the columns shown, and, for
    /// raw rows numbered in `record_column`, the records of the rows left.
    pub(super) fn finish(
        mut self,
        shown: usize,
        record_column: Option<usize>,
        mut records: Vec<Option<FlowRecord>>,
    ) -> (Table, Vec<FlowRecord>) {
        self.end_input();
        let shown = self.shown(shown);
        let records = record_column.map_or_else(Vec::new, |c| {
            self.rows
                .iter()
                .filter_map(|values| {
                    let i = values.get(c)?.as_i64()?;
                    records.get_mut(usize::try_from(i).ok()?)?.take()
                })
                .collect()
        });
        let rows = self.take_rows(&shown);
        (
            Table {
                columns: shown.columns,
                rows,
            },
            records,
        )
    }
}

/// The columns an answer shows, and where their values are in the rows the commands made.
pub(super) struct Shown {
    pub(super) columns: Vec<String>,
    selection: Vec<usize>,
    /// The columns shown are the rows' first ones, in order.
    identity: bool,
}

impl Shown {
    fn cut(&self, mut values: Vec<Value>) -> Vec<Value> {
        if self.identity {
            values.truncate(self.selection.len());
            values
        } else {
            self.selection
                .iter()
                .map(|&i| values.get(i).cloned().unwrap_or(Value::Null))
                .collect()
        }
    }
}

fn limit(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::insights::parser::parse;

    fn post(query: &str) -> Post {
        let commands = parse(query).unwrap().commands;
        Post::compile(&commands, vec!["a".into(), "b".into()]).unwrap()
    }

    /// Runs rows through `query` the way the engine does: pushed one at a time while more are
    /// wanted.
    fn run(query: &str, rows: &[Vec<Value>]) -> (Vec<Vec<Value>>, usize) {
        let mut commands = post(query);
        let mut pushed = 0;
        for row in rows {
            commands.push(row);
            pushed += 1;
            if !commands.wants_more() {
                break;
            }
        }
        (commands.finish(2, None, Vec::new()).0.rows, pushed)
    }

    fn int(v: Option<i64>) -> Value {
        v.map_or(Value::Null, Value::Int)
    }

    /// The same commands over rows held all at once, one command after another.
    fn held(commands: &[Held], mut rows: Vec<Vec<Value>>) -> Vec<Vec<Value>> {
        for command in commands {
            match *command {
                Held::FilterAAbove(x) => rows.retain(|r| r[0].as_i64().is_some_and(|a| a > x)),
                Held::SortBDescThenA => {
                    rows.sort_by(|r, s| s[1].total_cmp(&r[1]).then_with(|| r[0].total_cmp(&s[0])))
                }
                Held::SortA => rows.sort_by(|r, s| r[0].total_cmp(&s[0])),
                Held::Limit(n) => rows.truncate(n),
                Held::DedupA => {
                    let mut seen = Vec::new();
                    rows.retain(|r| {
                        r[0].is_null() || {
                            let new = !seen.contains(&r[0]);
                            seen.push(r[0].clone());
                            new
                        }
                    });
                }
            }
        }
        rows
    }

    #[derive(Debug, Clone, Copy)]
    enum Held {
        FilterAAbove(i64),
        SortBDescThenA,
        SortA,
        Limit(usize),
        DedupA,
    }

    impl Held {
        fn text(self) -> String {
            match self {
                Held::FilterAAbove(x) => format!("filter a > {x}"),
                Held::SortBDescThenA => "sort b desc, a".into(),
                Held::SortA => "sort a".into(),
                Held::Limit(n) => format!("limit {n}"),
                Held::DedupA => "dedup a".into(),
            }
        }
    }

    fn command() -> impl Strategy<Value = Held> {
        prop_oneof![
            (-2i64..6).prop_map(Held::FilterAAbove),
            Just(Held::SortBDescThenA),
            Just(Held::SortA),
            // Limits small and large against rows of up to 3,000, so that a sort kept to a
            // limit cuts its rows many times, or never.
            prop_oneof![1usize..40, 1usize..4000].prop_map(Held::Limit),
            Just(Held::DedupA),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        /// Rows pushed one at a time, with sorts kept to the limit after them and the input
        /// stopped once a limit is reached, give the rows that running each command over all
        /// of them gives, in the same order (ties stay in input order).
        #[test]
        fn commands_over_streamed_rows_answer_as_over_held_ones(
            commands in proptest::collection::vec(command(), 1..5),
            rows in proptest::collection::vec((proptest::option::of(0i64..8), 0i64..100_000), 0..3000),
            // Few values of `b` (ties everywhere) or many (a sort's kept rows span many keys).
            spread in prop_oneof![Just(5i64), Just(100_000)],
        ) {
            let rows: Vec<Vec<Value>> = rows
                .iter()
                .map(|&(a, b)| vec![int(a), Value::Int(b % spread)])
                .collect();
            let query = commands.iter().map(|c| c.text()).collect::<Vec<_>>().join(" | ");
            let (streamed, _) = run(&query, &rows);
            prop_assert_eq!(streamed, held(&commands, rows), "{}", query);
        }
    }

    #[test]
    fn a_sort_keeps_a_thousand_rows_beyond_a_small_limit_after_it() {
        let mut commands = post("sort b desc | limit 3");
        let (mut before, mut cuts) = (0, 0);
        for i in 0..100_000 {
            commands.push(&[Value::Int(i % 7), Value::Int(i)]);
            let Stage::Sort(sorting) = &commands.stages[0] else {
                panic!("the first stage sorts");
            };
            let kept = sorting.rows.len();
            assert!(kept < 3 + 1024, "{kept} rows kept");
            if kept < before {
                assert_eq!(kept, 3, "a cut keeps the limit's rows");
                cuts += 1;
            }
            before = kept;
        }
        assert!(cuts > 90, "{cuts} cuts");
        let (table, _) = commands.finish(2, None, Vec::new());
        let b: Vec<Value> = table.rows.iter().map(|r| r[1].clone()).collect();
        assert_eq!(b, [99_999, 99_998, 99_997].map(Value::Int));
    }

    #[test]
    fn a_limit_too_large_to_reach_keeps_every_row() {
        let rows: Vec<Vec<Value>> = (0..50)
            .map(|i| vec![Value::Int(i % 3), Value::Int(i)])
            .collect();
        let all = format!("sort a | limit {}", u64::MAX);
        let (sorted, pushed) = run(&all, &rows);
        assert_eq!(pushed, 50);
        assert_eq!(sorted, held(&[Held::SortA], rows));
    }

    #[test]
    fn the_input_stops_once_a_limit_before_any_sort_is_full() {
        let rows: Vec<Vec<Value>> = (0..100)
            .map(|i| vec![Value::Int(i), Value::Int(0)])
            .collect();
        assert_eq!(run("limit 3", &rows).1, 3);
        assert_eq!(run("filter a > 10 | limit 3 | sort a desc", &rows).1, 14);
        assert_eq!(run("sort a desc | limit 3", &rows).1, 100);
        let (rows, _) = run("filter a > 10 | limit 3 | sort a desc", &rows);
        assert_eq!(
            rows,
            [13, 12, 11].map(|a| vec![Value::Int(a), Value::Int(0)])
        );
    }
}
