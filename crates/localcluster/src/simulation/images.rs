//! Images that cannot be pulled, so that a stuck driver's most common cause can be tested: an
//! image matching a pattern given to the nodes (`localcluster --unpullable-images`,
//! [`super::NodesConfig::unpullable_images`]) or listed in the pod's annotation
//! `localcluster/unpullable-images` fails to pull, as a registry without it fails the kubelet:
//! `ErrImagePull`, then `ImagePullBackOff` while the kubelet backs off (10 s, doubling up to
//! 5 minutes) before it tries again. Patterns are globs (`*` and `?`) over the image as the pod
//! writes it (`apache/spark:4.0.0`, `*:does-not-exist`, `registry.example/*`).

use std::time::{Duration, Instant};

use serde_json::Value;

/// Image patterns that cannot be pulled for one pod, comma-separated.
pub const UNPULLABLE_IMAGES_ANNOTATION: &str = "localcluster/unpullable-images";

/// The kubelet's image pull back-off: the first delay, doubled after each failure up to the most.
const FIRST_BACK_OFF: Duration = Duration::from_secs(10);
const MOST_BACK_OFF: Duration = Duration::from_secs(300);

/// Whether `pattern` (with `*` and `?`) matches all of `text`.
pub fn glob(pattern: &str, text: &str) -> bool {
    let (pattern, text): (Vec<char>, Vec<char>) =
        (pattern.chars().collect(), text.chars().collect());
    let (mut p, mut t) = (0, 0);
    let (mut star, mut resume) = (None, 0);
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == '?' || pattern[p] == text[t]) {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == '*' {
            star = Some(p);
            resume = t;
            p += 1;
        } else if let Some(at) = star {
            p = at + 1;
            resume += 1;
            t = resume;
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|c| *c == '*')
}

/// Whether `image` of `pod` cannot be pulled, by the nodes' patterns or the pod's annotation.
pub fn unpullable(image: &str, pod: &Value, patterns: &[String]) -> bool {
    let annotated = pod["metadata"]["annotations"][UNPULLABLE_IMAGES_ANNOTATION]
        .as_str()
        .unwrap_or_default();
    patterns
        .iter()
        .map(String::as_str)
        .chain(annotated.split(','))
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .any(|pattern| glob(pattern, image))
}

/// The image's full reference, as the container runtime resolves it (`busybox` is
/// `docker.io/library/busybox:latest`).
pub fn reference(image: &str) -> String {
    let (name, digest) = match image.split_once('@') {
        Some((name, digest)) => (name, Some(digest)),
        None => (image, None),
    };
    let first = name.split('/').next().unwrap_or_default();
    let has_registry =
        name.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    let qualified = match (has_registry, name.contains('/')) {
        (true, _) => name.to_string(),
        (false, true) => format!("docker.io/{name}"),
        (false, false) => format!("docker.io/library/{name}"),
    };
    let last = qualified.rsplit('/').next().unwrap_or_default();
    match digest {
        Some(digest) => format!("{qualified}@{digest}"),
        None if last.contains(':') => qualified,
        None => format!("{qualified}:latest"),
    }
}

/// What the container runtime says when a registry does not have the image, as containerd does.
pub fn pull_error(image: &str) -> String {
    let reference = reference(image);
    format!(
        "rpc error: code = NotFound desc = failed to pull and unpack image \"{reference}\": \
         failed to resolve reference \"{reference}\": {reference}: not found"
    )
}

/// The pull attempts of one container, with the kubelet's back-off between them.
#[derive(Debug, Clone)]
pub struct Pulls {
    delay: Duration,
    retry_at: Instant,
    /// Whether the back-off since the last failure has been reported.
    pub backing_off_reported: bool,
}

impl Pulls {
    /// After the first failed pull at `now`.
    pub fn failed(now: Instant) -> Pulls {
        Pulls {
            delay: FIRST_BACK_OFF,
            retry_at: now + FIRST_BACK_OFF,
            backing_off_reported: false,
        }
    }

    /// Whether the back-off is over and the kubelet pulls again.
    pub fn may_retry(&self, now: Instant) -> bool {
        now >= self.retry_at
    }

    /// Another failed pull at `now`: the next delay doubles.
    pub fn failed_again(&mut self, now: Instant) {
        self.delay = (self.delay * 2).min(MOST_BACK_OFF);
        self.retry_at = now + self.delay;
        self.backing_off_reported = false;
    }

    /// How long until the next pull.
    pub fn remaining(&self, now: Instant) -> Duration {
        self.retry_at.saturating_duration_since(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn globs() {
        assert!(glob("apache/spark:*", "apache/spark:4.0.0"));
        assert!(glob("*:does-not-exist", "busybox:does-not-exist"));
        assert!(glob("spark:4.0.?", "spark:4.0.1"));
        assert!(!glob("spark:4.0.?", "spark:4.0.10"));
        assert!(glob("*", "anything"));
        assert!(!glob("apache/*", "bitnami/spark"));
    }

    #[test]
    fn patterns_from_the_nodes_and_the_pod() {
        let pod =
            json!({"metadata": {"annotations": {UNPULLABLE_IMAGES_ANNOTATION: "ghost:*, x"}}});
        assert!(unpullable("ghost:1", &pod, &[]));
        assert!(unpullable("busybox", &json!({}), &["busybox".to_string()]));
        assert!(!unpullable("busybox", &pod, &[]));
    }

    #[test]
    fn references_and_messages_as_containerd_writes_them() {
        assert_eq!(reference("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(
            reference("apache/spark:4.0.0"),
            "docker.io/apache/spark:4.0.0"
        );
        assert_eq!(reference("gcr.io/p/app"), "gcr.io/p/app:latest");
        assert_eq!(reference("localhost:5000/app:1"), "localhost:5000/app:1");
        assert!(pull_error("ghost:1").ends_with("docker.io/library/ghost:1: not found"));
    }

    #[test]
    fn back_off_doubles_up_to_five_minutes() {
        let start = Instant::now();
        let mut pulls = Pulls::failed(start);
        assert!(!pulls.may_retry(start + Duration::from_secs(9)));
        assert!(pulls.may_retry(start + Duration::from_secs(10)));
        for _ in 0..10 {
            pulls.failed_again(start);
        }
        assert_eq!(pulls.remaining(start), MOST_BACK_OFF);
    }
}
