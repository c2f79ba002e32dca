//! Server-side apply and field ownership (`metadata.managedFields`), following the algorithm of
//! Kubernetes' structured-merge-diff: an applier owns exactly the fields of its last applied
//! configuration; changing a field another manager owns is a conflict unless forced (which
//! moves ownership); fields an applier stops applying are removed when nobody else owns them.
//! Ordinary writes (create, update, patch) are recorded as `Update` entries.

mod fieldset;
mod managers;
#[cfg(test)]
mod set_and_deduced_tests;
#[cfg(test)]
mod tests;
mod typed;

use serde_json::{Value, json};

use self::fieldset::{FieldSet, display_path};
use self::managers::{ManagedEntry, Operation, strip_bookkeeping, without_managed_fields};
use self::typed::{Comparison, Duplicates, field_set, merge, remove, with_named_fields};
use super::types::{Ty, TypeInfo};
use super::{ApplyConflict, PatchError};

/// The writer of a request: `fieldManager` (or the name derived from the user agent), the
/// subresource written through (`status`, `scale`), and the time to record (RFC 3339).
#[derive(Debug, Clone, Copy)]
pub struct FieldManager<'a> {
    pub name: &'a str,
    pub subresource: Option<&'a str>,
    pub time: &'a str,
}

impl FieldManager<'_> {
    fn subresource(&self) -> &str {
        self.subresource.unwrap_or("")
    }
}

/// The manager name the API server uses when a request names none: the user agent up to its
/// first `/` (`kubectl/v1.31.0 (linux/amd64)` is `kubectl`), at most 128 characters.
pub fn manager_from_user_agent(user_agent: &str) -> String {
    user_agent
        .split('/')
        .next()
        .unwrap_or("")
        .chars()
        .take(128)
        .collect()
}

/// The name Kubernetes gives the owner of fields that existed before the first apply.
const BEFORE_FIRST_APPLY: &str = "before-first-apply";

/// Applies the configuration `applied` for `manager`, over `live` (None when creating).
/// Returns the new object with its `managedFields`, or the conflicts with other managers.
pub fn apply(
    live: Option<&Value>,
    applied: &Value,
    types: TypeInfo<'_>,
    manager: &FieldManager<'_>,
    force: bool,
) -> Result<Value, PatchError> {
    if !applied.is_object() {
        return Err(PatchError::Invalid(
            "the apply configuration must be a JSON object".into(),
        ));
    }
    if applied
        .pointer("/metadata/managedFields")
        .is_some_and(|v| !v.is_null())
    {
        return Err(PatchError::Invalid(
            "metadata.managedFields must be nil".into(),
        ));
    }
    let api_version = applied
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if api_version.is_empty()
        || applied
            .get("kind")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
    {
        return Err(PatchError::Invalid(
            "apiVersion and kind must be set in an apply configuration".into(),
        ));
    }
    let ty = types.root();
    let mut entries = live.map(managers::decode).unwrap_or_default();
    let live = live
        .map(without_managed_fields)
        .unwrap_or_else(|| json!({}));
    let applied = without_nulls(applied);

    if entries.is_empty() && live.as_object().is_some_and(|o| !o.is_empty()) {
        // Fields written before anyone tracked ownership get an owner, so applies conflict on them.
        let live_version = live
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or(api_version);
        let existing = Comparison::of(None, Some(&live), ty, true)?;
        entries.push(ManagedEntry {
            manager: BEFORE_FIRST_APPLY.into(),
            operation: Operation::Update,
            api_version: live_version.into(),
            time: Some(manager.time.into()),
            subresource: String::new(),
            fields: strip_bookkeeping(&existing.added.union(&existing.modified)),
        });
    }

    let merged = merge(Some(&live), &applied, ty, &mut Vec::new())?;
    let position = entries
        .iter()
        .position(|e| e.is(manager.name, Operation::Apply, "", manager.subresource()));
    let previous = position.map(|index| entries.remove(index));
    let last_applied = previous
        .as_ref()
        .map(|entry| entry.fields.clone())
        .unwrap_or_default();
    let applied_fields = field_set(&applied, ty, Duplicates::Rejected)?;

    let owned_by_anyone = entries.iter().fold(applied_fields.clone(), |all, entry| {
        all.union(&entry.fields)
    });
    let result = prune(&merged, &owned_by_anyone, &last_applied, ty)?;

    let changes = Comparison::of(Some(&live), Some(&result), ty, false)?;
    let changed = changes.modified.union(&changes.added);
    let mut conflicts = Vec::new();
    for entry in &mut entries {
        let taken = entry.fields.intersection(&changed);
        for path in taken.paths() {
            conflicts.push(ApplyConflict {
                manager: entry.manager.clone(),
                field: display_path(&path),
                owner: entry.describe(),
            });
        }
        entry.fields = entry.fields.difference(&taken).difference(&changes.removed);
    }
    if !force && !conflicts.is_empty() {
        conflicts.sort_by(|a, b| (&a.owner, &a.field).cmp(&(&b.owner, &b.field)));
        return Err(PatchError::Conflict(conflicts));
    }

    let fields = strip_bookkeeping(&applied_fields);
    let unchanged = previous.as_ref().is_some_and(|p| p.fields == fields) && result == live;
    let time = match &previous {
        Some(p) if unchanged => p.time.clone(),
        _ => Some(manager.time.to_string()),
    };
    entries.push(ManagedEntry {
        manager: manager.name.to_string(),
        operation: Operation::Apply,
        api_version: api_version.to_string(),
        time,
        subresource: manager.subresource().to_string(),
        fields,
    });
    let mut result = result;
    managers::encode_into(&mut result, entries);
    Ok(result)
}

/// Removes what the applier applied last time but no longer does, unless someone still owns
/// it: structured-merge-diff's remove / add back owned / add back dangling sequence.
fn prune(
    merged: &Value,
    owned: &FieldSet,
    last_applied: &FieldSet,
    ty: Ty<'_>,
) -> Result<Value, PatchError> {
    if last_applied.is_empty() {
        return Ok(merged.clone());
    }
    let remove_or_empty = |set: &FieldSet| remove(merged, set, ty).unwrap_or_else(|| json!({}));
    let last = with_named_fields(last_applied, ty);
    let merged_fields = with_named_fields(&field_set(merged, ty, Duplicates::Allowed)?, ty);
    let without_last = remove_or_empty(&last);
    let kept_fields = with_named_fields(&field_set(&without_last, ty, Duplicates::Allowed)?, ty);
    let owned = with_named_fields(owned, ty);
    let owned_added_back = remove_or_empty(&merged_fields.difference(&kept_fields.union(&owned)));
    let surviving = with_named_fields(&field_set(&owned_added_back, ty, Duplicates::Allowed)?, ty);
    Ok(remove_or_empty(
        &merged_fields.difference(&surviving).intersection(&last),
    ))
}

/// Records the write of `new` over `old` (None when creating) by `manager` as an `Update`
/// entry: it gains the fields it added or changed, and other managers lose those fields and
/// the removed ones. Returns `new` with its `managedFields`; if the objects cannot be compared
/// the previous ownership is kept, as the API server does.
pub fn track_update(
    old: Option<&Value>,
    new: Value,
    types: TypeInfo<'_>,
    manager: &FieldManager<'_>,
) -> Value {
    let mut result = new;
    let requested = result
        .get_mut("metadata")
        .and_then(Value::as_object_mut)
        .and_then(|metadata| metadata.remove("managedFields"));
    let reset = requested
        .as_ref()
        .and_then(Value::as_array)
        .is_some_and(|entries| {
            entries.is_empty()
                || (entries.len() == 1 && entries[0].as_object().is_some_and(|e| e.is_empty()))
        });
    let from_request = requested
        .as_ref()
        .map(managers::decode_list)
        .unwrap_or_default();
    let mut entries = match (reset, from_request) {
        (true, _) => Vec::new(),
        (false, from_request) if !from_request.is_empty() => from_request,
        (false, _) => old.map(managers::decode).unwrap_or_default(),
    };
    // Objects that lost (or never had) ownership tracking are not tracked again on update.
    if old.is_some() && entries.is_empty() {
        return result;
    }
    // The comparison passes over `managedFields` itself, so the old object is not copied
    // without it.
    let Ok(changes) = Comparison::of(old, Some(&result), types.root(), old.is_none()) else {
        managers::encode_into(&mut result, old.map(managers::decode).unwrap_or_default());
        return result;
    };
    let changed = changes.modified.union(&changes.added);
    for entry in &mut entries {
        entry.fields = entry
            .fields
            .difference(&changed)
            .difference(&changes.removed);
    }
    let gained = strip_bookkeeping(&changed);
    if !gained.is_empty() {
        let api_version = result
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let subresource = manager.subresource();
        match entries
            .iter_mut()
            .find(|e| e.is(manager.name, Operation::Update, api_version, subresource))
        {
            Some(entry) => {
                entry.fields = entry.fields.union(&gained);
                entry.time = Some(manager.time.to_string());
            }
            None => entries.push(ManagedEntry {
                manager: manager.name.to_string(),
                operation: Operation::Update,
                api_version: api_version.to_string(),
                time: Some(manager.time.to_string()),
                subresource: subresource.to_string(),
                fields: gained,
            }),
        }
    }
    managers::encode_into(&mut result, entries);
    result
}

/// Nulls in an apply configuration mean "not set"; they are dropped before merging.
fn without_nulls(value: &Value) -> Value {
    match value {
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), without_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}
