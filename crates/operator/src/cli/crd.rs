//! `spark-operator crd`: prints or writes the CRDs, the only way `deploy/crds/` is produced.

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
