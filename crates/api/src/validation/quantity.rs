//! The two size languages of a SparkApplication: Kubernetes quantities (`coreLimit: 500m`,
//! `memoryLimit: 2Gi`) and Spark's byte strings (`memory: 512m`, which means MiB).

/// The value of a Kubernetes quantity (`1.5`, `500m`, `2Gi`, `1e3`), or None if Kubernetes would
/// reject it.
pub fn parse_kubernetes_quantity(text: &str) -> Option<f64> {
    let text = text.trim();
    let number_end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(number_end);
    let unsigned = number.strip_prefix(['+', '-']).unwrap_or(number);
    let valid_number = !unsigned.is_empty()
        && unsigned != "."
        && unsigned.chars().all(|c| c.is_ascii_digit() || c == '.')
        && unsigned.matches('.').count() <= 1;
    if !valid_number {
        return None;
    }
    let value: f64 = number.parse().ok()?;
    let multiplier = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024f64,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        exponent => {
            let digits = exponent.strip_prefix(['e', 'E'])?;
            let digits_only = digits.strip_prefix(['+', '-']).unwrap_or(digits);
            if digits_only.is_empty() || !digits_only.chars().all(|c| c.is_ascii_digit()) {
                return None;
            }
            10f64.powi(digits.parse().ok()?)
        }
    };
    Some(value * multiplier)
}

/// MiB in a Spark byte string (`512m`, `2g`, `1024k`, `1t`; no suffix means MiB, as for
/// `spark.driver.memory`), or None if Spark would reject it.
pub fn parse_spark_size_mib(text: &str) -> Option<u64> {
    let lower = text.trim().to_ascii_lowercase();
    let digits_end = lower
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(lower.len());
    let (digits, unit) = lower.split_at(digits_end);
    let value: u64 = digits.parse().ok()?;
    let kib = 1024u64;
    let bytes_per_unit: u64 = match unit {
        "" | "m" | "mb" => kib * kib,
        "b" => 1,
        "k" | "kb" => kib,
        "g" | "gb" => kib.pow(3),
        "t" | "tb" => kib.pow(4),
        "p" | "pb" => kib.pow(5),
        _ => return None,
    };
    Some(value.checked_mul(bytes_per_unit)? / (kib * kib))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubernetes_quantities() {
        assert_eq!(parse_kubernetes_quantity("500m"), Some(0.5));
        assert_eq!(parse_kubernetes_quantity("2"), Some(2.0));
        assert_eq!(parse_kubernetes_quantity("1.5"), Some(1.5));
        assert_eq!(parse_kubernetes_quantity("1Gi"), Some(1024f64.powi(3)));
        assert_eq!(parse_kubernetes_quantity("1e3"), Some(1000.0));
        for bad in ["", "512x", "abc", "1..2", "m", "1 Gi", "1gi", "."] {
            assert_eq!(parse_kubernetes_quantity(bad), None, "{bad}");
        }
    }

    #[test]
    fn spark_sizes() {
        assert_eq!(parse_spark_size_mib("512m"), Some(512));
        assert_eq!(parse_spark_size_mib("1g"), Some(1024));
        assert_eq!(parse_spark_size_mib("2G"), Some(2048));
        assert_eq!(parse_spark_size_mib("1024"), Some(1024));
        assert_eq!(parse_spark_size_mib("2048k"), Some(2));
        for bad in ["", "512x", "1.5g", "g", "-1g", "1 g"] {
            assert_eq!(parse_spark_size_mib(bad), None, "{bad}");
        }
    }
}
