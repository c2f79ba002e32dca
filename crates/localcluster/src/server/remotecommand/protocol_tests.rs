use super::*;

fn offer(protocols: &[&str]) -> Vec<String> {
    protocols.iter().map(|p| p.to_string()).collect()
}

#[test]
fn offering_v5_reaches_the_api_servers_relay() {
    let chosen = choose(&offer(&["v4.channel.k8s.io", "v5.channel.k8s.io"])).unwrap();
    assert_eq!(chosen.name, "v5.channel.k8s.io");
    assert!(chosen.by_api_server);
    let chosen = choose(&offer(&["base64.channel.k8s.io", "channel.k8s.io"])).unwrap();
    assert_eq!(chosen.name, "base64.channel.k8s.io");
    assert_eq!(chosen.encoding, Encoding::Base64);
    assert!(!chosen.json_status);
    assert_eq!(choose(&[]).unwrap().name, "");
    let refused = choose(&offer(&["v3.channel.k8s.io"])).unwrap_err();
    assert!(refused.starts_with("requested protocol(s) are not supported: [v3.channel.k8s.io]"));
}

#[test]
fn streams_are_read_as_the_api_server_converts_flags() {
    let query = |pairs: &'static [(&'static str, &'static str)]| {
        move |key: &str| {
            pairs
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v.to_string())
        }
    };
    let streams = Streams::from_query(query(&[("stdout", "true"), ("stderr", "1")])).unwrap();
    assert_eq!(
        streams,
        Streams {
            stdout: true,
            stderr: true,
            ..Default::default()
        }
    );
    assert_eq!(streams.opening_channel(), STDOUT);
    // A terminal has no separate error stream.
    let streams =
        Streams::from_query(query(&[("tty", "1"), ("stdout", "1"), ("stderr", "1")])).unwrap();
    assert!(!streams.stderr);
    assert_eq!(
        Streams::from_query(query(&[("stdout", "false"), ("stdin", "0")])),
        Err("you must specify at least 1 of stdin, stdout, stderr".into())
    );
    let only_stdin = Streams::from_query(query(&[("stdin", "true")])).unwrap();
    assert_eq!(only_stdin.opening_channel(), ERROR);
}

#[test]
fn statuses_are_written_as_the_kubelet_and_the_relay_write_them() {
    let [v5, v4, _, v1, ..] = PROTOCOLS;
    let exited = Outcome::Exited {
        code: 3,
        command: vec!["sh".into(), "-c".into(), "exit 3".into()],
    };
    assert_eq!(
        status_message(&v4, &Outcome::Success).unwrap(),
        r#"{"metadata":{},"status":"Success"}"#
    );
    assert_eq!(status_message(&v1, &Outcome::Success), None);
    assert_eq!(
        status_message(&v4, &exited).unwrap(),
        r#"{"metadata":{},"status":"Failure","message":"command terminated with non-zero exit code: error executing command [sh -c exit 3], exit code 3","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"3"}]}}"#
    );
    let relayed: serde_json::Value =
        serde_json::from_str(&status_message(&v5, &exited).unwrap()).unwrap();
    assert_eq!(
        relayed["message"],
        "command terminated with non-zero exit code: command terminated with exit code 3"
    );
    assert_eq!(
        status_message(&v1, &exited).unwrap(),
        "command terminated with non-zero exit code: error executing command [sh -c exit 3], exit code 3"
    );

    let refused = Outcome::Refused(container_not_found("main"));
    let relayed: serde_json::Value =
        serde_json::from_str(&status_message(&v5, &refused).unwrap()).unwrap();
    assert_eq!(
        relayed["message"],
        r#"Internal error occurred: unable to upgrade connection: container not found ("main")"#
    );
    assert_eq!(relayed["reason"], "InternalError");
    assert_eq!(relayed["code"], 500);

    let failed = Outcome::Failed("error executing command in container: boom".into());
    let direct: serde_json::Value =
        serde_json::from_str(&status_message(&v4, &failed).unwrap()).unwrap();
    assert_eq!(
        direct["message"],
        "Internal error occurred: error executing command in container: boom"
    );
    let relayed: serde_json::Value =
        serde_json::from_str(&status_message(&v5, &failed).unwrap()).unwrap();
    assert_eq!(
        relayed["message"],
        "Internal error occurred: Internal error occurred: error executing command in container: boom"
    );
}

#[test]
fn a_missing_program_is_reported_in_the_runtimes_words() {
    let error = std::io::Error::from(std::io::ErrorKind::NotFound);
    let message = start_failure(&["nope".into()], &error, "abc");
    assert_eq!(
        message,
        "error executing command in container: failed to exec in container: failed to start exec \
         \"abc\": OCI runtime exec failed: exec failed: unable to start container process: exec: \
         \"nope\": executable file not found in $PATH: unknown"
    );
}
