//! Parquet flow-log files (what S3 delivers when a flow log's file format is Parquet) read as
//! record lines.
//!
//! Owns telling Parquet by its magic, checking that a file's columns are flat integers, strings
//! or timestamps and that its compression is one this build reads, and turning each row into
//! the space-separated text a plain-text flow log has, headed by the record field names of the
//! columns, so the rest of flowsift reads a Parquet file like any other.
//!
//! Uses the `parquet` crate's row API (no Arrow). The schema is checked before any row is read
//! because the row API panics on column annotations it does not convert; a panic from a corrupt
//! file that gets past the checks is still caught and reported as [`ParquetError::Invalid`].

use std::borrow::Cow;
use std::fs::File;
use std::io::{self, Read};
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use ::parquet::basic::{
    Compression, ConvertedType, LogicalType, Repetition, TimeUnit, Type as PhysicalType,
};
use ::parquet::file::metadata::RowGroupMetaData;
use ::parquet::file::reader::{FileReader, SerializedFileReader};
use ::parquet::record::{Field, Row};
use ::parquet::schema::types::{BasicTypeInfo, Type};

/// The four bytes every Parquet file starts and ends with.
const MAGIC: &[u8; 4] = b"PAR1";
/// AWS account IDs have 12 digits; a writer that stored `account_id` as an integer dropped the
/// leading zeros, which are put back.
const ACCOUNT_ID_DIGITS: usize = 12;
/// Rows reserved up front at most: the row count in the footer is not trusted for allocation.
const MAX_RESERVED_ROWS: usize = 1 << 16;
/// Characters of an offending value quoted in an error.
const QUOTED_CHARS: usize = 60;

#[derive(Debug, thiserror::Error)]
pub enum ParquetError {
    #[error("{path}: cannot read: {source}")]
    Unreadable {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error(
        "{path}: column `{column}` is {kind}; flow-log fields are flat integer, string or timestamp columns"
    )]
    UnsupportedColumn {
        path: PathBuf,
        column: String,
        kind: String,
    },
}

/// True when the file starts with the Parquet magic `PAR1`.
pub fn is_parquet(first_bytes: &[u8]) -> bool {
    first_bytes.starts_with(MAGIC)
}

/// Reads a Parquet flow-log file as record lines: the record field names of its columns
/// (`account-id`, i.e. column names with '_' replaced by '-'), then each row as the space-separated
/// text of its values in column order, `-` for null, integers in decimal, timestamps as epoch seconds.
///
/// Empty strings and the text `None` (what Python writes for a missing value it turned into a
/// string) read as `-` too; whole-number floats read as integers and NaN as `-`. A string with
/// white space in it is an error, since no flow-log field holds one and it would split the record.
pub fn parquet_records(path: &Path) -> Result<(Vec<String>, Vec<String>), ParquetError> {
    let unreadable = |source| ParquetError::Unreadable {
        path: path.to_owned(),
        source,
    };
    let mut file = File::open(path).map_err(unreadable)?;
    let mut head = Vec::with_capacity(MAGIC.len());
    (&mut file)
        .take(MAGIC.len() as u64)
        .read_to_end(&mut head)
        .map_err(unreadable)?;
    if !is_parquet(&head) {
        return Err(ParquetError::Invalid {
            path: path.to_owned(),
            message: "not a Parquet file: it does not start with `PAR1`".to_owned(),
        });
    }
    // The reader seeks to absolute offsets, so the four bytes already read do not matter.
    match panic::catch_unwind(AssertUnwindSafe(|| read(file))) {
        Ok(result) => result.map_err(|problem| problem.at(path)),
        Err(payload) => {
            let reason = payload
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| payload.downcast_ref::<&str>().copied())
                .unwrap_or("no reason given");
            Err(ParquetError::Invalid {
                path: path.to_owned(),
                message: format!(
                    "the Parquet reader gave up on this file ({reason}); it is probably corrupt"
                ),
            })
        }
    }
}

/// A problem found while reading, before the path is attached.
enum Problem {
    Invalid(String),
    Unsupported { column: String, kind: String },
}

impl Problem {
    fn at(self, path: &Path) -> ParquetError {
        let path = path.to_owned();
        match self {
            Problem::Invalid(message) => ParquetError::Invalid { path, message },
            Problem::Unsupported { column, kind } => {
                ParquetError::UnsupportedColumn { path, column, kind }
            }
        }
    }
}

/// How a column's values become tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Integers of any width, signed or not.
    Int,
    /// `INT64` nanoseconds since the epoch: `TIMESTAMP(NANOS)` has no converted type, so the row
    /// API hands it over as a plain integer.
    Nanos,
    /// Timestamps the row API types itself (millisecond and microsecond `INT64`, `INT96`).
    Time,
    /// `FLOAT` or `DOUBLE`: whole numbers only, NaN is null (what pandas makes of an integer
    /// column with gaps).
    Float,
    /// UTF-8 strings.
    Text,
}

#[derive(Debug)]
struct Column {
    name: String,
    kind: Kind,
    /// Integers are zero-padded to this many digits.
    width: usize,
}

fn read(file: File) -> Result<(Vec<String>, Vec<String>), Problem> {
    let reader = SerializedFileReader::new(file).map_err(|e| {
        Problem::Invalid(format!(
            "not a readable Parquet file: {e} (is the file complete? Parquet keeps its layout in \
             a footer at the end, which a cut-short copy loses)"
        ))
    })?;
    let metadata = reader.metadata();
    let columns = columns(metadata.file_metadata().schema_descr().root_schema())?;
    check_column_chunks(metadata.row_groups())?;
    let header = columns.iter().map(|c| c.name.replace('_', "-")).collect();

    let reserved = usize::try_from(metadata.file_metadata().num_rows()).unwrap_or(0);
    let mut lines = Vec::with_capacity(reserved.min(MAX_RESERVED_ROWS));
    let rows = reader
        .get_row_iter(None)
        .map_err(|e| Problem::Invalid(format!("cannot read its rows: {e}")))?;
    for (index, row) in rows.enumerate() {
        let number = index + 1;
        let row = row.map_err(|e| {
            Problem::Invalid(format!(
                "cannot read row {number}: {e} (the file is probably corrupt)"
            ))
        })?;
        lines.push(record_line(&row, &columns, number)?);
    }
    Ok((header, lines))
}

/// The top-level columns, each checked to be a flat column of a kind flow logs use.
fn columns(root: &Type) -> Result<Vec<Column>, Problem> {
    let Type::GroupType { fields, .. } = root else {
        return Err(Problem::Invalid(
            "its schema has no columns (the root is not a group)".to_owned(),
        ));
    };
    if fields.is_empty() {
        return Err(Problem::Invalid("its schema has no columns".to_owned()));
    }
    fields.iter().map(|field| column(field)).collect()
}

fn column(field: &Type) -> Result<Column, Problem> {
    let info = field.get_basic_info();
    let name = info.name();
    if name.is_empty() || name.chars().any(char::is_whitespace) {
        return Err(Problem::Invalid(format!(
            "column name {} is empty or has white space, so it is no flow-log field name",
            quote(name)
        )));
    }
    let unsupported = |kind: String| Problem::Unsupported {
        column: name.to_owned(),
        kind,
    };
    let physical = match field {
        Type::GroupType { .. } => return Err(unsupported(group_kind(info).to_owned())),
        Type::PrimitiveType { physical_type, .. } => *physical_type,
    };
    if info.has_repetition() && info.repetition() == Repetition::REPEATED {
        return Err(unsupported("a repeated (list) column".to_owned()));
    }
    let converted = info.converted_type();
    let logical = info.logical_type_ref();
    let annotated = |what: String| match logical {
        Some(logical) => unsupported(format!("{physical} annotated {logical:?}")),
        None => unsupported(format!("{physical} annotated {what}")),
    };
    // Only combinations the row API converts without panicking get through.
    let kind = match physical {
        PhysicalType::INT32 => match converted {
            ConvertedType::NONE
            | ConvertedType::INT_8
            | ConvertedType::INT_16
            | ConvertedType::INT_32
            | ConvertedType::UINT_8
            | ConvertedType::UINT_16
            | ConvertedType::UINT_32 => Kind::Int,
            other => return Err(annotated(other.to_string())),
        },
        PhysicalType::INT64 => match (converted, logical) {
            (ConvertedType::TIMESTAMP_MILLIS | ConvertedType::TIMESTAMP_MICROS, _) => Kind::Time,
            (ConvertedType::NONE, Some(LogicalType::Timestamp(timestamp)))
                if timestamp.unit == TimeUnit::NANOS =>
            {
                Kind::Nanos
            }
            (ConvertedType::NONE, None) | (ConvertedType::INT_64 | ConvertedType::UINT_64, _) => {
                Kind::Int
            }
            (other, _) => return Err(annotated(other.to_string())),
        },
        PhysicalType::INT96 => Kind::Time,
        PhysicalType::FLOAT | PhysicalType::DOUBLE => Kind::Float,
        PhysicalType::BYTE_ARRAY => match (converted, logical) {
            (ConvertedType::UTF8 | ConvertedType::ENUM, _) | (ConvertedType::NONE, None) => {
                Kind::Text
            }
            (other, _) => return Err(annotated(other.to_string())),
        },
        PhysicalType::BOOLEAN | PhysicalType::FIXED_LEN_BYTE_ARRAY => {
            return Err(unsupported(physical.to_string()));
        }
    };
    let width = if name == "account_id" && kind == Kind::Int {
        ACCOUNT_ID_DIGITS
    } else {
        0
    };
    Ok(Column {
        name: name.to_owned(),
        kind,
        width,
    })
}

fn group_kind(info: &BasicTypeInfo) -> &'static str {
    match (info.logical_type_ref(), info.converted_type()) {
        (Some(LogicalType::List), _) | (_, ConvertedType::LIST) => "a list",
        (Some(LogicalType::Map), _) | (_, ConvertedType::MAP | ConvertedType::MAP_KEY_VALUE) => {
            "a map"
        }
        _ => "a nested group (struct)",
    }
}

/// Fails, before any page is read, on compression this build does not read (naming the column)
/// and on a column chunk placed at a negative offset or length, on which the reader panics.
fn check_column_chunks(row_groups: &[RowGroupMetaData]) -> Result<(), Problem> {
    for chunk in row_groups.iter().flat_map(RowGroupMetaData::columns) {
        let start = chunk
            .dictionary_page_offset()
            .unwrap_or(chunk.data_page_offset());
        if start < 0 || chunk.compressed_size() < 0 {
            return Err(Problem::Invalid(format!(
                "its footer places column `{}` at a negative offset or length (the file is \
                 probably corrupt)",
                chunk.column_descr().name()
            )));
        }
        let codec = match chunk.compression() {
            Compression::UNCOMPRESSED | Compression::SNAPPY | Compression::GZIP(_) => continue,
            Compression::ZSTD(_) => "zstd",
            Compression::BROTLI(_) => "brotli",
            Compression::LZ4 => "lz4 (Hadoop)",
            Compression::LZ4_RAW => "lz4",
            Compression::LZO => "lzo",
        };
        return Err(Problem::Invalid(format!(
            "column `{}` is compressed with {codec}, which flowsift does not read; it reads \
             Parquet compressed with gzip (as S3 writes flow logs), with snappy or not at all, \
             so rewrite the file with one of those",
            chunk.column_descr().name()
        )));
    }
    Ok(())
}

fn record_line(row: &Row, columns: &[Column], number: usize) -> Result<String, Problem> {
    if row.len() != columns.len() {
        return Err(Problem::Invalid(format!(
            "row {number} has {} values for {} columns (the file is probably corrupt)",
            row.len(),
            columns.len()
        )));
    }
    let mut line = String::new();
    for ((_, field), column) in row.get_column_iter().zip(columns) {
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(&token(field, column, number)?);
    }
    Ok(line)
}

/// One value as a record token.
fn token<'a>(field: &'a Field, column: &Column, number: usize) -> Result<Cow<'a, str>, Problem> {
    let int = |n: i128| Ok(Cow::Owned(format!("{n:0width$}", width = column.width)));
    match field {
        Field::Null => Ok(Cow::Borrowed("-")),
        Field::Byte(n) => int(i128::from(*n)),
        Field::Short(n) => int(i128::from(*n)),
        Field::Int(n) => int(i128::from(*n)),
        Field::Long(n) if column.kind == Kind::Nanos => {
            int(i128::from(n.div_euclid(1_000_000_000)))
        }
        Field::Long(n) => int(i128::from(*n)),
        Field::UByte(n) => int(i128::from(*n)),
        Field::UShort(n) => int(i128::from(*n)),
        Field::UInt(n) => int(i128::from(*n)),
        Field::ULong(n) => int(i128::from(*n)),
        Field::TimestampMillis(ms) => int(i128::from(ms.div_euclid(1_000))),
        Field::TimestampMicros(us) => int(i128::from(us.div_euclid(1_000_000))),
        Field::Float(f) => float(f64::from(*f), column, number),
        Field::Double(f) => float(*f, column, number),
        Field::Str(text) => self::text(text, column, number),
        Field::Bytes(bytes) => match std::str::from_utf8(bytes.data()) {
            Ok(text) => self::text(text, column, number),
            Err(_) => Err(Problem::Invalid(format!(
                "column `{}`, row {number}: the value is not UTF-8 text",
                column.name
            ))),
        },
        // The schema check lets none of these through; a file that lies about its schema is
        // still not read as something else.
        other => Err(Problem::Unsupported {
            column: column.name.clone(),
            kind: format!("{other:?}")
                .split('(')
                .next()
                .unwrap_or("an unknown type")
                .to_owned(),
        }),
    }
}

fn text<'a>(text: &'a str, column: &Column, number: usize) -> Result<Cow<'a, str>, Problem> {
    if text.is_empty() || text == "None" {
        return Ok(Cow::Borrowed("-"));
    }
    if text.chars().any(char::is_whitespace) {
        return Err(Problem::Invalid(format!(
            "column `{}`, row {number}: the value {} has white space, which no flow-log field \
             holds and which would split the record",
            column.name,
            quote(text)
        )));
    }
    Ok(Cow::Borrowed(text))
}

fn float(value: f64, column: &Column, number: usize) -> Result<Cow<'static, str>, Problem> {
    // 2^63: every whole f64 below it in magnitude fits an i64.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if value.is_nan() {
        return Ok(Cow::Borrowed("-"));
    }
    if value.fract() != 0.0 || value.abs() >= LIMIT {
        return Err(Problem::Invalid(format!(
            "column `{}`, row {number}: {value} is not a whole number, and flow-log numbers are \
             integers",
            column.name
        )));
    }
    // Exact: the value is whole and in range.
    let n = value as i64;
    Ok(Cow::Owned(format!("{n:0width$}", width = column.width)))
}

/// Quotes text from the file for an error message: escaped and cut short.
fn quote(text: &str) -> String {
    let mut cut: String = text.chars().take(QUOTED_CHARS).collect();
    if cut.len() < text.len() {
        cut.push('…');
    }
    format!("{cut:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::io::Write as _;
    use std::sync::Arc;

    use ::parquet::basic::ZstdLevel;
    use ::parquet::data_type::{ByteArray, ByteArrayType, DoubleType, Int32Type, Int64Type};
    use ::parquet::file::metadata::ColumnChunkMetaData;
    use ::parquet::file::properties::WriterProperties;
    use ::parquet::file::writer::SerializedFileWriter;
    use ::parquet::schema::parser::parse_message_type;
    use ::parquet::schema::types::SchemaDescriptor;
    use serde_json::Value as Json;

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/flowlogs-reader")
            .join(name)
    }

    /// One column's values for [`write_parquet`]; `None` is null.
    enum Values {
        I32(Vec<Option<i32>>),
        I64(Vec<Option<i64>>),
        F64(Vec<Option<f64>>),
        Text(Vec<Option<&'static str>>),
    }

    fn split<T: Clone>(values: &[Option<T>]) -> (Vec<T>, Vec<i16>) {
        let present = values.iter().flatten().cloned().collect();
        let levels = values.iter().map(|v| i16::from(v.is_some())).collect();
        (present, levels)
    }

    /// Writes a one-row-group file of optional columns (no row group when `columns` is empty).
    fn write_parquet(schema: &str, columns: Vec<Values>) -> tempfile::NamedTempFile {
        let out = tempfile::NamedTempFile::new().unwrap();
        let schema = Arc::new(parse_message_type(schema).unwrap());
        let props = Arc::new(WriterProperties::builder().build());
        let mut writer = SerializedFileWriter::new(out.reopen().unwrap(), schema, props).unwrap();
        if !columns.is_empty() {
            let mut group = writer.next_row_group().unwrap();
            for values in columns {
                let mut column = group.next_column().unwrap().unwrap();
                match values {
                    Values::I32(v) => {
                        let (data, levels) = split(&v);
                        column
                            .typed::<Int32Type>()
                            .write_batch(&data, Some(&levels), None)
                            .unwrap();
                    }
                    Values::I64(v) => {
                        let (data, levels) = split(&v);
                        column
                            .typed::<Int64Type>()
                            .write_batch(&data, Some(&levels), None)
                            .unwrap();
                    }
                    Values::F64(v) => {
                        let (data, levels) = split(&v);
                        column
                            .typed::<DoubleType>()
                            .write_batch(&data, Some(&levels), None)
                            .unwrap();
                    }
                    Values::Text(v) => {
                        let (data, levels) = split(&v);
                        let data: Vec<ByteArray> = data.into_iter().map(ByteArray::from).collect();
                        column
                            .typed::<ByteArrayType>()
                            .write_batch(&data, Some(&levels), None)
                            .unwrap();
                    }
                }
                column.close().unwrap();
            }
            group.close().unwrap();
        }
        writer.close().unwrap();
        out
    }

    fn write_bytes(bytes: &[u8]) -> tempfile::NamedTempFile {
        let mut out = tempfile::NamedTempFile::new().unwrap();
        out.write_all(bytes).unwrap();
        out.flush().unwrap();
        out
    }

    #[test]
    fn fixture_header_is_the_record_field_names_of_its_columns() {
        let (header, _) = parquet_records(&fixture("flows.parquet")).unwrap();
        let expected: Json = serde_json::from_str(
            &std::fs::read_to_string(fixture("expected_parsed.json")).unwrap(),
        )
        .unwrap();
        let mut keys: Vec<String> = expected["test_serial_parquet"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|row| row.as_object().unwrap().keys().cloned())
            .map(|key| key.replace('_', "-"))
            .collect();
        keys.sort();
        keys.dedup();
        let mut names = header.clone();
        names.sort();
        assert_eq!(names, keys);
        assert_eq!(
            header.join(" "),
            "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets \
             bytes start end action log-status"
        );
    }

    #[test]
    fn fixture_rows_equal_flowlogs_reader_parse() {
        let (header, lines) = parquet_records(&fixture("flows.parquet")).unwrap();
        let expected: Json = serde_json::from_str(
            &std::fs::read_to_string(fixture("expected_parsed.json")).unwrap(),
        )
        .unwrap();
        let expected = expected["test_serial_parquet"].as_array().unwrap();
        assert_eq!(lines.len(), expected.len());
        for (line, want) in lines.iter().zip(expected) {
            let tokens: Vec<&str> = line.split(' ').collect();
            assert_eq!(tokens.len(), header.len(), "{line}");
            let mut got = serde_json::Map::new();
            for (name, token) in header.iter().zip(tokens) {
                if token == "-" {
                    continue;
                }
                let key = name.replace('-', "_");
                let value = match (key.as_str(), token.parse::<i64>()) {
                    // flowlogs-reader keeps the account ID as text.
                    ("account_id", _) | (_, Err(_)) => Json::from(token),
                    (_, Ok(n)) => Json::from(n),
                };
                got.insert(key, value);
            }
            let mut want = want.as_object().unwrap().clone();
            for time in ["start", "end"] {
                let epoch = want[time]["epoch"].clone();
                want.insert(time.to_owned(), epoch);
            }
            assert_eq!(got, want, "{line}");
        }
        assert_eq!(
            lines[2],
            "2 123456789010 eni-202010ab 198.51.100.7 192.0.2.156 80 100 8080 - - 1439387263 \
             1439387264 - NODATA"
        );
    }

    #[test]
    fn tells_parquet_by_its_magic() {
        assert!(is_parquet(b"PAR1\x15\x04"));
        assert!(is_parquet(b"PAR1"));
        assert!(!is_parquet(b"PAR"));
        assert!(!is_parquet(b""));
        assert!(!is_parquet(b"\x1f\x8b\x08\x00"));
        assert!(!is_parquet(b"2 123456789010 eni-1"));
        let head = std::fs::read(fixture("flows.parquet")).unwrap();
        assert!(is_parquet(&head[..8]));
    }

    #[test]
    fn truncated_files_are_errors_not_panics() {
        let bytes = std::fs::read(fixture("flows.parquet")).unwrap();
        let mut cuts = vec![
            0,
            1,
            3,
            4,
            5,
            8,
            100,
            bytes.len() - 8,
            bytes.len() - 4,
            bytes.len() - 1,
        ];
        cuts.extend((16..bytes.len()).step_by(97));
        for cut in cuts {
            let file = write_bytes(&bytes[..cut]);
            match parquet_records(file.path()) {
                Err(ParquetError::Invalid { message, .. }) => {
                    assert!(!message.contains("gave up"), "cut at {cut}: {message}");
                }
                other => panic!("cut at {cut}: {other:?}"),
            }
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut noise = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let text = b"2 123456789010 eni-1 10.0.0.1 10.0.0.2 443 49152 6 10 840 1 2 ACCEPT OK\n";
        let random: Vec<u8> = (0..4096).map(|_| noise() as u8).collect();
        let mut framed = b"PAR1".to_vec();
        framed.extend_from_slice(&random);
        framed.extend_from_slice(&(random.len() as u32 / 2).to_le_bytes());
        framed.extend_from_slice(b"PAR1");
        let mut huge_footer = b"PAR1PAR1".to_vec();
        huge_footer.extend_from_slice(&u32::MAX.to_le_bytes());
        huge_footer.extend_from_slice(b"PAR1");
        for bytes in [
            &text[..],
            &random,
            &framed,
            &huge_footer,
            b"PAR1",
            b"PAR1PAR1",
        ] {
            let file = write_bytes(bytes);
            assert!(
                matches!(
                    parquet_records(file.path()),
                    Err(ParquetError::Invalid { .. })
                ),
                "{:?}",
                &bytes[..bytes.len().min(16)]
            );
        }
    }

    #[test]
    fn damaged_bytes_never_panic() {
        let bytes = std::fs::read(fixture("flows.parquet")).unwrap();
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        for _ in 0..1000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let mut damaged = bytes.clone();
            let at = (state % damaged.len() as u64) as usize;
            damaged[at] ^= (state >> 32) as u8 | 1;
            let file = write_bytes(&damaged);
            // Either outcome is fine; getting here without unwinding is the test.
            let _ = parquet_records(file.path());
        }
    }

    #[test]
    fn missing_file_is_unreadable() {
        let err = parquet_records(Path::new("/nonexistent/flows.parquet")).unwrap_err();
        assert!(matches!(err, ParquetError::Unreadable { .. }), "{err}");
    }

    #[test]
    fn nulls_empty_and_none_read_as_dashes_and_integers_as_decimal() {
        let file = write_parquet(
            "message m { optional int32 version; optional int64 account_id;
               optional binary srcaddr (UTF8); optional int32 dstport (UINT_16);
               optional int64 bytes (UINT_64); optional binary action; }",
            vec![
                Values::I32(vec![Some(5), None]),
                Values::I64(vec![Some(1234567890), Some(123456789012)]),
                Values::Text(vec![Some(""), Some("None")]),
                Values::I32(vec![Some(65535), None]),
                Values::I64(vec![Some(i64::MAX), None]),
                Values::Text(vec![None, Some("REJECT")]),
            ],
        );
        let (header, lines) = parquet_records(file.path()).unwrap();
        assert_eq!(
            header,
            [
                "version",
                "account-id",
                "srcaddr",
                "dstport",
                "bytes",
                "action"
            ]
        );
        assert_eq!(
            lines,
            [
                "5 001234567890 - 65535 9223372036854775807 -",
                "- 123456789012 - - - REJECT"
            ]
        );
    }

    #[test]
    fn timestamps_read_as_epoch_seconds() {
        let file = write_parquet(
            "message m { optional int64 start (TIMESTAMP(MILLIS,true));
               optional int64 end (TIMESTAMP(MICROS,true));
               optional int64 ingest (TIMESTAMP(NANOS,false)); }",
            vec![
                Values::I64(vec![Some(1_439_387_263_999)]),
                Values::I64(vec![Some(1_439_387_264_000_001)]),
                Values::I64(vec![Some(-1)]),
            ],
        );
        let (_, lines) = parquet_records(file.path()).unwrap();
        assert_eq!(lines, ["1439387263 1439387264 -1"]);
    }

    #[test]
    fn whole_floats_read_as_integers() {
        let file = write_parquet(
            "message m { optional double packets; }",
            vec![Values::F64(vec![
                Some(10.0),
                Some(f64::NAN),
                None,
                Some(-0.0),
            ])],
        );
        let (_, lines) = parquet_records(file.path()).unwrap();
        assert_eq!(lines, ["10", "-", "-", "0"]);

        let file = write_parquet(
            "message m { optional double packets; }",
            vec![Values::F64(vec![Some(1.0), Some(1.5)])],
        );
        let err = parquet_records(file.path()).unwrap_err().to_string();
        assert!(
            err.contains("`packets`, row 2") && err.contains("1.5"),
            "{err}"
        );
    }

    #[test]
    fn a_value_with_white_space_is_invalid_naming_column_and_row() {
        let file = write_parquet(
            "message m { optional int32 version; optional binary action (UTF8); }",
            vec![
                Values::I32(vec![Some(2), Some(2)]),
                Values::Text(vec![Some("ACCEPT"), Some("ACCEPT OK")]),
            ],
        );
        match parquet_records(file.path()) {
            Err(ParquetError::Invalid { message, .. }) => {
                assert!(message.contains("column `action`, row 2"), "{message}");
                assert!(message.contains("\"ACCEPT OK\""), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn nested_and_other_columns_are_unsupported() {
        let cases = [
            (
                "message m { optional int32 version;
                   optional group tags (LIST) { repeated group list { optional binary element (UTF8); } } }",
                "tags",
                "a list",
            ),
            (
                "message m { optional group flow { optional int32 srcport; } }",
                "flow",
                "a nested group (struct)",
            ),
            (
                "message m { repeated int32 ports; }",
                "ports",
                "a repeated (list) column",
            ),
            ("message m { optional boolean ok; }", "ok", "BOOLEAN"),
            ("message m { optional int32 day (DATE); }", "day", "INT32 annotated Date"),
            (
                "message m { optional binary doc (JSON); }",
                "doc",
                "BYTE_ARRAY annotated Json",
            ),
        ];
        for (schema, want_column, want_kind) in cases {
            let file = write_parquet(schema, vec![]);
            match parquet_records(file.path()) {
                Err(ParquetError::UnsupportedColumn { column, kind, .. }) => {
                    assert_eq!((column.as_str(), kind.as_str()), (want_column, want_kind));
                }
                other => panic!("{schema}: {other:?}"),
            }
        }
    }

    #[test]
    fn compression_this_build_does_not_read_names_the_column_and_what_to_do() {
        let schema = Arc::new(SchemaDescriptor::new(Arc::new(
            parse_message_type("message m { optional int64 packets; }").unwrap(),
        )));
        let group = |compression| {
            RowGroupMetaData::builder(Arc::clone(&schema))
                .set_num_rows(1)
                .set_column_metadata(vec![
                    ColumnChunkMetaData::builder(schema.column(0))
                        .set_compression(compression)
                        .build()
                        .unwrap(),
                ])
                .build()
                .unwrap()
        };
        for ok in [
            Compression::UNCOMPRESSED,
            Compression::SNAPPY,
            Compression::GZIP(Default::default()),
        ] {
            assert!(check_column_chunks(&[group(ok)]).is_ok());
        }
        let Err(Problem::Invalid(message)) =
            check_column_chunks(&[group(Compression::ZSTD(ZstdLevel::default()))])
        else {
            panic!("zstd accepted");
        };
        assert!(
            message.contains("column `packets` is compressed with zstd")
                && message.contains("rewrite the file"),
            "{message}"
        );
    }

    #[test]
    fn an_empty_file_of_columns_has_a_header_and_no_records() {
        let file = write_parquet("message m { optional int32 version; }", vec![]);
        let (header, lines) = parquet_records(file.path()).unwrap();
        assert_eq!(header, ["version"]);
        assert!(lines.is_empty());
    }
}
