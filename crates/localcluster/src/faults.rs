//! Fault injection: the failures a real API server, or the network before it, produces now and
//! then, on demand, so that what clients promise under them (no application failed by a passing
//! 500, watches that recover) is tested in CI rather than by hand.
//!
//! Each [`FaultRule`] picks requests by verb and resource and, for a fraction of them, answers
//! with a status (with `Retry-After` where Kubernetes sends one), resets the connection, adds
//! latency, or cuts a watch after a random time. Rules are written as `--fault` arguments of the
//! `localcluster` binary or built in [`crate::Options::faults`]:
//!
//! ```text
//! status=500,fraction=0.05
//! reset,fraction=0.02,verbs=create|patch
//! latency=200ms,resources=pods
//! cut-watch=10s                       (each watch ends after up to 10 s)
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
    /// Serve the request after this delay.
    Latency(Duration),
    /// Serve a watch, but end it after a random time up to this one.
    CutWatch(Duration),
}

/// One fault, for a fraction of the requests of the given verbs and resources (all when empty).
#[derive(Debug, Clone, PartialEq)]
pub struct FaultRule {
    pub fault: Fault,
    pub fraction: f64,
    pub verbs: Vec<String>,
    pub resources: Vec<String>,
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
    /// Serve, ending the watch after this long.
    CutAfter(Duration),
}

impl Faults {
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// What the rules do to a request of `verb` on `resource` (`None` for a non-resource path,
    /// which only rules without resources pick). `draw` gives a fresh number in [0, 1) each time
    /// it is called: one per rule, and one more for a cut watch's time.
    pub fn decide(
        &self,
        verb: &str,
        resource: Option<&str>,
        mut draw: impl FnMut() -> f64,
    ) -> Decision {
        let mut decision = Decision::default();
        for rule in &self.rules {
            if !rule.picks(verb, resource) || draw() >= rule.fraction {
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
                _ => {}
            }
        }
        decision
    }
}

impl FaultRule {
    fn picks(&self, verb: &str, resource: Option<&str>) -> bool {
        let verb_ok = self.verbs.is_empty() || self.verbs.iter().any(|v| v == verb);
        let resource_ok = self.resources.is_empty()
            || resource.is_some_and(|r| self.resources.iter().any(|wanted| wanted == r));
        verb_ok && resource_ok
    }
}

impl FromStr for FaultRule {
    type Err = String;

    /// `FAULT[,fraction=F][,verbs=a|b][,resources=x|y]`, FAULT one of `status=CODE`, `reset`,
    /// `latency=DURATION`, `cut-watch=DURATION` (durations as `250ms`, `2s`).
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
            _ => {
                return Err(format!(
                    "{spec:?}: start with status=CODE, reset, latency=DURATION or cut-watch=DURATION"
                ));
            }
        };
        let mut rule = FaultRule {
            fault,
            fraction: 1.0,
            verbs: Vec::new(),
            resources: Vec::new(),
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
                _ => {
                    return Err(format!(
                        "{part:?}: expected fraction=, verbs= or resources="
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
    let decision = {
        let mut rng = rand::rng();
        faults.decide(verb, resource, || rng.random::<f64>())
    };
    if !decision.delay.is_zero() {
        tokio::time::sleep(decision.delay).await;
    }
    match decision.outcome {
        Outcome::Serve => next.run(request).await,
        Outcome::Status(code) => status_response(code),
        Outcome::Reset => reset(),
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
        let pod_create = |draw: f64| faults.decide("create", Some("pods"), || draw).outcome;
        assert_eq!(pod_create(0.1), Outcome::Status(500));
        assert_eq!(pod_create(0.9), Outcome::Serve);
        assert_eq!(
            faults.decide("get", Some("pods"), || 0.0).outcome,
            Outcome::Serve
        );
        assert_eq!(
            faults.decide("create", Some("services"), || 0.0).outcome,
            Outcome::Serve
        );
        assert_eq!(faults.decide("get", None, || 0.0).outcome, Outcome::Serve);
    }

    #[test]
    fn latency_adds_up_and_the_first_answering_fault_wins() {
        let faults = rules(&["latency=10ms", "latency=5ms", "reset", "status=500"]);
        let decision = faults.decide("list", Some("pods"), || 0.0);
        assert_eq!(decision.delay, Duration::from_millis(15));
        assert_eq!(decision.outcome, Outcome::Reset);
    }

    #[test]
    fn only_watches_are_cut_within_their_time() {
        let faults = rules(&["cut-watch=10s"]);
        let mut draws = [0.0, 0.25].into_iter();
        let decision = faults.decide("watch", Some("pods"), || draws.next().unwrap());
        assert_eq!(
            decision.outcome,
            Outcome::CutAfter(Duration::from_millis(2500))
        );
        assert_eq!(
            faults.decide("list", Some("pods"), || 0.0).outcome,
            Outcome::Serve
        );
    }
}
