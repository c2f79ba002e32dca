//! The ResourceQuota admission plugin, last of the validating plugins as in the API server: a new
//! object is charged to every quota of its namespace that covers it, and refused when one would be
//! exceeded (`pods "x" is forbidden: exceeded quota: compute, requested: requests.cpu=2, used:
//! requests.cpu=3, limited: requests.cpu=4`), when a pod does not say the requests or limits a
//! quota needs (`failed quota: compute: must specify limits.cpu for: main`), or when the quota
//! controller has not yet counted what the namespace uses (`status unknown for quota: ...`).
//!
//! The charge is written to the quota's `status.used` before the object is stored, with the
//! quota's resourceVersion as a precondition (a concurrent charge makes it start over), as the
//! plugin does; the quota controller later recounts (`controllers::resource_quota`). Reading the
//! quotas is a range read of one namespace, so namespaces without quotas cost nothing.

use std::sync::Arc;

use serde_json::Value;

use super::{AdmissionRequest, Operation};
use crate::error::ApiError;
use crate::meta;
use crate::quantity::{self, ResourceList};
use crate::quota::{self, Evaluator};
use crate::storage::{ObjectKey, Store, StoreError};

/// How often charging starts over after a concurrent write to a quota.
const CONFLICT_RETRIES: usize = 10;

pub(crate) async fn admit(store: &Store, request: &AdmissionRequest) -> Result<(), ApiError> {
    if request.operation != Operation::Create
        || request.subresource.is_some()
        || !request.resource.namespaced
    {
        return Ok(());
    }
    let Some(object) = request.object.as_ref() else {
        return Ok(());
    };
    let evaluator = Evaluator::for_resource(&request.resource);
    let refuse = |why: String| {
        ApiError::forbidden_object(&request.resource.qualified_resource(), &request.name, &why)
    };
    for _ in 0..CONFLICT_RETRIES {
        let (quotas, _) = store.list("resourcequotas", Some(&request.namespace));
        let charges = charges(&evaluator, &quotas, object).map_err(refuse)?;
        if charges.is_empty() || request.dry_run {
            return Ok(());
        }
        match reserve(store, charges) {
            Ok(()) => return Ok(()),
            Err(StoreError::Conflict { .. }) => continue,
            Err(error) => return Err(error.into()),
        }
    }
    Err(refuse(format!(
        "quota in namespace {} kept changing while it was charged; try again",
        request.namespace
    )))
}

/// Each covering quota with what it will have used once `object` is admitted; the refusal, in
/// the plugin's words, when one cannot take it.
fn charges(
    evaluator: &Evaluator,
    quotas: &[Arc<Value>],
    object: &Value,
) -> Result<Vec<(Arc<Value>, ResourceList)>, String> {
    let usage: ResourceList = evaluator
        .usage(object)
        .into_iter()
        .filter(|(_, q)| !q.is_zero())
        .collect();
    let mut charges = Vec::new();
    for quota in quotas {
        if !evaluator.matches(quota, object) {
            continue;
        }
        let name = meta::name(quota);
        let hard = quota::hard(quota);
        let restricted = evaluator.matching(hard.keys());
        evaluator
            .constraints(&restricted, object)
            .map_err(|why| format!("failed quota: {name}: {why}"))?;
        let used = quota::used(quota);
        if restricted.iter().any(|r| !used.contains_key(r)) {
            let mut names = restricted.clone();
            names.sort();
            return Err(format!(
                "status unknown for quota: {name}, resources: {}",
                names.join(",")
            ));
        }
        let requested: ResourceList = usage
            .iter()
            .filter(|(resource, _)| hard.contains_key(*resource))
            .map(|(resource, q)| (resource.clone(), *q))
            .collect();
        if requested.is_empty() {
            continue;
        }
        let new_used = quantity::add(&used, &requested);
        let exceeded: Vec<&String> = requested
            .keys()
            .filter(|resource| new_used[*resource] > hard[*resource])
            .collect();
        if !exceeded.is_empty() {
            let mask = |list: &ResourceList| -> ResourceList {
                exceeded
                    .iter()
                    .filter_map(|r| Some(((*r).clone(), *list.get(*r)?)))
                    .collect()
            };
            return Err(format!(
                "exceeded quota: {name}, requested: {}, used: {}, limited: {}",
                quantity::pretty(&mask(&requested)),
                quantity::pretty(&mask(&used)),
                quantity::pretty(&mask(&hard)),
            ));
        }
        let reserved: ResourceList = new_used
            .into_iter()
            .filter(|(resource, _)| hard.contains_key(resource))
            .collect();
        charges.push((quota.clone(), reserved));
    }
    Ok(charges)
}

/// Writes the new `status.used` of each charged quota, each against the version read.
fn reserve(store: &Store, charges: Vec<(Arc<Value>, ResourceList)>) -> Result<(), StoreError> {
    for (quota, used) in charges {
        let key = ObjectKey::new(
            "resourcequotas",
            meta::namespace(&quota),
            meta::name(&quota),
        );
        let mut updated = Value::clone(&quota);
        updated["status"]["used"] = quantity::to_json(&used);
        store.update(&key, updated, Some(meta::resource_version(&quota)))?;
    }
    Ok(())
}
