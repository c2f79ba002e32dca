//! Fault injection: the failures a real API server, or the network before it, produces now and
//! then, on demand, so that what clients promise under them (no application failed by a passing
//! 500, watches that recover) is tested in CI rather than by hand.
//!
//! Each [`FaultRule`] picks requests by verb, resource and client and, for a fraction of them,
//! answers with a status (with `Retry-After` where Kubernetes sends one), resets the connection
//! (before or after serving), adds latency, or cuts a watch after a random time. Rules are written as `--fault` arguments of the
//! `localcluster` binary or built in [`crate::Options::faults`]:
//!
//! ```text
//! status=500,fraction=0.05
//! reset,fraction=0.02,verbs=create|patch
//! lose-answer,fraction=0.02,verbs=create  (the write happens, its answer is lost)
//! latency=200ms,resources=pods
//! cut-watch=10s                       (each watch ends after up to 10 s)
//! status=503,agents=spark-operator    (only requests whose User-Agent starts so)
//! ```
//!
//! The decision ([`Faults::decide`]) is a pure function of the rules, the request's attributes
//! and a number drawn per request; the middleware only carries it out.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use rand::Rng;

use crate::auth::attributes;
use crate::auth::rbac::Attributes;

/// What a rule does to the requests it picks.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Answer with this status instead of serving the request.
    Status(u16),
    /// Close the connection without an answer.
    Reset,
    /// Serve the request, then close the connection without its answer: the client cannot
    /// tell whether its write happened.
    LoseAnswer,
    /// Serve the request after this delay.
    Latency(Duration),
    /// Serve a watch, but end it after a random time up to this one.
    CutWatch(Duration),
}

/// One fault, for a fraction of the requests of the given verbs and resources, from clients
/// whose User-Agent starts with one of `agents` (all when empty).
#[derive(Debug, Clone, PartialEq)]
pub struct FaultRule {
    pub fault: Fault,
    pub fraction: f64,
    pub verbs: Vec<String>,
    pub resources: Vec<String>,
    pub agents: Vec<String>,
}

/// A request, as the rules pick it.
#[derive(Debug, Clone, Copy)]
pub struct Picked<'a> {
    pub verb: &'a str,
    /// `None` for a non-resource path, which only rules without resources pick.
    pub resource: Option<&'a str>,
    pub agent: &'a str,
}

/// The rules of one cluster; none by default.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Faults {
    pub rules: Vec<FaultRule>,
}

/// What to do with one request.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Decision {
    pub delay: Duration,
    pub outcome: Outcome,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub enum Outcome {
    #[default]
    Serve,
    Status(u16),
    Reset,
    ServeThenReset,
    /// Serve, ending the watch after this long.
    CutAfter(Duration),
}

impl Faults {
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// What the rules do to `request`. `draw` gives a fresh number in [0, 1) each time it is
    /// called: one per rule, and one more for a cut watch's time.
    pub fn decide(&self, request: Picked, mut draw: impl FnMut() -> f64) -> Decision {
        let verb = request.verb;
        let mut decision = Decision::default();
        for rule in &self.rules {
            if !rule.picks(request) || draw() >= rule.fraction {
                continue;
            }
            match &rule.fault {
                Fault::Latency(delay) => decision.delay += *delay,
                Fault::CutWatch(within)
                    if verb == "watch" && decision.outcome == Outcome::Serve =>
                {
                    decision.outcome = Outcome::CutAfter(within.mul_f64(draw()));
                }
                Fault::Status(code) if decision.outcome == Outcome::Serve => {
                    decision.outcome = Outcome::Status(*code)
                }
                Fault::Reset if decision.outcome == Outcome::Serve => {
                    decision.outcome = Outcome::Reset
                }
                Fault::LoseAnswer if decision.outcome == Outcome::Serve => {
                    decision.outcome = Outcome::ServeThenReset
                }
                _ => {}
            }
        }
        decision
    }
}

impl FaultRule {
    fn picks(&self, request: Picked) -> bool {
        let verb_ok = self.verbs.is_empty() || self.verbs.iter().any(|v| v == request.verb);
        let resource_ok = self.resources.is_empty()
            || request
                .resource
                .is_some_and(|r| self.resources.iter().any(|wanted| wanted == r));
        let agent_ok = self.agents.is_empty()
            || self
                .agents
                .iter()
                .any(|a| request.agent.starts_with(a.as_str()));
        verb_ok && resource_ok && agent_ok
    }
}

impl FromStr for FaultRule {
    type Err = String;

    /// `FAULT[,fraction=F][,verbs=a|b][,resources=x|y][,agents=p|q]`, FAULT one of
    /// `status=CODE`, `reset`, `lose-answer`, `latency=DURATION`, `cut-watch=DURATION`
    /// (durations as `250ms`, `2s`).
    fn from_str(spec: &str) -> Result<Self, String> {
        let mut parts = spec.split(',').map(str::trim);
        let fault = match parts.next().unwrap_or_default().split_once('=') {
            Some(("status", code)) => Fault::Status(
                code.parse()
                    .ok()
                    .filter(|c| (400..600).contains(c))
                    .ok_or_else(|| format!("status={code}: give an HTTP error code, 400 to 599"))?,
            ),
            Some(("latency", duration)) => Fault::Latency(duration_of(duration)?),
            Some(("cut-watch", duration)) => Fault::CutWatch(duration_of(duration)?),
            None if spec.starts_with("reset") => Fault::Reset,
            None if spec.starts_with("lose-answer") => Fault::LoseAnswer,
            _ => {
                return Err(format!(
                    "{spec:?}: start with status=CODE, reset, lose-answer, latency=DURATION or cut-watch=DURATION"
                ));
            }
        };
        let mut rule = FaultRule {
            fault,
            fraction: 1.0,
            verbs: Vec::new(),
            resources: Vec::new(),
            agents: Vec::new(),
        };
        for part in parts {
            let list = |value: &str| value.split('|').map(str::to_string).collect();
            match part.split_once('=') {
                Some(("fraction", value)) => {
                    rule.fraction = value
                        .parse()
                        .ok()
                        .filter(|f| (0.0..=1.0).contains(f))
                        .ok_or_else(|| format!("fraction={value}: give a number from 0 to 1"))?
                }
                Some(("verbs", value)) => rule.verbs = list(value),
                Some(("resources", value)) => rule.resources = list(value),
                Some(("agents", value)) => rule.agents = list(value),
                _ => {
                    return Err(format!(
                        "{part:?}: expected fraction=, verbs=, resources= or agents="
                    ));
                }
            }
        }
        Ok(rule)
    }
}

fn duration_of(text: &str) -> Result<Duration, String> {
    let (number, unit) =
        text.split_at(text.find(|c: char| c.is_alphabetic()).unwrap_or(text.len()));
    let number: f64 = number
        .parse()
        .map_err(|_| format!("{text:?}: write a duration such as 250ms or 2s"))?;
    let seconds = match unit {
        "ms" => number / 1000.0,
        "s" | "" => number,
        "m" => number * 60.0,
        _ => return Err(format!("{text:?}: the unit is ms, s or m")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("{text:?}: {e}"))
}

/// The middleware that carries out the rules.
pub async fn middleware(
    State(faults): State<Arc<Faults>>,
    request: Request,
    next: Next,
) -> Response {
    let attributes = attributes::of_request(
        request.method().as_str(),
        request.uri().path(),
        request.uri().query(),
    );
    let (verb, resource) = match &attributes {
        Attributes::Resource { verb, resource, .. } => (verb.as_str(), Some(resource.as_str())),
        Attributes::NonResource { verb, .. } => (verb.as_str(), None),
    };
    let agent = request
        .headers()
        .get(header::USER_AGENT)
        .and_then(|a| a.to_str().ok())
        .unwrap_or_default();
    let picked = Picked {
        verb,
        resource,
        agent,
    };
    let decision = {
        let mut rng = rand::rng();
        faults.decide(picked, || rng.random::<f64>())
    };
    if !decision.delay.is_zero() {
        tokio::time::sleep(decision.delay).await;
    }
    match decision.outcome {
        Outcome::Serve => next.run(request).await,
        Outcome::Status(code) => status_response(code),
        Outcome::Reset => reset(),
        Outcome::ServeThenReset => {
            let _served = next.run(request).await;
            reset()
        }
        Outcome::CutAfter(after) => {
            let response = next.run(request).await;
            let (parts, body) = response.into_parts();
            let cut = tokio::time::sleep(after);
            let stream = body.into_data_stream().take_until(cut);
            Response::from_parts(parts, Body::from_stream(stream))
        }
    }
}

/// A `Status` as the API server writes one for `code`, with `Retry-After` on 429 and 503.
fn status_response(code: u16) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let (reason, message) = match code {
        429 => (
            "TooManyRequests",
            "Too many requests, please try again later.",
        ),
        500 => ("InternalError", "Internal error occurred: injected fault"),
        503 => (
            "ServiceUnavailable",
            "the server is currently unable to handle the request",
        ),
        504 => (
            "Timeout",
            "the server was unable to return a response in the time allotted",
        ),
        _ => ("", "injected fault"),
    };
    let body = serde_json::json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {},
        "status": "Failure", "message": message, "reason": reason, "code": code,
    });
    let mut response = crate::server::json_response(status, &body);
    if matches!(code, 429 | 503) {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}

/// A response whose body fails at once: the server drops the connection without an answer.
fn reset() -> Response {
    let failing = futures::stream::once(async {
        Err::<axum::body::Bytes, _>(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "injected connection reset",
        ))
    });
    (StatusCode::OK, Body::from_stream(failing)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request<'a>(verb: &'a str, resource: Option<&'a str>) -> Picked<'a> {
        Picked {
            verb,
            resource,
            agent: "kube-rs",
        }
    }

    fn rules(specs: &[&str]) -> Faults {
        Faults {
            rules: specs.iter().map(|s| s.parse().unwrap()).collect(),
        }
    }

    #[test]
    fn rules_are_read_from_their_specs() {
        let rule: FaultRule = "status=503,fraction=0.05,verbs=create|patch,resources=pods"
            .parse()
            .unwrap();
        assert_eq!(rule.fault, Fault::Status(503));
        assert_eq!(rule.fraction, 0.05);
        assert_eq!(rule.verbs, ["create", "patch"]);
        assert_eq!(rule.resources, ["pods"]);
        assert_eq!("reset".parse::<FaultRule>().unwrap().fault, Fault::Reset);
        assert_eq!(
            "lose-answer".parse::<FaultRule>().unwrap().fault,
            Fault::LoseAnswer
        );
        assert_eq!(
            "latency=250ms".parse::<FaultRule>().unwrap().fault,
            Fault::Latency(Duration::from_millis(250))
        );
        assert_eq!(
            "cut-watch=2s".parse::<FaultRule>().unwrap().fault,
            Fault::CutWatch(Duration::from_secs(2))
        );
        for bad in [
            "status=200",
            "explode",
            "reset,fraction=2",
            "latency=soon",
            "reset,who=me",
        ] {
            assert!(bad.parse::<FaultRule>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_rule_picks_its_fraction_of_its_verbs_and_resources() {
        let faults = rules(&["status=500,fraction=0.5,verbs=create,resources=pods"]);
        let pod_create = |draw: f64| {
            faults
                .decide(request("create", Some("pods")), || draw)
                .outcome
        };
        assert_eq!(pod_create(0.1), Outcome::Status(500));
        assert_eq!(pod_create(0.9), Outcome::Serve);
        let serve = |verb, resource| faults.decide(request(verb, resource), || 0.0).outcome;
        assert_eq!(serve("get", Some("pods")), Outcome::Serve);
        assert_eq!(serve("create", Some("services")), Outcome::Serve);
        assert_eq!(serve("get", None), Outcome::Serve);
    }

    #[test]
    fn a_rule_can_pick_one_client_by_its_user_agent() {
        let faults = rules(&["status=503,agents=spark-operator|sparkctl"]);
        let from = |agent| {
            let picked = Picked {
                agent,
                ..request("list", Some("pods"))
            };
            faults.decide(picked, || 0.0).outcome
        };
        assert_eq!(
            from("spark-operator/0.1.0 (linux/x86_64)"),
            Outcome::Status(503)
        );
        assert_eq!(from("sparkctl/0.1.0"), Outcome::Status(503));
        assert_eq!(from("kubectl/v1.32.0"), Outcome::Serve);
    }

    #[test]
    fn latency_adds_up_and_the_first_answering_fault_wins() {
        let faults = rules(&["latency=10ms", "latency=5ms", "reset", "status=500"]);
        let decision = faults.decide(request("list", Some("pods")), || 0.0);
        assert_eq!(decision.delay, Duration::from_millis(15));
        assert_eq!(decision.outcome, Outcome::Reset);
    }

    #[test]
    fn only_watches_are_cut_within_their_time() {
        let faults = rules(&["cut-watch=10s"]);
        let mut draws = [0.0, 0.25].into_iter();
        let decision = faults.decide(request("watch", Some("pods")), || draws.next().unwrap());
        assert_eq!(
            decision.outcome,
            Outcome::CutAfter(Duration::from_millis(2500))
        );
        let list = faults.decide(request("list", Some("pods")), || 0.0);
        assert_eq!(list.outcome, Outcome::Serve);
    }
}
