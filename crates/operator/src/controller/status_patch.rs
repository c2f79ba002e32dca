//! The JSON merge patch (RFC 7386) that turns one status into another, so that a status write
//! sends what changed instead of the whole application.

use serde_json::{Map, Value};

/// The merge patch that, applied to `from`, gives `to`: changed members are set, members `to`
/// lacks are set to `null` (merge patches remove with `null`), and arrays are replaced whole.
pub fn merge_patch(from: &Value, to: &Value) -> Value {
    match (from, to) {
        (Value::Object(from), Value::Object(to)) => {
            let mut patch = Map::new();
            for (key, old) in from {
                match to.get(key) {
                    None => {
                        patch.insert(key.clone(), Value::Null);
                    }
                    Some(new) if new != old => {
                        patch.insert(key.clone(), merge_patch(old, new));
                    }
                    Some(_) => {}
                }
            }
            for (key, new) in to {
                if !from.contains_key(key) {
                    patch.insert(key.clone(), new.clone());
                }
            }
            Value::Object(patch)
        }
        // A value that is not an object replaces the old one; so does an object over a
        // non-object (the patch would otherwise merge into nothing, which is the same).
        _ => to.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// RFC 7386's MergePatch, to check that the patch gives `to` back.
    fn apply(target: &Value, patch: &Value) -> Value {
        let Value::Object(patch) = patch else {
            return patch.clone();
        };
        let mut result = match target {
            Value::Object(target) => target.clone(),
            _ => Map::new(),
        };
        for (key, value) in patch {
            if value.is_null() {
                result.remove(key);
            } else {
                let merged = apply(result.get(key).unwrap_or(&Value::Null), value);
                result.insert(key.clone(), merged);
            }
        }
        Value::Object(result)
    }

    #[test]
    fn the_patch_holds_only_the_changes_and_gives_the_new_status() {
        let from = json!({
            "applicationState": {"state": "SUBMITTED"},
            "driverInfo": {"podName": "pi-driver", "webUIPort": 4040},
            "executorState": {"pi-exec-1": "RUNNING"},
            "submissionAttempts": 1,
        });
        let to = json!({
            "applicationState": {"state": "RUNNING"},
            "driverInfo": {"podName": "pi-driver", "webUIPort": 4040},
            "submissionAttempts": 1,
            "terminationTime": null,
            "sparkApplicationId": "spark-1",
        });
        let patch = merge_patch(&from, &to);
        assert_eq!(
            patch,
            json!({
                "applicationState": {"state": "RUNNING"},
                "executorState": null,
                "terminationTime": null,
                "sparkApplicationId": "spark-1",
            })
        );
        let mut expected = to.clone();
        expected.as_object_mut().unwrap().remove("terminationTime");
        assert_eq!(apply(&from, &patch), expected);
    }

    #[test]
    fn a_first_status_is_sent_whole_and_arrays_are_replaced() {
        let to = json!({"applicationState": {"state": "SUBMITTED"}, "list": [1, 2]});
        assert_eq!(merge_patch(&Value::Null, &to), to);
        let from = json!({"list": [1, 2, 3]});
        assert_eq!(
            merge_patch(&from, &to),
            json!({"applicationState": {"state": "SUBMITTED"}, "list": [1, 2]})
        );
        assert_eq!(merge_patch(&to, &to), json!({}));
    }
}
