//! `edgeseg export erase` as a process, without a Worker: usage errors exit
//! 2 naming what is wrong; a Worker that is not there, or that answers
//! something else than the erase API, exits 1 with a sentence. (Against a
//! real Worker and local R2: tests/e2e/export-data.test.mjs.)
#![cfg(all(feature = "cli", not(target_arch = "wasm32")))]

use std::io::{Read, Write};
use std::net::TcpListener;

use assert_cmd::Command;

const ID: &str = "00112233445566778899aabbccddeeff";

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::cargo_bin("edgeseg")
        .unwrap()
        .args(args)
        .env_remove("EDGESEG_ADMIN_TOKEN")
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn usage_errors_exit_2_and_say_what_is_missing() {
    for (args, says) in [
        (vec!["export"], "missing the export command: erase"),
        (
            vec!["export", "wipe", ID],
            "unknown export command \"wipe\"",
        ),
        (
            vec!["export", "erase", "--worker", "http://x", "--token", "t"],
            "missing VISITOR",
        ),
        (
            vec![
                "export", "erase", "--worker", "http://x", "--token", "t", "42",
            ],
            "32 hex digits",
        ),
        (
            vec!["export", "erase", "--token", "t", ID],
            "missing --worker",
        ),
        (
            vec!["export", "erase", "--worker", "http://x", ID],
            "missing --token (or EDGESEG_ADMIN_TOKEN",
        ),
        (
            vec![
                "export", "erase", "--worker", "http://x", "--token", "t", "--limit", "0", ID,
            ],
            "--limit: objects per call, 1 to 200",
        ),
    ] {
        let (code, _, err) = run(&args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
    let (code, out, _) = run(&["export", "--help"]);
    assert_eq!(code, 0);
    assert!(out.contains("Erase one visitor from the export"));
}

#[test]
fn a_worker_that_is_down_or_wrong_exits_1_with_a_sentence() {
    // A port nobody listens on.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let (code, _, err) = run(&["export", "erase", "--worker", &url, "--token", "t", ID]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("cannot reach the Worker at"), "{err}");
    let (code, _, err) = run(&[
        "export",
        "erase",
        "--worker",
        "shop.example",
        "--token",
        "t",
        ID,
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("--worker: give the Worker's URL"), "{err}");

    // Something that answers 404 with a page, not the erase API.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = [0u8; 4096];
        let _ = s.read(&mut buf);
        let body = "<h1>Not Found</h1>";
        let _ = write!(
            s,
            "HTTP/1.1 404 Not Found\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
    });
    let (code, _, err) = run(&["export", "erase", "--worker", &url, "--token", "t", ID]);
    server.join().unwrap();
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("answered 404: <h1>Not Found</h1> (is this an edgeseg Worker"),
        "{err}"
    );
}
