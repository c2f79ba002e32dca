//! Parsing request paths into what they address, with the real API server's rules.

/// What a request path addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `/apis/{group}`
    Group {
        group: String,
    },
    /// `/api/v1`, `/apis/{group}/{version}`
    GroupVersion {
        group: String,
        version: String,
    },
    Resource(ResourcePath),
}

/// `/api/v1/namespaces/{ns}/{plural}/{name}/{subresource}` and its shorter forms.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResourcePath {
    pub group: String,
    pub version: String,
    pub namespace: Option<String>,
    pub plural: String,
    pub name: Option<String>,
    pub subresource: Option<String>,
    /// The deprecated `/watch/` prefix form.
    pub watch: bool,
}

/// Subresources of namespaces, which `/namespaces/{name}/{x}` means instead of a resource `x`.
const NAMESPACE_SUBRESOURCES: [&str; 2] = ["status", "finalize"];

pub fn parse(path: &str) -> Option<Route> {
    let segments: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let (group, version, rest) = match segments.as_slice() {
        ["api", version, rest @ ..] => ("", *version, rest),
        ["apis", group] => {
            return Some(Route::Group {
                group: group.to_string(),
            });
        }
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        _ => return None,
    };
    let mut request = ResourcePath {
        group: group.into(),
        version: version.into(),
        ..ResourcePath::default()
    };
    let mut rest = rest;
    if let ["watch", tail @ ..] = rest {
        request.watch = true;
        rest = tail;
    }
    if rest.is_empty() {
        return (!request.watch).then(|| Route::GroupVersion {
            group: group.into(),
            version: version.into(),
        });
    }
    if let ["namespaces", namespace, tail @ ..] = rest
        && !tail.is_empty()
        && !NAMESPACE_SUBRESOURCES.contains(&tail[0])
    {
        request.namespace = Some(namespace.to_string());
        rest = tail;
    }
    match rest {
        [plural] => request.plural = plural.to_string(),
        [plural, name] => {
            request.plural = plural.to_string();
            request.name = Some(name.to_string());
        }
        [plural, name, subresource] => {
            request.plural = plural.to_string();
            request.name = Some(name.to_string());
            request.subresource = Some(subresource.to_string());
        }
        // The proxy subresource takes the rest of the path, for the pod.
        [plural, name, "proxy", ..] => {
            request.plural = plural.to_string();
            request.name = Some(name.to_string());
            request.subresource = Some("proxy".into());
        }
        _ => return None,
    }
    Some(Route::Resource(request))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resource(path: &str) -> ResourcePath {
        match parse(path) {
            Some(Route::Resource(r)) => r,
            other => panic!("{path}: {other:?}"),
        }
    }

    #[test]
    fn namespaced_and_cluster_paths() {
        let pod = resource("/api/v1/namespaces/ns/pods/p/status");
        assert_eq!(
            (
                pod.namespace.as_deref(),
                pod.plural.as_str(),
                pod.name.as_deref(),
                pod.subresource.as_deref()
            ),
            (Some("ns"), "pods", Some("p"), Some("status"))
        );
        let all = resource("/apis/apps/v1/deployments");
        assert_eq!(
            (all.group.as_str(), all.namespace, all.name),
            ("apps", None, None)
        );
        let list = resource("/api/v1/namespaces/ns/configmaps");
        assert_eq!(
            (list.namespace.as_deref(), list.plural.as_str()),
            (Some("ns"), "configmaps")
        );
    }

    #[test]
    fn namespaces_themselves() {
        let ns = resource("/api/v1/namespaces/team");
        assert_eq!(
            (ns.plural.as_str(), ns.name.as_deref(), ns.namespace),
            ("namespaces", Some("team"), None)
        );
        let finalize = resource("/api/v1/namespaces/team/finalize");
        assert_eq!(
            (finalize.plural.as_str(), finalize.subresource.as_deref()),
            ("namespaces", Some("finalize"))
        );
        assert_eq!(resource("/api/v1/namespaces").plural, "namespaces");
    }

    #[test]
    fn discovery_and_watch_paths() {
        assert_eq!(
            parse("/api/v1"),
            Some(Route::GroupVersion {
                group: "".into(),
                version: "v1".into()
            })
        );
        assert_eq!(
            parse("/apis/batch"),
            Some(Route::Group {
                group: "batch".into()
            })
        );
        assert!(resource("/api/v1/watch/namespaces/ns/pods").watch);
        assert_eq!(parse("/healthz"), None);
        assert_eq!(parse("/api/v1/namespaces/ns/pods/p/log/extra"), None);
        let proxied = resource("/api/v1/namespaces/ns/services/ui:4040/proxy/jobs/");
        assert_eq!(
            (proxied.name.as_deref(), proxied.subresource.as_deref()),
            (Some("ui:4040"), Some("proxy"))
        );
    }
}
