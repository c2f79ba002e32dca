//! Create, update and patch: the write path shared by every kind.

use std::sync::Arc;

use serde_json::{Value, json};

use super::delete::deletion_complete;
use super::patching::{
    Patch, apply_patch, field_manager, patch_error, type_info, unknown_fields_error,
};
use super::{Cluster, check_type, is_crd, strategy, validation};
use crate::admission;
use crate::admission::webhooks::Webhooks;
use crate::admission::{AdmissionRequest, Operation};
use crate::error::{ApiError, Cause};
use crate::kinds::{ResourceType, as_version, convert};
use crate::meta;
use crate::patch;
use crate::storage::{ObjectKey, StoreError};

#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    /// Run every check but store nothing.
    pub dry_run: bool,
    pub field_manager: Option<String>,
    /// `status` (or `finalize` for namespaces) to write only that part of the object.
    pub subresource: Option<String>,
    /// Set by server-side apply, whose result already carries its `managedFields`; other writes
    /// with a `field_manager` (an empty name when the client gave none) are recorded as `Update`
    /// entries. The cluster's own writes have none and are not recorded.
    pub already_tracked: bool,
    /// `fieldValidation=Strict`: fields a CRD schema does not declare are an error instead of
    /// being dropped.
    pub strict_fields: bool,
}

impl WriteOptions {
    pub fn status() -> Self {
        Self {
            subresource: Some("status".into()),
            ..Self::default()
        }
    }
}

fn is_stale_conflict(error: &ApiError) -> bool {
    error.code == 409
        && error.reason == "Conflict"
        && error.message.contains("the object has been modified")
}

impl Cluster {
    pub async fn create(
        &self,
        resource: &Arc<ResourceType>,
        namespace: &str,
        mut object: Value,
        options: &WriteOptions,
    ) -> Result<Value, ApiError> {
        let namespace = self.check_scope(resource, namespace)?;
        if !object.is_object() {
            return Err(ApiError::bad_request(
                "the body of the request must be a JSON object",
            ));
        }
        check_type(resource, &mut object)?;
        let mut object = convert::to_storage(resource, &object);
        let body_namespace = meta::namespace(&object);
        if resource.namespaced && !body_namespace.is_empty() && body_namespace != namespace {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        if meta::resource_version(&object) != 0 {
            return Err(ApiError::bad_request(
                "resourceVersion should not be set on objects to be created",
            ));
        }
        if resource.namespaced {
            self.check_namespace_accepts(namespace)?;
        }
        let metadata = meta::metadata_mut(&mut object);
        for server_set in [
            "uid",
            "resourceVersion",
            "generation",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "creationTimestamp",
            "selfLink",
        ] {
            metadata.remove(server_set);
        }
        if resource.tracks_generation() {
            metadata.insert("generation".into(), 1.into());
        }
        // Known before the strategy runs: a Job's selector is made from it.
        metadata.insert("uid".into(), uuid::Uuid::new_v4().to_string().into());
        let name = meta::name(&object).to_string();
        if name.is_empty()
            && meta::str_at(&object, &["metadata", "generateName"])
                .unwrap_or_default()
                .is_empty()
        {
            return Err(ApiError::invalid(
                &resource.qualified_kind(),
                "",
                vec![Cause {
                    reason: "FieldValueRequired".into(),
                    message: "name or generateName is required".into(),
                    field: "metadata.name".into(),
                }],
            ));
        }
        let unknown = strategy::prepare_create(self, resource, &mut object)?;
        if options.strict_fields && !unknown.is_empty() {
            return Err(unknown_fields_error(resource, &unknown));
        }
        if let Some(manager) = options
            .field_manager
            .as_deref()
            .filter(|_| !options.already_tracked)
        {
            object = patch::track_update(
                None,
                object,
                type_info(resource),
                &field_manager(manager, None, &patch::now()),
            );
        }
        let mut request = AdmissionRequest {
            operation: Operation::Create,
            resource: resource.clone(),
            subresource: None,
            namespace: namespace.to_string(),
            name: name.clone(),
            object: Some(object),
            old_object: None,
            dry_run: options.dry_run,
        };
        let object = self.admit(&mut request).await?;
        if options.dry_run {
            return Ok(as_version(resource, &object));
        }
        let stored = self
            .store()
            .create(&resource.storage, namespace, object)
            .map_err(ApiError::from)?;
        self.after_write(resource, &stored);
        Ok(as_version(resource, &stored))
    }

    /// Replaces an object (or only its status with `options.subresource = Some("status")`). A
    /// `metadata.resourceVersion` in `object` must match the stored one.
    pub async fn update(
        &self,
        resource: &Arc<ResourceType>,
        namespace: &str,
        name: &str,
        object: Value,
        options: &WriteOptions,
    ) -> Result<Value, ApiError> {
        let namespace = self.check_scope(resource, namespace)?;
        let mut object = object;
        check_type(resource, &mut object)?;
        let body_name = meta::name(&object);
        if !body_name.is_empty() && body_name != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
        let pinned = meta::resource_version(&object) != 0;
        loop {
            let key = Cluster::key(resource, namespace, name);
            let current = self
                .store()
                .get(&key)
                .ok_or_else(|| ApiError::not_found(&resource.qualified_resource(), name))?;
            match self
                .replace(resource, &key, &current, object.clone(), options)
                .await
            {
                Err(error) if !pinned && is_stale_conflict(&error) => continue,
                result => return result,
            }
        }
    }

    /// Patches an object; server-side apply creates it when absent.
    pub async fn patch(
        &self,
        resource: &Arc<ResourceType>,
        namespace: &str,
        name: &str,
        patch: &Patch,
        options: &WriteOptions,
    ) -> Result<Value, ApiError> {
        let namespace = self.check_scope(resource, namespace)?;
        let manager = options.field_manager.clone().unwrap_or_default();
        if matches!(patch, Patch::Apply { .. }) && manager.is_empty() {
            return Err(ApiError::bad_request(
                "PATCH, fieldManager is required for apply requests",
            ));
        }
        loop {
            let key = Cluster::key(resource, namespace, name);
            let Some(current) = self.store().get(&key) else {
                return match patch {
                    Patch::Apply { object, force } if options.subresource.is_none() => {
                        let mut applied = object.clone();
                        check_type(resource, &mut applied)?;
                        meta::set_meta(&mut applied, "name", name);
                        let time = patch::now();
                        let created = patch::apply(
                            None,
                            &applied,
                            type_info(resource),
                            &field_manager(&manager, None, &time),
                            *force,
                        )
                        .map_err(|e| patch_error(resource, name, e))?;
                        let options = WriteOptions {
                            already_tracked: true,
                            ..options.clone()
                        };
                        self.create(resource, namespace, created, &options).await
                    }
                    _ => Err(ApiError::not_found(&resource.qualified_resource(), name)),
                };
            };
            let base = as_version(resource, &current);
            let patched = apply_patch(
                resource,
                &base,
                patch,
                &manager,
                options.subresource.as_deref(),
                name,
            )?;
            let pinned = meta::resource_version(&patched) != meta::resource_version(&base);
            let options = WriteOptions {
                already_tracked: matches!(patch, Patch::Apply { .. }),
                ..options.clone()
            };
            match self
                .replace(resource, &key, &current, patched, &options)
                .await
            {
                Err(error) if !pinned && is_stale_conflict(&error) => continue,
                result => return result,
            }
        }
    }

    /// One attempt at replacing `current` with `object`.
    async fn replace(
        &self,
        resource: &Arc<ResourceType>,
        key: &ObjectKey,
        current: &Arc<Value>,
        object: Value,
        options: &WriteOptions,
    ) -> Result<Value, ApiError> {
        let mut object = convert::to_storage(resource, &object);
        let expected_rv = match meta::resource_version(&object) {
            0 => meta::resource_version(current),
            rv => rv,
        };
        let body_uid = meta::uid(&object);
        if !body_uid.is_empty() && body_uid != meta::uid(current) {
            return Err(ApiError::conflict(
                &resource.qualified_resource(),
                &key.name,
                &format!(
                    "Precondition failed: UID in precondition: {body_uid}, UID in object meta: {}",
                    meta::uid(current)
                ),
            ));
        }
        object = match options.subresource.as_deref() {
            None => {
                if resource.has_status() {
                    copy_field(current, &mut object, "status");
                }
                object
            }
            Some("status") if resource.has_status() => {
                let mut merged = Value::clone(current);
                copy_field(&object, &mut merged, "status");
                if let Some(fields) = object.pointer("/metadata/managedFields") {
                    meta::set_meta(&mut merged, "managedFields", fields.clone());
                }
                merged
            }
            Some("finalize") if resource.plural == "namespaces" && resource.group.is_empty() => {
                let mut merged = Value::clone(current);
                merged["spec"]["finalizers"] = object
                    .pointer("/spec/finalizers")
                    .cloned()
                    .unwrap_or(json!([]));
                merged
            }
            Some(other) => return Err(ApiError::no_route_for(other)),
        };
        // The server owns these; clients cannot change them through an update.
        for kept in [
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "creationTimestamp",
            "uid",
        ] {
            match current.get("metadata").and_then(|m| m.get(kept)) {
                Some(value) => meta::set_meta(&mut object, kept, value.clone()),
                None => {
                    meta::metadata_mut(&mut object).remove(kept);
                }
            }
        }
        if meta::deletion_timestamp(current).is_some() {
            let before = meta::finalizers(current);
            if meta::finalizers(&object)
                .iter()
                .any(|f| !before.contains(f))
            {
                return Err(ApiError::invalid(
                    &resource.qualified_kind(),
                    &key.name,
                    vec![Cause {
                        reason: "FieldValueForbidden".into(),
                        message: "Forbidden: no new finalizers can be added if the object is being deleted".into(),
                        field: "metadata.finalizers".into(),
                    }],
                ));
            }
        }
        let unknown = strategy::prepare_update(
            self,
            resource,
            current,
            &mut object,
            options.subresource.as_deref(),
        )?;
        if options.strict_fields && !unknown.is_empty() {
            return Err(unknown_fields_error(resource, &unknown));
        }
        if let Some(manager) = options
            .field_manager
            .as_deref()
            .filter(|_| !options.already_tracked)
        {
            let time = patch::now();
            let writer = field_manager(manager, options.subresource.as_deref(), &time);
            object = patch::track_update(Some(current), object, type_info(resource), &writer);
        }
        let mut request = AdmissionRequest {
            operation: Operation::Update,
            resource: resource.clone(),
            subresource: options.subresource.clone(),
            namespace: key.namespace.clone(),
            name: key.name.clone(),
            object: Some(object),
            old_object: Some(as_version(resource, current)),
            dry_run: options.dry_run,
        };
        let object = self.admit(&mut request).await?;
        if options.dry_run {
            return Ok(as_version(resource, &object));
        }
        let stored = self
            .store()
            .update(key, object, Some(expected_rv))
            .map_err(ApiError::from)?;
        if deletion_complete(&stored) {
            match self
                .store()
                .delete(key, &crate::storage::Preconditions::default())
            {
                Ok(deleted) => self.after_delete(resource, &deleted),
                Err(StoreError::NotFound { .. }) => {}
                Err(error) => return Err(error.into()),
            }
        } else {
            self.after_write(resource, &stored);
        }
        Ok(as_version(resource, &stored))
    }

    /// Admission and validation: the built-in mutating plugins, the in-process mutating hook,
    /// mutating webhooks, the kind's and the schema's validation, then the built-in validating
    /// plugins, the in-process validating hook, validating webhooks and quota. Returns the object
    /// to store.
    async fn admit(&self, request: &mut AdmissionRequest) -> Result<Value, ApiError> {
        let store = self.store();
        admission::limit_ranger::mutate(store, request);
        admission::service_account::admit(store, request).await?;
        let hook = self.admission();
        if let Some(hook) = &hook
            && let Some(mutated) = hook.mutate(request).await?
        {
            request.object = Some(mutated);
        }
        Webhooks::of(self.store()).call_mutating(request).await?;
        if let Some(object) = request.object.as_mut() {
            validation::validate(&request.resource, request.operation, object)?;
        }
        admission::limit_ranger::validate(store, request)?;
        if let Some(hook) = &hook {
            hook.validate(request).await?;
        }
        Webhooks::of(self.store()).call_validating(request).await?;
        admission::resource_quota::admit(store, request).await?;
        Ok(request.object.take().unwrap_or(Value::Null))
    }

    /// New objects need an existing namespace that is not being deleted.
    fn check_namespace_accepts(&self, namespace: &str) -> Result<(), ApiError> {
        let stored = self
            .store()
            .get(&ObjectKey::new("namespaces", "", namespace));
        match stored {
            None => Err(ApiError::not_found("namespaces", namespace)),
            Some(ns) if meta::deletion_timestamp(&ns).is_some() => {
                Err(ApiError::forbidden(format!(
                    "unable to create new content in namespace {namespace} because it is being terminated"
                )))
            }
            Some(_) => Ok(()),
        }
    }

    /// Side effects of a stored write: a CRD serves (or changes) its resources at once.
    fn after_write(&self, resource: &ResourceType, stored: &Value) {
        if is_crd(resource) {
            match crate::kinds::crd_resource_types(stored) {
                Ok(types) => self.kinds().set_custom(meta::name(stored), types),
                Err(error) => tracing::warn!(%error, "stored CRD cannot be served"),
            }
        }
    }
}

fn copy_field(from: &Value, to: &mut Value, field: &str) {
    let Some(map) = to.as_object_mut() else {
        return;
    };
    match from.get(field) {
        Some(value) => map.insert(field.to_string(), value.clone()),
        None => map.remove(field),
    };
}
