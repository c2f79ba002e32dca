//! The REST verbs of resource paths, translated onto [`Cluster`].

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde_json::{Value, json};

use super::metadata::{self, MetadataForm};
use super::path::{self, ResourcePath, Route};
use super::pod_log;
use super::protobuf;
use super::table::{self, IncludeObject};
use super::{AppState, discovery};
use crate::error::ApiError;
use crate::kinds::ResourceType;
use crate::registry::{
    Cluster, DeleteOptions, Deletion, ListOptions, Patch, Propagation, WatchFrame, WatchOptions,
    WriteOptions, delete_answer,
};

/// Larger bodies are refused (the biggest CRDs are around 1 MiB).
const MAX_BODY_BYTES: usize = 64 << 20;

/// Query parameters of one request.
struct Query(Vec<(String, String)>);

impl Query {
    fn parse(uri: &Uri) -> Result<Self, ApiError> {
        let text = uri.query().unwrap_or_default();
        serde_urlencoded::from_str(text)
            .map(Query)
            .map_err(|e| ApiError::bad_request(format!("invalid query: {e}")))
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn flag(&self, key: &str) -> Option<bool> {
        self.get(key).map(|v| v == "true" || v == "1")
    }

    fn number(&self, key: &str) -> Result<Option<i64>, ApiError> {
        self.get(key)
            .filter(|v| !v.is_empty())
            .map(|v| {
                v.parse()
                    .map_err(|_| ApiError::bad_request(format!("invalid value for {key}: {v:?}")))
            })
            .transpose()
    }

    fn dry_run(&self) -> bool {
        self.0.iter().any(|(k, v)| k == "dryRun" && !v.is_empty())
    }
}

pub fn json_response(code: StatusCode, body: &Value) -> Response {
    let bytes = super::encode::body(body);
    (code, [(header::CONTENT_TYPE, "application/json")], bytes).into_response()
}

pub fn error_response(error: &ApiError) -> Response {
    let code = StatusCode::from_u16(error.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json_response(code, &error.to_status())
}

fn success_status(code: u16) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": code})
}

/// Everything under `/api/...` and `/apis/...`.
pub async fn handle(State(state): State<AppState>, request: Request) -> Response {
    let (mut parts, body) = request.into_parts();
    let wants_websocket = parts
        .headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    let websocket = if wants_websocket {
        WebSocketUpgrade::from_request_parts(&mut parts, &state)
            .await
            .ok()
    } else {
        None
    };
    let spdy = super::portforward::spdy_upgrade(&parts.headers, &mut parts.extensions);
    let body = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(body) => body,
        Err(_) => {
            return error_response(&ApiError::bad_request(
                "the request body is too large or was cut off",
            ));
        }
    };
    match dispatch(
        &state,
        (websocket, spdy),
        &parts.method,
        &parts.uri,
        &parts.headers,
        body,
    )
    .await
    {
        Ok(response) => response,
        Err(error) => error_response(&error),
    }
}

/// A WebSocket upgrade, and an `Upgrade: SPDY/3.1` one, that a request asked for.
type Upgrades = (Option<WebSocketUpgrade>, Option<hyper::upgrade::OnUpgrade>);

async fn dispatch(
    state: &AppState,
    (websocket, spdy): Upgrades,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let kinds = state.cluster.kinds();
    let route = path::parse(uri.path()).ok_or_else(ApiError::no_route)?;
    let request = match route {
        Route::Group { group } => {
            let document = discovery::group(kinds, &group).ok_or_else(ApiError::no_route)?;
            return Ok(json_response(StatusCode::OK, &document));
        }
        Route::GroupVersion { group, version } => {
            let document =
                discovery::resource_list(kinds, &group, &version).ok_or_else(ApiError::no_route)?;
            return Ok(json_response(StatusCode::OK, &document));
        }
        Route::Resource(request) => request,
    };
    let resource = kinds
        .lookup(&request.group, &request.version, &request.plural)
        .ok_or_else(ApiError::no_route)?;
    if let Some(subresource) = &request.subresource
        && !resource.has_subresource(subresource)
    {
        return Err(ApiError::no_route());
    }
    if request.subresource.as_deref() == Some("proxy") {
        return super::proxy::serve(&state.cluster, &request, method, uri, headers, body).await;
    }
    let query = Query::parse(uri)?;
    if request.subresource.as_deref() == Some("portforward")
        && let Some(name) = request.name.as_deref()
    {
        let namespace = request.namespace.as_deref().unwrap_or_default();
        return super::portforward::serve(
            &state.cluster,
            namespace,
            name,
            query.get("ports"),
            websocket,
            spdy,
        );
    }
    if let (Some("exec" | "attach"), Some(name)) =
        (request.subresource.as_deref(), request.name.as_deref())
    {
        let action = match request.subresource.as_deref() {
            Some("exec") => super::remotecommand::Action::Exec,
            _ => super::remotecommand::Action::Attach,
        };
        let streaming = super::remotecommand::Request {
            action,
            namespace: request.namespace.as_deref().unwrap_or_default(),
            name,
            query: &query.0,
            headers,
        };
        return super::remotecommand::serve(&state.cluster, &streaming, websocket);
    }
    let call = Call {
        cluster: &state.cluster,
        resource: &resource,
        request: &request,
        query: &query,
        headers,
    };
    if request.subresource.as_deref() == Some("scale")
        && let Some(name) = request.name.as_deref()
    {
        return call.scale(method, name, body).await;
    }
    match (method, request.name.as_deref()) {
        (&Method::GET, None) if request.watch || query.flag("watch") == Some(true) => {
            call.watch(websocket)
        }
        (&Method::GET, None) => call.list(),
        (&Method::GET, Some(name)) => call.get(name),
        (&Method::POST, None) => call.create(body).await,
        (&Method::POST, Some(name)) => call.post_subresource(name, body).await,
        (&Method::PUT, Some(name)) => call.update(name, body).await,
        (&Method::PATCH, Some(name)) => call.patch(name, body).await,
        (&Method::DELETE, Some(name)) => call.delete(name, body).await,
        (&Method::DELETE, None) => call.delete_collection(body).await,
        _ => Err(ApiError::method_not_allowed(format!(
            "the server does not allow this method on the requested resource ({method})"
        ))),
    }
}

struct Call<'a> {
    cluster: &'a Cluster,
    resource: &'a Arc<ResourceType>,
    request: &'a ResourcePath,
    query: &'a Query,
    headers: &'a HeaderMap,
}

fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_else(|| "application/json".into())
}

fn decode_json(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("error decoding the body: {e}")))
}

fn decode_yaml(body: &[u8]) -> Result<Value, ApiError> {
    serde_yaml::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))
}

/// A create or update body: JSON, YAML, or the protobuf of the few kinds typed clients create.
fn decode_object(headers: &HeaderMap, body: &[u8]) -> Result<Value, ApiError> {
    match content_type(headers).as_str() {
        "application/yaml" => decode_yaml(body),
        "application/json" | "" | "*/*" => decode_json(body),
        "application/vnd.kubernetes.protobuf" => {
            protobuf::decode(body).map_err(|error| match error {
                protobuf::ProtobufError::UnsupportedKind(_) => {
                    let mut refused =
                        ApiError::unsupported_media_type("application/vnd.kubernetes.protobuf");
                    refused.message = error.to_string();
                    refused
                }
                protobuf::ProtobufError::Malformed(_) => ApiError::bad_request(error.to_string()),
            })
        }
        other => Err(ApiError::unsupported_media_type(other)),
    }
}

impl Call<'_> {
    fn namespace(&self) -> &str {
        self.request.namespace.as_deref().unwrap_or_default()
    }

    fn accept(&self) -> &str {
        self.headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    fn write_options(&self) -> WriteOptions {
        let user_agent = self
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let field_manager = match self.query.get("fieldManager") {
            Some(manager) if !manager.is_empty() => manager.to_string(),
            _ => crate::patch::manager_from_user_agent(user_agent),
        };
        WriteOptions {
            dry_run: self.query.dry_run(),
            // Apply requests must name their manager; other writes fall back to the user agent,
            // and are recorded under no name when it is empty too, as the API server does.
            field_manager: Some(field_manager),
            subresource: self.request.subresource.clone(),
            already_tracked: false,
            strict_fields: self.query.get("fieldValidation") == Some("Strict"),
        }
    }

    /// The metadata-only form the client asked for, if it is the one this request can give.
    fn metadata_form(&self, expected: MetadataForm) -> Result<Option<MetadataForm>, ApiError> {
        let form = metadata::requested(self.accept());
        form.map(|form| metadata::check(form, expected))
            .transpose()?;
        Ok(form)
    }

    /// An object, its metadata alone, or a one-row Table, as the client asked. A write asked
    /// for as a PartialObjectMetadataList is done and then refused, as the API server only
    /// finds the form wrong when it shapes the answer.
    fn object_response(&self, code: StatusCode, object: &Value) -> Response {
        match metadata::requested(self.accept()) {
            Some(MetadataForm::Object) => return json_response(code, &metadata::partial(object)),
            Some(MetadataForm::List) => {
                return error_response(&metadata::not_acceptable(MetadataForm::Object));
            }
            None => {}
        }
        if table::wants_table(self.accept()) {
            let include = IncludeObject::parse(self.query.get("includeObject"));
            let metadata = json!({"resourceVersion": object.pointer("/metadata/resourceVersion").cloned().unwrap_or(json!(""))});
            return json_response(
                code,
                &table::table(
                    self.resource,
                    std::slice::from_ref(object),
                    metadata,
                    include,
                    true,
                ),
            );
        }
        json_response(code, object)
    }

    fn get(&self, name: &str) -> Result<Response, ApiError> {
        if self.request.subresource.as_deref() == Some("log") {
            let request = pod_log::LogRequest {
                namespace: self.namespace(),
                pod: name,
                container: self.query.get("container"),
                tail_lines: self.query.number("tailLines")?,
                follow: self.query.get("follow") == Some("true"),
            };
            return pod_log::response(self.cluster, &request);
        }
        self.metadata_form(MetadataForm::Object)?;
        let object = self.cluster.get(self.resource, self.namespace(), name)?;
        Ok(self.object_response(StatusCode::OK, &object))
    }

    fn list_options(&self) -> Result<ListOptions, ApiError> {
        Ok(ListOptions {
            label_selector: self.query.get("labelSelector").map(str::to_string),
            field_selector: self.query.get("fieldSelector").map(str::to_string),
            limit: self.query.number("limit")?.map(|l| l.max(0) as usize),
            continue_token: self.query.get("continue").map(str::to_string),
        })
    }

    fn list(&self) -> Result<Response, ApiError> {
        let metadata_only = self.metadata_form(MetadataForm::List)?.is_some();
        let list = self.cluster.list(
            self.resource,
            self.request.namespace.as_deref(),
            &self.list_options()?,
        )?;
        if metadata_only {
            return Ok(json_response(
                StatusCode::OK,
                &metadata::partial_list(&list),
            ));
        }
        if table::wants_table(self.accept()) {
            let include = IncludeObject::parse(self.query.get("includeObject"));
            let items = list["items"].as_array().cloned().unwrap_or_default();
            return Ok(json_response(
                StatusCode::OK,
                &table::table(
                    self.resource,
                    &items,
                    list["metadata"].clone(),
                    include,
                    true,
                ),
            ));
        }
        Ok(json_response(StatusCode::OK, &list))
    }

    /// A watch as a stream of JSON lines, or over a WebSocket (one text message per event) when
    /// the client asks for one, as fabric8 does.
    fn watch(&self, websocket: Option<WebSocketUpgrade>) -> Result<Response, ApiError> {
        let options = WatchOptions {
            label_selector: self.query.get("labelSelector").map(str::to_string),
            field_selector: self.query.get("fieldSelector").map(str::to_string),
            resource_version: self.query.get("resourceVersion").map(str::to_string),
            send_initial_events: self.query.flag("sendInitialEvents"),
            allow_bookmarks: self.query.flag("allowWatchBookmarks").unwrap_or(false),
            timeout: self
                .query
                .number("timeoutSeconds")?
                .filter(|t| *t > 0)
                .map(|t| Duration::from_secs(t as u64)),
        };
        let metadata_only = self.metadata_form(MetadataForm::Object)?.is_some();
        let frames =
            self.cluster
                .watch(self.resource, self.request.namespace.as_deref(), &options)?;
        let as_table = table::wants_table(self.accept()).then(|| {
            (
                self.resource.clone(),
                IncludeObject::parse(self.query.get("includeObject")),
            )
        });
        let mut first_table = true;
        let body = frames.map(move |mut frame| {
            if metadata_only && frame.kind != "ERROR" {
                frame.object = metadata::partial(&frame.object);
            } else if let Some((resource, include)) = &as_table
                && matches!(frame.kind, "ADDED" | "MODIFIED" | "DELETED")
            {
                let object = std::mem::take(&mut frame.object);
                frame.object = table::table(
                    resource,
                    std::slice::from_ref(&object),
                    json!({}),
                    *include,
                    first_table,
                );
                first_table = false;
            }
            frame
        });
        if let Some(websocket) = websocket {
            return Ok(websocket.on_upgrade(move |socket| send_frames(socket, body)));
        }
        let body = body.map(|frame| {
            let mut line = super::encode::watch_event(frame.kind, &frame.object);
            line.push(b'\n');
            Ok::<_, Infallible>(Bytes::from(line))
        });
        Ok((
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            Body::from_stream(body),
        )
            .into_response())
    }

    async fn create(&self, body: Bytes) -> Result<Response, ApiError> {
        let object = decode_object(self.headers, &body)?;
        let created = self
            .cluster
            .create(
                self.resource,
                self.namespace(),
                object,
                &self.write_options(),
            )
            .await?;
        Ok(self.object_response(StatusCode::CREATED, &created))
    }

    async fn post_subresource(&self, name: &str, body: Bytes) -> Result<Response, ApiError> {
        let object = decode_object(self.headers, &body)?;
        match self.request.subresource.as_deref() {
            Some("binding") => {
                self.cluster
                    .bind_pod(self.namespace(), name, &object)
                    .await?
            }
            Some("eviction") => {
                self.cluster
                    .evict_pod(self.namespace(), name, &object)
                    .await?
            }
            _ => {
                return Err(ApiError::method_not_allowed(
                    "the server does not allow this method on the requested resource",
                ));
            }
        }
        Ok(json_response(StatusCode::CREATED, &success_status(201)))
    }

    async fn update(&self, name: &str, body: Bytes) -> Result<Response, ApiError> {
        let object = decode_object(self.headers, &body)?;
        let updated = self
            .cluster
            .update(
                self.resource,
                self.namespace(),
                name,
                object,
                &self.write_options(),
            )
            .await?;
        Ok(self.object_response(StatusCode::OK, &updated))
    }

    /// The `scale` subresource: read, replaced or patched as a Scale.
    async fn scale(&self, method: &Method, name: &str, body: Bytes) -> Result<Response, ApiError> {
        let namespace = self.namespace();
        let scale = match *method {
            Method::GET => self.cluster.get_scale(self.resource, namespace, name)?,
            Method::PUT => {
                let scale = decode_object(self.headers, &body)?;
                self.cluster
                    .update_scale(
                        self.resource,
                        namespace,
                        name,
                        &scale,
                        &self.write_options(),
                    )
                    .await?
            }
            Method::PATCH => {
                let patch = self.decode_patch(&body)?;
                self.cluster
                    .patch_scale(
                        self.resource,
                        namespace,
                        name,
                        &patch,
                        &self.write_options(),
                    )
                    .await?
            }
            _ => {
                return Err(ApiError::method_not_allowed(format!(
                    "the server does not allow this method on the requested resource ({method})"
                )));
            }
        };
        Ok(json_response(StatusCode::OK, &scale))
    }

    fn decode_patch(&self, body: &[u8]) -> Result<Patch, ApiError> {
        Ok(match content_type(self.headers).as_str() {
            "application/json-patch+json" => Patch::Json(decode_json(body)?),
            "application/merge-patch+json" => Patch::Merge(decode_json(body)?),
            "application/strategic-merge-patch+json" => Patch::Strategic(decode_json(body)?),
            "application/apply-patch+yaml" => Patch::Apply {
                object: decode_yaml(body)?,
                force: self.query.flag("force").unwrap_or(false),
            },
            other => return Err(ApiError::unsupported_media_type(other)),
        })
    }

    async fn patch(&self, name: &str, body: Bytes) -> Result<Response, ApiError> {
        let patch = self.decode_patch(&body)?;
        let mut options = self.write_options();
        if matches!(patch, Patch::Apply { .. })
            && self.query.get("fieldManager").is_none_or(str::is_empty)
        {
            // Unlike other writes, an apply never takes its manager from the user agent.
            options.field_manager = None;
        }
        let existed = self
            .cluster
            .get(self.resource, self.namespace(), name)
            .is_ok();
        let patched = self
            .cluster
            .patch(self.resource, self.namespace(), name, &patch, &options)
            .await?;
        let code = if existed {
            StatusCode::OK
        } else {
            StatusCode::CREATED
        };
        Ok(self.object_response(code, &patched))
    }

    fn delete_options(&self, body: &[u8]) -> Result<DeleteOptions, ApiError> {
        let mut options = if body.iter().all(u8::is_ascii_whitespace) {
            DeleteOptions::default()
        } else {
            DeleteOptions::from_body(&decode_object(self.headers, body)?)?
        };
        if self.query.dry_run() {
            options.dry_run = true;
        }
        if let Some(grace) = self.query.number("gracePeriodSeconds")? {
            options.grace_period_seconds = Some(grace);
        }
        if let Some(policy) = self.query.get("propagationPolicy") {
            options.propagation = Some(Propagation::parse(policy)?);
        } else if let Some(orphan) = self.query.flag("orphanDependents") {
            options.orphan_dependents = Some(orphan);
            options.propagation = Some(if orphan {
                Propagation::Orphan
            } else {
                Propagation::Background
            });
        }
        Ok(options)
    }

    async fn delete(&self, name: &str, body: Bytes) -> Result<Response, ApiError> {
        let options = self.delete_options(&body)?;
        let deletion = self
            .cluster
            .delete(self.resource, self.namespace(), name, &options)
            .await?;
        let (code, body) = delete_answer(self.resource, &deletion, &options);
        let code = StatusCode::from_u16(code).unwrap_or(StatusCode::OK);
        if matches!(deletion, Deletion::Deleted(_)) && !self.resource.returns_deleted_object() {
            return Ok(json_response(code, &body));
        }
        Ok(self.object_response(code, &body))
    }

    async fn delete_collection(&self, body: Bytes) -> Result<Response, ApiError> {
        let options = self.delete_options(&body)?;
        let deleted = self
            .cluster
            .delete_collection(
                self.resource,
                self.request.namespace.as_deref(),
                &self.list_options()?,
                &options,
            )
            .await?;
        let list = json!({"kind": self.resource.list_kind(), "apiVersion": self.resource.api_version(), "metadata": {}, "items": deleted});
        Ok(json_response(StatusCode::OK, &list))
    }
}

async fn send_frames(
    mut socket: WebSocket,
    frames: impl futures::Stream<Item = WatchFrame> + Unpin,
) {
    let mut frames = frames;
    while let Some(frame) = frames.next().await {
        let mut text = super::encode::watch_event(frame.kind, &frame.object);
        text.push(b'\n');
        let text = String::from_utf8(text).unwrap_or_default();
        if socket.send(Message::Text(text.into())).await.is_err() {
            return;
        }
    }
    let _ = socket.send(Message::Close(None)).await;
}
