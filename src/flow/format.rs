//! Flow-log layouts: which field sits in which column of a record.
//!
//! A layout comes from a file's header line (S3 delivery), from a `--log-format` string (the
//! `LogFormat` that `describe-flow-logs` returns), or is the default version 2 format. It is
//! never guessed from a record's `version` or its number of tokens: a custom format may hold
//! any subset of fields in any order.

use std::fmt;

use super::catalog::{self, DEFAULT_FORMAT, Field, FieldKind, FieldSpec};

/// One column of a layout.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Column {
    /// The record name as written in the format (`dstport`, `tgw-id`).
    pub name: String,
    /// The catalog entry, or `None` for a name flowsift does not know (kept as text).
    pub field: Option<Field>,
}

impl Column {
    fn new(name: &str) -> Self {
        Column {
            name: name.to_owned(),
            field: catalog::by_name(name).map(|spec| spec.field),
        }
    }

    pub fn spec(&self) -> Option<&'static FieldSpec> {
        self.field.map(Field::spec)
    }

    /// Integer fields are typed; unknown fields are text.
    pub fn kind(&self) -> FieldKind {
        self.spec().map_or(FieldKind::Text, |spec| spec.kind)
    }

    /// The name Logs Insights gives this field (`dstPort`); unknown names stay as written.
    pub fn insights_name(&self) -> &str {
        self.spec().map_or(&self.name, |spec| spec.insights)
    }

    /// The JSON name of a flow record (`dst_port` style: the record name, `-` replaced by `_`).
    pub fn json_name(&self) -> String {
        self.spec()
            .map_or_else(|| self.name.replace('-', "_"), |spec| spec.json.to_owned())
    }
}

/// The ordered columns of a flow-log record.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LogFormat {
    columns: Vec<Column>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FormatError {
    #[error("the log format is empty; give fields as '${{version}} ${{account-id}} ...'")]
    Empty,
    #[error(
        "`{token}` in the log format is not a `${{field}}` token; write the format as describe-flow-logs returns it, e.g. '${{version}} ${{account-id}} ${{interface-id}}'"
    )]
    BadToken { token: String },
    #[error("field `{name}` appears twice in the log format")]
    Duplicate { name: String },
}

impl LogFormat {
    /// The default format: the 14 version 2 fields in AWS order.
    pub fn default_v2() -> Self {
        LogFormat {
            columns: DEFAULT_FORMAT
                .iter()
                .map(|field| Column::new(field.spec().name))
                .collect(),
        }
    }

    /// Parses a `LogFormat` string such as `${version} ${account-id} ${interface-id}`.
    pub fn parse(text: &str) -> Result<Self, FormatError> {
        let mut names = Vec::new();
        for token in text.split_ascii_whitespace() {
            let name = token
                .strip_prefix("${")
                .and_then(|rest| rest.strip_suffix('}'))
                .filter(|name| is_field_name(name))
                .ok_or_else(|| FormatError::BadToken {
                    token: token.to_owned(),
                })?;
            names.push(name);
        }
        Self::from_names(&names)
    }

    /// Builds a layout from record names, as in a header line.
    pub fn from_names(names: &[&str]) -> Result<Self, FormatError> {
        if names.is_empty() {
            return Err(FormatError::Empty);
        }
        let mut columns: Vec<Column> = Vec::with_capacity(names.len());
        for name in names {
            if columns.iter().any(|c| c.name == *name) {
                return Err(FormatError::Duplicate {
                    name: (*name).to_owned(),
                });
            }
            columns.push(Column::new(name));
        }
        Ok(LogFormat { columns })
    }

    /// Recognizes a header line: every token is a field name, and most are names flowsift
    /// knows. Data tokens never qualify: they are numbers, addresses, upper-case words, `-`,
    /// or ids whose names are not field names.
    pub fn from_header_line(line: &str) -> Option<Self> {
        let names: Vec<&str> = line.split_ascii_whitespace().collect();
        if names.is_empty() || !names.iter().all(|n| is_field_name(n)) {
            return None;
        }
        let known = names
            .iter()
            .filter(|n| catalog::by_name(n).is_some())
            .count();
        if known * 2 < names.len() {
            return None;
        }
        Self::from_names(&names).ok()
    }

    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    pub fn len(&self) -> usize {
        self.columns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }

    /// The column holding a known field.
    pub fn position(&self, field: Field) -> Option<usize> {
        self.columns.iter().position(|c| c.field == Some(field))
    }

    /// Resolves a name as a query writes it: the Logs Insights name (`dstPort`, `startTime`),
    /// the record name (`dstport`, `tgw-id`) or the JSON name.
    pub fn resolve(&self, name: &str) -> Option<usize> {
        if let Some(spec) = catalog::by_insights_name(name)
            && let Some(pos) = self.position(spec.field)
        {
            return Some(pos);
        }
        self.columns
            .iter()
            .position(|c| c.name == name || c.json_name() == name)
    }

    pub fn has(&self, field: Field) -> bool {
        self.position(field).is_some()
    }
}

impl fmt::Display for LogFormat {
    /// Renders the format as a `LogFormat` string.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, column) in self.columns.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "${{{}}}", column.name)?;
        }
        Ok(())
    }
}

/// Record names are lower-case words joined by `-`.
fn is_field_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_format_has_the_v2_fields_in_order() {
        let format = LogFormat::default_v2();
        assert_eq!(
            format.to_string(),
            "${version} ${account-id} ${interface-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} \
             ${protocol} ${packets} ${bytes} ${start} ${end} ${action} ${log-status}"
        );
    }

    #[test]
    fn parses_a_log_format_string_and_round_trips() {
        let text = "${version} ${interface-id} ${srcaddr} ${dstaddr} ${custom-note}";
        let format = LogFormat::parse(text).unwrap();
        assert_eq!(format.len(), 5);
        assert_eq!(format.to_string(), text);
        assert_eq!(format.resolve("interfaceId"), Some(1));
        assert_eq!(format.resolve("dstaddr"), Some(3));
        assert_eq!(format.resolve("custom-note"), Some(4));
        assert_eq!(format.resolve("dstPort"), None);
        assert_eq!(format.columns()[4].field, None);
    }

    #[test]
    fn rejects_bad_format_strings() {
        assert_eq!(LogFormat::parse("  "), Err(FormatError::Empty));
        assert!(matches!(
            LogFormat::parse("${version} account-id"),
            Err(FormatError::BadToken { token }) if token == "account-id"
        ));
        assert!(matches!(
            LogFormat::parse("${version} ${version}"),
            Err(FormatError::Duplicate { .. })
        ));
    }

    #[test]
    fn recognizes_header_lines_and_not_data_lines() {
        assert!(LogFormat::from_header_line(
            "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status"
        )
        .is_some());
        assert!(LogFormat::from_header_line(
            "2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK"
        )
        .is_none());
        // A custom format's record can consist of lower-case words only.
        assert!(LogFormat::from_header_line("eni-0abc ingress").is_none());
        assert!(LogFormat::from_header_line("").is_none());
    }
}
