//! The names of a schedule's runs: `<schedule>-<its scheduled time>`, the time written with
//! Kubeflow's `--scheduled-spark-application-timestamp-precision` (nanos, micros, millis,
//! seconds or minutes since the epoch). Kubeflow writes the time the run was created; here it is
//! the time the run was due, so a restarted operator finds the run it already made under the same
//! name. A run name's time is read back by its number of digits, so runs named under another
//! precision (before a change of the flag) are still recognised.

use jiff::Timestamp;
use spark_operator_api::naming::APPLICATION_NAME_MAX;

/// How precisely a run's name writes its time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum RunNamePrecision {
    Nanos,
    Micros,
    Millis,
    /// This operator's default: the names it has always given.
    #[default]
    Seconds,
    Minutes,
}

impl RunNamePrecision {
    /// The time as the name writes it.
    pub fn format(self, due: Timestamp) -> String {
        let nanos = due.as_nanosecond();
        let value = match self {
            RunNamePrecision::Nanos => nanos,
            RunNamePrecision::Micros => nanos / 1_000,
            RunNamePrecision::Millis => nanos / 1_000_000,
            RunNamePrecision::Seconds => i128::from(due.as_second()),
            RunNamePrecision::Minutes => i128::from(due.as_second()) / 60,
        };
        value.to_string()
    }

    /// Digits of a time of this century, as written.
    pub fn digits(self) -> usize {
        match self {
            RunNamePrecision::Nanos => 19,
            RunNamePrecision::Micros => 16,
            RunNamePrecision::Millis => 13,
            RunNamePrecision::Seconds => 10,
            RunNamePrecision::Minutes => 8,
        }
    }

    /// The flag's value.
    pub fn name(self) -> &'static str {
        match self {
            RunNamePrecision::Nanos => "nanos",
            RunNamePrecision::Micros => "micros",
            RunNamePrecision::Millis => "millis",
            RunNamePrecision::Seconds => "seconds",
            RunNamePrecision::Minutes => "minutes",
        }
    }
}

/// The name of the run of `scheduled` due at `due`.
pub fn run_name(scheduled: &str, due: Timestamp, precision: RunNamePrecision) -> String {
    format!("{scheduled}-{}", precision.format(due))
}

/// The longest schedule name whose runs' names fit an application's (`APPLICATION_NAME_MAX`).
pub fn longest_schedule_name(precision: RunNamePrecision) -> usize {
    APPLICATION_NAME_MAX - 1 - precision.digits()
}

/// The time a run of `scheduled` is named after, whatever precision named it.
pub fn scheduled_time_of(scheduled: &str, run: &str) -> Option<Timestamp> {
    let digits = run.strip_prefix(scheduled)?.strip_prefix('-')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let value: i128 = digits.parse().ok()?;
    let nanos = match digits.len() {
        0..=9 => value * 60_000_000_000,
        10..=12 => value * 1_000_000_000,
        13..=15 => value * 1_000_000,
        16..=18 => value * 1_000,
        _ => value,
    };
    Timestamp::from_nanosecond(nanos).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_precision_names_a_run_that_reads_back_to_its_time() {
        let due: Timestamp = "2026-03-01T01:00:00Z".parse().unwrap();
        for (precision, name) in [
            (RunNamePrecision::Nanos, "pi-1772326800000000000"),
            (RunNamePrecision::Micros, "pi-1772326800000000"),
            (RunNamePrecision::Millis, "pi-1772326800000"),
            (RunNamePrecision::Seconds, "pi-1772326800"),
            (RunNamePrecision::Minutes, "pi-29538780"),
        ] {
            assert_eq!(run_name("pi", due, precision), name);
            assert_eq!(name.len() - 3, precision.digits(), "{name}");
            assert_eq!(scheduled_time_of("pi", name), Some(due), "{name}");
        }
        assert_eq!(scheduled_time_of("pi", "pi-abc"), None);
        assert_eq!(scheduled_time_of("pi", "pipe-1772326800"), None);
        assert_eq!(longest_schedule_name(RunNamePrecision::Seconds), 45);
        assert_eq!(longest_schedule_name(RunNamePrecision::Nanos), 36);
    }
}
