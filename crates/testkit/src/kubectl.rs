//! The real `kubectl`, as a user runs it against the local cluster: the one runner of every test
//! that checks what kubectl shows or does. It is found on `PATH` (CI installs Debian's
//! kubernetes-client), and runs with nothing of the environment but its kubeconfig and a `HOME`
//! of its own, so that neither a developer's `~/.kube` nor another test's discovery cache changes
//! what it sees.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use localcluster::LocalCluster;

/// The `kubectl` on `PATH`; panics saying how to install it when there is none.
pub fn program() -> &'static Path {
    static FOUND: OnceLock<PathBuf> = OnceLock::new();
    FOUND.get_or_init(|| crate::program_on_path("kubectl", "apt-get install kubernetes-client"))
}

/// kubectl with one kubeconfig. Its `HOME`, and so its discovery cache, is the directory of the
/// kubeconfig, where [`Kubectl::file`] writes the files it applies.
pub struct Kubectl {
    kubeconfig: PathBuf,
    dir: PathBuf,
    /// The directory, when this runner made it: removed with the runner.
    _owned: Option<tempfile::TempDir>,
}

impl Kubectl {
    /// kubectl with `kubeconfig`.
    pub fn new(kubeconfig: impl Into<PathBuf>) -> Kubectl {
        let kubeconfig = kubeconfig.into();
        let dir = kubeconfig
            .parent()
            .filter(|dir| !dir.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf();
        Kubectl {
            kubeconfig,
            dir,
            _owned: None,
        }
    }

    /// kubectl for `cluster`, with a kubeconfig in a temporary directory of its own.
    pub fn for_cluster(cluster: &LocalCluster) -> Kubectl {
        let owned = tempfile::Builder::new()
            .prefix("kubectl-")
            .tempdir()
            .expect("kubectl's directory");
        let kubeconfig = owned.path().join("kubeconfig");
        cluster
            .write_kubeconfig(&kubeconfig)
            .expect("kubeconfig written");
        Kubectl {
            kubeconfig,
            dir: owned.path().to_path_buf(),
            _owned: Some(owned),
        }
    }

    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// Writes `content` to the file `name` beside the kubeconfig; its path.
    pub fn file(&self, name: &str, content: &str) -> PathBuf {
        let path = self.dir.join(name);
        std::fs::write(&path, content).unwrap_or_else(|e| panic!("{path:?}: {e}"));
        path
    }

    /// Starts `kubectl ARGS` with the environment variables `env` added and its standard output
    /// and error piped, for a test that reads them as they come (`logs -f`, `port-forward`);
    /// killed when dropped.
    pub fn spawn(&self, args: &[&str], env: &[(&str, &str)]) -> tokio::process::Child {
        self.command(args)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kubectl starts")
    }

    /// `kubectl ARGS`, not yet started.
    fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(program());
        command
            .args(args)
            .env_clear()
            .env("KUBECONFIG", &self.kubeconfig)
            .env("HOME", &self.dir)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        command
    }

    /// `kubectl ARGS`: whether it succeeded, and its standard output followed by its standard
    /// error.
    pub async fn run(&self, args: &[&str]) -> (bool, String) {
        let output = self.command(args).output().await.expect("kubectl runs");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        (output.status.success(), text)
    }

    /// `kubectl ARGS`, which must succeed: its standard output.
    pub async fn ok(&self, args: &[&str]) -> String {
        let output = self.command(args).output().await.expect("kubectl runs");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "kubectl {args:?} failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        stdout
    }

    /// `kubectl ARGS` with `input` as its standard input (`exec -i`): its exit status and
    /// output.
    pub async fn output_with_input(&self, args: &[&str], input: &[u8]) -> std::process::Output {
        use tokio::io::AsyncWriteExt;
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kubectl starts");
        let mut stdin = child.stdin.take().expect("kubectl's standard input");
        stdin.write_all(input).await.expect("input written");
        drop(stdin);
        child.wait_with_output().await.expect("kubectl runs")
    }

    /// `kubectl apply -f` of `yaml` (written to a file of its own): success and output.
    pub async fn apply(&self, yaml: &str) -> (bool, String) {
        static FILES: AtomicUsize = AtomicUsize::new(0);
        let name = format!("apply-{}.yaml", FILES.fetch_add(1, Ordering::Relaxed));
        let file = self.file(&name, yaml);
        self.run(&["apply", "-f", path_arg(&file)]).await
    }
}

/// A path as a command-line argument.
pub fn path_arg(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 path")
}
