//! The typed flow record: one line of a flow log with its layout applied.
//!
//! Used where whole records are wanted (`query --records`, `@message` rows from CloudWatch,
//! fixture checks). The engine's hot path reads tokens directly and never builds these.

use std::sync::Arc;

use serde::ser::{Serialize, SerializeMap, Serializer};

use super::catalog::{Field, FieldKind};
use super::format::LogFormat;
use super::line::split_tokens;
use super::normalize_epoch_s;

/// One field's value. `-` in a record means absent.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FieldValue {
    Absent,
    Int(i64),
    Text(String),
}

impl FieldValue {
    /// Types a token by its column's kind. An integer column holding something else keeps the
    /// text rather than losing it.
    pub fn from_token(token: &str, kind: FieldKind, field: Option<Field>) -> Self {
        if token == "-" {
            return FieldValue::Absent;
        }
        match kind {
            FieldKind::Int => match token.parse::<i64>() {
                Ok(n) if matches!(field, Some(Field::Start | Field::End)) => {
                    FieldValue::Int(normalize_epoch_s(n))
                }
                Ok(n) => FieldValue::Int(n),
                Err(_) => FieldValue::Text(token.to_owned()),
            },
            FieldKind::Text => FieldValue::Text(token.to_owned()),
        }
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            FieldValue::Int(n) => Some(*n),
            _ => None,
        }
    }

    pub fn as_text(&self) -> Option<&str> {
        match self {
            FieldValue::Text(s) => Some(s),
            _ => None,
        }
    }
}

/// A record parsed against its layout.
#[derive(Debug, Clone, PartialEq)]
pub struct FlowRecord {
    format: Arc<LogFormat>,
    values: Vec<FieldValue>,
}

/// Why a line is not a record of its layout.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected {expected} fields, found {found}")]
pub struct FieldCountError {
    pub expected: usize,
    pub found: usize,
}

impl FlowRecord {
    /// Parses one record line (no header detection; see `line::classify_line`).
    pub fn parse(line: &str, format: &Arc<LogFormat>) -> Result<Self, FieldCountError> {
        let mut spans = Vec::with_capacity(format.len());
        split_tokens(line.as_bytes(), &mut spans);
        if spans.len() != format.len() {
            return Err(FieldCountError {
                expected: format.len(),
                found: spans.len(),
            });
        }
        let values = spans
            .iter()
            .zip(format.columns())
            .map(|(&(s, e), column)| {
                FieldValue::from_token(&line[s..e], column.kind(), column.field)
            })
            .collect();
        Ok(FlowRecord {
            format: Arc::clone(format),
            values,
        })
    }

    pub fn format(&self) -> &LogFormat {
        &self.format
    }

    pub fn get(&self, field: Field) -> &FieldValue {
        self.format
            .position(field)
            .and_then(|i| self.values.get(i))
            .unwrap_or(&FieldValue::Absent)
    }

    /// Column names (JSON style) with their values, in layout order.
    pub fn iter(&self) -> impl Iterator<Item = (String, &FieldValue)> {
        self.format
            .columns()
            .iter()
            .map(|c| c.json_name())
            .zip(self.values.iter())
    }
}

impl Serialize for FlowRecord {
    /// An object keyed by the JSON names of the layout's fields; absent values are `null`.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.values.len()))?;
        for (name, value) in self.iter() {
            match value {
                FieldValue::Absent => map.serialize_entry(&name, &())?,
                FieldValue::Int(n) => map.serialize_entry(&name, n)?,
                FieldValue::Text(s) => map.serialize_entry(&name, s)?,
            }
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_default_record_and_serializes_json_names() {
        let format = Arc::new(LogFormat::default_v2());
        let record = FlowRecord::parse(
            "2 123456789010 eni-102010ab 198.51.100.1 192.0.2.1 443 49152 6 10 840 1439387263 1439387264 ACCEPT OK",
            &format,
        )
        .unwrap();
        assert_eq!(record.get(Field::DstPort), &FieldValue::Int(49152));
        assert_eq!(record.get(Field::Action).as_text(), Some("ACCEPT"));
        let json = serde_json::to_value(&record).unwrap();
        assert_eq!(json["interface_id"], "eni-102010ab");
        assert_eq!(json["log_status"], "OK");
        assert_eq!(json["bytes"], 840);
    }

    #[test]
    fn dash_is_null_and_millis_are_seconds() {
        let format = Arc::new(LogFormat::default_v2());
        let record = FlowRecord::parse(
            "2 123456789010 eni-1a2b3c4d - - - - - - - 1431280876000 1431280934 - NODATA",
            &format,
        )
        .unwrap();
        assert_eq!(record.get(Field::SrcAddr), &FieldValue::Absent);
        assert_eq!(record.get(Field::Start), &FieldValue::Int(1_431_280_876));
        let json = serde_json::to_value(&record).unwrap();
        assert!(json["srcaddr"].is_null());
    }

    #[test]
    fn wrong_field_count_is_an_error() {
        let format = Arc::new(LogFormat::default_v2());
        assert_eq!(
            FlowRecord::parse("bogus line", &format),
            Err(FieldCountError {
                expected: 14,
                found: 2
            })
        );
    }
}
