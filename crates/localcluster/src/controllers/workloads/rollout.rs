//! The arithmetic of a Deployment's rollout, as the deployment controller does it: how far the
//! new ReplicaSet may grow (`maxSurge`) and how far the old ones may shrink (`maxUnavailable`),
//! one step at a time, and the name a template gets (`pod-template-hash`).

use serde_json::Value;

/// A ReplicaSet as the rollout sees it: the replicas it is asked for and how many are available.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Counts {
    pub replicas: i64,
    pub available: i64,
}

/// The next step of a rolling update.
#[derive(Debug, PartialEq)]
pub enum Step {
    /// Scale the new ReplicaSet to this many.
    ScaleNew(i64),
    /// Scale the old ReplicaSets (in the order given) to these.
    ScaleOld(Vec<i64>),
    Done,
}

/// An int-or-string of the strategy (`2`, `"25%"`) against `desired` replicas, rounded up for
/// the surge and down for unavailability.
pub fn resolve(value: &Value, desired: i64, round_up: bool) -> i64 {
    match value {
        Value::Number(n) => n.as_i64().unwrap_or(0),
        Value::String(s) => match s.strip_suffix('%').and_then(|p| p.parse::<i64>().ok()) {
            Some(percent) if round_up => (percent * desired + 99) / 100,
            Some(percent) => percent * desired / 100,
            None => s.parse().unwrap_or(0),
        },
        _ => 0,
    }
}

/// `maxSurge` and `maxUnavailable` resolved; both 0 would never move, so unavailability is then
/// 1, and it is never more than the replicas.
pub fn fenceposts(surge: &Value, unavailable: &Value, desired: i64) -> (i64, i64) {
    let surge = resolve(surge, desired, true);
    let mut unavailable = resolve(unavailable, desired, false);
    if surge == 0 && unavailable == 0 {
        unavailable = 1;
    }
    (surge, unavailable.min(desired))
}

/// The next step of a rolling update from `olds` (oldest first) to `new`: first grow the new
/// ReplicaSet as far as the surge allows, else shrink the old ones, unhealthy replicas first,
/// as far as keeping `desired - max_unavailable` available allows.
pub fn rolling_step(
    desired: i64,
    (max_surge, max_unavailable): (i64, i64),
    new: Counts,
    olds: &[Counts],
) -> Step {
    let old_total: i64 = olds.iter().map(|o| o.replicas).sum();
    let target_new = if new.replicas > desired {
        desired
    } else {
        let room = desired + max_surge - (new.replicas + old_total);
        new.replicas + room.max(0).min(desired - new.replicas)
    };
    if target_new != new.replicas {
        return Step::ScaleNew(target_new);
    }
    let min_available = desired - max_unavailable;
    let new_unavailable = new.replicas - new.available;
    let mut left = new.replicas + old_total - min_available - new_unavailable;
    let mut targets: Vec<i64> = olds.iter().map(|o| o.replicas).collect();
    for (old, target) in olds.iter().zip(targets.iter_mut()) {
        let unhealthy = (old.replicas - old.available).max(0).min(left.max(0));
        *target -= unhealthy;
        left -= unhealthy;
    }
    let available: i64 = new.available + olds.iter().map(|o| o.available).sum::<i64>();
    let mut scale_down = (available - min_available).max(0);
    for target in targets.iter_mut() {
        let step = (*target).min(scale_down);
        *target -= step;
        scale_down -= step;
    }
    if targets.iter().zip(olds).any(|(t, o)| *t != o.replicas) {
        Step::ScaleOld(targets)
    } else {
        Step::Done
    }
}

/// The `pod-template-hash` of a template: FNV-1a (32 bits) of the template and the collision
/// count, spelled by [`safe_encode`].
pub fn template_hash(template: &Value, collision_count: i64) -> String {
    let mut hash: u32 = 0x811c_9dc5;
    let text = format!(
        "{template}{}",
        if collision_count > 0 {
            collision_count.to_string()
        } else {
            String::new()
        }
    );
    for byte in text.bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    safe_encode(hash)
}

/// A hash's decimal digits spelled in the alphabet of Kubernetes' `SafeEncodeString`, which
/// has no vowels so that no word is spelled by chance.
pub fn safe_encode(hash: u32) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    hash.to_string()
        .bytes()
        .map(|b| ALPHABET[usize::from(b) % ALPHABET.len()] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rs(replicas: i64, available: i64) -> Counts {
        Counts {
            replicas,
            available,
        }
    }

    #[test]
    fn percentages_round_up_for_surge_and_down_for_unavailability() {
        assert_eq!(fenceposts(&json!("25%"), &json!("25%"), 3), (1, 0));
        assert_eq!(fenceposts(&json!("25%"), &json!("25%"), 10), (3, 2));
        assert_eq!(fenceposts(&json!(0), &json!(0), 3), (0, 1));
        assert_eq!(fenceposts(&json!(1), &json!(5), 2), (1, 2));
    }

    #[test]
    fn a_rolling_update_surges_then_shrinks_the_old_set() {
        // 3 replicas, surge 1, unavailable 0: one new pod at a time.
        let limits = (1, 0);
        assert_eq!(
            rolling_step(3, limits, rs(0, 0), &[rs(3, 3)]),
            Step::ScaleNew(1)
        );
        // The new pod is not available yet: nothing may go.
        assert_eq!(rolling_step(3, limits, rs(1, 0), &[rs(3, 3)]), Step::Done);
        // Once it is, one old pod goes.
        assert_eq!(
            rolling_step(3, limits, rs(1, 1), &[rs(3, 3)]),
            Step::ScaleOld(vec![2])
        );
        assert_eq!(
            rolling_step(3, limits, rs(1, 1), &[rs(2, 2)]),
            Step::ScaleNew(2)
        );
        assert_eq!(
            rolling_step(3, limits, rs(3, 3), &[rs(1, 1)]),
            Step::ScaleOld(vec![0])
        );
        assert_eq!(rolling_step(3, limits, rs(3, 3), &[rs(0, 0)]), Step::Done);
    }

    #[test]
    fn unhealthy_old_replicas_go_first() {
        // Old set of 3 with 1 available, a new pod not yet available, unavailable 1: one of the
        // unavailable old pods may go.
        assert_eq!(
            rolling_step(3, (1, 1), rs(1, 0), &[rs(3, 1)]),
            Step::ScaleOld(vec![2])
        );
    }

    #[test]
    fn scaling_down_a_deployment_shrinks_the_new_set() {
        assert_eq!(rolling_step(2, (1, 0), rs(5, 5), &[]), Step::ScaleNew(2));
    }

    #[test]
    fn hashes_are_stable_and_change_with_the_template() {
        let a = template_hash(&json!({"spec": {"image": "a"}}), 0);
        assert_eq!(a, template_hash(&json!({"spec": {"image": "a"}}), 0));
        assert_ne!(a, template_hash(&json!({"spec": {"image": "b"}}), 0));
        assert_ne!(a, template_hash(&json!({"spec": {"image": "a"}}), 1));
        assert!(a.chars().all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c)));
    }
}
