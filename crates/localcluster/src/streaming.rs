//! What `pods/exec` and `pods/attach` reach: the containers a runtime is running, as a kubelet's
//! streaming server reaches them through its container runtime. The API server and the runtime
//! share one process here, so instead of a connection to a node there is a table: a runtime
//! registers each container it starts and removes it when it ends, and the server looks one up
//! by pod and container. Simulated containers never appear in it, which is how the server tells
//! a container it can stream from one that only exists on paper.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::{broadcast, mpsc};

/// Which of a container's output streams a piece of output came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputStream {
    Stdout,
    Stderr,
}

/// What an attached client sends to a container's standard input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StdinEvent {
    Data(Bytes),
    /// The client closed its standard input or went away: with `stdinOnce` the container's
    /// standard input is closed then, as the container runtime does.
    Detached,
}

/// A running container as the streaming server sees it.
pub trait RunningContainer: Send + Sync {
    /// Starts `command` in the container's environment (its variables, working directory and
    /// paths), with piped standard input, output and error.
    fn exec(&self, command: &[String]) -> std::io::Result<tokio::process::Child>;

    /// What the container prints from now on.
    fn output(&self) -> broadcast::Receiver<(OutputStream, Bytes)>;

    /// The container's standard input, when its spec opens one (`stdin: true`).
    fn stdin(&self) -> Option<mpsc::Sender<StdinEvent>>;
}

/// The exit code as a container runtime reports it: 128 + the signal for a process killed by one.
pub fn exit_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .or_else(|| status.signal().map(|signal| 128 + signal))
        .unwrap_or(128)
}

/// (namespace, pod, container).
type Key = (String, String, String);

/// Each running container with the uid of its pod.
type Table = HashMap<Key, (String, Arc<dyn RunningContainer>)>;

/// The containers running now, by pod and container, with the uid of the pod each belongs to.
#[derive(Default, Clone)]
pub struct RunningContainers {
    table: Arc<Mutex<Table>>,
}

impl RunningContainers {
    /// Records that the container `container` of the pod `namespace/pod` (uid `uid`) runs.
    pub fn register(
        &self,
        (namespace, pod, uid): (&str, &str, &str),
        container: &str,
        running: Arc<dyn RunningContainer>,
    ) {
        self.lock().insert(
            (namespace.into(), pod.into(), container.into()),
            (uid.into(), running),
        );
    }

    /// Records that the container ended; a container of a newer pod of the same name is kept.
    pub fn remove(&self, (namespace, pod, uid): (&str, &str, &str), container: &str) {
        let key = (
            namespace.to_string(),
            pod.to_string(),
            container.to_string(),
        );
        let mut table = self.lock();
        if table.get(&key).is_some_and(|(owner, _)| owner == uid) {
            table.remove(&key);
        }
    }

    /// The running container `container` of the pod `namespace/pod` whose uid is `uid`.
    pub fn find(
        &self,
        (namespace, pod, uid): (&str, &str, &str),
        container: &str,
    ) -> Option<Arc<dyn RunningContainer>> {
        let key = (
            namespace.to_string(),
            pod.to_string(),
            container.to_string(),
        );
        self.lock()
            .get(&key)
            .filter(|(owner, _)| owner == uid)
            .map(|(_, running)| running.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Nothing;

    impl RunningContainer for Nothing {
        fn exec(&self, _: &[String]) -> std::io::Result<tokio::process::Child> {
            Err(std::io::Error::other("nothing runs"))
        }
        fn output(&self) -> broadcast::Receiver<(OutputStream, Bytes)> {
            broadcast::channel(1).1
        }
        fn stdin(&self) -> Option<mpsc::Sender<StdinEvent>> {
            None
        }
    }

    #[test]
    fn a_container_is_found_only_for_its_own_pod() {
        let table = RunningContainers::default();
        table.register(("ns", "p", "uid-1"), "main", Arc::new(Nothing));
        assert!(table.find(("ns", "p", "uid-1"), "main").is_some());
        assert!(table.find(("ns", "p", "uid-2"), "main").is_none());
        assert!(table.find(("ns", "p", "uid-1"), "side").is_none());
        // The end of an older pod's container leaves a newer one's alone.
        table.remove(("ns", "p", "uid-0"), "main");
        assert!(table.find(("ns", "p", "uid-1"), "main").is_some());
        table.remove(("ns", "p", "uid-1"), "main");
        assert!(table.find(("ns", "p", "uid-1"), "main").is_none());
    }
}
