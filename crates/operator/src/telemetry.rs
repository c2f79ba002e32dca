//! Logging set up as the logging flags ask: ours (`--log-level`, `--log-format`) or Kubeflow's
//! zap flags (`--zap-log-level`, `--zap-encoder`, `--zap-devel`, `--zap-time-encoding`), which
//! `cli::logging` reads into [`LogSettings`].

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Lines for people (zap's `console`).
    #[default]
    #[value(alias = "console")]
    Text,
    /// One JSON object per line.
    Json,
}

/// How times are written, as zap's `--zap-time-encoding` names them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum TimeEncoding {
    /// RFC 3339 with microseconds (this operator's default).
    #[default]
    #[value(skip)]
    Default,
    /// Seconds since the epoch, with a fraction.
    Epoch,
    /// Milliseconds since the epoch, with a fraction.
    Millis,
    /// Nanoseconds since the epoch.
    Nano,
    /// `2006-01-02T15:04:05.000Z`.
    Iso8601,
    /// `2006-01-02T15:04:05Z`.
    Rfc3339,
    /// `2006-01-02T15:04:05.999999999Z`.
    Rfc3339nano,
}

/// Everything logging is set up from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSettings {
    /// error, warn, info, debug or trace.
    pub level: String,
    pub format: LogFormat,
    pub time: TimeEncoding,
}

impl FormatTime for TimeEncoding {
    fn format_time(&self, w: &mut Writer<'_>) -> std::fmt::Result {
        let now = jiff::Timestamp::now();
        let nanos = now.as_nanosecond();
        match self {
            TimeEncoding::Default => write!(w, "{now:.6}"),
            TimeEncoding::Epoch => write!(w, "{:.6}", nanos as f64 / 1e9),
            TimeEncoding::Millis => write!(w, "{:.3}", nanos as f64 / 1e6),
            TimeEncoding::Nano => write!(w, "{nanos}"),
            TimeEncoding::Iso8601 => write!(w, "{now:.3}"),
            TimeEncoding::Rfc3339 => write!(w, "{now:.0}"),
            TimeEncoding::Rfc3339nano => write!(w, "{now}"),
        }
    }
}

/// Installs the global subscriber; `RUST_LOG`, when set, wins over `level`.
pub fn init(level: &str, format: LogFormat) {
    init_with(&LogSettings {
        level: level.to_string(),
        format,
        time: TimeEncoding::Default,
    });
}

/// Installs the global subscriber as `settings` say; `RUST_LOG`, when set, wins over the level.
pub fn init_with(settings: &LogSettings) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("warn,spark_operator={}", settings.level)));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_timer(settings.time)
        .with_writer(std::io::stderr);
    let _ = match settings.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn formatted(encoding: TimeEncoding) -> String {
        let mut text = String::new();
        encoding.format_time(&mut Writer::new(&mut text)).unwrap();
        text
    }

    #[test]
    fn times_are_written_as_zap_names_them() {
        assert!(formatted(TimeEncoding::Nano).parse::<i128>().unwrap() > 1_600_000_000_000_000_000);
        let epoch: f64 = formatted(TimeEncoding::Epoch).parse().unwrap();
        assert!(epoch > 1.6e9 && epoch < 1e11);
        let millis: f64 = formatted(TimeEncoding::Millis).parse().unwrap();
        assert!(millis > 1.6e12);
        let rfc3339 = formatted(TimeEncoding::Rfc3339);
        assert!(
            rfc3339.ends_with('Z') && !rfc3339.contains('.'),
            "{rfc3339}"
        );
        let iso = formatted(TimeEncoding::Iso8601);
        assert_eq!(iso.split('.').nth(1).map(str::len), Some(4), "{iso}");
    }
}
