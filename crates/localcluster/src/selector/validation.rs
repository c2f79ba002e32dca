//! Label key and value syntax, with the API server's error wording.

const NAME_MAX_LEN: usize = 63;
const PREFIX_MAX_LEN: usize = 253;

const QUALIFIED_NAME_HINT: &str = "must consist of alphanumeric characters, '-', '_' or '.', and must start \
     and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for \
     validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";

const LABEL_VALUE_HINT: &str = "a valid label must be an empty string or consist of alphanumeric characters, \
     '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  \
     or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

const DNS_SUBDOMAIN_HINT: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric \
     characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex \
     used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`
fn is_qualified_name_part(s: &str) -> bool {
    let bytes = s.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => {
            first.is_ascii_alphanumeric()
                && last.is_ascii_alphanumeric()
                && bytes
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        }
        _ => false,
    }
}

fn is_dns1123_label(s: &str) -> bool {
    let bytes = s.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => {
            is_lower_alnum(*first)
                && is_lower_alnum(*last)
                && bytes.iter().all(|b| is_lower_alnum(*b) || *b == b'-')
        }
        _ => false,
    }
}

fn is_lower_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

fn dns1123_subdomain_errors(s: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if s.len() > PREFIX_MAX_LEN {
        errors.push(format!("must be no more than {PREFIX_MAX_LEN} characters"));
    }
    if !s.split('.').all(is_dns1123_label) {
        errors.push(DNS_SUBDOMAIN_HINT.to_string());
    }
    errors
}

/// The problems of a label key (`[prefix/]name`), empty when it is valid.
pub(super) fn label_key_errors(key: &str) -> Vec<String> {
    let mut errors = Vec::new();
    let parts: Vec<&str> = key.split('/').collect();
    let name = match parts.as_slice() {
        [name] => *name,
        [prefix, name] => {
            if prefix.is_empty() {
                errors.push("prefix part must be non-empty".to_string());
            } else {
                errors.extend(
                    dns1123_subdomain_errors(prefix)
                        .into_iter()
                        .map(|e| format!("prefix part {e}")),
                );
            }
            *name
        }
        _ => {
            return vec![format!(
                "a qualified name {QUALIFIED_NAME_HINT} with an optional DNS subdomain prefix and '/' (e.g. \
                 'example.com/MyName')"
            )];
        }
    };
    if name.is_empty() {
        errors.push("name part must be non-empty".to_string());
    } else if name.len() > NAME_MAX_LEN {
        errors.push(format!(
            "name part must be no more than {NAME_MAX_LEN} characters"
        ));
    }
    if !name.is_empty() && !is_qualified_name_part(name) {
        errors.push(format!("name part {QUALIFIED_NAME_HINT}"));
    }
    errors
}

/// The problems of a label value, empty when it is valid.
pub(super) fn label_value_errors(value: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if value.len() > NAME_MAX_LEN {
        errors.push(format!("must be no more than {NAME_MAX_LEN} characters"));
    }
    if !value.is_empty() && !is_qualified_name_part(value) {
        errors.push(LABEL_VALUE_HINT.to_string());
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        assert!(label_key_errors("app").is_empty());
        assert!(label_key_errors("app.kubernetes.io/name").is_empty());
        assert!(label_key_errors("sparkoperator.k8s.io/app-name").is_empty());
        assert!(label_key_errors("A_b.c-D").is_empty());
        assert_eq!(
            label_key_errors("/name"),
            vec!["prefix part must be non-empty"]
        );
        assert_eq!(
            label_key_errors("example.com/"),
            vec!["name part must be non-empty"]
        );
        assert!(
            label_key_errors("Example.com/x")[0]
                .starts_with("prefix part a lowercase RFC 1123 subdomain")
        );
        assert!(label_key_errors("-a")[0].starts_with("name part must consist of"));
        assert!(label_key_errors("a/b/c")[0].starts_with("a qualified name must consist"));
        assert_eq!(
            label_key_errors(&"x".repeat(64)),
            vec!["name part must be no more than 63 characters"]
        );
    }

    #[test]
    fn values() {
        assert!(label_value_errors("").is_empty());
        assert!(label_value_errors("v1.2_3-x").is_empty());
        assert!(label_value_errors("a b")[0].starts_with("a valid label must be an empty string"));
        assert!(label_value_errors("a-")[0].starts_with("a valid label"));
        assert_eq!(
            label_value_errors(&"x".repeat(64)),
            vec!["must be no more than 63 characters"]
        );
    }
}
