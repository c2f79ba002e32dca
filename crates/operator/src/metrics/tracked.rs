//! The gauges of running applications and executors, kept per application so that looking at
//! the same application again replaces its share instead of adding to it.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

use super::{Gauges, Labels};

struct Share {
    labels: Labels,
    running: bool,
    executors: u64,
    seen: Instant,
}

#[derive(Default)]
pub struct Tracked {
    shares: HashMap<String, Share>,
    last_expiry: Option<Instant>,
}

fn add(share: &Share, sign: i64, apps: &Gauges, executors: &Gauges) {
    if share.running {
        apps.get_or_create(&share.labels).inc_by(sign);
    }
    if share.executors > 0 {
        let count = i64::try_from(share.executors).unwrap_or(i64::MAX);
        executors.get_or_create(&share.labels).inc_by(sign * count);
    }
}

impl Tracked {
    /// Sets the share of the application `key`.
    #[allow(clippy::too_many_arguments)]
    pub fn set(
        &mut self,
        key: String,
        labels: Labels,
        running: bool,
        executor_count: u64,
        now: Instant,
        apps: &Gauges,
        executors: &Gauges,
    ) {
        if let Some(old) = self.shares.remove(&key) {
            add(&old, -1, apps, executors);
        }
        if !running && executor_count == 0 {
            return;
        }
        let share = Share {
            labels,
            running,
            executors: executor_count,
            seen: now,
        };
        add(&share, 1, apps, executors);
        self.shares.insert(key, share);
    }

    /// Drops the shares of applications not looked at for `expiry` (checked at most every 10s).
    pub fn expire(&mut self, now: Instant, expiry: Duration, apps: &Gauges, executors: &Gauges) {
        if self
            .last_expiry
            .is_some_and(|last| now.duration_since(last) < Duration::from_secs(10))
        {
            return;
        }
        self.last_expiry = Some(now);
        let stale: Vec<String> = self
            .shares
            .iter()
            .filter(|(_, share)| now.duration_since(share.seen) > expiry)
            .map(|(key, _)| key.clone())
            .collect();
        for key in stale {
            if let Some(share) = self.shares.remove(&key) {
                add(&share, -1, apps, executors);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_replace_each_other_and_expire() {
        let (apps, executors) = (Gauges::default(), Gauges::default());
        let labels = vec![("namespace".to_string(), "default".to_string())];
        let mut tracked = Tracked::default();
        let start = Instant::now();
        tracked.set(
            "a".into(),
            labels.clone(),
            true,
            2,
            start,
            &apps,
            &executors,
        );
        tracked.set(
            "a".into(),
            labels.clone(),
            true,
            3,
            start,
            &apps,
            &executors,
        );
        tracked.set(
            "b".into(),
            labels.clone(),
            true,
            0,
            start,
            &apps,
            &executors,
        );
        assert_eq!(apps.get_or_create(&labels).get(), 2);
        assert_eq!(executors.get_or_create(&labels).get(), 3);
        tracked.set(
            "b".into(),
            labels.clone(),
            false,
            0,
            start,
            &apps,
            &executors,
        );
        assert_eq!(apps.get_or_create(&labels).get(), 1);
        let later = start + Duration::from_secs(400);
        tracked.expire(later, Duration::from_secs(300), &apps, &executors);
        assert_eq!(apps.get_or_create(&labels).get(), 0);
        assert_eq!(executors.get_or_create(&labels).get(), 0);
    }
}
