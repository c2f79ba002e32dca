//! The pod's network as a program run for a mapped image sees it. Processes share this machine's
//! network, where a server listening on every address would take its port for every pod; in a
//! pod, every address is the pod IP. A small library preloaded into the program
//! (`native/pod_address.c`, built with this crate) turns a bind to the unspecified address
//! (`0.0.0.0`, `::`) into a bind to the pod IP, so that each pod's ports are its own and probes,
//! proxies and port-forwards reach them there. Statically linked programs (Go's, say) bypass it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The library, built by `build.rs`.
const LIBRARY: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/libpod_address.so"));

/// The variable the library reads the pod IP from.
pub const POD_IP_VARIABLE: &str = "LOCALCLUSTER_POD_IP";

/// Writes the library under `dir` (once per runtime directory) and returns its path.
pub fn library(dir: &Path) -> Result<PathBuf, String> {
    let path = dir.join("libpod_address.so");
    let current = std::fs::read(&path).is_ok_and(|existing| existing == LIBRARY);
    if !current {
        std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        // Written aside and renamed, so that a process starting meanwhile never loads half of it.
        let partial = dir.join(format!("libpod_address.so.{}", std::process::id()));
        std::fs::write(&partial, LIBRARY)
            .and_then(|()| std::fs::rename(&partial, &path))
            .map_err(|e| format!("writing {}: {e}", path.display()))?;
    }
    Ok(path)
}

/// Adds to `env` what makes the program's unspecified binds the pod's: the library preloaded
/// before any the container names, and the pod IP.
pub fn bind_to_pod_ip(env: &mut BTreeMap<String, String>, library: &Path, pod_ip: &str) {
    let library = library.to_string_lossy().into_owned();
    let preload = match env.get("LD_PRELOAD").filter(|v| !v.is_empty()) {
        Some(existing) => format!("{library}:{existing}"),
        None => library,
    };
    env.insert("LD_PRELOAD".into(), preload);
    env.insert(POD_IP_VARIABLE.into(), pod_ip.into());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_library_comes_first_and_the_pod_ip_is_given() {
        let mut env = BTreeMap::from([("LD_PRELOAD".to_string(), "/lib/other.so".to_string())]);
        bind_to_pod_ip(&mut env, Path::new("/pods/libpod_address.so"), "127.1.0.9");
        assert_eq!(env["LD_PRELOAD"], "/pods/libpod_address.so:/lib/other.so");
        assert_eq!(env[POD_IP_VARIABLE], "127.1.0.9");
    }

    #[test]
    fn the_library_is_written_once() {
        let dir = std::env::temp_dir().join(format!("pod-address-{}", std::process::id()));
        let path = library(&dir).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), LIBRARY);
        assert_eq!(library(&dir).unwrap(), path);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
