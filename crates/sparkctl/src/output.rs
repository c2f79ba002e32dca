//! How results are shown: aligned tables, ages as kubectl writes them, and colour only on a
//! terminal without `NO_COLOR`.

use std::io::IsTerminal;

use spark_operator_api::ApplicationStateType as State;

/// Colours text when the stream is a terminal and `NO_COLOR` is unset.
pub struct Paint {
    enabled: bool,
}

impl Paint {
    pub fn stdout() -> Self {
        Self::new(std::io::stdout().is_terminal())
    }

    pub fn stderr() -> Self {
        Self::new(std::io::stderr().is_terminal())
    }

    fn new(terminal: bool) -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Self {
            enabled: terminal && !no_color,
        }
    }

    fn wrap(&self, code: &str, text: &str) -> String {
        if self.enabled {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    pub fn error(&self, text: &str) -> String {
        self.wrap("1;31", text)
    }

    pub fn bold(&self, text: &str) -> String {
        self.wrap("1", text)
    }

    /// Green: a state that is where it should be.
    pub fn good(&self, text: &str) -> String {
        self.wrap("32", text)
    }

    /// Yellow: a state on the way.
    pub fn pending(&self, text: &str) -> String {
        self.wrap("33", text)
    }

    /// A state, green when it succeeded, red when it failed, yellow on the way.
    pub fn state(&self, state: State) -> String {
        let text = state_name(state);
        match state {
            State::Completed => self.good(text),
            State::Failed | State::SubmissionFailed | State::Failing => self.error(text),
            _ => self.pending(text),
        }
    }
}

/// The state as Kubeflow writes it, with the empty state shown as NEW.
pub fn state_name(state: State) -> &'static str {
    match state {
        State::New => "NEW",
        other => other.as_str(),
    }
}

/// A table with columns aligned to their widest cell. Widths count characters of the plain text,
/// so colour codes are added after alignment.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let last = cells.len().saturating_sub(1);
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            out.push_str(cell);
            if i < last {
                out.push_str(&" ".repeat(widths[i] - cell.chars().count() + 3));
            }
        }
        out.trim_end().to_string() + "\n"
    };
    let mut out = line(header.to_vec());
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

/// An age as kubectl shows it: `45s`, `3m12s`, `5h`, `2d3h`.
pub fn age(since: jiff::Timestamp, now: jiff::Timestamp) -> String {
    let seconds = (now.as_second() - since.as_second()).max(0);
    match seconds {
        s if s < 120 => format!("{s}s"),
        s if s < 600 => format!("{}m{}s", s / 60, s % 60),
        s if s < 3 * 3600 => format!("{}m", s / 60),
        s if s < 8 * 3600 => format!("{}h{}m", s / 3600, (s % 3600) / 60),
        s if s < 2 * 86400 => format!("{}h", s / 3600),
        s if s < 8 * 86400 => format!("{}d{}h", s / 86400, (s % 86400) / 3600),
        s => format!("{}d", s / 86400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_on_the_widest_cell() {
        let text = table(
            &["NAME", "STATE"],
            &[
                vec!["pi".into(), "RUNNING".into()],
                vec!["word-count".into(), "NEW".into()],
            ],
        );
        assert_eq!(
            text,
            "NAME         STATE\npi           RUNNING\nword-count   NEW\n"
        );
    }

    #[test]
    fn ages_read_like_kubectl() {
        let now = jiff::Timestamp::from_second(1_000_000).unwrap();
        let ago = |s: i64| age(jiff::Timestamp::from_second(1_000_000 - s).unwrap(), now);
        assert_eq!(ago(45), "45s");
        assert_eq!(ago(192), "3m12s");
        assert_eq!(ago(3600), "60m");
        assert_eq!(ago(5 * 3600 + 120), "5h2m");
        assert_eq!(ago(20 * 3600), "20h");
        assert_eq!(ago(2 * 86400 + 3 * 3600), "2d3h");
        assert_eq!(ago(30 * 86400), "30d");
        assert_eq!(ago(-5), "0s", "clock skew shows as zero");
    }

    #[test]
    fn no_colour_off_a_terminal() {
        let paint = Paint::new(false);
        assert_eq!(paint.state(State::Failed), "FAILED");
        assert_eq!(paint.state(State::New), "NEW");
    }
}
