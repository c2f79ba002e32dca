//! String formats the API server checks in custom resources, numeric format ranges, and the
//! way Go prints values inside error messages.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, LazyLock, Mutex};

use regex::Regex;
use serde_json::{Number, Value};

/// A value as Go's `%v`/`%q` prints it in field errors: strings quoted, numbers bare.
pub(crate) fn go_value(value: &Value) -> String {
    match value {
        Value::String(s) => format!("{s:?}"),
        Value::Number(n) => go_number(n),
        other => other.to_string(),
    }
}

pub(crate) fn go_number(number: &Number) -> String {
    match (number.as_i64(), number.as_u64(), number.as_f64()) {
        (Some(i), _, _) => i.to_string(),
        (_, Some(u), _) => u.to_string(),
        (_, _, Some(f)) => go_float(f),
        _ => number.to_string(),
    }
}

/// Go's `%v` for a float64: shortest digits, exponent form from 1e+06 up and below 1e-04.
pub(crate) fn go_float(value: f64) -> String {
    if value == 0.0 || !value.is_finite() {
        return if value == 0.0 {
            "0".into()
        } else {
            value.to_string()
        };
    }
    let exponent = value.abs().log10().floor() as i32;
    if (-4..6).contains(&exponent) {
        return value.to_string();
    }
    // Rust's `{:e}` is `1.5e6`; Go writes `1.5e+06`.
    let formatted = format!("{value:e}");
    let (mantissa, exp) = formatted.split_once('e').unwrap_or((&formatted, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let sign = if exp < 0 { '-' } else { '+' };
    format!("{mantissa}e{sign}{:02}", exp.abs())
}

/// Compiled `pattern`s, shared: CRDs repeat the same few patterns in many places.
static PATTERNS: LazyLock<Mutex<HashMap<String, Option<Arc<Regex>>>>> =
    LazyLock::new(Default::default);

/// Whether `text` matches the ECMA/RE2 `pattern` (unanchored, as OpenAPI means it).
/// Patterns that do not compile match nothing, so the error reports them.
pub(crate) fn matches_pattern(pattern: &str, text: &str) -> bool {
    let compiled = {
        let mut cache = PATTERNS
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        cache
            .entry(pattern.to_string())
            .or_insert_with(|| Regex::new(pattern).ok().map(Arc::new))
            .clone()
    };
    compiled.is_some_and(|regex| regex.is_match(text))
}

fn regex(pattern: &'static str) -> Regex {
    // The patterns below are constants of this file, checked by the tests.
    Regex::new(pattern).unwrap_or_else(|e| panic!("invalid built-in pattern {pattern}: {e}"))
}

static DATE: LazyLock<Regex> = LazyLock::new(|| regex(r"^(\d{4})-(\d{2})-(\d{2})$"));
static TIME: LazyLock<Regex> = LazyLock::new(|| {
    regex(r"^([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]+)?(z|([+-][0-9]{2}:[0-9]{2}))$")
});
static UUID: LazyLock<Regex> = LazyLock::new(|| {
    regex(r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$")
});
static HOSTNAME: LazyLock<Regex> = LazyLock::new(|| {
    regex(
        r"^([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9\-]{0,61}[a-zA-Z0-9])(\.([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9\-]{0,61}[a-zA-Z0-9]))*\.?$",
    )
});
static MAC: LazyLock<Regex> = LazyLock::new(|| {
    regex(r"(?i)^([0-9a-f]{2}[:-]){5}[0-9a-f]{2}$|^([0-9a-f]{4}\.){2}[0-9a-f]{4}$")
});
static DURATION: LazyLock<Regex> = LazyLock::new(|| {
    regex(
        r"^[-+]?((\d+(\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h))+$|^\d+\s*(ns|us|ms|s|m|h|d|w|nanoseconds?|microseconds?|milliseconds?|seconds?|minutes?|hours?|days?|weeks?)$",
    )
});
static BASE64: LazyLock<Regex> =
    LazyLock::new(|| regex(r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"));
static EMAIL: LazyLock<Regex> = LazyLock::new(|| regex(r"^[^@\s]+@[^@\s]+$"));
static URI: LazyLock<Regex> = LazyLock::new(|| regex(r"^([a-zA-Z][a-zA-Z0-9+.\-]*:|/)\S*$"));

fn is_date(text: &str) -> bool {
    DATE.captures(text).is_some_and(|c| {
        let month: u32 = c[2].parse().unwrap_or(0);
        let day: u32 = c[3].parse().unwrap_or(0);
        (1..=12).contains(&month) && (1..=31).contains(&day)
    })
}

/// RFC 3339 `date-time` as the API server's validator accepts it (case-insensitive `T`/`Z`).
fn is_date_time(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    let Some((date, time)) = lower.split_once('t') else {
        return false;
    };
    is_date(date)
        && TIME
            .captures(time)
            .is_some_and(|c| &c[1] <= "23" && &c[2] <= "59" && &c[3] <= "59")
}

fn is_cidr(text: &str) -> bool {
    let Some((address, prefix)) = text.split_once('/') else {
        return false;
    };
    let Ok(prefix) = prefix.parse::<u8>() else {
        return false;
    };
    match address.parse::<IpAddr>() {
        Ok(IpAddr::V4(_)) => prefix <= 32,
        Ok(IpAddr::V6(_)) => prefix <= 128,
        Err(_) => false,
    }
}

/// Whether `text` is valid for the string `format`; unknown formats accept everything, as the
/// API server ignores formats it does not know.
pub(crate) fn string_format_ok(format: &str, text: &str) -> bool {
    // kube-openapi's format registry matches names without dashes and underscores (`date-time`
    // is `datetime`).
    let name: String = format
        .chars()
        .filter(|c| *c != '-' && *c != '_')
        .collect::<String>()
        .to_lowercase();
    match name.as_str() {
        "datetime" => is_date_time(text),
        "date" => is_date(text),
        "byte" => BASE64.is_match(text),
        "uuid" | "uuid3" | "uuid4" | "uuid5" => UUID.is_match(text),
        "ipv4" => text.parse::<Ipv4Addr>().is_ok(),
        "ipv6" => text.parse::<Ipv6Addr>().is_ok(),
        "cidr" => is_cidr(text),
        "mac" => MAC.is_match(text),
        "hostname" => text.len() <= 255 && HOSTNAME.is_match(text),
        "duration" => DURATION.is_match(text),
        "email" => EMAIL.is_match(text),
        "uri" => URI.is_match(text),
        _ => true,
    }
}

/// The range check of `integer` formats: the message when `number` does not fit.
pub(crate) fn integer_range_problem(number: &Number, format: &str, path: &str) -> Option<String> {
    let fits = match format {
        "int32" => number.as_i64().is_some_and(|i| i32::try_from(i).is_ok()),
        "uint32" => number.as_u64().is_some_and(|u| u32::try_from(u).is_ok()),
        "uint64" => number.as_u64().is_some(),
        _ => {
            number.as_i64().is_some()
                || number
                    .as_f64()
                    .is_some_and(|f| f.fract() == 0.0 && f.abs() < 9.2e18)
        }
    };
    (!fits).then(|| {
        let shown = if format.is_empty() {
            "integer (default format)".to_string()
        } else {
            format!("integer with format {format}")
        };
        format!("Checked value must be of type {shown} in {path}")
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn go_printing() {
        assert_eq!(go_value(&json!("a\"b")), "\"a\\\"b\"");
        assert_eq!(go_value(&json!(3)), "3");
        assert_eq!(go_value(&json!(true)), "true");
        assert_eq!(go_float(1.0), "1");
        assert_eq!(go_float(0.5), "0.5");
        assert_eq!(go_float(100000.0), "100000");
        assert_eq!(go_float(1_000_000.0), "1e+06");
        assert_eq!(go_float(123_456_789.0), "1.23456789e+08");
        assert_eq!(go_float(0.00001), "1e-05");
    }

    #[test]
    fn string_formats() {
        for good in ["2024-01-02T03:04:05Z", "2024-01-02t03:04:05.123+02:00"] {
            assert!(string_format_ok("date-time", good), "{good}");
        }
        for bad in [
            "2024-01-02",
            "2024-13-02T03:04:05Z",
            "2024-01-02T25:00:00Z",
            "yesterday",
        ] {
            assert!(!string_format_ok("date-time", bad), "{bad}");
        }
        assert!(string_format_ok("date", "2024-02-29"));
        assert!(string_format_ok("byte", "aGVsbG8="));
        assert!(!string_format_ok("byte", "not base64!"));
        assert!(string_format_ok(
            "uuid",
            "0b0c6a6e-1f2b-4c3d-8e9f-0a1b2c3d4e5f"
        ));
        assert!(string_format_ok("ipv4", "10.0.0.1") && !string_format_ok("ipv4", "10.0.0.256"));
        assert!(string_format_ok("ipv6", "::1"));
        assert!(string_format_ok("cidr", "10.0.0.0/8") && !string_format_ok("cidr", "10.0.0.0/33"));
        assert!(string_format_ok("mac", "00:1b:63:84:45:e6"));
        assert!(
            string_format_ok("hostname", "spark.example.com")
                && !string_format_ok("hostname", "-x")
        );
        assert!(string_format_ok("duration", "1h30m") && string_format_ok("duration", "3 days"));
        assert!(string_format_ok("something-unknown", "anything"));
    }

    #[test]
    fn integer_ranges() {
        let big = Number::from(3_000_000_000_i64);
        assert_eq!(
            integer_range_problem(&big, "int32", "spec.x").as_deref(),
            Some("Checked value must be of type integer with format int32 in spec.x")
        );
        assert!(integer_range_problem(&big, "int64", "spec.x").is_none());
        assert!(integer_range_problem(&Number::from(-1), "int32", "spec.x").is_none());
    }

    #[test]
    fn patterns_are_cached_and_bad_ones_match_nothing() {
        assert!(matches_pattern("^[a-z]+$", "abc"));
        assert!(!matches_pattern("^[a-z]+$", "ABC"));
        assert!(matches_pattern("b", "abc"), "patterns are not anchored");
        assert!(!matches_pattern("(", "("));
    }
}
