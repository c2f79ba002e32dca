//! Sizes and numbers as Spark and Kubeflow read and print them.

/// The memory overhead Spark adds to a non-JVM (Python, R) driver unless a factor is set.
pub const NON_JVM_OVERHEAD_FACTOR: f64 = 0.4;
/// `spark.kubernetes.memoryOverheadFactor`'s default.
pub const JVM_OVERHEAD_FACTOR: f64 = 0.1;
/// `spark.driver.minMemoryOverhead`'s default, in MiB.
pub const MIN_OVERHEAD_MIB: u64 = 384;

const KIB: u64 = 1 << 10;
const MIB: u64 = 1 << 20;

/// A size in Spark's notation (`512m`, `2g`, `1024`) in MiB, as `JavaUtils.byteStringAs` reads it:
/// an integer with an optional unit among b, k, kb, m, mb, g, gb, t, tb, p, pb (any case); a bare
/// number is in `default_unit_bytes`; conversions to a larger unit truncate. `None` for anything
/// else, fractions included.
pub fn size_in_mib(value: &str, default_unit_bytes: u64) -> Option<u64> {
    let lower = value.trim().to_lowercase();
    let digits_end = lower
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(lower.len());
    let (digits, suffix) = lower.split_at(digits_end);
    let number: u64 = digits.parse().ok()?;
    let unit_bytes = match suffix {
        "" => default_unit_bytes,
        "b" => 1,
        "k" | "kb" => KIB,
        "m" | "mb" => MIB,
        "g" | "gb" => MIB << 10,
        "t" | "tb" => MIB << 20,
        "p" | "pb" => MIB << 30,
        _ => return None,
    };
    if unit_bytes >= MIB {
        number.checked_mul(unit_bytes / MIB)
    } else {
        Some(number / (MIB / unit_bytes))
    }
}

/// A size whose bare numbers mean MiB (`spark.driver.memory`, `spark.driver.memoryOverhead`).
pub fn mib(value: &str) -> Option<u64> {
    size_in_mib(value, MIB)
}

/// The driver's memory overhead in MiB: the explicit overhead if set, else
/// `max((int)(factor × memory), minimum)` as Spark computes it.
pub fn memory_overhead_mib(
    memory_mib: u64,
    factor: f64,
    explicit: Option<u64>,
    minimum: u64,
) -> u64 {
    explicit.unwrap_or_else(|| {
        // Spark truncates the product to an int before comparing.
        let scaled = (factor * memory_mib as f64).trunc();
        let scaled = if scaled.is_finite() && scaled > 0.0 {
            scaled as u64
        } else {
            0
        };
        scaled.max(minimum)
    })
}

/// A double as Java's `Double.toString` prints it: `0.1`, `1.0`, `1.0E-4`, `1.0E7`.
pub fn java_double(value: f64) -> String {
    if !value.is_finite() {
        return if value.is_nan() {
            "NaN".into()
        } else if value > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        };
    }
    let magnitude = value.abs();
    if magnitude == 0.0 || (1e-3..1e7).contains(&magnitude) {
        let plain = format!("{value}");
        if plain.contains('.') {
            plain
        } else {
            format!("{plain}.0")
        }
    } else {
        let scientific = format!("{value:e}");
        let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
        let mantissa = if mantissa.contains('.') {
            mantissa.to_string()
        } else {
            format!("{mantissa}.0")
        };
        format!("{mantissa}E{exponent}")
    }
}

/// Kubeflow's conversion of a Java size (`2g`, `512mb`) to a Kubernetes quantity (`2Gi`,
/// `512Mi`); anything else is returned trimmed.
pub fn java_memory_to_quantity(memory: &str) -> String {
    const UNITS: [(&str, &str); 10] = [
        ("kb", "Ki"),
        ("mb", "Mi"),
        ("gb", "Gi"),
        ("tb", "Ti"),
        ("pb", "Pi"),
        ("k", "Ki"),
        ("m", "Mi"),
        ("g", "Gi"),
        ("t", "Ti"),
        ("p", "Pi"),
    ];
    let lower = memory.trim().to_lowercase();
    for (unit, quantity_unit) in UNITS {
        if let Some(number) = lower.strip_suffix(unit) {
            return format!("{number}{quantity_unit}");
        }
    }
    memory.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_as_spark_does() {
        assert_eq!(mib("512m"), Some(512));
        assert_eq!(mib("1g"), Some(1024));
        assert_eq!(mib("2G"), Some(2048));
        assert_eq!(mib("1024"), Some(1024));
        assert_eq!(mib("1536kb"), Some(1));
        assert_eq!(mib(" 3gb "), Some(3072));
        assert_eq!(mib("1t"), Some(1024 * 1024));
        assert_eq!(mib("1.5g"), None);
        assert_eq!(mib("lots"), None);
        assert_eq!(mib("12q"), None);
        assert_eq!(mib(""), None);
    }

    #[test]
    fn overhead_arithmetic() {
        // 1g JVM: max(102, 384) = 384 → 1408Mi in all.
        assert_eq!(
            1024 + memory_overhead_mib(1024, JVM_OVERHEAD_FACTOR, None, MIN_OVERHEAD_MIB),
            1408
        );
        // 1g Python: 0.4 × 1024 = 409.6 → 409.
        assert_eq!(
            memory_overhead_mib(1024, NON_JVM_OVERHEAD_FACTOR, None, MIN_OVERHEAD_MIB),
            409
        );
        // 8g JVM: 819.2 → 819.
        assert_eq!(
            memory_overhead_mib(8192, JVM_OVERHEAD_FACTOR, None, MIN_OVERHEAD_MIB),
            819
        );
        assert_eq!(
            memory_overhead_mib(8192, JVM_OVERHEAD_FACTOR, Some(100), MIN_OVERHEAD_MIB),
            100
        );
    }

    #[test]
    fn doubles_print_as_java_does() {
        assert_eq!(java_double(0.1), "0.1");
        assert_eq!(java_double(0.4), "0.4");
        assert_eq!(java_double(1.0), "1.0");
        assert_eq!(java_double(0.0), "0.0");
        assert_eq!(java_double(0.25), "0.25");
        assert_eq!(java_double(0.0001), "1.0E-4");
        assert_eq!(java_double(12_345_678.0), "1.2345678E7");
    }

    #[test]
    fn java_memory_becomes_a_quantity() {
        assert_eq!(java_memory_to_quantity("2g"), "2Gi");
        assert_eq!(java_memory_to_quantity("512MB"), "512Mi");
        assert_eq!(java_memory_to_quantity(" 3t "), "3Ti");
        assert_eq!(java_memory_to_quantity("1500Mi"), "1500Mi");
    }
}
