//! Cron schedules as Kubeflow reads them: five-field cron expressions, the `@hourly`-style
//! descriptors and `@every <duration>`, evaluated in an IANA time zone.

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp, Zoned};

/// A parsed `spec.schedule`.
#[derive(Debug, Clone)]
pub enum Schedule {
    /// A fixed interval, counted from the previous run.
    Every(SignedDuration),
    Cron(Box<croner::Cron>),
}

impl Schedule {
    /// Parses a schedule, with an error that says what is accepted.
    pub fn parse(expression: &str) -> Result<Self, String> {
        let expression = expression.trim();
        if let Some(duration) = expression.strip_prefix("@every") {
            let duration = parse_go_duration(duration.trim())?;
            if duration < SignedDuration::from_secs(1) {
                return Err("an @every interval must be at least 1s".into());
            }
            // Like Kubeflow's cron library, intervals are whole seconds.
            return Ok(Self::Every(SignedDuration::from_secs(duration.as_secs())));
        }
        let expanded = match expression {
            "@yearly" | "@annually" => "0 0 1 1 *",
            "@monthly" => "0 0 1 * *",
            "@weekly" => "0 0 * * 0",
            "@daily" | "@midnight" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            other if other.starts_with('@') => {
                return Err(format!(
                    "unknown descriptor {other:?}: use @yearly, @monthly, @weekly, @daily, @hourly or @every <duration>"
                ));
            }
            other => other,
        };
        let fields = expanded.split_whitespace().count();
        if fields != 5 {
            return Err(format!(
                "a cron expression has 5 fields (minute hour day-of-month month day-of-week), this one has {fields}"
            ));
        }
        let parser = croner::parser::CronParser::builder()
            .seconds(croner::parser::Seconds::Disallowed)
            .year(croner::parser::Year::Disallowed)
            .build();
        parser
            .parse(expanded)
            .map(|cron| Self::Cron(Box::new(cron)))
            .map_err(|e| format!("invalid cron expression: {e}"))
    }

    /// The first scheduled time strictly after `after`, in `zone`.
    pub fn next_after(&self, after: Timestamp, zone: &TimeZone) -> Option<Timestamp> {
        match self {
            Self::Every(interval) => after.checked_add(*interval).ok(),
            Self::Cron(cron) => {
                let start: Zoned = after.to_zoned(zone.clone());
                cron.find_next_occurrence(&start, false)
                    .ok()
                    .map(|z| z.timestamp())
            }
        }
    }

    /// The latest scheduled time at or before `at`, in `zone`: for an `@every` schedule, which has
    /// no fixed times, none.
    pub fn latest_at_or_before(&self, at: Timestamp, zone: &TimeZone) -> Option<Timestamp> {
        match self {
            Self::Every(_) => None,
            Self::Cron(cron) => {
                let start: Zoned = at.to_zoned(zone.clone());
                cron.find_previous_occurrence(&start, true)
                    .ok()
                    .map(|z| z.timestamp())
            }
        }
    }
}

/// Resolves `spec.timeZone`: unset or `Local` is the operator's own zone.
pub fn time_zone(name: Option<&str>) -> Result<TimeZone, String> {
    match name.map(str::trim) {
        None | Some("") | Some("Local") => Ok(TimeZone::try_system().unwrap_or(TimeZone::UTC)),
        Some(name) => TimeZone::get(name).map_err(|_| {
            format!(
                "unknown time zone {name:?}: use an IANA name such as \"UTC\" or \"Europe/Berlin\""
            )
        }),
    }
}

/// Go's `time.ParseDuration` syntax (`1h30m`, `90s`, `1.5h`, `500ms`), which `@every` takes.
fn parse_go_duration(text: &str) -> Result<SignedDuration, String> {
    let invalid = || format!("invalid duration {text:?}: write it like 30s, 5m or 1h30m");
    if text.is_empty() {
        return Err(invalid());
    }
    let mut rest = text;
    let mut total_nanos: f64 = 0.0;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(invalid)?;
        let (number, tail) = rest.split_at(number_len);
        let value: f64 = number.parse().map_err(|_| invalid())?;
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let nanos_per_unit = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(invalid()),
        };
        total_nanos += value * nanos_per_unit;
        rest = tail;
    }
    if total_nanos > i64::MAX as f64 {
        return Err(invalid());
    }
    Ok(SignedDuration::from_nanos(total_nanos as i64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().expect("timestamp")
    }

    #[test]
    fn five_field_cron_and_descriptors_parse() {
        for ok in [
            "*/5 * * * *",
            "0 3 * * 1-5",
            "@daily",
            "@hourly",
            "@every 10s",
            "@every 1h30m",
        ] {
            assert!(Schedule::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn bad_schedules_say_what_is_wrong() {
        assert!(Schedule::parse("* * * *").unwrap_err().contains("5 fields"));
        assert!(
            Schedule::parse("0 0 * * * *")
                .unwrap_err()
                .contains("5 fields")
        );
        assert!(
            Schedule::parse("61 * * * *")
                .unwrap_err()
                .contains("invalid cron")
        );
        assert!(
            Schedule::parse("@sometimes")
                .unwrap_err()
                .contains("unknown descriptor")
        );
        assert!(
            Schedule::parse("@every 10x")
                .unwrap_err()
                .contains("invalid duration")
        );
        assert!(
            Schedule::parse("@every 100ms")
                .unwrap_err()
                .contains("at least 1s")
        );
    }

    #[test]
    fn every_counts_from_the_given_time() {
        let s = Schedule::parse("@every 1m30s").unwrap();
        let next = s
            .next_after(at("2026-01-01T00:00:00Z"), &TimeZone::UTC)
            .unwrap();
        assert_eq!(next, at("2026-01-01T00:01:30Z"));
    }

    #[test]
    fn cron_is_read_in_the_time_zone() {
        let s = Schedule::parse("0 9 * * *").unwrap();
        let tokyo = time_zone(Some("Asia/Tokyo")).unwrap();
        // 09:00 in Tokyo is 00:00 UTC.
        let next = s.next_after(at("2026-03-01T12:00:00Z"), &tokyo).unwrap();
        assert_eq!(next, at("2026-03-02T00:00:00Z"));
    }

    #[test]
    fn daylight_saving_changes_keep_local_wall_time() {
        let s = Schedule::parse("30 1 * * *").unwrap();
        let ny = time_zone(Some("America/New_York")).unwrap();
        // Before the spring change 01:30 EST is 06:30 UTC, after it 01:30 EDT is 05:30 UTC.
        assert_eq!(
            s.next_after(at("2026-03-07T12:00:00Z"), &ny).unwrap(),
            at("2026-03-08T06:30:00Z")
        );
        assert_eq!(
            s.next_after(at("2026-03-08T12:00:00Z"), &ny).unwrap(),
            at("2026-03-09T05:30:00Z")
        );
    }

    #[test]
    fn latest_at_or_before_finds_the_last_cron_time() {
        let s = Schedule::parse("*/15 * * * *").unwrap();
        let berlin = time_zone(Some("Europe/Berlin")).unwrap();
        assert_eq!(
            s.latest_at_or_before(at("2026-03-29T01:07:00Z"), &berlin),
            Some(at("2026-03-29T01:00:00Z"))
        );
        assert_eq!(
            s.latest_at_or_before(at("2026-03-29T01:15:00Z"), &berlin),
            Some(at("2026-03-29T01:15:00Z"))
        );
        let every = Schedule::parse("@every 1m").unwrap();
        assert_eq!(
            every.latest_at_or_before(at("2026-03-29T01:07:00Z"), &berlin),
            None
        );
    }

    #[test]
    fn unknown_time_zone_is_rejected() {
        assert!(
            time_zone(Some("Mars/Olympus"))
                .unwrap_err()
                .contains("IANA")
        );
        assert!(time_zone(Some("Local")).is_ok());
        assert!(time_zone(None).is_ok());
    }
}
