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

    /// How two numbers compare by their exact values, a total order (sorts need one: Rust's
    /// sorts may panic on an order that is not). An integer and a float are not compared as
    /// two floats, which is not transitive past 2^53: 2^53 + 1 and 2^53 would both equal the
    /// float 2^53. Zero and negative zero are equal; NaNs come after every number, or before
    /// when their sign is set (as `f64::total_cmp` puts them).
    pub fn compare(self, other: Number) -> Ordering {
        match (self, other) {
            (Number::Int(a), Number::Int(b)) => a.cmp(&b),
            (Number::Float(x), Number::Float(y)) => x.partial_cmp(&y).unwrap_or(x.total_cmp(&y)),
            (Number::Int(a), Number::Float(x)) => int_float(a, x),
            (Number::Float(x), Number::Int(a)) => int_float(a, x).reverse(),
        }
    }
}

/// How an integer compares with a float, exactly.
fn int_float(n: i64, x: f64) -> Ordering {
    // 2^63: the least float past every i64.
    const END: f64 = 9_223_372_036_854_775_808.0;
    if x.is_nan() {
        return if x.is_sign_negative() {
            Ordering::Greater
        } else {
            Ordering::Less
        };
    }
    if x >= END {
        return Ordering::Less;
    }
    if x < -END {
        return Ordering::Greater;
    }
    // -2^63 <= x < 2^63: its whole part is an i64 exactly, and the fraction is exact too.
    let whole = x.trunc();
    n.cmp(&(whole as i64))
        .then_with(|| 0.0.partial_cmp(&(x - whole)).unwrap_or(Ordering::Equal))
}

/// Parses a decimal integer with an optional sign; `None` for anything else or out of range
/// (what `str::parse::<i64>` accepts). Integer columns are parsed for every record, so digits
/// are read eight at a time and never overflow: 19 digits fit a `u64`.
pub fn parse_i64(bytes: &[u8]) -> Option<i64> {
    let (negative, digits) = match bytes.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, bytes),
    };
    let n = parse_digits(digits)?;
    if negative {
        // -2^63 is the one magnitude past `i64::MAX` that fits.
        (n <= 1 << 63).then(|| (n as i64).wrapping_neg())
    } else {
        i64::try_from(n).ok()
    }
}

/// The value of decimal digits: at least one, at most 19 after leading zeros.
fn parse_digits(mut digits: &[u8]) -> Option<u64> {
    if digits.len() > 19 {
        let zeros = digits.iter().take_while(|&&b| b == b'0').count();
        digits = &digits[zeros.min(digits.len() - 1)..];
    }
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    let mut n: u64 = 0;
    let mut chunks = digits.chunks_exact(8);
    for chunk in &mut chunks {
        let word = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        n = n * 100_000_000 + eight_digits(word)?;
    }
    for &b in chunks.remainder() {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        n = n * 10 + u64::from(d);
    }
    Some(n)
}

/// The value of eight ASCII digits read as a little-endian word, or `None` if a byte is not a
/// digit: pairs, then fours, then all eight combine by multiplications of masked lanes.
fn eight_digits(word: u64) -> Option<u64> {
    const HIGH: u64 = 0xf0f0_f0f0_f0f0_f0f0;
    // Every byte is 0x30..=0x39: its high half is 3, and so is the high half of it plus 6.
    let digits = (word & HIGH) | ((word.wrapping_add(0x0606_0606_0606_0606) & HIGH) >> 4);
    if digits != 0x3333_3333_3333_3333 {
        return None;
    }
    // The first digit is the lowest byte.
    let w = word - 0x3030_3030_3030_3030;
    let w = (w & 0x000f_000f_000f_000f) * 10 + ((w & 0x0f00_0f00_0f00_0f00) >> 8);
    let w = (w & 0x0000_00ff_0000_00ff) * 100 + ((w & 0x00ff_0000_00ff_0000) >> 16);
    Some((w & 0x0000_0000_0000_ffff) * 10_000 + ((w & 0x0000_ffff_0000_0000) >> 32))
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
        assert_eq!(parse_i64(b"9223372036854775808"), None);
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_i64(b"1700000000"), Some(1_700_000_000));
        assert_eq!(parse_i64(b"17000:0000"), None);
        assert_eq!(parse_i64(b"1234567/"), None);
    }

    proptest::proptest! {
        /// Whatever the digits and wherever a stray byte falls (inside or outside an eight-digit
        /// word), the answer is the standard library's.
        #[test]
        fn parses_integers_as_the_standard_library_does(text in "[+-]?[0-9]{0,21}[/:a 0-9]?[0-9]{0,10}") {
            proptest::prop_assert_eq!(parse_i64(text.as_bytes()), text.parse::<i64>().ok());
        }

        #[test]
        fn parses_any_bytes_as_the_standard_library_does(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..24),
        ) {
            let expected = std::str::from_utf8(&bytes).ok().and_then(|t| t.parse::<i64>().ok());
            proptest::prop_assert_eq!(parse_i64(&bytes), expected);
        }

        #[test]
        fn parses_every_i64(n: i64) {
            proptest::prop_assert_eq!(parse_i64(n.to_string().as_bytes()), Some(n));
        }
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

    /// `compare` is a total order however integers and floats mix, which sorts need: checked
    /// on every triple of numbers near where floats stop holding every integer (2^53) and
    /// every integer stops being a float (2^63), halves, zeros, infinities and NaNs.
    #[test]
    fn numbers_compare_in_a_total_order() {
        let mut numbers: Vec<Number> = Vec::new();
        for base in [1i64 << 53, -(1 << 53), i64::MAX, i64::MIN, 0] {
            for d in -2i64..=2 {
                let n = base.saturating_add(d);
                numbers.extend([Number::Int(n), Number::Float(n as f64)]);
            }
        }
        numbers.extend(
            [
                -0.0,
                2.5,
                -2.5,
                9_223_372_036_854_775_808.0,
                9_223_372_036_854_774_784.0,
                1e300,
                f64::INFINITY,
                f64::NEG_INFINITY,
                f64::NAN,
                -f64::NAN,
            ]
            .map(Number::Float),
        );
        for &a in &numbers {
            for &b in &numbers {
                assert_eq!(a.compare(b), b.compare(a).reverse(), "{a:?} {b:?}");
                for &c in &numbers {
                    if a.compare(b).is_le() && b.compare(c).is_le() {
                        assert!(a.compare(c).is_le(), "{a:?} <= {b:?} <= {c:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn integers_and_floats_compare_by_their_exact_values() {
        use Number::{Float, Int};
        use Ordering::{Equal, Greater, Less};
        let two53 = 1i64 << 53;
        for (a, b, order) in [
            (Int(two53 + 1), Float(two53 as f64), Greater),
            (Int(two53 - 1), Float(two53 as f64), Less),
            (Int(two53), Float(two53 as f64), Equal),
            (Int(i64::MAX), Float(9_223_372_036_854_775_808.0), Less),
            (Int(i64::MIN), Float(-9_223_372_036_854_775_808.0), Equal),
            (Int(i64::MIN), Float(-1e300), Greater),
            (Int(3), Float(2.5), Greater),
            (Int(-3), Float(-2.5), Less),
            (Int(-2), Float(-2.5), Greater),
            (Int(0), Float(-0.0), Equal),
            (Int(i64::MAX), Float(f64::INFINITY), Less),
            (Int(i64::MIN), Float(f64::NEG_INFINITY), Greater),
            (Int(0), Float(f64::NAN), Less),
            (Int(0), Float(-f64::NAN), Greater),
            (Float(-0.0), Float(0.0), Equal),
        ] {
            assert_eq!(a.compare(b), order, "{a:?} {b:?}");
            assert_eq!(b.compare(a), order.reverse(), "{b:?} {a:?}");
        }
    }
}
