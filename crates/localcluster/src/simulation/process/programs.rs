//! Images that stand for local programs (`localcluster --image-program REPO=PATH`): a container
//! whose image repository matches REPO runs PATH as its image's entrypoint. Without images to
//! pull, this is how a pod of any image but Spark's (the operator's own, from its Helm chart)
//! runs for real.
//!
//! REPO is a glob (`*` and `?`, as `--unpullable-images`) over the image's repository as the
//! container runtime resolves it, without tag or digest: `ghcr.io/org/app` matches
//! `ghcr.io/org/app:1.2` and `ghcr.io/org/app@sha256:...`; `busybox` is
//! `docker.io/library/busybox`, so REPO is resolved the same way. The first match wins.
//!
//! The command line is the one Kubernetes makes from the image's entrypoint and default
//! arguments and the container's `command` and `args`: `command` replaces the entrypoint (PATH),
//! `args` replace the default arguments, of which a program has none. Pure.

use std::path::PathBuf;
use std::str::FromStr;

use serde_json::Value;

use super::env::expand;
use crate::simulation::images::{glob, reference};

/// One image repository (a glob) run as one local program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageProgram {
    /// The repository glob, resolved as the container runtime resolves an image name.
    pub repository: String,
    /// The program standing for the image's entrypoint.
    pub program: PathBuf,
}

impl FromStr for ImageProgram {
    type Err = String;

    /// `REPO=PATH`.
    fn from_str(text: &str) -> Result<ImageProgram, String> {
        let (repository, program) = text
            .split_once('=')
            .filter(|(repo, path)| !repo.is_empty() && !path.is_empty())
            .ok_or_else(|| format!("{text:?} is not REPO=PATH"))?;
        if repository.contains(['@']) || has_tag(repository) {
            return Err(format!(
                "{repository:?}: give the image's repository, without tag or digest"
            ));
        }
        Ok(ImageProgram {
            repository: qualified(repository),
            program: PathBuf::from(program),
        })
    }
}

/// Whether a repository names a tag (`name:tag`; a registry's `host:port/` is not one).
fn has_tag(repository: &str) -> bool {
    repository
        .rsplit('/')
        .next()
        .is_some_and(|last| last.contains(':'))
}

/// A repository as the container runtime resolves it (`apache/spark` is
/// `docker.io/apache/spark`), keeping glob characters where they are.
fn qualified(repository: &str) -> String {
    let first = repository.split('/').next().unwrap_or_default();
    let has_registry =
        repository.contains('/') && (first.contains(['.', ':', '*', '?']) || first == "localhost");
    match (has_registry, repository.contains('/')) {
        (true, _) => repository.to_string(),
        (false, true) => format!("docker.io/{repository}"),
        (false, false) if repository.contains(['*', '?']) => repository.to_string(),
        (false, false) => format!("docker.io/library/{repository}"),
    }
}

/// The repository of an image, without tag or digest (`ghcr.io/org/app:1.2` is
/// `ghcr.io/org/app`).
pub fn repository(image: &str) -> String {
    let full = reference(image);
    let name = full.split('@').next().unwrap_or_default();
    match name.rsplit_once('/') {
        Some((path, last)) => {
            let last = last.split(':').next().unwrap_or_default();
            format!("{path}/{last}")
        }
        None => name.to_string(),
    }
}

/// The program that runs `image`, if one is declared for its repository.
pub fn program_for<'a>(programs: &'a [ImageProgram], image: &str) -> Option<&'a ImageProgram> {
    let repository = repository(image);
    programs.iter().find(|p| glob(&p.repository, &repository))
}

/// What a container runs: the program and its arguments.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandLine {
    pub program: PathBuf,
    pub args: Vec<String>,
    /// Whether the program is the image's entrypoint, the mapped program: a path on this
    /// machine, never one of the container's paths (a volume mounted at `/tmp` must not move a
    /// program that lives under this machine's `/tmp`).
    pub is_entrypoint: bool,
}

/// The command line of `container`, whose image's entrypoint is `entrypoint`, with `$(VAR)`
/// references to its environment `env` expanded as the kubelet expands them. With a `command`,
/// its first word is the program, as a path on this machine (the caller maps container paths).
pub fn command_line(
    container: &Value,
    entrypoint: &std::path::Path,
    env: &[(String, String)],
) -> Result<CommandLine, String> {
    let words = |key: &str| -> Vec<String> {
        container[key]
            .as_array()
            .into_iter()
            .flatten()
            .map(|w| expand(w.as_str().unwrap_or_default(), env))
            .collect()
    };
    let (command, args) = (words("command"), words("args"));
    match command.split_first() {
        None => Ok(CommandLine {
            program: entrypoint.to_path_buf(),
            args,
            is_entrypoint: true,
        }),
        Some((first, rest)) if !first.is_empty() => Ok(CommandLine {
            program: PathBuf::from(first),
            args: rest.iter().cloned().chain(args).collect(),
            is_entrypoint: false,
        }),
        Some(_) => Err("the container's command starts with an empty word".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn programs(specs: &[&str]) -> Vec<ImageProgram> {
        specs.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn flags_name_a_repository_and_a_program() {
        let parsed: ImageProgram = "ghcr.io/org/app=/usr/local/bin/app".parse().unwrap();
        assert_eq!(parsed.repository, "ghcr.io/org/app");
        assert_eq!(parsed.program, PathBuf::from("/usr/local/bin/app"));
        let short: ImageProgram = "busybox=/bin/sh".parse().unwrap();
        assert_eq!(short.repository, "docker.io/library/busybox");
        let with_port: ImageProgram = "localhost:5000/app=/bin/app".parse().unwrap();
        assert_eq!(with_port.repository, "localhost:5000/app");
        for bad in [
            "app",
            "=/bin/sh",
            "app=",
            "app:1.0=/bin/app",
            "app@sha256:0=/x",
        ] {
            assert!(bad.parse::<ImageProgram>().is_err(), "{bad}");
        }
    }

    #[test]
    fn images_match_by_repository_whatever_their_tag() {
        let all = programs(&[
            "ghcr.io/org/app=/bin/app",
            "busybox=/bin/sh",
            "*/tools/*=/bin/tool",
        ]);
        let found = |image: &str| program_for(&all, image).map(|p| p.program.clone());
        assert_eq!(found("ghcr.io/org/app:1.2"), Some("/bin/app".into()));
        assert_eq!(found("ghcr.io/org/app@sha256:abc"), Some("/bin/app".into()));
        assert_eq!(found("ghcr.io/org/app"), Some("/bin/app".into()));
        assert_eq!(found("busybox:1.36"), Some("/bin/sh".into()));
        assert_eq!(found("docker.io/library/busybox"), Some("/bin/sh".into()));
        assert_eq!(
            found("registry.example/tools/jq:1"),
            Some("/bin/tool".into())
        );
        assert_eq!(found("ghcr.io/org/application:1"), None);
        assert_eq!(found("apache/spark:4.0.1"), None);
        assert_eq!(repository("localhost:5000/app:2"), "localhost:5000/app");
    }

    #[test]
    fn command_and_args_resolve_against_the_entrypoint() {
        let env = vec![("NS".to_string(), "spark".to_string())];
        let entrypoint = std::path::Path::new("/bin/app");
        let line = |container: Value| command_line(&container, entrypoint, &env).unwrap();
        assert_eq!(
            line(json!({"args": ["start", "--namespace=$(NS)", "$$(NS)"]})),
            CommandLine {
                program: "/bin/app".into(),
                args: vec!["start".into(), "--namespace=spark".into(), "$(NS)".into()],
                is_entrypoint: true,
            }
        );
        assert_eq!(
            line(json!({"command": ["/bin/sh", "-c"], "args": ["echo $(NS)"]})),
            CommandLine {
                program: "/bin/sh".into(),
                args: vec!["-c".into(), "echo spark".into()],
                is_entrypoint: false,
            }
        );
        assert_eq!(
            line(json!({"command": ["/bin/true"]})).args,
            Vec::<String>::new()
        );
        assert_eq!(line(json!({})).args, Vec::<String>::new());
        assert!(command_line(&json!({"command": [""]}), entrypoint, &env).is_err());
    }
}
