//! Java `.properties` files as `java.util.Properties.store(Writer, comment)` writes them (the
//! driver's `spark.properties`), and reading them back.
//!
//! Spark writes through a `Writer`, so characters outside ASCII are written as they are (UTF-8 in
//! the ConfigMap) rather than as `\uXXXX`; keys escape every space, values only a leading one.

use std::collections::BTreeMap;

use encoding_rs::UTF_8;
use java_properties::PropertiesIter;

/// The file `Properties.store` writes for `entries`: the comment line, a date line, then one
/// `key=value` line per entry, sorted by key (Java's own order is that of a hash table).
pub fn write(entries: &BTreeMap<String, String>, comment: &str, date: &str) -> String {
    let mut out = String::new();
    write_comment(&mut out, comment);
    write_comment(&mut out, date);
    for (key, value) in entries {
        escape_into(&mut out, key, true);
        out.push('=');
        escape_into(&mut out, value, false);
        out.push('\n');
    }
    out
}

/// Reads a properties file (UTF-8) the way `Properties.load(Reader)` does.
pub fn parse(text: &str) -> Result<BTreeMap<String, String>, java_properties::PropertiesError> {
    let mut entries = BTreeMap::new();
    PropertiesIter::new_with_encoding(text.as_bytes(), UTF_8).read_into(|key, value| {
        entries.insert(key, value);
    })?;
    Ok(entries)
}

/// `Date.toString()` in UTC, the second comment line of a stored properties file.
pub fn java_date(unix_millis: i64) -> String {
    jiff::Timestamp::from_millisecond(unix_millis)
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        .to_zoned(jiff::tz::TimeZone::UTC)
        .strftime("%a %b %d %H:%M:%S UTC %Y")
        .to_string()
}

fn write_comment(out: &mut String, comment: &str) {
    out.push('#');
    let mut chars = comment.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            // A line break in a comment starts a new comment line, as in Java.
            '\r' | '\n' => {
                if c == '\r' && chars.peek() == Some(&'\n') {
                    chars.next();
                }
                out.push('\n');
                if !matches!(chars.peek(), Some('#') | Some('!')) {
                    out.push('#');
                }
            }
            c if (c as u32) > 0xff => {
                // Java escapes characters beyond Latin-1 in comments even when writing to a Writer.
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04X}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('\n');
}

fn escape_into(out: &mut String, text: &str, escape_every_space: bool) {
    for (i, c) in text.chars().enumerate() {
        match c {
            '\\' => out.push_str("\\\\"),
            ' ' if i == 0 || escape_every_space => out.push_str("\\ "),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\x0c' => out.push_str("\\f"),
            '=' | ':' | '#' | '!' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn writes_java_escapes() {
        let text = write(
            &entries(&[
                ("spark.master", "k8s://https://10.0.0.1:443"),
                ("spark.driver.extraJavaOptions", " -Da=b -Dc=d"),
                ("key with space", "tab\there#!"),
                ("spark.path", "C:\\dir"),
            ]),
            "Java properties built from Kubernetes config map with name: spark-drv-1-conf-map",
            "Mon Nov 24 07:45:00 UTC 2025",
        );
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "#Java properties built from Kubernetes config map with name: spark-drv-1-conf-map",
                "#Mon Nov 24 07:45:00 UTC 2025",
                "key\\ with\\ space=tab\\there\\#\\!",
                "spark.driver.extraJavaOptions=\\ -Da\\=b -Dc\\=d",
                "spark.master=k8s\\://https\\://10.0.0.1\\:443",
                "spark.path=C\\:\\\\dir",
            ]
        );
    }

    #[test]
    fn round_trips_every_awkward_character() {
        let original = entries(&[
            ("spark.master", "k8s://https://127.0.0.1:6443"),
            ("a key", "  leading spaces, inner = and : and # and !"),
            ("multi", "line one\nline two\r\n\tand a tab\x0c"),
            ("unicode", "Grüße, 東京 🚀"),
            ("backslash\\key", "C:\\path\\"),
            ("empty", ""),
        ]);
        let text = write(&original, "comment", "date");
        assert_eq!(parse(&text).unwrap(), original);
    }

    #[test]
    fn parses_files_written_by_hand() {
        let text = "# comment\n! other comment\nspark.a = 1\nspark.b:2\nspark.c 3\nspark.d=long \\\n    value\n";
        let parsed = parse(text).unwrap();
        assert_eq!(parsed["spark.a"], "1");
        assert_eq!(parsed["spark.b"], "2");
        assert_eq!(parsed["spark.c"], "3");
        assert_eq!(parsed["spark.d"], "long value");
    }

    #[test]
    fn comments_escape_line_breaks_and_wide_characters() {
        let text = write(&BTreeMap::new(), "first\nsecond 東", "date");
        assert_eq!(text, "#first\n#second \\u6771\n#date\n");
    }

    #[test]
    fn dates_print_as_java_does() {
        assert_eq!(java_date(1_764_000_000_000), "Mon Nov 24 16:00:00 UTC 2025");
    }
}
