use super::*;
use crate::simulation::resources::Resources;
use serde_json::json;

fn node(name: &str, cpu: u64, used: u64) -> NodeView {
    NodeView {
        name: name.into(),
        labels: BTreeMap::from([("kubernetes.io/os".into(), "linux".into())]),
        taints: vec![],
        unschedulable: false,
        allocatable: Resources {
            millicores: cpu,
            bytes: 8 << 30,
            pods: 110,
        },
        allocated: Resources {
            millicores: used,
            bytes: 0,
            pods: 0,
        },
    }
}

fn pod(cpu: &str) -> Value {
    json!({"spec": {"containers": [{"resources": {"requests": {"cpu": cpu, "memory": "1Gi"}}}]}})
}

#[test]
fn picks_the_node_with_most_free_cpu() {
    let nodes = [node("a", 4000, 3000), node("b", 4000, 1000)];
    assert_eq!(choose_node(&pod("1"), &nodes), Ok("b".into()));
}

#[test]
fn says_why_nothing_fits_with_what_preemption_found() {
    let nodes = [node("a", 1000, 500), node("b", 1000, 0)];
    assert_eq!(
        choose_node(&pod("2"), &nodes),
        Err(
            "0/2 nodes are available: 2 Insufficient cpu. preemption: 0/2 nodes are available: \
             2 No preemption victims found for incoming pod."
                .into()
        )
    );
    let mut never = pod("2");
    never["spec"]["preemptionPolicy"] = json!("Never");
    assert_eq!(
        choose_node(&never, &nodes),
        Err(
            "0/2 nodes are available: 2 Insufficient cpu. preemption: not eligible due to \
             preemptionPolicy=Never."
                .into()
        )
    );
    assert_eq!(
        choose_node(&pod("1"), &[]),
        Err("no nodes available to schedule pods".into())
    );
}

#[test]
fn counts_per_reason_sorted_as_strings() {
    let mut cordoned = node("a", 4000, 0);
    cordoned.unschedulable = true;
    let mut tainted = node("b", 4000, 0);
    tainted.taints = vec![json!({"key": "dedicated", "value": "spark", "effect": "NoSchedule"})];
    let full = node("c", 4000, 4000);
    let mut other = node("d", 4000, 0);
    other.labels.insert("disk".into(), "hdd".into());
    let mut p = pod("1");
    p["spec"]["nodeSelector"] = json!({"disk": "hdd"});
    let nodes = [cordoned, tainted, full.clone(), node("e", 4000, 0), other];
    // d fits; without it, each node fails for its own reason.
    assert_eq!(choose_node(&p, &nodes), Ok("d".into()));
    p["spec"]["nodeSelector"] = json!({"disk": "ssd"});
    assert_eq!(
        choose_node(&p, &nodes),
        Err(
            "0/5 nodes are available: 1 node(s) had untolerated taint {dedicated: spark}, \
             1 node(s) were unschedulable, 3 node(s) didn't match Pod's node affinity/selector. \
             preemption: 0/5 nodes are available: 5 Preemption is not helpful for scheduling."
                .into()
        )
    );
    let mut tolerant = pod("1");
    tolerant["spec"]["tolerations"] = json!([{"key": "dedicated", "operator": "Equal", "value": "spark", "effect": "NoSchedule"}]);
    let mut tainted_only = node("t", 4000, 0);
    tainted_only.taints =
        vec![json!({"key": "dedicated", "value": "spark", "effect": "NoSchedule"})];
    assert_eq!(choose_node(&tolerant, &[tainted_only]), Ok("t".into()));
}

#[test]
fn required_node_affinity() {
    let mut gpu = node("g", 4000, 0);
    gpu.labels.insert("accelerator".into(), "a100".into());
    let plain = node("p", 4000, 0);
    let mut p = pod("1");
    p["spec"]["affinity"] = json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution":
        {"nodeSelectorTerms": [{"matchExpressions": [
            {"key": "accelerator", "operator": "In", "values": ["a100", "h100"]}]}]}}});
    assert_eq!(choose_node(&p, &[plain.clone(), gpu]), Ok("g".into()));
    assert!(choose_node(&p, &[plain]).unwrap_err().starts_with(
        "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector."
    ));
}

#[test]
fn pod_slots_and_memory_are_room_too() {
    let mut full = node("a", 4000, 0);
    full.allocated.pods = 110;
    full.allocatable.bytes = 512 << 20;
    assert_eq!(
        choose_node(&pod("1"), &[full]),
        Err(
            "0/1 nodes are available: 1 Insufficient memory, 1 Too many pods. preemption: \
             0/1 nodes are available: 1 No preemption victims found for incoming pod."
                .into()
        )
    );
}
