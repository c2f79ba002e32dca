//! Durations as Kubeflow's flags take them and Go writes them: `time.ParseDuration`'s `15s`,
//! `1m30s`, `500ms`, `1.5h`, and `time.Duration.String()`'s `5m0s`. Pure, for the flags and for
//! the annotations the lifecycle reads.

use std::time::Duration;

/// A Go duration: numbers with a unit each (`ms`, `s`, `m`, `h`), summed.
pub fn parse(value: &str) -> Option<Duration> {
    let mut rest = value.trim();
    if rest.is_empty() {
        return None;
    }
    if rest == "0" {
        // Go's one duration without a unit.
        return Some(Duration::ZERO);
    }
    let mut total = Duration::ZERO;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let number: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += Duration::try_from_secs_f64(number * seconds).ok()?;
    }
    Some(total)
}

/// A Go duration, or a whole number of seconds (as annotations are often written).
pub fn parse_or_seconds(value: &str) -> Option<Duration> {
    match value.trim().parse::<u64>() {
        Ok(seconds) => Some(Duration::from_secs(seconds)),
        Err(_) => parse(value),
    }
}

/// As Go prints a duration of whole seconds: `45s`, `5m0s`, `1h30m0s`.
pub fn show(duration: Duration) -> String {
    let seconds = duration.as_secs();
    match (seconds / 3600, seconds % 3600 / 60, seconds % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m{s}s"),
        (h, m, s) => format!("{h}h{m}m{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse("15s"), Some(Duration::from_secs(15)));
        assert_eq!(parse("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse("0"), Some(Duration::ZERO));
        for bad in ["", "soon", "5", "5x", "s"] {
            assert_eq!(parse(bad), None, "{bad}");
        }
        assert_eq!(parse_or_seconds("300"), Some(Duration::from_secs(300)));
        assert_eq!(parse_or_seconds("5m"), Some(Duration::from_secs(300)));
    }

    #[test]
    fn printed_as_go_prints_them() {
        assert_eq!(show(Duration::from_secs(45)), "45s");
        assert_eq!(show(Duration::from_secs(300)), "5m0s");
        assert_eq!(show(Duration::from_secs(5400)), "1h30m0s");
    }
}
