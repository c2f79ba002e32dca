//! Strategic merge patch: a JSON merge patch in which lists declared with a merge key are merged
//! item by item, lists of scalars declared as merged are unions, and the `$patch`,
//! `$retainKeys`, `$deleteFromPrimitiveList/<field>` and `$setElementOrder/<field>` directives
//! that kubectl and kube-rs send are honoured.

use serde_json::{Map, Value};

use super::PatchError;
use super::types::{Smp, Ty};

const DIRECTIVE: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList/";
const SET_ELEMENT_ORDER: &str = "$setElementOrder/";

fn invalid(message: impl Into<String>) -> PatchError {
    PatchError::Invalid(message.into())
}

/// Applies `patch` to `original`, both JSON objects, with the strategies of `ty`.
pub(crate) fn apply(original: &Value, patch: &Value, ty: Ty<'_>) -> Result<Value, PatchError> {
    let Value::Object(patch) = patch else {
        return Err(invalid("invalid JSON document"));
    };
    let original = match original {
        Value::Object(map) => map.clone(),
        _ => Map::new(),
    };
    merge_map(original, patch.clone(), ty).map(Value::Object)
}

fn merge_map(
    mut original: Map<String, Value>,
    mut patch: Map<String, Value>,
    ty: Ty<'_>,
) -> Result<Map<String, Value>, PatchError> {
    if let Some(directive) = patch.remove(DIRECTIVE) {
        return match directive.as_str() {
            Some("replace") => Ok(strip_directives_from_map(patch)),
            // Deleting a map that is merged into leaves it empty; a new one is dropped by the caller.
            Some("delete") => Ok(Map::new()),
            _ => Err(invalid(format!(
                "unknown patch type: {directive} in map: {}",
                Value::Object(patch)
            ))),
        };
    }
    apply_retain_keys(&mut original, &mut patch)?;
    apply_element_orders(&mut original, &mut patch, ty)?;

    for (key, patch_value) in patch {
        if let Some(field) = key.strip_prefix(DELETE_FROM_PRIMITIVE_LIST) {
            if field.is_empty() {
                return Err(invalid("invalid patch format of primitive list"));
            }
            if let (Some(Value::Array(current)), Value::Array(to_delete)) =
                (original.get_mut(field), &patch_value)
            {
                current.retain(|item| !to_delete.contains(item));
            }
            continue;
        }
        if patch_value.is_null() {
            original.remove(&key);
            continue;
        }
        let merged = match (original.remove(&key), patch_value) {
            (Some(Value::Object(current)), Value::Object(patch_map)) => Some(Value::Object(
                merge_map(current, patch_map, ty.child(&key))?,
            )),
            (Some(Value::Array(current)), Value::Array(patch_list)) => {
                let child = ty.child(&key);
                match child.smp() {
                    Smp::Default => strip_directives(Value::Array(patch_list)),
                    strategy => Some(Value::Array(merge_list(
                        current, patch_list, child, strategy,
                    )?)),
                }
            }
            // Absent, or of another JSON type: the patch value wins, minus its directives and nulls.
            (_, patch_value) => strip_directives(discard_nulls(patch_value)),
        };
        if let Some(merged) = merged {
            original.insert(key, merged);
        }
    }
    Ok(original)
}

/// `$retainKeys`: fields of the original not listed are cleared before merging.
fn apply_retain_keys(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
) -> Result<(), PatchError> {
    let Some(retain) = patch.remove(RETAIN_KEYS) else {
        return Ok(());
    };
    let Value::Array(retain) = retain else {
        return Err(invalid("invalid patch format of retainKeys"));
    };
    let retained = |key: &str| retain.iter().any(|k| k.as_str() == Some(key));
    let stray = patch.iter().any(|(key, value)| {
        !value.is_null()
            && !key.starts_with(DELETE_FROM_PRIMITIVE_LIST)
            && !key.starts_with(SET_ELEMENT_ORDER)
            && !retained(key)
    });
    if stray {
        return Err(invalid("invalid patch format of retainKeys"));
    }
    original.retain(|key, _| retained(key));
    Ok(())
}

/// `$setElementOrder/<field>`: merges the field's list and orders it as listed, keeping
/// server-only items near their original neighbours.
fn apply_element_orders(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
    ty: Ty<'_>,
) -> Result<(), PatchError> {
    let order_keys: Vec<String> = patch
        .keys()
        .filter(|k| k.starts_with(SET_ELEMENT_ORDER))
        .cloned()
        .collect();
    for order_key in order_keys {
        let Some(Value::Array(order)) = patch.remove(&order_key) else {
            return Err(invalid("invalid patch format of setElementOrder list"));
        };
        let field = &order_key[SET_ELEMENT_ORDER.len()..];
        if field.is_empty() {
            return Err(invalid("invalid patch format of setElementOrder list"));
        }
        let child = ty.child(field);
        let merge_key = match child.smp() {
            Smp::MergeKey(key) => Some(key),
            _ => None,
        };
        let original_list = match original.get(field) {
            None => None,
            Some(Value::Array(list)) => Some(list.clone()),
            Some(other) => {
                return Err(invalid(format!(
                    "expected a list for {field}, but received {other}"
                )));
            }
        };
        let patch_list = match patch.remove(field) {
            None => None,
            Some(Value::Array(list)) => Some(list),
            Some(other) => {
                return Err(invalid(format!(
                    "expected a list for {field}, but received {other}"
                )));
            }
        };
        let merged = match (original_list.clone(), patch_list) {
            (Some(current), None) => current,
            (None, Some(added)) => strip_directives_from_list(added),
            (Some(current), Some(patch_list)) => match child.smp() {
                Smp::Default => strip_directives_from_list(patch_list),
                strategy => merge_list(current, patch_list, child, strategy)?,
            },
            (None, None) => continue,
        };
        let (patch_items, server_only): (Vec<Value>, Vec<Value>) = merged
            .into_iter()
            .partition(|item| index_of(&order, item, merge_key).is_some());
        let server_order = original_list.unwrap_or_default();
        original.insert(
            field.to_string(),
            Value::Array(normalize_order(
                patch_items,
                server_only,
                &order,
                &server_order,
                merge_key,
            )),
        );
    }
    Ok(())
}

fn merge_list(
    original: Vec<Value>,
    patch: Vec<Value>,
    ty: Ty<'_>,
    strategy: Smp,
) -> Result<Vec<Value>, PatchError> {
    if original.is_empty() && patch.is_empty() {
        return Ok(original);
    }
    let items_are_maps = check_element_types(&original, &patch)?;
    if !items_are_maps {
        let mut merged = original.clone();
        for item in &patch {
            if !merged.contains(item) {
                merged.push(item.clone());
            }
        }
        return Ok(order_by_patch(merged, &patch, &original, None));
    }
    let Smp::MergeKey(merge_key) = strategy else {
        return Err(invalid("cannot merge lists without merge key"));
    };
    let (current, patch) = apply_list_directives(original, patch, merge_key)?;
    let mut merged = current.clone();
    for item in &patch {
        let key_value = merge_key_of(item, merge_key)?;
        let existing = merged
            .iter()
            .position(|candidate| candidate.get(merge_key) == Some(key_value));
        match (existing, item) {
            (Some(position), Value::Object(patch_item)) => {
                let current_item = match merged[position].take() {
                    Value::Object(map) => map,
                    _ => Map::new(),
                };
                merged[position] =
                    Value::Object(merge_map(current_item, patch_item.clone(), ty.items())?);
            }
            _ => merged.extend(strip_directives(item.clone())),
        }
    }
    Ok(order_by_patch(merged, &patch, &current, Some(merge_key)))
}

/// List items carrying `$patch`: `delete` removes the item with that key, `replace` makes the
/// other items the whole list. Returns the original to merge into and the plain patch items.
fn apply_list_directives(
    mut original: Vec<Value>,
    patch: Vec<Value>,
    merge_key: &str,
) -> Result<(Vec<Value>, Vec<Value>), PatchError> {
    let mut plain = Vec::new();
    let mut replace = false;
    for item in patch {
        match item.get(DIRECTIVE).map(|d| d.as_str()) {
            None => plain.push(item),
            Some(Some("delete")) => {
                let key_value = merge_key_of(&item, merge_key)?.clone();
                original.retain(|candidate| candidate.get(merge_key) != Some(&key_value));
            }
            Some(Some("replace")) => replace = true,
            Some(Some("merge")) => {
                return Err(invalid(
                    "merging lists cannot yet be specified in the patch",
                ));
            }
            Some(_) => {
                return Err(invalid(format!(
                    "unknown patch type: {} in map: {item}",
                    item[DIRECTIVE]
                )));
            }
        }
    }
    if replace {
        Ok((plain, Vec::new()))
    } else {
        Ok((original, plain))
    }
}

fn merge_key_of<'v>(item: &'v Value, merge_key: &str) -> Result<&'v Value, PatchError> {
    item.get(merge_key).ok_or_else(|| {
        invalid(format!(
            "map: {item} does not contain declared merge key: {merge_key}"
        ))
    })
}

/// True when the items are objects; errors on lists of lists and on mixed item types.
fn check_element_types(original: &[Value], patch: &[Value]) -> Result<bool, PatchError> {
    let kind = |v: &Value| std::mem::discriminant(v);
    let mut items = original.iter().chain(patch);
    let Some(first) = items.next() else {
        return Ok(false);
    };
    if first.is_array() {
        return Err(invalid("lists of lists are not supported"));
    }
    if items.any(|item| kind(item) != kind(first)) {
        return Err(invalid("list element types are not identical"));
    }
    Ok(first.is_object())
}

/// Puts the items named by the patch in patch order, keeping the server's other items.
fn order_by_patch(
    merged: Vec<Value>,
    patch: &[Value],
    original: &[Value],
    merge_key: Option<&str>,
) -> Vec<Value> {
    let (patch_items, server_only): (Vec<Value>, Vec<Value>) = merged
        .into_iter()
        .partition(|item| index_of(patch, item, merge_key).is_some());
    normalize_order(patch_items, server_only, patch, original, merge_key)
}

/// Where `item` (compared by merge key, or whole for scalars) sits in `list`.
fn index_of(list: &[Value], item: &Value, merge_key: Option<&str>) -> Option<usize> {
    match merge_key {
        Some(key) => {
            let wanted = item.get(key)?;
            list.iter()
                .position(|candidate| candidate.get(key) == Some(wanted))
        }
        None => list.iter().position(|candidate| candidate == item),
    }
}

/// Sorts patch items by `patch_order` and server-only items by `server_order`, then interleaves
/// them: a server-only item goes before a patch item only when the server had it before.
fn normalize_order(
    mut patch_items: Vec<Value>,
    mut server_only: Vec<Value>,
    patch_order: &[Value],
    server_order: &[Value],
    merge_key: Option<&str>,
) -> Vec<Value> {
    let rank =
        |order: &[Value], item: &Value| index_of(order, item, merge_key).unwrap_or(usize::MAX);
    patch_items.sort_by_key(|item| rank(patch_order, item));
    server_only.sort_by_key(|item| rank(server_order, item));
    let mut result = Vec::with_capacity(patch_items.len() + server_only.len());
    let mut patch_iter = patch_items.into_iter().peekable();
    let mut server_iter = server_only.into_iter().peekable();
    loop {
        match (server_iter.peek(), patch_iter.peek()) {
            (Some(server_item), Some(patch_item)) => {
                let server_first = matches!(
                    (index_of(server_order, server_item, merge_key), index_of(server_order, patch_item, merge_key)),
                    (Some(s), Some(p)) if s < p
                );
                result.extend(if server_first {
                    server_iter.next()
                } else {
                    patch_iter.next()
                });
            }
            (Some(_), None) => result.extend(server_iter.by_ref()),
            (None, Some(_)) => result.extend(patch_iter.by_ref()),
            (None, None) => return result,
        }
    }
}

fn discard_nulls(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, discard_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(discard_nulls).collect()),
        other => other,
    }
}

/// Removes directive keys; a map that is itself a directive (`{"$patch": ...}`) disappears.
fn strip_directives(value: Value) -> Option<Value> {
    match value {
        Value::Object(map) if map.contains_key(DIRECTIVE) => None,
        Value::Object(map) => Some(Value::Object(strip_directives_from_map(map))),
        Value::Array(items) => Some(Value::Array(strip_directives_from_list(items))),
        other => Some(other),
    }
}

fn strip_directives_from_map(map: Map<String, Value>) -> Map<String, Value> {
    map.into_iter()
        .filter(|(key, _)| !is_directive_key(key))
        .filter_map(|(key, value)| strip_directives(value).map(|value| (key, value)))
        .collect()
}

fn strip_directives_from_list(items: Vec<Value>) -> Vec<Value> {
    items.into_iter().filter_map(strip_directives).collect()
}

fn is_directive_key(key: &str) -> bool {
    key == DIRECTIVE
        || key == RETAIN_KEYS
        || key.starts_with(DELETE_FROM_PRIMITIVE_LIST)
        || key.starts_with(SET_ELEMENT_ORDER)
}
