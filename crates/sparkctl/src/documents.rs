//! Reading the Spark resources of a file (YAML or JSON, as kubectl reads them), with errors that
//! give the document and line.

use anyhow::{Context, anyhow};
use spark_operator_api::{ScheduledSparkApplication, SparkApplication};

/// One object of a file.
pub enum Document {
    Application(Box<SparkApplication>),
    Scheduled(Box<ScheduledSparkApplication>),
}

pub fn read(path: &std::path::Path) -> anyhow::Result<Vec<Document>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    parse(&text).map_err(|error| anyhow!("{}: {error}", path.display()))
}

pub fn parse(text: &str) -> anyhow::Result<Vec<Document>> {
    let mut documents = Vec::new();
    for (index, value) in spark_operator_api::documents::parse(text)?
        .into_iter()
        .enumerate()
    {
        let number = index + 1;
        let kind = value
            .get("kind")
            .and_then(|k| k.as_str())
            .unwrap_or_default()
            .to_string();
        let document = match kind.as_str() {
            "SparkApplication" => Document::Application(Box::new(
                serde_json::from_value(value).map_err(|e| anyhow!("object {number}: {e}"))?,
            )),
            "ScheduledSparkApplication" => Document::Scheduled(Box::new(
                serde_json::from_value(value).map_err(|e| anyhow!("object {number}: {e}"))?,
            )),
            "" => {
                return Err(anyhow!(
                    "object {number} has no kind: set `kind: SparkApplication`"
                ));
            }
            other => {
                return Err(anyhow!(
                    "object {number} is a {other}: sparkctl creates SparkApplication and ScheduledSparkApplication only"
                ));
            }
        };
        documents.push(document);
    }
    if documents.is_empty() {
        return Err(anyhow!("no SparkApplication in the file"));
    }
    Ok(documents)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn several_documents_of_both_kinds() {
        let text = "apiVersion: sparkoperator.k8s.io/v1beta2\nkind: SparkApplication\nmetadata: {name: a}\nspec: {type: Scala, mode: cluster, sparkVersion: 4.0.0, driver: {}, executor: {}}\n---\n---\napiVersion: sparkoperator.k8s.io/v1beta2\nkind: ScheduledSparkApplication\nmetadata: {name: s}\nspec: {schedule: '@daily', template: {type: Scala, mode: cluster, sparkVersion: 4.0.0, driver: {}, executor: {}}}\n";
        let documents = parse(text).unwrap();
        assert!(matches!(documents[0], Document::Application(_)));
        assert!(matches!(documents[1], Document::Scheduled(_)));
    }

    #[test]
    fn a_syntax_error_names_the_line() {
        let error = parse("kind: SparkApplication\nmetadata:\n  name: [unclosed\n")
            .err()
            .unwrap()
            .to_string();
        assert!(error.contains("document 1, line"), "{error}");
    }

    #[test]
    fn json_as_python_writes_it() {
        let text = r#"{"apiVersion": "sparkoperator.k8s.io/v1beta2", "kind": "SparkApplication", "metadata": {"name": "a", "labels": {"team": "\ud83d\ude80"}}, "spec": {"type": "Scala", "sparkVersion": "4.0.0"}}"#;
        assert!(matches!(parse(text).unwrap()[0], Document::Application(_)));
    }

    #[test]
    fn other_kinds_are_refused_by_name() {
        let error = parse("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n")
            .err()
            .unwrap()
            .to_string();
        assert!(error.contains("is a ConfigMap"), "{error}");
    }
}
