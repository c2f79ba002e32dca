//! Label keys and values as Kubernetes validates them.

/// Why a label value would be rejected, if it would.
pub fn label_value_problem(value: &str) -> Option<String> {
    if value.len() > 63 {
        return Some(format!(
            "is {} characters long; a label value has at most 63",
            value.len()
        ));
    }
    if value.is_empty() {
        return None;
    }
    let bytes = value.as_bytes();
    let allowed = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.');
    if !bytes.iter().all(allowed)
        || !bytes[0].is_ascii_alphanumeric()
        || !bytes[bytes.len() - 1].is_ascii_alphanumeric()
    {
        return Some(
            "must consist of letters, digits, '-', '_' or '.', and start and end with a letter or digit"
                .into(),
        );
    }
    None
}

/// Why a label key (`[prefix/]name`) would be rejected, if it would.
pub fn label_key_problem(key: &str) -> Option<String> {
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    if let Some(prefix) = prefix {
        let valid_prefix = !prefix.is_empty()
            && prefix.len() <= 253
            && prefix.split('.').all(|part| {
                !part.is_empty()
                    && part
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                    && !part.starts_with('-')
                    && !part.ends_with('-')
            });
        if !valid_prefix {
            return Some(format!(
                "has prefix {prefix:?}, which is not a lower-case DNS subdomain"
            ));
        }
    }
    if name.is_empty() {
        return Some("has an empty name part".into());
    }
    label_value_problem(name).map(|p| format!("name part {p}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values() {
        for ok in ["", "v1", "a.b_c-d", &"x".repeat(63)] {
            assert_eq!(label_value_problem(ok), None, "{ok}");
        }
        for bad in ["-a", "a-", "a b", "a/b", &"x".repeat(64)] {
            assert!(label_value_problem(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn keys() {
        for ok in ["app", "example.com/team", "a-b.c/d_e"] {
            assert_eq!(label_key_problem(ok), None, "{ok}");
        }
        for bad in ["", "/a", "Example.com/a", "a/", "a b", "x/y/z"] {
            assert!(label_key_problem(bad).is_some(), "{bad}");
        }
    }
}
