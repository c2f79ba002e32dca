//! The value-level operations of server-side apply, guided by the object's types: the set of
//! fields a value sets, merging an applied configuration into the live object, removing a set
//! of fields, and comparing two versions of an object.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use super::fieldset::{FieldSet, Path, PathElement, display_path};
use crate::patch::PatchError;
use crate::patch::types::{ListKind, ObjectKind, Ty};

fn invalid(path: &[PathElement], message: impl std::fmt::Display) -> PatchError {
    PatchError::Invalid(format!("{}: {message}", display_path(path)))
}

/// The path element identifying one item of a non-atomic list.
fn item_element(
    item: &Value,
    kind: &ListKind,
    path: &[PathElement],
) -> Result<PathElement, PatchError> {
    match kind {
        ListKind::Map(keys) => {
            let Value::Object(fields) = item else {
                return Err(invalid(
                    path,
                    "associative list with keys may not have non-map elements",
                ));
            };
            let mut key = Map::new();
            for (name, default) in keys {
                if let Some(value) = fields.get(name).or(default.as_ref()) {
                    key.insert(name.clone(), value.clone());
                }
            }
            if key.is_empty() {
                let names: Vec<&str> = keys.iter().map(|(name, _)| name.as_str()).collect();
                return Err(invalid(
                    path,
                    format!(
                        "associative list with keys has an element that omits all key fields {names:?} (and \
                         doesn't have default values for any key fields)"
                    ),
                ));
            }
            Ok(PathElement::key(key))
        }
        _ => match item {
            Value::Object(_) => Err(invalid(
                path,
                "associative list without keys has an element that's a map type",
            )),
            Value::Array(_) => Err(invalid(
                path,
                "not supported: associative list with lists as elements",
            )),
            Value::Null => Err(invalid(
                path,
                "associative list without keys has an element that's an explicit null",
            )),
            scalar => Ok(PathElement::value(scalar)),
        },
    }
}

fn is_atomic_list(ty: Ty<'_>) -> bool {
    ty.list_kind() == ListKind::Atomic
}

/// Whether a list may hold two items with the same key (stored objects may; applied ones not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Duplicates {
    Allowed,
    Rejected,
}

/// The fields `value` sets: leaves, list items, empty objects and map entries.
pub(crate) fn field_set(
    value: &Value,
    ty: Ty<'_>,
    duplicates: Duplicates,
) -> Result<FieldSet, PatchError> {
    let mut set = FieldSet::default();
    collect_fields(value, ty, duplicates, &mut Vec::new(), &mut set)?;
    Ok(set)
}

fn collect_fields(
    value: &Value,
    ty: Ty<'_>,
    allowed: Duplicates,
    path: &mut Path,
    set: &mut FieldSet,
) -> Result<(), PatchError> {
    match value {
        Value::Array(items) if !is_atomic_list(ty) => {
            let kind = ty.list_kind();
            let elements = items
                .iter()
                .map(|item| item_element(item, &kind, path))
                .collect::<Result<Vec<_>, _>>()?;
            let mut seen = BTreeSet::new();
            let duplicates: BTreeSet<&PathElement> =
                elements.iter().filter(|e| !seen.insert(*e)).collect();
            if let (Some(duplicate), Duplicates::Rejected) = (duplicates.first(), allowed) {
                return Err(invalid(
                    path,
                    format!("duplicate entries for key {}", duplicate.display()),
                ));
            }
            for duplicate in &duplicates {
                path.push((*duplicate).clone());
                set.insert(path);
                path.pop();
            }
            for (item, element) in items.iter().zip(&elements) {
                if duplicates.contains(element) {
                    continue;
                }
                path.push(element.clone());
                collect_fields(item, ty.items(), allowed, path, set)?;
                set.insert(path);
                path.pop();
            }
        }
        Value::Object(fields) if ty.object_kind() != ObjectKind::Atomic => {
            for (name, child) in fields {
                path.push(PathElement::field(name));
                collect_fields(child, ty.child(name), allowed, path, set)?;
                let empty_object = child.as_object().is_some_and(Map::is_empty);
                if child.is_null() || empty_object || !ty.is_named_field(name) {
                    set.insert(path);
                }
                path.pop();
            }
        }
        _ => set.insert(path),
    }
    Ok(())
}

/// Adds, as members, the declared fields that lead to members (but not map keys).
pub(crate) fn with_named_fields(set: &FieldSet, ty: Ty<'_>) -> FieldSet {
    let mut out = FieldSet::default();
    for member in set.members() {
        out.insert_member(member.clone());
    }
    for (element, child) in set.children() {
        let child_ty = match element.field_name() {
            Some(name) => {
                if ty.is_named_field(name) {
                    out.insert_member(element.clone());
                }
                ty.child(name)
            }
            None => ty.items(),
        };
        *out.child_mut(element.clone()) = with_named_fields(child, child_ty);
    }
    out
}

/// `value` without the paths of `remove`; `None` when nothing is left of it.
pub(crate) fn remove(value: &Value, remove: &FieldSet, ty: Ty<'_>) -> Option<Value> {
    match value {
        Value::Array(items) if !items.is_empty() && !is_atomic_list(ty) => {
            let kind = ty.list_kind();
            let kept: Vec<Value> = items
                .iter()
                .filter_map(|item| {
                    let Ok(element) = item_element(item, &kind, &[]) else {
                        return Some(item.clone());
                    };
                    if remove.has(std::slice::from_ref(&element)) {
                        return None;
                    }
                    match remove.with_prefix(&element) {
                        Some(below) => self::remove(item, below, ty.items()),
                        None => Some(item.clone()),
                    }
                })
                .collect();
            (!kept.is_empty()).then_some(Value::Array(kept))
        }
        Value::Object(fields) if !fields.is_empty() && ty.object_kind() != ObjectKind::Atomic => {
            let kept: Map<String, Value> = fields
                .iter()
                .filter_map(|(name, child)| {
                    let element = PathElement::field(name);
                    if remove.has(std::slice::from_ref(&element)) {
                        return None;
                    }
                    let child = match remove.with_prefix(&element) {
                        Some(below) => self::remove(child, below, ty.child(name))?,
                        None => child.clone(),
                    };
                    Some((name.clone(), child))
                })
                .collect();
            (!kept.is_empty()).then_some(Value::Object(kept))
        }
        other => Some(other.clone()),
    }
}

/// `applied` merged over `live`: applied values win, lists merge by their keys, atomic values
/// are replaced.
pub(crate) fn merge(
    live: Option<&Value>,
    applied: &Value,
    ty: Ty<'_>,
    path: &mut Path,
) -> Result<Value, PatchError> {
    match (live, applied) {
        (Some(Value::Object(live_fields)), Value::Object(applied_fields))
            if ty.object_kind() != ObjectKind::Atomic =>
        {
            let mut out = live_fields.clone();
            for (name, applied_child) in applied_fields {
                path.push(PathElement::field(name));
                let merged = merge(live_fields.get(name), applied_child, ty.child(name), path)?;
                path.pop();
                out.insert(name.clone(), merged);
            }
            Ok(Value::Object(out))
        }
        (Some(Value::Array(live_items)), Value::Array(applied_items)) if !is_atomic_list(ty) => {
            merge_lists(live_items, applied_items, ty, path).map(Value::Array)
        }
        _ => Ok(applied.clone()),
    }
}

/// Items only in `live` keep their place, items in `applied` come in applied order, and
/// shared items are merged where the applied configuration puts them.
fn merge_lists(
    live: &[Value],
    applied: &[Value],
    ty: Ty<'_>,
    path: &mut Path,
) -> Result<Vec<Value>, PatchError> {
    let kind = ty.list_kind();
    let applied_elements = applied
        .iter()
        .map(|item| item_element(item, &kind, path))
        .collect::<Result<Vec<_>, _>>()?;
    let mut applied_by_element = BTreeMap::new();
    for (element, item) in applied_elements.iter().zip(applied) {
        if applied_by_element.insert(element.clone(), item).is_some() {
            return Err(invalid(
                path,
                format!("duplicate entries for key {}", element.display()),
            ));
        }
    }
    let live_elements = live
        .iter()
        .map(|item| item_element(item, &kind, path))
        .collect::<Result<Vec<_>, _>>()?;
    // Duplicated live items are not merged into (there is no telling which one is meant).
    let mut live_by_element: BTreeMap<PathElement, Option<&Value>> = BTreeMap::new();
    for (element, item) in live_elements.iter().zip(live) {
        live_by_element
            .entry(element.clone())
            .and_modify(|slot| *slot = None)
            .or_insert(Some(item));
    }

    let mut shared = applied_elements
        .iter()
        .filter(|e| live_by_element.contains_key(*e));
    let mut next_shared = shared.next();
    let mut merged_applied = BTreeSet::new();
    let mut out = Vec::with_capacity(live.len().max(applied.len()));
    let (mut l, mut r) = (0, 0);
    let merge_item =
        |element: &PathElement, path: &mut Path, out: &mut Vec<Value>| -> Result<(), PatchError> {
            let live_item = live_by_element.get(element).copied().flatten();
            path.push(element.clone());
            let merged = merge(live_item, applied_by_element[element], ty.items(), path)?;
            path.pop();
            out.push(merged);
            Ok(())
        };
    while l < live_elements.len() || r < applied_elements.len() {
        if l < live_elements.len() && r < applied_elements.len() {
            let element = &live_elements[l];
            if *element == applied_elements[r] {
                merged_applied.insert(element.clone());
                merge_item(element, path, &mut out)?;
                l += 1;
                r += 1;
                next_shared = shared.next();
                continue;
            }
            if applied_by_element.contains_key(element)
                && next_shared.is_some_and(|next| next != element)
            {
                // Shared, but applied puts it later: it is emitted there.
                l += 1;
                continue;
            }
        }
        if l < live_elements.len() {
            let element = &live_elements[l];
            if !applied_by_element.contains_key(element) {
                out.push(live[l].clone());
                l += 1;
                continue;
            } else if merged_applied.contains(element) {
                l += 1;
            }
        }
        if r < applied_elements.len() {
            let element = &applied_elements[r];
            merged_applied.insert(element.clone());
            merge_item(element, path, &mut out)?;
            r += 1;
            if next_shared == Some(element) {
                next_shared = shared.next();
            }
        }
    }
    Ok(out)
}

/// What changed between two versions of an object.
#[derive(Debug, Default)]
pub(crate) struct Comparison {
    pub added: FieldSet,
    pub modified: FieldSet,
    pub removed: FieldSet,
}

impl Comparison {
    /// `created`: the old version is an empty object of the kind, whose declared structs
    /// Kubernetes considers already present (Go zero values), so they are not marked added.
    pub(crate) fn of(
        old: Option<&Value>,
        new: Option<&Value>,
        ty: Ty<'_>,
        created: bool,
    ) -> Result<Self, PatchError> {
        let mut comparison = Comparison::default();
        let mut walker = CompareWalker {
            comparison: &mut comparison,
            created,
        };
        walker.compare(old, new, ty, false, &mut Vec::new())?;
        Ok(comparison)
    }
}

struct CompareWalker<'c> {
    comparison: &'c mut Comparison,
    created: bool,
}

impl CompareWalker<'_> {
    fn leaf(&mut self, old: Option<&Value>, new: Option<&Value>, path: &Path) {
        match (old, new) {
            (None, Some(_)) => self.comparison.added.insert(path),
            (Some(_), None) => self.comparison.removed.insert(path),
            (Some(a), Some(b)) if a != b => self.comparison.modified.insert(path),
            _ => {}
        }
    }

    fn compare(
        &mut self,
        old: Option<&Value>,
        new: Option<&Value>,
        ty: Ty<'_>,
        is_named_field: bool,
        path: &mut Path,
    ) -> Result<(), PatchError> {
        let empty = |v: Option<&Value>| match v {
            None => true,
            Some(Value::Array(items)) => items.is_empty(),
            Some(Value::Object(fields)) => fields.is_empty(),
            _ => false,
        };
        let sample = new.or(old);
        let both_lists = old.is_none_or(Value::is_array) && new.is_none_or(Value::is_array);
        let both_objects = old.is_none_or(Value::is_object) && new.is_none_or(Value::is_object);
        match sample {
            Some(Value::Array(_))
                if both_lists && !is_atomic_list(ty) && !(empty(old) && empty(new)) =>
            {
                let kind = ty.list_kind();
                let mut items: BTreeMap<PathElement, (Option<&Value>, Option<&Value>)> =
                    BTreeMap::new();
                for item in old.and_then(Value::as_array).into_iter().flatten() {
                    items
                        .entry(item_element(item, &kind, path)?)
                        .or_default()
                        .0
                        .get_or_insert(item);
                }
                for item in new.and_then(Value::as_array).into_iter().flatten() {
                    items
                        .entry(item_element(item, &kind, path)?)
                        .or_default()
                        .1
                        .get_or_insert(item);
                }
                for (element, (old_item, new_item)) in items {
                    path.push(element);
                    self.compare(old_item, new_item, ty.items(), false, path)?;
                    path.pop();
                }
            }
            Some(Value::Object(_))
                if both_objects
                    && ty.object_kind() != ObjectKind::Atomic
                    && !(empty(old) && empty(new)) =>
            {
                let no_fields = Map::new();
                let old_fields = old.and_then(Value::as_object).unwrap_or(&no_fields);
                let new_fields = new.and_then(Value::as_object).unwrap_or(&no_fields);
                let names: BTreeSet<&String> = old_fields.keys().chain(new_fields.keys()).collect();
                for name in names {
                    // Nobody owns the record of ownership.
                    if name == "managedFields"
                        && matches!(path.as_slice(), [top] if top.is_field("metadata"))
                    {
                        continue;
                    }
                    path.push(PathElement::field(name));
                    let named = ty.is_named_field(name);
                    self.compare(
                        old_fields.get(name),
                        new_fields.get(name),
                        ty.child(name),
                        named,
                        path,
                    )?;
                    path.pop();
                }
                let zero_valued_struct =
                    self.created && is_named_field && ty.object_kind() == ObjectKind::Struct;
                if zero_valued_struct {
                    return Ok(());
                }
            }
            _ => {
                self.leaf(old, new, path);
                return Ok(());
            }
        }
        match (old, new) {
            (None, Some(_)) => self.comparison.added.insert(path),
            (Some(_), None) => self.comparison.removed.insert(path),
            _ => {}
        }
        Ok(())
    }
}
