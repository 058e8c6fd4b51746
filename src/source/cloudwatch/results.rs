//! Turning Logs Insights result rows into typed tables and flow records.
//!
//! GetQueryResults returns each row as a sparse list of `{field, value}` strings
//! (https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_GetQueryResults.html).
//! Values are typed by field name: flow-log text fields stay text, `@timestamp` and `bin(...)`
//! values become times, numbers become numbers. `@ptr` is dropped.

use chrono::NaiveDateTime;

use super::runner::Row;
use crate::flow::{FieldKind, catalog};
use crate::source::{Table, Value};

/// Logs Insights prints times as `2026-11-20 00:05:00.000`, in UTC.
const TIME_FORMAT: &str = "%Y-%m-%d %H:%M:%S%.3f";

fn parse_time_ms(text: &str) -> Option<i64> {
    NaiveDateTime::parse_from_str(text, TIME_FORMAT)
        .ok()
        .map(|t| t.and_utc().timestamp_millis())
}

/// Types one value by its field name and its text.
pub fn typed_value(field: &str, text: &str) -> Value {
    if field == "@timestamp" || field == "@ingestionTime" {
        // Some implementations give epoch milliseconds instead of the documented text.
        if let Some(ms) = parse_time_ms(text).or_else(|| text.parse::<i64>().ok()) {
            return Value::Time(ms);
        }
    }
    let text_field = field.starts_with('@')
        || catalog::by_insights_name(field).is_some_and(|spec| spec.kind == FieldKind::Text);
    if text_field {
        return Value::Str(text.into());
    }
    if let Ok(n) = text.parse::<i64>() {
        return Value::Int(n);
    }
    if let Ok(x) = text.parse::<f64>()
        && x.is_finite()
    {
        return Value::Float(x);
    }
    if let Some(ms) = parse_time_ms(text) {
        return Value::Time(ms);
    }
    Value::Str(text.into())
}

/// Rows into a table whose columns are every field seen, in the order first seen.
pub fn rows_to_table<'a>(rows: impl IntoIterator<Item = &'a Row>) -> Table {
    let mut table = Table::default();
    for row in rows {
        let mut values = vec![Value::Null; table.columns.len()];
        for (field, text) in row {
            if field == "@ptr" {
                continue;
            }
            let index = match table.column(field) {
                Some(i) => i,
                None => {
                    table.columns.push(field.clone());
                    for existing in &mut table.rows {
                        existing.push(Value::Null);
                    }
                    values.push(Value::Null);
                    table.columns.len() - 1
                }
            };
            values[index] = typed_value(field, text);
        }
        table.rows.push(values);
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(pairs: &[(&str, &str)]) -> Row {
        pairs
            .iter()
            .map(|(f, v)| ((*f).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn values_are_typed_by_field() {
        assert_eq!(
            typed_value("@timestamp", "2026-11-20 00:05:00.250"),
            Value::Time(1_795_133_100_250)
        );
        assert_eq!(
            typed_value("@timestamp", "1795133100250"),
            Value::Time(1_795_133_100_250)
        );
        assert_eq!(
            typed_value("bin(5m)", "2026-11-20 00:05:00.000"),
            Value::Time(1_795_133_100_000)
        );
        assert_eq!(
            typed_value("accountId", "123456789012"),
            Value::Str("123456789012".into())
        );
        assert_eq!(typed_value("dstPort", "443"), Value::Int(443));
        assert_eq!(typed_value("flows", "12"), Value::Int(12));
        assert_eq!(typed_value("avg(bytes)", "12.5"), Value::Float(12.5));
        assert_eq!(typed_value("@message", "2 123"), Value::Str("2 123".into()));
        assert_eq!(typed_value("action", "ACCEPT"), Value::Str("ACCEPT".into()));
    }

    #[test]
    fn sparse_rows_line_up_and_ptr_is_dropped() {
        let rows = [
            row(&[("@ptr", "x"), ("a", "1")]),
            row(&[("b", "two"), ("a", "3")]),
            row(&[]),
        ];
        let table = rows_to_table(&rows);
        assert_eq!(table.columns, vec!["a", "b"]);
        assert_eq!(
            table.rows,
            vec![
                vec![Value::Int(1), Value::Null],
                vec![Value::Int(3), Value::Str("two".into())],
                vec![Value::Null, Value::Null],
            ]
        );
    }
}
