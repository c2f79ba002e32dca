//! The logging flags of `controller start` and `webhook start`: ours, and Kubeflow's zap flags
//! (controller-runtime's) as aliases with zap's meaning, so that the arguments of Kubeflow's
//! chart and kustomize files work unchanged.

use clap::Args;

use super::go_values::go_bool;
use crate::telemetry::{LogFormat, LogSettings, TimeEncoding};

#[derive(Debug, Clone, Args)]
pub struct LoggingFlags {
    /// error, warn, info, debug or trace; zap's `panic` is error, and a number N > 0 (zap's
    /// debug verbosity) is debug for 1 and trace above. Default: info (debug with --zap-devel).
    #[arg(long, visible_alias = "zap-log-level", value_parser = log_level)]
    pub log_level: Option<String>,
    /// text or json (`console` is text). Default: text.
    #[arg(long, visible_alias = "zap-encoder", value_enum)]
    pub log_format: Option<LogFormat>,
    /// zap's development mode: debug level and text unless the flags above say otherwise.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_parser = go_bool)]
    pub zap_devel: Option<bool>,
    /// How times are written: epoch, millis, nano, iso8601, rfc3339 or rfc3339nano.
    #[arg(long, value_enum)]
    pub zap_time_encoding: Option<TimeEncoding>,
    /// Accepted for Kubeflow's arguments and ignored: Rust errors carry their causes, not stack
    /// traces (info, error or panic).
    #[arg(long, value_parser = ["info", "error", "panic"])]
    pub zap_stacktrace_level: Option<String>,
}

/// A level of ours or of zap's, as ours.
fn log_level(value: &str) -> Result<String, String> {
    let level = match value.to_ascii_lowercase().as_str() {
        "trace" => "trace",
        "debug" => "debug",
        "info" => "info",
        "warn" | "warning" => "warn",
        "error" | "dpanic" | "panic" | "fatal" => "error",
        other => match other.parse::<u32>() {
            Ok(1) => "debug",
            Ok(n) if n > 1 => "trace",
            _ => {
                return Err(format!(
                    "{value:?} is not a log level: use error, warn, info, debug, trace, or a zap verbosity 1, 2, ..."
                ));
            }
        },
    };
    Ok(level.to_string())
}

impl LoggingFlags {
    pub fn settings(&self) -> LogSettings {
        let devel = self.zap_devel == Some(true);
        LogSettings {
            level: self
                .log_level
                .clone()
                .unwrap_or_else(|| if devel { "debug" } else { "info" }.into()),
            format: self.log_format.unwrap_or_default(),
            time: self.zap_time_encoding.unwrap_or_default(),
        }
    }

    /// The flags given that change nothing here, for the one log line that says so.
    pub fn ignored(&self) -> Vec<String> {
        self.zap_stacktrace_level
            .iter()
            .map(|level| format!("--zap-stacktrace-level={level}"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        logging: LoggingFlags,
    }

    fn settings(args: &[&str]) -> Result<LogSettings, String> {
        let mut all = vec!["test"];
        all.extend_from_slice(args);
        Cli::try_parse_from(all)
            .map(|cli| cli.logging.settings())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn kubeflows_zap_flags_mean_what_zap_makes_of_them() {
        let kubeflow = settings(&["--zap-log-level=info", "--zap-encoder=console"]).unwrap();
        assert_eq!(
            (kubeflow.level.as_str(), kubeflow.format),
            ("info", LogFormat::Text)
        );
        let json = settings(&["--zap-log-level=error", "--zap-encoder=json"]).unwrap();
        assert_eq!(
            (json.level.as_str(), json.format),
            ("error", LogFormat::Json)
        );
        assert_eq!(settings(&["--zap-devel"]).unwrap().level, "debug");
        assert_eq!(
            settings(&["--zap-devel=true", "--zap-log-level=info"])
                .unwrap()
                .level,
            "info"
        );
        assert_eq!(settings(&["--zap-log-level=2"]).unwrap().level, "trace");
        assert_eq!(
            settings(&["--zap-time-encoding=rfc3339nano"]).unwrap().time,
            TimeEncoding::Rfc3339nano
        );
        assert_eq!(settings(&[]).unwrap().level, "info");
        assert_eq!(
            settings(&["--log-level=warn", "--log-format=json"])
                .unwrap()
                .format,
            LogFormat::Json
        );
    }

    #[test]
    fn bad_values_are_refused_with_the_choices() {
        let error = settings(&["--zap-log-level=loud"]).unwrap_err();
        assert!(error.contains("is not a log level"), "{error}");
        assert!(settings(&["--zap-encoder=xml"]).is_err());
        assert!(settings(&["--zap-stacktrace-level=debug"]).is_err());
    }
}
