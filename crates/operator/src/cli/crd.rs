//! `spark-operator crd`: prints or writes the CRDs, the only way `deploy/crds/` is produced; or,
//! with `--apply`, applies them to the cluster (the chart's `hook.upgradeCrd` Job runs that, as
//! Helm leaves `crds/` alone on upgrades).

use std::path::Path;

use anyhow::Context;

/// Writes every CRD into `dir` (one file each), or prints them as one YAML stream.
pub fn run(output_dir: Option<&Path>) -> anyhow::Result<()> {
    for (file, crd) in spark_operator_api::crd::all() {
        let yaml = spark_operator_api::crd::to_yaml(&crd)?;
        match output_dir {
            Some(dir) => {
                let path = dir.join(file);
                std::fs::write(&path, yaml)
                    .with_context(|| format!("writing {}", path.display()))?;
                println!("wrote {}", path.display());
            }
            None => print!("---\n{yaml}"),
        }
    }
    Ok(())
}

/// Applies every CRD to the cluster the standard kubeconfig resolution finds (server-side, as
/// `--install-crds` does) and waits until they are established.
pub async fn apply() -> anyhow::Result<()> {
    let client = kube::Client::try_from(crate::runtime::identified(kube::Config::infer().await?))?;
    crate::install::install_crds(&client).await?;
    println!("applied the CRDs");
    Ok(())
}
