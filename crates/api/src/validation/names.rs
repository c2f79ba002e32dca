//! Names that would be refused only later, by a real cluster: a service account's name (a DNS
//! subdomain, checked by the API server when the pod is created) and a container image reference
//! (checked by the kubelet when it pulls: `InvalidImageName`). Both are refused here, at once,
//! with the field named.

/// Why `name` is not a DNS subdomain (RFC 1123, as Kubernetes names most objects), if it is not.
pub fn dns_subdomain_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("is empty".into());
    }
    if name.len() > 253 {
        return Some(format!("is {} characters long; at most 253", name.len()));
    }
    let lower_alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = name.as_bytes();
    let valid = bytes
        .iter()
        .all(|&b| lower_alnum(b) || b == b'-' || b == b'.')
        && lower_alnum(bytes[0])
        && lower_alnum(bytes[bytes.len() - 1])
        && name
            .split('.')
            .all(|label| label.bytes().next().is_some_and(lower_alnum));
    (!valid).then(|| {
        format!(
            "{name:?} is not a valid name: use lower-case letters, digits, '-' and '.', starting and ending with a letter or digit"
        )
    })
}

/// Why `image` is not a container image reference (`[host[:port]/]path[:tag][@digest]`, the
/// grammar container runtimes parse), if it is not.
pub fn image_reference_problem(image: &str) -> Option<String> {
    let why = |reason: &str| {
        Some(format!(
            "{image:?} is not an image reference ({reason}): write [registry/]repository[:tag][@digest], e.g. \"apache/spark:4.0.0\""
        ))
    };
    let (rest, digest) = match image.split_once('@') {
        Some((rest, digest)) => (rest, Some(digest)),
        None => (image, None),
    };
    if let Some(digest) = digest
        && !is_digest(digest)
    {
        return why("the digest is not algorithm:hex");
    }
    let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match rest[last_slash..].rfind(':') {
        Some(colon) => (
            &rest[..last_slash + colon],
            Some(&rest[last_slash + colon + 1..]),
        ),
        None => (rest, None),
    };
    if let Some(tag) = tag
        && !is_tag(tag)
    {
        return why("the tag has characters other than letters, digits, '_', '.' and '-'");
    }
    if name.is_empty() || name.len() > 255 {
        return why("the repository name is empty or longer than 255 characters");
    }
    let mut components = name.split('/').peekable();
    let first = components.peek().copied().unwrap_or_default();
    let has_domain = name.contains('/')
        && (first.contains(['.', ':'])
            || first == "localhost"
            || first.bytes().any(|b| b.is_ascii_uppercase()));
    if has_domain {
        components.next();
        if !is_domain(first) {
            return why("the registry is not a host name with an optional port");
        }
    }
    if !components.all(is_path_component) {
        return why(
            "the repository has characters other than lower-case letters, digits and separators",
        );
    }
    None
}

fn is_tag(tag: &str) -> bool {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let bytes = tag.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 128
        && word(bytes[0])
        && bytes.iter().all(|&b| word(b) || b == b'.' || b == b'-')
}

fn is_digest(digest: &str) -> bool {
    let Some((algorithm, hex)) = digest.split_once(':') else {
        return false;
    };
    let algorithm_ok = algorithm.split(['+', '.', '-', '_']).all(|part| {
        part.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
            && part.bytes().all(|b| b.is_ascii_alphanumeric())
    });
    algorithm_ok && hex.len() >= 32 && hex.bytes().all(|b| b.is_ascii_hexdigit())
}

fn is_domain(domain: &str) -> bool {
    let (host, port) = match domain.strip_prefix('[') {
        Some(bracketed) => match bracketed.split_once(']') {
            Some((ipv6, "")) => return ipv6.parse::<std::net::Ipv6Addr>().is_ok(),
            Some((ipv6, port)) => match port.strip_prefix(':') {
                Some(port) if ipv6.parse::<std::net::Ipv6Addr>().is_ok() => {
                    ("localhost", Some(port))
                }
                _ => return false,
            },
            None => return false,
        },
        None => match domain.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (domain, None),
        },
    };
    if let Some(port) = port
        && (port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()))
    {
        return false;
    }
    !host.is_empty()
        && host.split('.').all(|label| {
            let bytes = label.as_bytes();
            !bytes.is_empty()
                && bytes
                    .iter()
                    .all(|&b| b.is_ascii_alphanumeric() || b == b'-')
                && bytes[0] != b'-'
                && bytes[bytes.len() - 1] != b'-'
        })
}

/// `[a-z0-9]+` joined by `.`, `_`, `__` or runs of `-`.
fn is_path_component(component: &str) -> bool {
    let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = component.as_bytes();
    if bytes.is_empty() || !alnum(&bytes[0]) || !alnum(&bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(&bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(&bytes[i]) {
            i += 1;
        }
        let separator = &component[start..i];
        let allowed = matches!(separator, "." | "_" | "__") || separator.bytes().all(|b| b == b'-');
        if !allowed {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_references_as_container_runtimes_parse_them() {
        for ok in [
            "spark",
            "apache/spark:4.0.0",
            "apache/spark:4.0.0-scala2.13-java17-python3-ubuntu",
            "docker.io/library/spark:latest",
            "localhost:5000/team/spark_job__v2:1",
            "registry.example.com:443/a/b/c@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "gcr.io/spark-operator/spark:v3.1.1",
            "my-registry.local/spark---x:tag",
            "[::1]:5000/spark:1",
            "[::1]/spark",
        ] {
            assert_eq!(image_reference_problem(ok), None, "{ok}");
        }
        for bad in [
            "",
            "Apache/Spark:4",
            "apache/spark:",
            "apache/spark:-x",
            "apache//spark",
            "spark:4.0.0 ",
            "spärk:4",
            "apache/spark@sha256:abc",
            "apache/spark:4:0",
            "bad_host:5000/spark",
            ":4.0",
        ] {
            assert!(image_reference_problem(bad).is_some(), "{bad:?}");
        }
    }

    #[test]
    fn dns_subdomains() {
        for ok in ["spark", "spark-operator", "a.b-c.d", "0x"] {
            assert_eq!(dns_subdomain_problem(ok), None, "{ok}");
        }
        for bad in [
            "",
            "Spark",
            "spark_sa",
            "-a",
            "a-",
            "a..b",
            "sérvice",
            &"a".repeat(254),
        ] {
            assert!(dns_subdomain_problem(bad).is_some(), "{bad}");
        }
    }
}
