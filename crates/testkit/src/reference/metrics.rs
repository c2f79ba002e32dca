//! The metrics page: every metric family of a registry, from its Prometheus text encoding with
//! a sample in each family.

use super::{cell, header};

/// One family: its name, type and help text.
#[derive(Debug, PartialEq)]
pub struct Family {
    pub name: String,
    pub kind: String,
    pub help: String,
}

/// The families of a Prometheus text exposition, in the order they appear.
pub fn families(exposition: &str) -> Vec<Family> {
    let mut families: Vec<Family> = Vec::new();
    for line in exposition.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            families.push(Family {
                name: name.to_string(),
                kind: String::new(),
                help: help.trim_end_matches('.').to_string(),
            });
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, ""));
            match families.iter_mut().rev().find(|f| f.name == name) {
                Some(family) => family.kind = kind.to_string(),
                None => families.push(Family {
                    name: name.to_string(),
                    kind: kind.to_string(),
                    help: String::new(),
                }),
            }
        }
    }
    families
}

/// The page, listing the families of `exposition` (a registry encoded with a sample in every
/// family and no prefix), under the names their samples are served with.
pub fn page(exposition: &str) -> String {
    let mut out = header(
        "Metrics reference",
        "the operator's metrics registry (`crates/operator/src/metrics/`)",
    );
    out.push_str(
        "Every metric family `spark-operator controller start` serves at `--metrics-endpoint` \
         when `--metrics-bind-address` is set (`webhook start` serves the webhook and client \
         families). Names are shown without a `--metrics-prefix`; the `spark_*` families carry \
         the label `namespace` and the application labels named by `--metrics-labels`. Counters \
         are listed with the sample name they are served under: Kubeflow's `spark_*` counters \
         have no `_total` suffix.\n\n",
    );
    out.push_str("| metric | type | description |\n|---|---|---|\n");
    for family in families(exposition) {
        out.push_str(&format!(
            "| `{}` | {} | {} |\n",
            family.name,
            family.kind,
            cell(&family.help)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{Family, families};

    #[test]
    fn families_are_read_from_help_and_type_lines() {
        let text = "# HELP a_total Things done.\n# TYPE a_total counter\na_total 0\n\
                    # HELP b Now.\n# TYPE b gauge\nb 1\n";
        assert_eq!(
            families(text),
            [
                Family {
                    name: "a_total".into(),
                    kind: "counter".into(),
                    help: "Things done".into()
                },
                Family {
                    name: "b".into(),
                    kind: "gauge".into(),
                    help: "Now".into()
                },
            ]
        );
    }
}
