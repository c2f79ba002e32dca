//! What a request asks for, in RBAC's terms: the verb from the method and the query, the group,
//! resource, subresource, namespace and name from the path (Kubernetes' RequestInfo rules).

use super::rbac::Attributes;
use crate::server::path::{self, Route};

/// Subresources that open a stream to a pod. Their verb follows the method, as for any request
/// (`create` for SPDY's POST, `get` for a WebSocket upgrade's GET), and since Kubernetes 1.35
/// (`AuthorizePodWebsocketUpgradeCreatePermission`) a GET must be allowed `create` as well
/// ([`also_required`]). `proxy` follows the method alone.
const CONNECT_SUBRESOURCES: &[&str] = &["portforward", "exec", "attach"];

/// What a request must also be allowed beside its own attributes: `create` on a stream
/// subresource opened by a GET.
pub fn also_required(attributes: &Attributes) -> Option<Attributes> {
    let Attributes::Resource {
        verb, subresource, ..
    } = attributes
    else {
        return None;
    };
    let connect = subresource
        .as_deref()
        .is_some_and(|s| CONNECT_SUBRESOURCES.contains(&s));
    if !connect || verb == "create" {
        return None;
    }
    let mut create = attributes.clone();
    if let Attributes::Resource { verb, .. } = &mut create {
        *verb = "create".into();
    }
    Some(create)
}

pub fn of_request(method: &str, path: &str, query: Option<&str>) -> Attributes {
    let non_resource = || Attributes::NonResource {
        verb: method.to_ascii_lowercase(),
        path: path.to_string(),
    };
    let Some(Route::Resource(request)) = path::parse(path) else {
        // Discovery of groups and versions is a non-resource request too.
        return match method {
            "GET" | "HEAD" => Attributes::NonResource {
                verb: "get".into(),
                path: path.to_string(),
            },
            _ => non_resource(),
        };
    };
    let watching = request.watch
        || query
            .unwrap_or_default()
            .split('&')
            .any(|p| p == "watch=true" || p == "watch=1");
    let named = request.name.is_some();
    let verb = match method {
        "GET" | "HEAD" if watching => "watch",
        "GET" | "HEAD" if named => "get",
        "GET" | "HEAD" => "list",
        "POST" => "create",
        "PUT" => "update",
        "PATCH" => "patch",
        "DELETE" if named => "delete",
        "DELETE" => "deletecollection",
        _ => return non_resource(),
    };
    // `/namespaces/NAME` is the namespace itself, which Kubernetes authorizes in its own
    // namespace.
    let namespace = match (request.namespace, request.plural.as_str(), &request.name) {
        (None, "namespaces", Some(name)) => Some(name.clone()),
        (namespace, _, _) => namespace,
    };
    Attributes::Resource {
        verb: verb.into(),
        group: request.group,
        resource: request.plural,
        subresource: request.subresource,
        namespace,
        name: request.name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resource(
        verb: &str,
        group: &str,
        resource: &str,
        subresource: Option<&str>,
        namespace: Option<&str>,
        name: Option<&str>,
    ) -> Attributes {
        Attributes::Resource {
            verb: verb.into(),
            group: group.into(),
            resource: resource.into(),
            subresource: subresource.map(Into::into),
            namespace: namespace.map(Into::into),
            name: name.map(Into::into),
        }
    }

    #[test]
    fn verbs_follow_the_method_the_name_and_watch() {
        let pods = "/api/v1/namespaces/ns/pods";
        assert_eq!(
            of_request("GET", pods, None),
            resource("list", "", "pods", None, Some("ns"), None)
        );
        assert_eq!(
            of_request("GET", pods, Some("labelSelector=a&watch=true")),
            resource("watch", "", "pods", None, Some("ns"), None)
        );
        assert_eq!(
            of_request("GET", "/api/v1/watch/namespaces/ns/pods", None),
            resource("watch", "", "pods", None, Some("ns"), None)
        );
        assert_eq!(
            of_request("POST", pods, None),
            resource("create", "", "pods", None, Some("ns"), None)
        );
        assert_eq!(
            of_request("DELETE", pods, None),
            resource("deletecollection", "", "pods", None, Some("ns"), None)
        );
        assert_eq!(
            of_request("DELETE", "/api/v1/namespaces/ns/pods/p", None),
            resource("delete", "", "pods", None, Some("ns"), Some("p"))
        );
        let status = "/apis/sparkoperator.k8s.io/v1beta2/namespaces/ns/sparkapplications/a/status";
        assert_eq!(
            of_request("PATCH", status, None),
            resource(
                "patch",
                "sparkoperator.k8s.io",
                "sparkapplications",
                Some("status"),
                Some("ns"),
                Some("a")
            )
        );
        assert_eq!(
            of_request(
                "PUT",
                "/apis/coordination.k8s.io/v1/namespaces/ns/leases/l",
                None
            ),
            resource(
                "update",
                "coordination.k8s.io",
                "leases",
                None,
                Some("ns"),
                Some("l")
            )
        );
    }

    #[test]
    fn subresources_namespaces_and_cluster_scope() {
        assert_eq!(
            of_request(
                "GET",
                "/api/v1/namespaces/ns/pods/p/log",
                Some("follow=true")
            ),
            resource("get", "", "pods", Some("log"), Some("ns"), Some("p"))
        );
        let exec = of_request(
            "GET",
            "/api/v1/namespaces/ns/pods/p/exec",
            Some("command=ls"),
        );
        assert_eq!(
            exec,
            resource("get", "", "pods", Some("exec"), Some("ns"), Some("p"))
        );
        assert_eq!(
            also_required(&exec),
            Some(resource(
                "create",
                "",
                "pods",
                Some("exec"),
                Some("ns"),
                Some("p")
            ))
        );
        let spdy = of_request("POST", "/api/v1/namespaces/ns/pods/p/portforward", None);
        assert_eq!(
            spdy,
            resource(
                "create",
                "",
                "pods",
                Some("portforward"),
                Some("ns"),
                Some("p")
            )
        );
        assert_eq!(also_required(&spdy), None);
        let log = of_request("GET", "/api/v1/namespaces/ns/pods/p/log", None);
        assert_eq!(also_required(&log), None);
        assert_eq!(
            of_request("GET", "/api/v1/namespaces/team", None),
            resource("get", "", "namespaces", None, Some("team"), Some("team"))
        );
        assert_eq!(
            of_request(
                "GET",
                "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
                None
            ),
            resource(
                "list",
                "apiextensions.k8s.io",
                "customresourcedefinitions",
                None,
                None,
                None
            )
        );
        assert_eq!(
            of_request(
                "GET",
                "/apis/sparkoperator.k8s.io/v1beta2/sparkapplications",
                None
            ),
            resource(
                "list",
                "sparkoperator.k8s.io",
                "sparkapplications",
                None,
                None,
                None
            )
        );
    }

    #[test]
    fn discovery_is_a_non_resource_request() {
        for path in [
            "/api",
            "/apis",
            "/api/v1",
            "/apis/apps/v1",
            "/version",
            "/openapi/v3",
        ] {
            assert_eq!(
                of_request("GET", path, None),
                Attributes::NonResource {
                    verb: "get".into(),
                    path: path.into()
                },
                "{path}"
            );
        }
    }
}
