//! Runs the `edgeseg` binary as a process: its exit code, stdout and stderr
//! (shared by the trainer's CLI tests).

use assert_cmd::Command;

pub fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::cargo_bin("edgeseg")
        .unwrap()
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}
