//! Submission: what it records, exactly once, with ids that never repeat; idempotent decisions.

use super::*;
use crate::lifecycle::reasons::*;

#[test]
fn a_new_application_is_submitted_with_kubeflows_bookkeeping() {
    let app = new_app(policy(RestartPolicyType::Never));
    let decision = decide(&app, &observation(at(7)));
    let id = submission_id(&app, &SparkApplicationStatus::default());
    assert_eq!(reasons(&decision.actions), vec![APPLICATION_ADDED]);
    assert_eq!(
        effects(&decision.actions),
        vec![Action::Submit {
            submission_id: id.clone()
        }]
    );
    assert!(
        matches!(decision.actions.last(), Some(Action::Submit { .. })),
        "submit last"
    );
    let status = &decision.status;
    assert_eq!(status.submission_id.as_deref(), Some(id.as_str()));
    assert_eq!(status.driver_info.pod_name.as_deref(), Some("pi-driver"));
    assert_eq!(status.last_submission_attempt_time, Some(Time(at(7))));
    assert_eq!(status.submission_attempts, Some(1));
    assert_eq!(status.execution_attempts, None, "counted once submitted");
    assert_eq!(status.observed_generation, Some(1));

    let outcome = SubmissionOutcome::Submitted(Submitted {
        driver_pod_name: "pi-driver".into(),
        app_id: "spark-0123".into(),
        web_ui: WebUi::default(),
    });
    let submitted = after_submission(&app, status, outcome, at(7));
    assert_eq!(reasons(&submitted.actions), vec![APPLICATION_SUBMITTED]);
    assert_eq!(effects(&submitted.actions), vec![]);
    assert_eq!(state_of(&submitted), State::Submitted);
    assert_eq!(submitted.status.execution_attempts, Some(1));
    assert_eq!(submitted.status.submission_attempts, Some(1));
    assert_eq!(
        submitted.status.spark_application_id.as_deref(),
        Some("spark-0123")
    );
    assert_eq!(
        submitted.requeue_after,
        Some(DEFAULT_DRIVER_POD_CREATION_GRACE_PERIOD)
    );

    let failure = SubmissionOutcome::Failed {
        message: "quota exceeded".into(),
    };
    let failed = after_submission(&app, status, failure, at(7));
    assert_eq!(state_of(&failed), State::SubmissionFailed);
    assert_eq!(failed.status.execution_attempts, None);
    let Action::Event {
        warning,
        reason,
        message,
    } = &failed.actions[0]
    else {
        panic!("an event")
    };
    assert!(*warning);
    assert_eq!(*reason, APPLICATION_SUBMISSION_FAILED);
    assert_eq!(
        message,
        "failed to submit SparkApplication pi: failed to submit spark application: quota exceeded"
    );
}

#[test]
fn the_same_input_gives_the_same_decision() {
    let states = [
        State::New,
        State::Submitted,
        State::Running,
        State::Succeeding,
        State::Failing,
        State::SubmissionFailed,
        State::PendingRerun,
        State::Invalidating,
        State::Suspending,
        State::Suspended,
        State::Resuming,
        State::Completed,
        State::Failed,
        State::Unknown,
    ];
    for state in states {
        let app = app_in(policy(RestartPolicyType::Always), status_in(state));
        let mut observed = observation(at(30));
        observed.driver = DriverObservation::Pod(driver_pod("attempt-1", PodPhase::Running));
        observed.executors = vec![executor_pod("pi-exec-1", "attempt-1", PodPhase::Running)];
        assert_eq!(
            decide(&app, &observed),
            decide(&app, &observed),
            "{state:?}"
        );
    }
}

#[test]
fn a_repeated_submission_whose_status_was_lost_is_adopted_not_repeated() {
    let app = new_app(policy(RestartPolicyType::Never));
    let first = decide(&app, &observation(at(0)));
    let Some(Action::Submit { submission_id }) = first.actions.last().cloned() else {
        panic!("a submission")
    };

    // The status write was lost and the pod cache has not seen the driver yet: the same attempt
    // is submitted again, which the reconciler completes idempotently.
    assert_eq!(decide(&app, &observation(at(1))).actions, first.actions);

    // The driver of that attempt is seen: it is adopted.
    let mut observed = observation(at(2));
    observed.driver = DriverObservation::Pod(driver_pod(&submission_id, PodPhase::Pending));
    observed.attempts_with_resources = [submission_id.clone()].into();
    let adopted = decide(&app, &observed);
    assert_eq!(effects(&adopted.actions), vec![]);
    assert_eq!(
        reasons(&adopted.actions),
        vec![APPLICATION_ADDED, APPLICATION_SUBMITTED]
    );
    let status = &adopted.status;
    assert_eq!(status.application_state.state, State::Submitted);
    assert_eq!(
        status.submission_id.as_deref(),
        Some(submission_id.as_str())
    );
    assert_eq!(status.submission_attempts, Some(1));
    assert_eq!(status.execution_attempts, Some(1));
    assert_eq!(
        status.spark_application_id.as_deref(),
        Some(format!("spark-{submission_id}").as_str())
    );
}

#[test]
fn objects_of_the_pending_attempt_alone_resume_its_submission() {
    let app = new_app(policy(RestartPolicyType::Never));
    let next = submission_id(&app, &SparkApplicationStatus::default());
    let mut observed = observation(at(0));
    observed.attempts_with_resources = [next.clone()].into();
    let decision = decide(&app, &observed);
    assert_eq!(
        effects(&decision.actions),
        vec![Action::Submit {
            submission_id: next
        }]
    );
}

#[test]
fn nothing_is_submitted_while_another_attempts_objects_exist() {
    for state in [
        State::New,
        State::PendingRerun,
        State::Resuming,
        State::SubmissionFailed,
    ] {
        let app = app_in(policy(RestartPolicyType::Always), status_in(state));
        let mut observed = observation(at(60));
        observed.driver = DriverObservation::Pod(driver_pod("attempt-1", PodPhase::Running));
        observed.attempts_with_resources = ["attempt-1".to_string()].into();
        let decision = decide(&app, &observed);
        assert_eq!(
            effects(&decision.actions),
            vec![Action::DeleteAttemptResources],
            "{state:?}"
        );
        assert_eq!(reasons(&decision.actions), Vec::<&str>::new(), "{state:?}");
        assert_eq!(state_of(&decision), state, "{state:?}");
        assert_eq!(
            decision.requeue_after,
            Some(Duration::from_secs(1)),
            "{state:?}"
        );
    }
}

#[test]
fn a_steady_application_decides_nothing_new() {
    let mut run = Run::new(policy(RestartPolicyType::Never));
    run.reconcile();
    run.driver_is(PodPhase::Running, None);
    let id = run.status().submission_id.unwrap_or_default();
    run.executors = vec![executor_pod("pi-exec-1", &id, PodPhase::Running)];
    assert_eq!(
        run.reconcile().reasons(),
        vec![DRIVER_RUNNING, EXECUTOR_RUNNING]
    );
    let before = run.status();
    for _ in 0..3 {
        run.advance(30);
        let again = run.reconcile();
        assert_eq!((again.actions, again.requeue_after), (vec![], None));
        assert_eq!(run.status(), before);
    }
}

#[test]
fn every_attempt_of_a_life_has_its_own_submission_id() {
    let mut run = Run::new(policy(RestartPolicyType::Always));
    for round in 0..3 {
        run.reconcile_until(State::Submitted, 4);
        run.driver_is(PodPhase::Failed, exited(1, "Error"));
        run.reconcile();
        run.advance(60);
        run.reconcile_until(State::PendingRerun, 2);
        if round == 1 {
            run.submissions = Submissions::Fail;
            run.reconcile();
            run.submissions = Submissions::Succeed;
            run.advance(60);
        }
    }
    run.edit(|spec| spec.arguments = vec!["again".into()]);
    run.reconcile_until(State::Submitted, 6);
    run.edit(|spec| spec.suspend = Some(true));
    run.reconcile_until(State::Suspended, 4);
    run.edit(|spec| spec.suspend = Some(false));
    run.reconcile_until(State::Submitted, 4);

    let distinct: BTreeSet<_> = run.submitted.iter().collect();
    assert_eq!(run.submitted.len(), 6);
    assert_eq!(distinct.len(), run.submitted.len(), "{:?}", run.submitted);
    assert!(
        run.submitted
            .iter()
            .all(|id| uuid::Uuid::parse_str(id).is_ok())
    );
}

#[test]
fn submission_ids_depend_on_the_application_and_its_counters() {
    let app = new_app(policy(RestartPolicyType::Never));
    let status = SparkApplicationStatus::default();
    let id = submission_id(&app, &status);
    assert_eq!(id, submission_id(&app.clone(), &status));
    let mut other = app.clone();
    other.metadata.uid = Some("another-uid".into());
    assert_ne!(id, submission_id(&other, &status));
    let mut later = app.clone();
    later.metadata.generation = Some(2);
    assert_ne!(id, submission_id(&later, &status));
    let retried = SparkApplicationStatus {
        submission_attempts: Some(1),
        ..status.clone()
    };
    assert_ne!(id, submission_id(&app, &retried));
}
