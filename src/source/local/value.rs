//! Scalars during evaluation: values borrowed from the line being read where possible, so the
//! hot path allocates nothing per record.

use std::cmp::Ordering;

use crate::source::Value;

#[derive(Debug, Clone, PartialEq)]
pub enum Scalar<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(&'a str),
    Owned(String),
    Time(i64),
}

impl<'a> Scalar<'a> {
    pub fn from_value(value: &'a Value) -> Self {
        match value {
            Value::Null => Scalar::Null,
            Value::Int(n) => Scalar::Int(*n),
            Value::Float(x) => Scalar::Float(*x),
            Value::Str(s) => Scalar::Str(s),
            Value::Time(ms) => Scalar::Time(*ms),
        }
    }

    pub fn to_value(&self) -> Value {
        match self {
            Scalar::Null => Value::Null,
            Scalar::Bool(b) => Value::Int(i64::from(*b)),
            Scalar::Int(n) => Value::Int(*n),
            Scalar::Float(x) => Value::Float(*x),
            Scalar::Str(s) => Value::Str((*s).into()),
            Scalar::Owned(s) => Value::Str(s.as_str().into()),
            Scalar::Time(ms) => Value::Time(*ms),
        }
    }

    /// The same value, owning its text.
    pub fn into_owned(self) -> Scalar<'static> {
        match self {
            Scalar::Null => Scalar::Null,
            Scalar::Bool(b) => Scalar::Bool(b),
            Scalar::Int(n) => Scalar::Int(n),
            Scalar::Float(x) => Scalar::Float(x),
            Scalar::Str(s) => Scalar::Owned(s.to_owned()),
            Scalar::Owned(s) => Scalar::Owned(s),
            Scalar::Time(ms) => Scalar::Time(ms),
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Scalar::Str(s) => Some(s),
            Scalar::Owned(s) => Some(s),
            _ => None,
        }
    }

    /// Numbers, and strings that hold numbers: Logs Insights compares and sums parsed text
    /// fields (`parse` captures are text) as numbers.
    pub fn as_number(&self) -> Option<Number> {
        match self {
            Scalar::Int(n) | Scalar::Time(n) => Some(Number::Int(*n)),
            Scalar::Float(x) => Some(Number::Float(*x)),
            Scalar::Bool(b) => Some(Number::Int(i64::from(*b))),
            Scalar::Str(_) | Scalar::Owned(_) => {
                let text = self.as_str().unwrap_or_default();
                parse_i64(text.as_bytes())
                    .map(Number::Int)
                    .or_else(|| text.parse::<f64>().ok().map(Number::Float))
            }
            Scalar::Null => None,
        }
    }

    pub fn is_true(&self) -> bool {
        match self {
            Scalar::Bool(b) => *b,
            Scalar::Int(n) => *n != 0,
            Scalar::Float(x) => *x != 0.0,
            _ => false,
        }
    }

    /// Compares two non-null values: numerically when both are numbers (or numeric text next
    /// to a number), as text otherwise. `None` when either side is null: a comparison with a
    /// missing field matches nothing.
    pub fn compare(&self, other: &Scalar<'_>) -> Option<Ordering> {
        if matches!(self, Scalar::Null) || matches!(other, Scalar::Null) {
            return None;
        }
        if let (Some(a), Some(b)) = (self.as_str(), other.as_str()) {
            return Some(a.cmp(b));
        }
        match (self.as_number(), other.as_number()) {
            (Some(a), Some(b)) => Some(a.compare(b)),
            _ => {
                let (a, b) = (self.to_value().to_string(), other.to_value().to_string());
                Some(a.cmp(&b))
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    Int(i64),
    Float(f64),
}

impl Number {
    pub fn as_f64(self) -> f64 {
        match self {
            Number::Int(n) => n as f64,
            Number::Float(x) => x,
        }
    }

    pub fn compare(self, other: Number) -> Ordering {
        match (self, other) {
            (Number::Int(a), Number::Int(b)) => a.cmp(&b),
            (a, b) => a.as_f64().total_cmp(&b.as_f64()),
        }
    }
}

/// Parses a decimal integer with an optional sign; `None` for anything else or on overflow.
pub fn parse_i64(bytes: &[u8]) -> Option<i64> {
    let (negative, digits) = match bytes.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, bytes),
    };
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    let mut n: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(i64::from(d - b'0'))?;
    }
    Some(if negative { -n } else { n })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_integers_strictly() {
        assert_eq!(parse_i64(b"49152"), Some(49152));
        assert_eq!(parse_i64(b"-7"), Some(-7));
        assert_eq!(parse_i64(b"-"), None);
        assert_eq!(parse_i64(b""), None);
        assert_eq!(parse_i64(b"12a"), None);
        assert_eq!(parse_i64(b"99999999999999999999"), None);
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
    }

    #[test]
    fn compares_numbers_text_and_nulls() {
        assert_eq!(
            Scalar::Int(22).compare(&Scalar::Str("22")),
            Some(Ordering::Equal)
        );
        assert_eq!(
            Scalar::Int(9).compare(&Scalar::Int(10)),
            Some(Ordering::Less)
        );
        assert_eq!(
            Scalar::Str("9").compare(&Scalar::Str("10")),
            Some(Ordering::Greater)
        );
        assert_eq!(Scalar::Null.compare(&Scalar::Int(1)), None);
    }
}
