//! Kubernetes resource quantities (`500m`, `1Gi`, `2`, `1e3`), exact: the scheduler, quota and
//! LimitRange admission compare and add them, and the messages they write print them as the API
//! server prints them (`1536Mi`, `1500m`), so a float would not do.
//!
//! A [`Quantity`] is a count of nano-units with the format its text was written in (binary
//! suffixes, decimal suffixes or an exponent). Sums keep the format of the left operand and print
//! in canonical form, as `resource.Quantity` does.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;

/// How a quantity prints: as written with `Ki`..`Ei`, with `n`..`E`, or with `eN`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    BinarySI,
    DecimalSI,
    DecimalExponent,
}

/// An exact quantity: `nanos` × 10⁻⁹.
#[derive(Debug, Clone, Copy)]
pub struct Quantity {
    nanos: i128,
    format: Format,
}

/// Resource name to quantity, as `requests`, `limits`, `hard` and `used` are.
pub type ResourceList = BTreeMap<String, Quantity>;

const NANO: i128 = 1_000_000_000;

const BINARY: [(&str, u32); 6] = [
    ("Ki", 1),
    ("Mi", 2),
    ("Gi", 3),
    ("Ti", 4),
    ("Pi", 5),
    ("Ei", 6),
];
const DECIMAL: [(&str, i32); 10] = [
    ("n", -9),
    ("u", -6),
    ("m", -3),
    ("", 0),
    ("k", 3),
    ("M", 6),
    ("G", 9),
    ("T", 12),
    ("P", 15),
    ("E", 18),
];

impl Quantity {
    pub fn zero() -> Quantity {
        Quantity {
            nanos: 0,
            format: Format::DecimalSI,
        }
    }

    /// `count` whole units, decimal (object counts, `pods`).
    pub fn from_count(count: i64) -> Quantity {
        Quantity {
            nanos: i128::from(count) * NANO,
            format: Format::DecimalSI,
        }
    }

    /// Parses Kubernetes' quantity syntax; `None` when it is not one. Digits beyond nano-units
    /// round up, as the API server rounds them.
    pub fn parse(text: &str) -> Option<Quantity> {
        let text = text.trim();
        let (negative, rest) = match text.as_bytes().first()? {
            b'-' => (true, &text[1..]),
            b'+' => (false, &text[1..]),
            _ => (false, text),
        };
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, suffix) = rest.split_at(number_end);
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        if whole.is_empty() && fraction.is_empty() || fraction.contains('.') {
            return None;
        }
        let digits = format!("{whole}{fraction}");
        let mantissa: i128 = digits.trim_start_matches('0').parse().unwrap_or(0);
        if digits.len() > 30 {
            return None;
        }
        let (format, nanos) = if let Some((_, power)) = BINARY.iter().find(|(s, _)| *s == suffix) {
            let factor = 1024i128.checked_pow(*power)?;
            (
                Format::BinarySI,
                scale(mantissa.checked_mul(factor)?, 9 - fraction.len() as i32)?,
            )
        } else if let Some((_, exponent)) = DECIMAL.iter().find(|(s, _)| *s == suffix) {
            (
                Format::DecimalSI,
                scale(mantissa, 9 - fraction.len() as i32 + exponent)?,
            )
        } else {
            let exponent: i32 = suffix.strip_prefix(['e', 'E'])?.parse().ok()?;
            (
                Format::DecimalExponent,
                scale(mantissa, 9 - fraction.len() as i32 + exponent)?,
            )
        };
        Some(Quantity {
            nanos: if negative { -nanos } else { nanos },
            format,
        })
    }

    pub fn format(&self) -> Format {
        self.format
    }

    pub fn is_zero(&self) -> bool {
        self.nanos == 0
    }

    /// Thousandths of a unit, rounded up (millicores of a CPU quantity).
    pub fn milli_value(&self) -> i128 {
        div_ceil(self.nanos, 1_000_000)
    }

    /// Whole units, rounded up (bytes of a memory quantity).
    pub fn value(&self) -> i128 {
        div_ceil(self.nanos, NANO)
    }

    /// The sum, in the left operand's format.
    pub fn add(&self, other: &Quantity) -> Quantity {
        Quantity {
            nanos: self.nanos + other.nanos,
            format: self.format,
        }
    }

    pub fn sub(&self, other: &Quantity) -> Quantity {
        Quantity {
            nanos: self.nanos - other.nanos,
            format: self.format,
        }
    }

    pub fn max(self, other: Quantity) -> Quantity {
        if other.nanos > self.nanos {
            other
        } else {
            self
        }
    }
}

fn div_ceil(value: i128, by: i128) -> i128 {
    let quotient = value / by;
    if value % by > 0 {
        quotient + 1
    } else {
        quotient
    }
}

/// `mantissa` × 10^`exponent`, rounded up to an integer.
fn scale(mantissa: i128, exponent: i32) -> Option<i128> {
    if exponent >= 0 {
        mantissa.checked_mul(10i128.checked_pow(exponent as u32)?)
    } else {
        let divisor = 10i128.checked_pow(exponent.unsigned_abs())?;
        Some(div_ceil(mantissa, divisor))
    }
}

impl PartialEq for Quantity {
    fn eq(&self, other: &Self) -> bool {
        self.nanos == other.nanos
    }
}

impl Eq for Quantity {}

impl PartialOrd for Quantity {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Quantity {
    fn cmp(&self, other: &Self) -> Ordering {
        self.nanos.cmp(&other.nanos)
    }
}

/// Canonical form, as `resource.Quantity.String()` prints it.
impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.nanos == 0 {
            return f.write_str("0");
        }
        let sign = if self.nanos < 0 { "-" } else { "" };
        let magnitude = self.nanos.abs();
        let binary =
            self.format == Format::BinarySI && magnitude >= 1024 * NANO && magnitude % NANO == 0;
        if binary {
            let (mut amount, mut power) = (magnitude / NANO, 0);
            while amount % 1024 == 0 && power < 6 {
                amount /= 1024;
                power += 1;
            }
            let suffix = match power {
                0 => "",
                n => BINARY[n - 1].0,
            };
            return write!(f, "{sign}{amount}{suffix}");
        }
        // Decimal: trailing zeros into the exponent, then down to a multiple of three.
        let (mut amount, mut exponent) = (magnitude, -9i32);
        while amount % 10 == 0 {
            amount /= 10;
            exponent += 1;
        }
        match exponent.rem_euclid(3) {
            1 => {
                amount *= 10;
                exponent -= 1;
            }
            2 => {
                amount *= 100;
                exponent -= 2;
            }
            _ => {}
        }
        let decimal_suffix = DECIMAL.iter().find(|(_, e)| *e == exponent);
        match (self.format, decimal_suffix) {
            (Format::DecimalExponent, _) if exponent != 0 => {
                write!(f, "{sign}{amount}e{exponent}")
            }
            (_, Some((suffix, _))) => write!(f, "{sign}{amount}{suffix}"),
            _ => write!(f, "{sign}{amount}e{exponent}"),
        }
    }
}

/// Reads a `requests`/`limits`/`hard` object; values that are not quantities are left out.
pub fn resource_list(value: &serde_json::Value) -> ResourceList {
    value
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(name, quantity)| {
            let parsed = match quantity {
                serde_json::Value::String(text) => Quantity::parse(text),
                serde_json::Value::Number(number) => Quantity::parse(&number.to_string()),
                _ => None,
            };
            Some((name.clone(), parsed?))
        })
        .collect()
}

/// A resource list as JSON, each quantity in canonical form.
pub fn to_json(list: &ResourceList) -> serde_json::Value {
    serde_json::Value::Object(
        list.iter()
            .map(|(name, quantity)| (name.clone(), quantity.to_string().into()))
            .collect(),
    )
}

/// `a + b` key by key, each sum in `a`'s format where `a` has the key.
pub fn add(a: &ResourceList, b: &ResourceList) -> ResourceList {
    let mut sum = a.clone();
    for (name, quantity) in b {
        sum.entry(name.clone())
            .and_modify(|existing| *existing = existing.add(quantity))
            .or_insert(*quantity);
    }
    sum
}

/// `name=quantity` pairs sorted by name and joined by commas, as quota messages print lists.
pub fn pretty(list: &ResourceList) -> String {
    list.iter()
        .map(|(name, quantity)| format!("{name}={quantity}"))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(text: &str) -> Quantity {
        Quantity::parse(text).unwrap_or_else(|| panic!("{text} parses"))
    }

    #[test]
    fn prints_in_canonical_form() {
        for (input, printed) in [
            ("500m", "500m"),
            ("1.5", "1500m"),
            ("2000m", "2"),
            ("1200000", "1200k"),
            ("1G", "1G"),
            ("1Gi", "1Gi"),
            ("1536Mi", "1536Mi"),
            ("1.5Gi", "1536Mi"),
            ("100", "100"),
            ("512", "512"),
            ("0", "0"),
            ("1e3", "1e3"),
            ("0.1m", "100u"),
        ] {
            assert_eq!(q(input).to_string(), printed, "{input}");
        }
    }

    #[test]
    fn sums_keep_the_left_format() {
        assert_eq!(q("1Gi").add(&q("512Mi")).to_string(), "1536Mi");
        assert_eq!(q("500m").add(&q("1")).to_string(), "1500m");
        assert_eq!(q("1").add(&q("1")).to_string(), "2");
        assert_eq!(q("1Gi").add(&q("1")).to_string(), "1073741825");
    }

    #[test]
    fn values_round_up() {
        assert_eq!(q("1500m").milli_value(), 1500);
        assert_eq!(q("0.5").value(), 1);
        assert_eq!(q("1Ki").value(), 1024);
        assert!(q("1") > q("999m"));
        assert_eq!(q("1"), q("1000m"));
        assert!(Quantity::parse("lots").is_none());
        assert!(Quantity::parse("").is_none());
    }
}
