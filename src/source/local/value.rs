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

    /// The order `sort`, `min` and `max` use, a total order: nulls, then numbers (and times)
    /// by their exact values, then text. Values equal as numbers but not alike (5 and 5.0, 0
    /// and -0.0) come in a fixed order too, so which of them a `min` keeps never depends on
    /// which came first.
    pub fn total_cmp(&self, other: &Scalar<'_>) -> Ordering {
        fn rank(s: &Scalar<'_>) -> u8 {
            match s {
                Scalar::Null => 0,
                Scalar::Bool(_) | Scalar::Int(_) | Scalar::Time(_) | Scalar::Float(_) => 1,
                Scalar::Str(_) | Scalar::Owned(_) => 2,
            }
        }
        fn kind(s: &Scalar<'_>) -> u8 {
            match s {
                Scalar::Bool(_) => 0,
                Scalar::Int(_) => 1,
                Scalar::Time(_) => 2,
                _ => 3,
            }
        }
        let number = |s: &Scalar<'_>| match *s {
            Scalar::Bool(b) => Some(Number::Int(i64::from(b))),
            Scalar::Int(n) | Scalar::Time(n) => Some(Number::Int(n)),
            Scalar::Float(x) => Some(Number::Float(x)),
            _ => None,
        };
        if let (Some(a), Some(b)) = (self.as_str(), other.as_str()) {
            return a.cmp(b);
        }
        match (number(self), number(other)) {
            (Some(a), Some(b)) => a
                .compare(b)
                .then_with(|| kind(self).cmp(&kind(other)))
                .then_with(|| match (self, other) {
                    (Scalar::Float(x), Scalar::Float(y)) => x.total_cmp(y),
                    _ => Ordering::Equal,
                }),
            _ => rank(self).cmp(&rank(other)),
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

/// A sum of numbers kept exactly, whatever their order, and rounded once when it is read: so
/// that a sum of fractions is the same to the last bit however the records were split among
/// threads and merged. Whole numbers add up in a 128-bit integer; fractions in a few floats
/// that do not overlap, in increasing magnitude (Shewchuk's adaptive-precision addition, as
/// Python's `math.fsum` keeps it: <https://code.activestate.com/recipes/393090/>);
/// infinities and NaNs apart.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExactSum {
    whole: i128,
    /// Whether a float was added: a sum of integers alone that fits an i64 is an integer.
    floats: bool,
    partials: Vec<f64>,
    /// The sum of the infinite and NaN terms (and of any that overflowed), or 0.
    special: f64,
}

/// 2^63: the least float past every i64.
const PAST_I64: f64 = 9_223_372_036_854_775_808.0;

impl ExactSum {
    pub fn add(&mut self, number: Number) {
        self.floats |= matches!(number, Number::Float(_));
        match number {
            Number::Int(n) => self.add_whole(i128::from(n)),
            // A whole float below 2^63 is an i64 exactly.
            Number::Float(x) if x.fract() == 0.0 && x.abs() < PAST_I64 => {
                self.add_whole(i128::from(x as i64));
            }
            Number::Float(x) => self.add_float(x),
        }
    }

    fn add_whole(&mut self, n: i128) {
        match self.whole.checked_add(n) {
            Some(total) => self.whole = total,
            // Past 2^127 (2^64 terms of 2^63): what is held goes to the floats.
            None => {
                let held = std::mem::replace(&mut self.whole, n);
                self.add_wide(held);
            }
        }
    }

    /// Adds a 128-bit integer to the floats, exactly: as the floats nearest to what is left.
    fn add_wide(&mut self, mut n: i128) {
        // Near 2^127 the nearest float would be 2^127, past every i128: 2^126 goes first.
        const HALF: i128 = 1 << 126;
        if n > HALF {
            self.add_float(HALF as f64);
            n -= HALF;
        }
        while n != 0 {
            let high = n as f64;
            self.add_float(high);
            n -= high as i128;
        }
    }

    fn add_float(&mut self, mut x: f64) {
        if !x.is_finite() {
            self.special += x;
            return;
        }
        let mut kept = 0;
        for i in 0..self.partials.len() {
            let mut y = self.partials[i];
            if x.abs() < y.abs() {
                std::mem::swap(&mut x, &mut y);
            }
            let high = x + y;
            if !high.is_finite() {
                // Past the largest float: the sum is infinite, whatever else comes.
                self.special += high;
                self.partials.clear();
                return;
            }
            let low = y - (high - x);
            if low != 0.0 {
                self.partials[kept] = low;
                kept += 1;
            }
            x = high;
        }
        self.partials.truncate(kept);
        if x != 0.0 {
            self.partials.push(x);
        }
    }

    /// Adds another exact sum to this one.
    pub fn merge(&mut self, other: &ExactSum) {
        self.floats |= other.floats;
        self.add_whole(other.whole);
        for &x in &other.partials {
            self.add_float(x);
        }
        self.special += other.special;
    }

    /// The sum, rounded once to the nearest float (ties to even).
    pub fn value(&self) -> f64 {
        if self.special != 0.0 || self.special.is_nan() {
            return self.special;
        }
        if self.partials.is_empty() {
            // Rounds to the nearest float, ties to even.
            return self.whole as f64;
        }
        let mut all = self.clone();
        let whole = std::mem::take(&mut all.whole);
        all.add_wide(whole);
        if all.special != 0.0 || all.special.is_nan() {
            return all.special;
        }
        let p = &all.partials;
        let Some((&last, rest)) = p.split_last() else {
            return 0.0;
        };
        let (mut high, mut low) = (last, 0.0);
        let mut n = rest.len();
        while n > 0 {
            let x = high;
            n -= 1;
            let y = p[n];
            high = x + y;
            low = y - (high - x);
            if low != 0.0 {
                break;
            }
        }
        // Round half to even, correctly: a remainder of exactly half an ulp is decided by the
        // sign of the partials below it.
        if n > 0 && ((low < 0.0 && p[n - 1] < 0.0) || (low > 0.0 && p[n - 1] > 0.0)) {
            let y = low * 2.0;
            let x = high + y;
            if y == x - high {
                high = x;
            }
        }
        high
    }

    /// The sum as an integer, when only integers were added and it fits an i64 (as an
    /// integer `sum` that went past 2^63 on the way and came back is).
    pub fn integer(&self) -> Option<i64> {
        if self.floats || !self.partials.is_empty() || self.special != 0.0 {
            return None;
        }
        i64::try_from(self.whole).ok()
    }

    /// What the sum is kept as (to write it to disk): the whole part, whether a float was
    /// added, the floats and the special terms.
    pub fn parts(&self) -> (i128, bool, &[f64], f64) {
        (self.whole, self.floats, &self.partials, self.special)
    }

    /// A sum written as `parts` gave it.
    pub fn from_parts(whole: i128, floats: bool, partials: Vec<f64>, special: f64) -> Self {
        ExactSum {
            whole,
            floats,
            partials,
            special,
        }
    }

    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.partials.capacity() * size_of::<f64>()
    }
}

/// How an integer compares with a float, exactly.
fn int_float(n: i64, x: f64) -> Ordering {
    if x.is_nan() {
        return if x.is_sign_negative() {
            Ordering::Greater
        } else {
            Ordering::Less
        };
    }
    if x >= PAST_I64 {
        return Ordering::Less;
    }
    if x < -PAST_I64 {
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

    /// A number with its value times 2^10 as an exact integer: integers of up to 62 bits and
    /// multiples of 2^-10 of up to 50 bits.
    fn scaled_number() -> impl proptest::strategy::Strategy<Value = (Number, i128)> {
        use proptest::prelude::*;
        prop_oneof![
            (-(1i64 << 62)..(1i64 << 62)).prop_map(|n| (Number::Int(n), i128::from(n) << 10)),
            (-(1i64 << 50)..(1i64 << 50))
                .prop_map(|k| (Number::Float(k as f64 / 1024.0), i128::from(k))),
            (-4096i64..4096).prop_map(|k| (Number::Float(k as f64 / 1024.0), i128::from(k))),
        ]
    }

    proptest::proptest! {
        /// An exact sum is the true sum rounded once (to the nearest float, ties to even),
        /// whatever the order of its terms and however they were split into sums merged later.
        #[test]
        fn exact_sums_round_the_true_sum_once(
            terms in proptest::collection::vec(scaled_number(), 0..60),
            split in proptest::prelude::any::<proptest::sample::Index>(),
        ) {
            use proptest::prelude::*;
            let total: i128 = terms.iter().map(|(_, scaled)| scaled).sum();
            // Exact: a power of two scales a float without rounding it.
            let expected = total as f64 / 1024.0;
            let mut forward = ExactSum::default();
            for &(number, _) in &terms {
                forward.add(number);
            }
            prop_assert_eq!(forward.value().to_bits(), expected.to_bits());
            let at = split.index(terms.len() + 1);
            let (mut a, mut b) = (ExactSum::default(), ExactSum::default());
            for &(number, _) in terms[..at].iter().rev() {
                a.add(number);
            }
            for &(number, _) in terms[at..].iter().rev() {
                b.add(number);
            }
            b.merge(&a);
            prop_assert_eq!(b.value().to_bits(), expected.to_bits());
        }
    }

    #[test]
    fn exact_sums_keep_infinities_and_nans_apart() {
        let sum = |xs: &[f64]| {
            let mut sum = ExactSum::default();
            xs.iter().for_each(|&x| sum.add(Number::Float(x)));
            sum.value()
        };
        assert_eq!(sum(&[]), 0.0);
        assert_eq!(sum(&[1.0, f64::INFINITY, -5.0]), f64::INFINITY);
        assert!(sum(&[f64::INFINITY, 2.0, f64::NEG_INFINITY]).is_nan());
        assert!(sum(&[f64::NAN, 1.0]).is_nan());
        assert_eq!(sum(&[f64::MAX, f64::MAX]), f64::INFINITY);
        assert_eq!(sum(&[1e100, 1.0, -1e100]), 1.0);
        // Whole numbers past 2^127 go on in the floats.
        let mut wide = ExactSum::from_parts(i128::MAX - 5, false, Vec::new(), 0.0);
        wide.merge(&ExactSum::from_parts(100, true, vec![0.5], 0.0));
        assert_eq!(wide.value(), 2f64.powi(127));
        wide.merge(&ExactSum::from_parts(i128::MIN, false, Vec::new(), 0.0));
        assert_eq!(wide.value(), 94.5);
        // Added one by one, each 1e-16 is lost to the 1.0 before it.
        assert_eq!(sum(&[1.0, 1e-16, 1e-16]), 1.000_000_000_000_000_2);
    }
}
