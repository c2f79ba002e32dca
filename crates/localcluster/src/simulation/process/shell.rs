//! The words of a `bash -c` command line, as far as the runtime needs to read one: a container
//! that starts Spark through a shell (the Spark Connect server) names its Spark options in the
//! script, and the runtime reads them (`--conf key=value`) and rewrites their paths without
//! running anything. Quoting is bash's: single quotes, double quotes and backslashes; `$VAR`,
//! `${...}` and `$(...)` (nested, with quotes inside) are kept as written and make their word
//! one the runtime leaves alone.

/// One word of a command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    /// As written, quotes included.
    pub raw: String,
    /// Its value once the quotes are removed, when it has no expansion (`$...`, backquotes);
    /// `None` otherwise.
    pub literal: Option<String>,
}

/// The words of `script`, split where bash splits them (unquoted blanks).
pub fn words(script: &str) -> Vec<Word> {
    let chars: Vec<char> = script.chars().collect();
    let mut words = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        let mut value = String::new();
        let mut literal = true;
        while i < chars.len() && !chars[i].is_whitespace() {
            match chars[i] {
                '\'' => {
                    i += 1;
                    while i < chars.len() && chars[i] != '\'' {
                        value.push(chars[i]);
                        i += 1;
                    }
                    i += 1;
                }
                '"' => {
                    i += 1;
                    while i < chars.len() && chars[i] != '"' {
                        match chars[i] {
                            '\\' if i + 1 < chars.len()
                                && matches!(chars[i + 1], '$' | '`' | '"' | '\\') =>
                            {
                                value.push(chars[i + 1]);
                                i += 2;
                            }
                            '$' | '`' => {
                                literal = false;
                                i = past_expansion(&chars, i);
                            }
                            c => {
                                value.push(c);
                                i += 1;
                            }
                        }
                    }
                    i += 1;
                }
                '\\' => {
                    if let Some(next) = chars.get(i + 1) {
                        value.push(*next);
                    }
                    i += 2;
                }
                '$' | '`' => {
                    literal = false;
                    i = past_expansion(&chars, i);
                }
                c => {
                    if matches!(c, ';' | '&' | '|' | '<' | '>' | '(' | ')') {
                        literal = false;
                    }
                    value.push(c);
                    i += 1;
                }
            }
        }
        let end = i.min(chars.len());
        words.push(Word {
            raw: chars[start..end].iter().collect(),
            literal: literal.then_some(value),
        });
    }
    words
}

/// The index just past the expansion starting at `chars[start]` (`$NAME`, `${...}`, `$(...)`,
/// `` `...` ``).
fn past_expansion(chars: &[char], start: usize) -> usize {
    let (open, close) = match (chars[start], chars.get(start + 1)) {
        ('`', _) => {
            let end = chars[start + 1..]
                .iter()
                .position(|c| *c == '`')
                .map_or(chars.len(), |p| start + 1 + p + 1);
            return end;
        }
        ('$', Some('(')) => ('(', ')'),
        ('$', Some('{')) => ('{', '}'),
        _ => {
            let name = chars[start + 1..]
                .iter()
                .take_while(|c| c.is_ascii_alphanumeric() || **c == '_')
                .count();
            return start + 1 + name.max(1);
        }
    };
    let mut depth = 0;
    let mut i = start + 1;
    while i < chars.len() {
        match chars[i] {
            '\'' if open == '(' => {
                i += 1;
                while i < chars.len() && chars[i] != '\'' {
                    i += 1;
                }
            }
            '\\' => i += 1,
            c if c == open => depth += 1,
            c if c == close => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    chars.len()
}

/// `text` as one single-quoted shell word.
pub fn quoted(text: &str) -> String {
    format!("'{}'", text.replace('\'', r#"'"'"'"#))
}

/// The `--conf key=value` options among `words` whose value is literal, in order.
pub fn conf_options(words: &[Word]) -> Vec<(String, String)> {
    words
        .windows(2)
        .filter(|pair| pair[0].literal.as_deref() == Some("--conf"))
        .filter_map(|pair| {
            let (key, value) = pair[1].literal.as_deref()?.split_once('=')?;
            Some((key.to_string(), value.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn literals(script: &str) -> Vec<Option<String>> {
        words(script).into_iter().map(|w| w.literal).collect()
    }

    #[test]
    fn quotes_and_escapes_are_removed_from_literal_words() {
        assert_eq!(
            literals(r#"a 'b c' "d\"e" f\ g 'it'"'"'s'"#),
            [
                Some("a".into()),
                Some("b c".into()),
                Some("d\"e".into()),
                Some("f g".into()),
                Some("it's".into())
            ]
        );
    }

    #[test]
    fn expansions_stay_one_word_as_written() {
        let script = r#"${SPARK_HOME}/sbin/start.sh --conf spark.driver.host=$(host=${POD_IP}; if [[ $host == *:* ]] && [[ $host != \[* ]]; then echo "[$host]"; else echo "$host"; fi) --conf 'k=v'"#;
        let split = words(script);
        assert_eq!(split.len(), 5, "{split:?}");
        assert_eq!(split[0].raw, "${SPARK_HOME}/sbin/start.sh");
        assert_eq!(split[0].literal, None);
        assert!(split[2].raw.starts_with("spark.driver.host=$(host="));
        assert!(split[2].raw.ends_with("fi)"));
        assert_eq!(split[2].literal, None);
        assert_eq!(conf_options(&split), [("k".to_string(), "v".to_string())]);
        assert_eq!(literals("$HOME x `date`"), [None, Some("x".into()), None]);
    }

    #[test]
    fn quoting_gives_the_text_back() {
        for text in ["plain", "it's", "a b", "$(x)"] {
            assert_eq!(words(&quoted(text))[0].literal.as_deref(), Some(text));
        }
    }
}
