//! Typed reads of a SparkConf map, with Spark's defaults and Spark's parsing, so that a bad value
//! is reported as the key it came from.

use std::collections::BTreeMap;

use super::SubmissionError;
use super::units;

/// A read-only view of the SparkConf that spark-submit passes to the driver.
#[derive(Clone, Copy)]
pub struct Settings<'a>(pub &'a BTreeMap<String, String>);

impl<'a> Settings<'a> {
    pub fn get(&self, key: &str) -> Option<&'a str> {
        self.0.get(key).map(String::as_str)
    }

    pub fn contains(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }

    /// Every `prefix<rest>=value` as `rest → value` (Spark's `parsePrefixedKeyValuePairs`).
    pub fn prefixed(&self, prefix: &str) -> BTreeMap<String, String> {
        self.0
            .range(prefix.to_string()..)
            .take_while(|(key, _)| key.starts_with(prefix))
            .map(|(key, value)| (key[prefix.len()..].to_string(), value.clone()))
            .collect()
    }

    pub fn int(&self, key: &str, default: i32) -> Result<i32, SubmissionError> {
        self.parse(key, |value| value.trim().parse().ok(), "an integer")
            .map(|v| v.unwrap_or(default))
    }

    pub fn bool(&self, key: &str, default: bool) -> Result<bool, SubmissionError> {
        let parse = |value: &str| match value.trim().to_lowercase().as_str() {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        };
        self.parse(key, parse, "true or false")
            .map(|v| v.unwrap_or(default))
    }

    pub fn double(&self, key: &str) -> Result<Option<f64>, SubmissionError> {
        let parse = |value: &str| {
            let trimmed = value.trim();
            let number = trimmed
                .strip_suffix(['d', 'D', 'f', 'F'])
                .unwrap_or(trimmed);
            number.parse::<f64>().ok().filter(|n| n.is_finite())
        };
        self.parse(key, parse, "a number")
    }

    /// A size whose bare numbers are MiB, in MiB.
    pub fn mib(&self, key: &str) -> Result<Option<u64>, SubmissionError> {
        self.parse(key, units::mib, "a size such as 512m or 2g (no fractions)")
    }

    /// A comma-separated list, trimmed, blanks dropped.
    pub fn list(&self, key: &str) -> Vec<String> {
        self.get(key)
            .map(|value| {
                value
                    .split(',')
                    .map(str::trim)
                    .filter(|e| !e.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    }

    fn parse<T>(
        &self,
        key: &str,
        parse: impl Fn(&str) -> Option<T>,
        expected: &str,
    ) -> Result<Option<T>, SubmissionError> {
        match self.get(key) {
            None => Ok(None),
            Some(value) => parse(value)
                .map(Some)
                .ok_or_else(|| SubmissionError::InvalidConf {
                    key: key.to_string(),
                    value: value.to_string(),
                    reason: format!("expected {expected}"),
                }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_typed_values_and_reports_bad_ones() {
        let map: BTreeMap<String, String> = [
            ("spark.a.x", "1"),
            ("spark.a.y", "2"),
            ("spark.ab", "3"),
            ("spark.flag", "TRUE"),
            ("spark.factor", "0.2"),
            ("spark.mem", "2g"),
            ("spark.bad", "two"),
            ("spark.list", "a, b,,c"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let settings = Settings(&map);
        assert_eq!(
            settings.prefixed("spark.a."),
            BTreeMap::from([("x".into(), "1".into()), ("y".into(), "2".into())])
        );
        assert!(settings.bool("spark.flag", false).unwrap());
        assert_eq!(settings.double("spark.factor").unwrap(), Some(0.2));
        assert_eq!(settings.mib("spark.mem").unwrap(), Some(2048));
        assert_eq!(settings.int("spark.missing", 7).unwrap(), 7);
        assert_eq!(settings.list("spark.list"), ["a", "b", "c"]);
        let error = settings.int("spark.bad", 0).unwrap_err();
        assert!(error.to_string().contains("spark.bad"), "{error}");
    }
}
