//! A container process as `exec` and `attach` reach it. A command run by `exec` gets what the
//! container's own process got: its environment, its working directory, its paths rewritten the
//! same way (so `/opt/spark/work-dir` is the pod's directory) and its process group, so that
//! stopping the container ends what was started in it, as a container's PID namespace does.
//! `attach` reads what the container prints (line by line, as it is recorded for the log) and,
//! when the container's spec opens one, writes to its standard input.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;

use bytes::Bytes;
use tokio::io::AsyncWriteExt;
use tokio::process::ChildStdin;
use tokio::sync::{broadcast, mpsc};

use super::paths::PathMap;
use crate::streaming::{OutputStream, RunningContainer, StdinEvent};

/// What a container prints, for attached clients; lines beyond this wait for a slow one are lost
/// to it, as a runtime's attach buffers are bounded.
const OUTPUT_BUFFER_LINES: usize = 1024;

/// The running container process of a pod.
pub struct ProcessContainer {
    pub environment: BTreeMap<String, String>,
    pub working_dir: PathBuf,
    pub paths: PathMap,
    /// The process group of the container.
    pub group: i32,
    pub output: broadcast::Sender<(OutputStream, Bytes)>,
    pub stdin: Option<mpsc::Sender<StdinEvent>>,
}

/// A sender of the container's output, for the tasks that read its pipes.
pub fn output_channel() -> broadcast::Sender<(OutputStream, Bytes)> {
    broadcast::channel(OUTPUT_BUFFER_LINES).0
}

/// `command` with its container paths rewritten to this machine's, and, for `tar`, member names
/// written back as the container's paths (`kubectl cp` from a pod checks that every member is
/// under the path it asked for).
pub fn host_command(command: &[String], paths: &PathMap) -> Vec<String> {
    let mut rewritten: Vec<String> = command.iter().map(|a| paths.rewrite(a)).collect();
    let is_tar = command
        .first()
        .is_some_and(|program| program.rsplit('/').next() == Some("tar"));
    if is_tar {
        // GNU tar strips the leading `/` before it transforms a name; options may follow the
        // file names.
        for (container, host) in paths.mappings() {
            let host = host.to_string_lossy();
            let (host, container) = (
                host.trim_start_matches('/'),
                container.trim_start_matches('/'),
            );
            if host.is_empty()
                || container.is_empty()
                || host.contains('|')
                || container.contains('|')
            {
                continue;
            }
            rewritten.push(format!("--transform=s|^{}|{container}|", literal(host)));
        }
    }
    rewritten
}

/// `text` as a basic regular expression (tar's) that matches it literally.
fn literal(text: &str) -> String {
    text.chars()
        .flat_map(|c| match c {
            '.' | '[' | ']' | '*' | '^' | '$' | '\\' => vec!['\\', c],
            c => vec![c],
        })
        .collect()
}

impl RunningContainer for ProcessContainer {
    fn exec(&self, command: &[String]) -> std::io::Result<tokio::process::Child> {
        let command = host_command(command, &self.paths);
        let (program, args) = command
            .split_first()
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no command"))?;
        tokio::process::Command::new(program)
            .args(args)
            .env_clear()
            .envs(&self.environment)
            .current_dir(&self.working_dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(self.group)
            .kill_on_drop(true)
            .spawn()
    }

    fn output(&self) -> broadcast::Receiver<(OutputStream, Bytes)> {
        self.output.subscribe()
    }

    fn stdin(&self) -> Option<mpsc::Sender<StdinEvent>> {
        self.stdin.clone()
    }
}

/// Feeds a container's standard input from attached clients until the container ends, or, with
/// `stdin_once`, until the first client detaches.
pub fn feed_stdin(mut stdin: ChildStdin, stdin_once: bool) -> mpsc::Sender<StdinEvent> {
    let (sender, mut events) = mpsc::channel::<StdinEvent>(64);
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            match event {
                StdinEvent::Data(bytes) => {
                    if stdin.write_all(&bytes).await.is_err() {
                        break;
                    }
                    let _ = stdin.flush().await;
                }
                StdinEvent::Detached if stdin_once => break,
                StdinEvent::Detached => {}
            }
        }
    });
    sender
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn words(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn container_paths_become_the_pods_own() {
        let mut paths = PathMap::new(Path::new("/spark"), Path::new("/pods/p-1/work-dir"));
        paths.add("/data", Path::new("/pods/p-1/data"));
        assert_eq!(
            host_command(&words("cat /data/in.txt /etc/hostname"), &paths),
            words("cat /pods/p-1/data/in.txt /etc/hostname")
        );
    }

    #[test]
    fn tar_names_members_as_the_container_sees_them() {
        let mut paths = PathMap::new(Path::new("/spark"), Path::new("/pods/p.1/work-dir"));
        paths.add("/data", Path::new("/pods/p.1/data"));
        let command = host_command(&words("tar cf - /data/in.txt"), &paths);
        assert_eq!(command[..4], words("tar cf - /pods/p.1/data/in.txt")[..]);
        assert!(
            command.contains(&r"--transform=s|^pods/p\.1/data|data|".to_string()),
            "{command:?}"
        );
        assert!(command.contains(&"--transform=s|^spark|opt/spark|".to_string()));
    }
}
