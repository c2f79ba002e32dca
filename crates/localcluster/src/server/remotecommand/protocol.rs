//! What `exec` and `attach` say, and in which words (pure). In Kubernetes a WebSocket that
//! offers `v5.channel.k8s.io` is served by the API server itself, which relays to the kubelet
//! over SPDY and reports what the kubelet said on its own error channel; any other WebSocket is
//! proxied to the kubelet, which serves `v4.channel.k8s.io`, `channel.k8s.io` and their base64
//! forms. The two paths word their failures differently, and clients show those words, so each
//! protocol here knows which path it stands for.

use super::super::channel::Encoding;

/// Channel numbers of the remote command protocols (the first three are the file descriptors).
pub const STDIN: u8 = 0;
pub const STDOUT: u8 = 1;
pub const STDERR: u8 = 2;
pub const ERROR: u8 = 3;
/// `v5.channel.k8s.io`: a message on it names a channel the client closes (stdin).
pub const CLOSE: u8 = 255;

/// One WebSocket subprotocol of remote commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Protocol {
    pub name: &'static str,
    pub encoding: Encoding,
    /// The error channel carries a JSON `Status` (v4 on), not the failure's text alone.
    pub json_status: bool,
    /// Served by the API server itself (v5): close signals, and the kubelet's words wrapped.
    pub by_api_server: bool,
}

const fn kubelet(name: &'static str, encoding: Encoding, json_status: bool) -> Protocol {
    Protocol {
        name,
        encoding,
        json_status,
        by_api_server: false,
    }
}

/// The protocols served: the API server's v5 first, then the kubelet's (`""` when a client
/// names none).
pub const PROTOCOLS: [Protocol; 6] = [
    Protocol {
        name: "v5.channel.k8s.io",
        encoding: Encoding::Binary,
        json_status: true,
        by_api_server: true,
    },
    kubelet("v4.channel.k8s.io", Encoding::Binary, true),
    kubelet("v4.base64.channel.k8s.io", Encoding::Base64, true),
    kubelet("channel.k8s.io", Encoding::Binary, false),
    kubelet("base64.channel.k8s.io", Encoding::Base64, false),
    kubelet("", Encoding::Binary, false),
];

/// The protocol a client offering `offered` gets, or the refusal's text (a 403). As in
/// Kubernetes, offering v5 at all routes to the API server's v5 whatever else is offered.
pub fn choose(offered: &[String]) -> Result<Protocol, String> {
    if offered.iter().any(|p| p == PROTOCOLS[0].name) {
        return Ok(PROTOCOLS[0]);
    }
    let names: Vec<&str> = PROTOCOLS[1..].iter().map(|p| p.name).collect();
    let name = super::super::channel::negotiate(offered, &names)?;
    Ok(*PROTOCOLS
        .iter()
        .find(|p| p.name == name)
        .unwrap_or(&PROTOCOLS[1]))
}

/// Which streams a request asks for (`PodExecOptions`, `PodAttachOptions`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Streams {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tty: bool,
}

impl Streams {
    /// From the query's flags, read as the API server converts them (`0`, `f` and `false` are
    /// false, any other value true, a missing one false). With a terminal there is no separate
    /// error stream, as the kubelet has it.
    pub fn from_query(flag: impl Fn(&str) -> Option<String>) -> Result<Streams, String> {
        let on = |key: &str| {
            flag(key).is_some_and(|value| {
                !(value == "0"
                    || value.eq_ignore_ascii_case("f")
                    || value.eq_ignore_ascii_case("false"))
            })
        };
        let tty = on("tty");
        let streams = Streams {
            stdin: on("stdin"),
            stdout: on("stdout"),
            stderr: on("stderr") && !tty,
            tty,
        };
        if !(streams.stdin || streams.stdout || streams.stderr) {
            return Err("you must specify at least 1 of stdin, stdout, stderr".into());
        }
        Ok(streams)
    }

    /// The channel that opens the session with an empty message: the lowest one written.
    pub fn opening_channel(&self) -> u8 {
        match (self.stdout, self.stderr) {
            (true, _) => STDOUT,
            (false, true) => STDERR,
            _ => ERROR,
        }
    }
}

/// How a command or an attachment ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Success,
    /// The command exited with a code other than 0 (128 + the signal for one killed).
    Exited {
        code: i32,
        command: Vec<String>,
    },
    /// The command could not be started: the kubelet's internal error, about this cause.
    Failed(String),
    /// The kubelet refused the stream with this text (before any upgrade), which only the API
    /// server's relay turns into a status.
    Refused(String),
}

/// What the error channel carries for `outcome` under `protocol`; `None` for nothing at all (a
/// success before v4).
pub fn status_message(protocol: &Protocol, outcome: &Outcome) -> Option<String> {
    let exit_message = |code: &i32, command: &[String]| {
        if protocol.by_api_server {
            // The relay reads the kubelet's status back into client-go's words, then words it
            // again.
            format!(
                "command terminated with non-zero exit code: command terminated with exit code {code}"
            )
        } else {
            // The kubelet passes containerd's words on.
            format!(
                "command terminated with non-zero exit code: error executing command [{}], exit code {code}",
                command.join(" ")
            )
        }
    };
    // The relay gets a kubelet's internal error back as a plain error with its message, and
    // reports that as an internal error of its own.
    let internal_cause = |cause: &str| {
        if protocol.by_api_server {
            format!("Internal error occurred: {cause}")
        } else {
            cause.to_string()
        }
    };
    match (outcome, protocol.json_status) {
        (Outcome::Success, true) => Some(r#"{"metadata":{},"status":"Success"}"#.into()),
        (Outcome::Success, false) => None,
        (Outcome::Exited { code, command }, true) => Some(format!(
            r#"{{"metadata":{{}},"status":"Failure","message":{},"reason":"NonZeroExitCode","details":{{"causes":[{{"reason":"ExitCode","message":"{code}"}}]}}}}"#,
            json_string(&exit_message(code, command))
        )),
        (Outcome::Exited { code, command }, false) => Some(exit_message(code, command)),
        (Outcome::Failed(cause), true) => Some(internal_error(&internal_cause(cause))),
        (Outcome::Failed(cause), false) => Some(format!(
            "Internal error occurred: {}",
            internal_cause(cause)
        )),
        (Outcome::Refused(refusal), true) => Some(internal_error(&upgrade_refused(refusal))),
        (Outcome::Refused(refusal), false) => Some(upgrade_refused(refusal)),
    }
}

/// A `Status` for an internal error about `cause`, as `NewInternalError` makes it.
fn internal_error(cause: &str) -> String {
    format!(
        r#"{{"metadata":{{}},"status":"Failure","message":{},"reason":"InternalError","details":{{"causes":[{{"message":{}}}]}},"code":500}}"#,
        json_string(&format!("Internal error occurred: {cause}")),
        json_string(cause)
    )
}

fn json_string(text: &str) -> String {
    serde_json::Value::from(text).to_string()
}

/// Why the kubelet cannot stream from a container it does not run: the pod is not started yet,
/// has ended, or is only simulated.
pub fn container_not_found(container: &str) -> String {
    format!("container not found ({container:?})")
}

/// client-go's words for a stream the kubelet refused with `refusal`.
fn upgrade_refused(refusal: &str) -> String {
    format!("unable to upgrade connection: {refusal}")
}

/// containerd's words for a command that could not be started (`exec_id` names the exec).
pub fn start_failure(command: &[String], error: &std::io::Error, exec_id: &str) -> String {
    let program = command.first().map(String::as_str).unwrap_or_default();
    let why = match error.kind() {
        std::io::ErrorKind::NotFound => {
            format!("exec: {program:?}: executable file not found in $PATH")
        }
        std::io::ErrorKind::PermissionDenied => {
            format!("exec: {program:?}: permission denied")
        }
        _ => format!("exec: {program:?}: {error}"),
    };
    format!(
        "error executing command in container: failed to exec in container: failed to start \
         exec {exec_id:?}: OCI runtime exec failed: exec failed: unable to start container \
         process: {why}: unknown"
    )
}

#[cfg(test)]
#[path = "protocol_tests.rs"]
mod tests;
