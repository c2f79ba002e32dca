//! Label selector parsing and matching, with the API server's error wording.

use std::collections::BTreeMap;

use super::label::LabelSelector;

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn matches(selector: &str, pairs: &[(&str, &str)]) -> bool {
    LabelSelector::parse(selector)
        .expect(selector)
        .matches(&labels(pairs))
}

fn reason(selector: &str) -> String {
    LabelSelector::parse(selector).expect_err(selector).reason
}

#[test]
fn empty_selector_matches_everything() {
    assert!(matches("", &[]));
    assert!(matches("  ", &[("a", "b")]));
    assert!(LabelSelector::default().matches(&labels(&[("x", "y")])));
}

#[test]
fn equality_operators() {
    assert!(matches("app=spark", &[("app", "spark")]));
    assert!(matches("app==spark", &[("app", "spark")]));
    assert!(!matches("app=spark", &[("app", "other")]));
    assert!(!matches("app=spark", &[]));
    assert!(matches("app!=spark", &[("app", "other")]));
    assert!(
        matches("app!=spark", &[]),
        "!= matches objects without the label"
    );
    assert!(!matches("app!=spark", &[("app", "spark")]));
    assert!(matches("app=", &[("app", "")]), "an empty value is allowed");
    assert!(!matches("app=", &[]));
}

#[test]
fn set_operators() {
    let driver = [("spark-role", "driver")];
    assert!(matches("spark-role in (driver,executor)", &driver));
    assert!(matches("spark-role in (executor, driver)", &driver));
    assert!(!matches("spark-role in (executor)", &driver));
    assert!(!matches("spark-role in (driver)", &[]));
    assert!(matches("spark-role notin (executor)", &driver));
    assert!(matches("spark-role notin (executor)", &[]));
    assert!(!matches("spark-role notin (driver,executor)", &driver));
    assert!(
        matches("a in (in, notin)", &[("a", "notin")]),
        "keywords are values inside parentheses"
    );
    assert!(matches("a in ()", &[("a", "")]));
    assert!(matches("a in (,x)", &[("a", "")]));
}

#[test]
fn existence_operators() {
    assert!(matches("app", &[("app", "x")]));
    assert!(!matches("app", &[]));
    assert!(matches("!app", &[]));
    assert!(!matches("!app", &[("app", "")]));
    assert!(matches(" ! app ", &[]));
}

#[test]
fn numeric_comparisons() {
    assert!(matches("gen>3", &[("gen", "4")]));
    assert!(!matches("gen>3", &[("gen", "3")]));
    assert!(!matches("gen>3", &[("gen", "x")]));
    assert!(matches("gen<3", &[("gen", "-1")]));
    assert!(reason("gen>x").contains("the value must be an integer"));
}

#[test]
fn comma_joined_terms_all_must_match() {
    let selector = "app=spark, spark-role in (driver), !deleted,tier!=db";
    assert!(matches(
        selector,
        &[("app", "spark"), ("spark-role", "driver")]
    ));
    assert!(!matches(
        selector,
        &[("app", "spark"), ("spark-role", "driver"), ("deleted", "1")]
    ));
    assert!(!matches(
        selector,
        &[("app", "spark"), ("spark-role", "driver"), ("tier", "db")]
    ));
    assert!(!matches(selector, &[("spark-role", "driver")]));
}

#[test]
fn qualified_keys() {
    assert!(matches(
        "sparkoperator.k8s.io/app-name=pi",
        &[("sparkoperator.k8s.io/app-name", "pi")]
    ));
}

#[test]
fn display_round_trips() {
    let selector = LabelSelector::parse("b in (y,x),a!=1,!c,d").unwrap();
    assert_eq!(
        selector.to_string(),
        "a!=1,b in (x,y),!c,d",
        "terms are sorted by key"
    );
    assert_eq!(
        LabelSelector::parse(&selector.to_string()).unwrap(),
        selector
    );
}

#[test]
fn malformed_selectors_are_rejected_with_the_servers_reason() {
    assert_eq!(reason("a=b,"), "found '', expected: identifier after ','");
    assert_eq!(
        reason(",a"),
        "found ',', expected: !, identifier, or 'end of string'"
    );
    assert_eq!(
        reason("a in b"),
        "unable to parse requirement: found 'b' expected: '('"
    );
    assert_eq!(
        reason("a in (b"),
        "unable to parse requirement: found '', expected: ',' or ')'"
    );
    assert_eq!(
        reason("a b"),
        "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"
    );
    assert_eq!(
        reason("a=b=c"),
        "found '=', expected: ',' or 'end of string'"
    );
    assert_eq!(
        reason("=b"),
        "found '=', expected: !, identifier, or 'end of string'"
    );
    assert_eq!(
        reason("a=(b)"),
        "unable to parse requirement: found '(', expected: identifier"
    );
    assert_eq!(
        reason("!a=b"),
        "found '=', expected: ',' or 'end of string'"
    );
    assert!(reason("a=b c").starts_with("found 'c', expected: ',' or 'end of string'"));
    assert!(
        reason("-bad-=x")
            .starts_with("unable to parse requirement: <nil>: Invalid value: \"-bad-\": name part")
    );
    assert!(reason("a=-x-").contains("values[0]: Invalid value: \"-x-\": a valid label must be"));
    assert!(reason("a in (x y)").contains("expected: ',' or ')'"));
}

#[test]
fn matches_object_reads_metadata_labels() {
    let pod = serde_json::json!({"metadata": {"labels": {"app": "spark", "n": 1}}});
    assert!(
        LabelSelector::parse("app=spark")
            .unwrap()
            .matches_object(&pod)
    );
    assert!(
        LabelSelector::parse("!n").unwrap().matches_object(&pod),
        "non-string values are ignored"
    );
    assert!(
        LabelSelector::parse("!app")
            .unwrap()
            .matches_object(&serde_json::json!({}))
    );
}

#[test]
fn required_labels_are_the_single_valued_equalities() {
    let selector = LabelSelector::parse("a=1,b==2,c in (3),d in (4,5),e!=6,f,!g").unwrap();
    assert_eq!(
        selector.required_labels(),
        vec![("a", "1"), ("b", "2"), ("c", "3")]
    );
}
