//! Typed access to result rows by field name, for analyses that read query answers.
//!
//! Both sources return rows keyed by field name; an analysis names the fields it needs once
//! and gets typed values or an error that names the query and the field.

use crate::source::{QueryOutput, Value};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RowError {
    #[error("the answer to `{query}` has no `{field}` column; its columns are: {columns}")]
    MissingColumn {
        query: String,
        field: String,
        columns: String,
    },
    #[error(
        "the answer to `{query}` has `{value}` in `{field}` (row {row}), where a number is expected"
    )]
    NotANumber {
        query: String,
        field: String,
        value: String,
        row: usize,
    },
    /// Groups of a large answer, kept on disk, could not be read back (the message says
    /// which file and what to do).
    #[error("{0}")]
    Spilled(String),
}

impl From<std::io::Error> for RowError {
    fn from(e: std::io::Error) -> Self {
        RowError::Spilled(e.to_string())
    }
}

/// Column positions of an answer, looked up once, and its rows: held in its table, or made
/// as they are read (a streamed `stats` answer, whose millions of rows are never all held).
pub struct Columns<'t> {
    query: &'t str,
    answer: &'t QueryOutput,
}

/// One column of a table.
#[derive(Clone, Copy)]
pub struct Col {
    index: usize,
}

impl<'t> Columns<'t> {
    pub fn new(query: &'t str, answer: &'t QueryOutput) -> Self {
        Columns { query, answer }
    }

    fn columns(&self) -> &'t [String] {
        &self.answer.table.columns
    }

    pub fn col(&self, name: &str) -> Result<Col, RowError> {
        self.answer
            .table
            .column(name)
            .map(|index| Col { index })
            .ok_or_else(|| RowError::MissingColumn {
                query: self.query.to_owned(),
                field: name.to_owned(),
                columns: self.columns().join(", "),
            })
    }

    /// Calls `f` with each row, in order, and its index; the first error stops the rows.
    pub fn try_for_each(
        &self,
        mut f: impl FnMut((usize, &[Value])) -> Result<(), RowError>,
    ) -> Result<(), RowError> {
        let mut index = 0;
        self.answer.try_for_each_row(|row| {
            index += 1;
            f((index - 1, row))
        })
    }

    /// As `try_for_each`, but the rows of one value of `col` come one after another (the
    /// values in no particular order), so that a caller can finish each value's rows before the
    /// next and hold one value's state at a time. A streamed answer whose first column is
    /// `col` comes in that order already (it is sorted by its keys); other rows are visited
    /// through their numbers sorted by `col`.
    pub fn try_for_each_grouped(
        &self,
        col: Col,
        mut f: impl FnMut((usize, &[Value])) -> Result<(), RowError>,
    ) -> Result<(), RowError> {
        if self.answer.in_first_column_order() && col.index == 0 {
            return self.try_for_each(f);
        }
        let streamed;
        let rows: &[Vec<Value>] = if self.answer.stream.is_some() {
            let mut held = Vec::new();
            self.try_for_each(|(_, row)| {
                held.push(row.to_vec());
                Ok(())
            })?;
            streamed = held;
            &streamed
        } else {
            &self.answer.table.rows
        };
        let mut order: Vec<usize> = (0..rows.len()).collect();
        let value = |i: usize| rows[i].get(col.index).unwrap_or(&Value::Null);
        order.sort_by(|&a, &b| value(a).total_cmp(value(b)).then(a.cmp(&b)));
        order.into_iter().try_for_each(|i| f((i, &rows[i])))
    }

    pub fn text<'r>(&self, row: &'r [Value], col: Col) -> Option<&'r str> {
        match row.get(col.index) {
            Some(Value::Str(s)) if !s.is_empty() => Some(s),
            _ => None,
        }
    }

    /// An integer value; null is `None`, anything else that is not a number is an error.
    pub fn int(&self, (index, row): (usize, &[Value]), col: Col) -> Result<Option<i64>, RowError> {
        match row.get(col.index) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Str(s)) if s.is_empty() => Ok(None),
            Some(value) => value
                .as_i64()
                .map(Some)
                .ok_or_else(|| RowError::NotANumber {
                    query: self.query.to_owned(),
                    field: self.columns()[col.index].clone(),
                    value: value.to_string(),
                    row: index + 1,
                }),
        }
    }

    pub fn count(&self, row: (usize, &[Value]), col: Col) -> Result<u64, RowError> {
        Ok(self
            .int(row, col)?
            .and_then(|n| u64::try_from(n).ok())
            .unwrap_or(0))
    }
}

/// Whether a row crossed the interface in direction `wanted` (`ingress` or `egress`):
/// `flowDirection` decides where the format has it; otherwise whether `address` (the row's
/// destination for ingress, its source for egress) is one of the interface's own addresses.
/// `None` when neither can tell (no direction and no known address).
pub fn crossed(
    direction: Option<&str>,
    wanted: &str,
    address: Option<&str>,
    own: &[&str],
) -> Option<bool> {
    match direction {
        Some(d) => Some(d == wanted),
        None if own.is_empty() => None,
        None => Some(address.is_some_and(|a| own.contains(&a))),
    }
}

/// The smaller of two optional values, where either may be missing.
pub fn earliest(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::Table;

    /// Rows of an answer come in order with their index; an error names its row and stops the
    /// rest.
    #[test]
    fn rows_are_read_in_order_from_tables_and_answers() {
        let table = Table {
            columns: vec!["n".into()],
            rows: vec![
                vec![Value::Int(1)],
                vec![Value::Str("x".into())],
                vec![Value::Int(3)],
            ],
        };
        let answer = QueryOutput::from(table);
        let cols = Columns::new("q", &answer);
        let n = cols.col("n").unwrap();
        let mut seen = Vec::new();
        let result = cols.try_for_each(|row| {
            seen.push(row.0);
            cols.int(row, n).map(drop)
        });
        assert_eq!(seen, vec![0, 1]);
        let Err(RowError::NotANumber { row, value, .. }) = result else {
            panic!("expected a number error, got {result:?}");
        };
        assert_eq!((row, value.as_str()), (2, "x"));
        assert!(matches!(cols.col("m"), Err(RowError::MissingColumn { .. })));
    }

    /// Grouped rows bring each value's rows together, with their own row numbers, whatever
    /// the order of a held table.
    #[test]
    fn grouped_rows_come_together() {
        let row = |i: &str, n: i64| vec![Value::Str(i.into()), Value::Int(n)];
        let table = Table {
            columns: vec!["i".into(), "n".into()],
            rows: vec![
                row("b", 0),
                row("a", 1),
                row("b", 2),
                row("c", 3),
                row("a", 4),
            ],
        };
        let answer = QueryOutput::from(table);
        let cols = Columns::new("q", &answer);
        let (i, n) = (cols.col("i").unwrap(), cols.col("n").unwrap());
        let mut seen = Vec::new();
        cols.try_for_each_grouped(i, |row| {
            let value = cols.text(row.1, i).unwrap().to_owned();
            seen.push((value, row.0, cols.int(row, n)?.unwrap()));
            Ok(())
        })
        .unwrap();
        let values: Vec<&str> = seen.iter().map(|(v, ..)| v.as_str()).collect();
        assert_eq!(values, ["a", "a", "b", "b", "c"]);
        assert!(seen.iter().all(|&(_, index, n)| index as i64 == n));
    }

    #[test]
    fn direction_first_then_own_address() {
        assert_eq!(
            crossed(Some("ingress"), "ingress", Some("x"), &[]),
            Some(true)
        );
        assert_eq!(
            crossed(Some("egress"), "ingress", Some("10.0.0.1"), &["10.0.0.1"]),
            Some(false)
        );
        assert_eq!(
            crossed(None, "ingress", Some("10.0.0.1"), &["10.0.0.1"]),
            Some(true)
        );
        assert_eq!(
            crossed(None, "ingress", Some("10.0.0.2"), &["10.0.0.1", "10.0.0.3"]),
            Some(false)
        );
        assert_eq!(crossed(None, "ingress", Some("10.0.0.2"), &[]), None);
        assert_eq!(earliest(Some(3), None), Some(3));
        assert_eq!(earliest(Some(3), Some(2)), Some(2));
    }
}
