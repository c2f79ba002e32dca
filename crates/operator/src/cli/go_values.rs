//! Flag values as Kubeflow's Go operator reads them (pflag): booleans as `strconv.ParseBool`
//! takes them, lists as comma-separated CSV records (so `--namespaces=""`, which Kubeflow's chart
//! renders for "all namespaces", is one empty name), numbers lists, durations and JSON. Each
//! parser's error says what to write instead.

use std::time::Duration;

/// `1`, `t`, `T`, `true`, `TRUE`, `True` and their false counterparts.
pub fn go_bool(value: &str) -> Result<bool, String> {
    match value {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => Err(format!("{value:?} is not a boolean: write true or false")),
    }
}

/// A comma-separated list read as one CSV record: a field in double quotes keeps its commas, and
/// `""` is an empty field. Surrounding spaces are trimmed, as pflag's string slices do not, but
/// as nobody means them.
pub fn string_list(value: &str) -> Vec<String> {
    if value.is_empty() {
        return Vec::new();
    }
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = value.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => fields.push(std::mem::take(&mut field).trim().to_string()),
            c => field.push(c),
        }
    }
    fields.push(field.trim().to_string());
    fields
}

/// A list of names in which an empty name means "all", as Kubeflow's `--namespaces` does: the
/// names, or an empty list for all.
pub fn names_or_all(value: &str) -> Vec<String> {
    let names = string_list(value);
    if names.iter().any(String::is_empty) {
        Vec::new()
    } else {
        names
    }
}

/// Comma-separated numbers (`0.5,1,2`).
pub fn number_list(flag: &str, value: &str) -> Result<Vec<f64>, String> {
    string_list(value)
        .iter()
        .map(|n| {
            n.parse::<f64>()
                .map_err(|_| format!("{flag}: {n:?} is not a number: write e.g. 0.5,1,2,4"))
        })
        .collect()
}

/// A Go duration (`30s`, `5m`, `1h30m`, `0`), naming `flag` when it is not one.
pub fn duration(flag: &str, value: &str) -> Result<Duration, String> {
    crate::duration::parse(value).ok_or_else(|| {
        format!("{flag} {value:?} is not a duration: write it like 15s, 500ms or 1h30m")
    })
}

/// JSON of type `T`, naming `flag` and an example when it is not.
pub fn json<T: serde::de::DeserializeOwned>(
    flag: &str,
    value: &str,
    example: &str,
) -> Result<T, String> {
    serde_json::from_str(value).map_err(|e| {
        format!("{flag}: cannot read {value:?} as JSON ({e}): write it like {example}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans_as_go_reads_them() {
        for yes in ["1", "t", "T", "true", "TRUE", "True"] {
            assert_eq!(go_bool(yes), Ok(true));
        }
        for no in ["0", "f", "F", "false", "FALSE", "False"] {
            assert_eq!(go_bool(no), Ok(false));
        }
        assert!(go_bool("yes").unwrap_err().contains("true or false"));
    }

    #[test]
    fn lists_as_csv_records() {
        assert_eq!(string_list(""), Vec::<String>::new());
        assert_eq!(string_list("a,b"), ["a", "b"]);
        assert_eq!(string_list("\"\""), [""]);
        assert_eq!(string_list("\"a,b\",c"), ["a,b", "c"]);
        assert_eq!(string_list("a, b "), ["a", "b"]);
        assert_eq!(names_or_all("\"\""), Vec::<String>::new());
        assert_eq!(names_or_all("default,\"\""), Vec::<String>::new());
        assert_eq!(names_or_all("default,spark"), ["default", "spark"]);
    }

    #[test]
    fn numbers_durations_and_json_name_the_flag() {
        assert_eq!(number_list("--b", "0.5,1,2"), Ok(vec![0.5, 1.0, 2.0]));
        assert!(number_list("--b", "1,x").unwrap_err().contains("--b"));
        assert_eq!(duration("--d", "6h"), Ok(Duration::from_secs(21600)));
        assert!(duration("--d", "soon").unwrap_err().starts_with("--d"));
        let parsed: std::collections::BTreeMap<String, String> =
            json("--j", r#"{"a":"b"}"#, "{}").unwrap();
        assert_eq!(parsed["a"], "b");
        assert!(
            json::<Vec<String>>("--j", "{", "[]")
                .unwrap_err()
                .starts_with("--j")
        );
    }
}
