#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! `scripts/serve` runs once per checkout: a second one on the same checkout refuses,
//! clearly, and leaves the first one and its `.local/env` (what other shells source)
//! alone.
//!
//! The real script runs, twice, from a copy of `scripts/` in a scratch checkout (so a
//! developer's own `.local` is never touched). Only what the script hands its work to
//! stands in: the moto server it finds through `AWS_ENDPOINT_URL` (a loopback server
//! answering its health check), the project virtualenv (`LEARNBRIDGE_VENV`, already
//! "installed"), and `cargo` on `PATH` (the local runner: it waits, as the runner does
//! until Ctrl-C). Needs bash, curl and sha256sum, as the scripts do; it never skips.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn repo_root() -> PathBuf {
    PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo test sets CARGO_MANIFEST_DIR"),
    )
    .join("../..")
}

/// A checkout holding only `scripts/`, with a virtualenv that counts as installed
/// and a `cargo` that stands in for the local runner.
fn scratch_checkout() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lb-serve-once-{}", uuid::Uuid::new_v4()));
    let scripts = dir.join("scripts");
    std::fs::create_dir_all(&scripts).unwrap();
    for file in ["serve", "lib.sh", "requirements.txt"] {
        std::fs::copy(repo_root().join("scripts").join(file), scripts.join(file)).unwrap();
    }
    // ensure_venv: an executable python and the stamp of this requirements.txt.
    let venv = dir.join("venv");
    std::fs::create_dir_all(venv.join("bin")).unwrap();
    std::os::unix::fs::symlink("/bin/true", venv.join("bin/python")).unwrap();
    let sha = Command::new("sha256sum")
        .arg(scripts.join("requirements.txt"))
        .output()
        .expect("sha256sum runs");
    assert!(sha.status.success());
    let sha = String::from_utf8(sha.stdout).unwrap();
    let sha = sha.split_whitespace().next().unwrap();
    std::fs::write(venv.join(".requirements.sha"), format!("{sha}\n")).unwrap();
    // The local runner: records that it started, then serves until stopped.
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let cargo = bin.join("cargo");
    std::fs::write(
        &cargo,
        "#!/usr/bin/env bash\necho \"$@\" > \"$(dirname \"$0\")/../runner-started\"\nexec sleep 120\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&cargo, std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

/// Answers moto's health check (`GET /moto-api/data.json`) as a running moto does.
async fn moto_stand_in() -> String {
    let router = axum::Router::new().route(
        "/moto-api/data.json",
        axum::routing::get(|| async { axum::Json(serde_json::json!({})) }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    url
}

fn serve(checkout: &Path, moto: &str) -> Command {
    let mut command = Command::new("bash");
    command
        .arg(checkout.join("scripts/serve"))
        .current_dir(checkout)
        .env("LEARNBRIDGE_VENV", checkout.join("venv"))
        .env("AWS_ENDPOINT_URL", moto)
        .env("AWS_ACCESS_KEY_ID", "first-instance-key")
        .env("AWS_SECRET_ACCESS_KEY", "first-instance-secret")
        .env("AWS_REGION", "us-east-1")
        .env(
            "PATH",
            format!(
                "{}:{}",
                checkout.join("bin").display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .stdin(Stdio::null());
    command
}

/// Stops a serve as Ctrl-C does: its whole process group.
fn interrupt(child: &Child) {
    let status = Command::new("kill")
        .args(["-INT", "--", &format!("-{}", child.id())])
        .status()
        .unwrap();
    assert!(status.success());
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_second_serve_on_the_same_checkout_refuses_and_leaves_the_first_alone() {
    use std::os::unix::process::CommandExt;
    let checkout = scratch_checkout();
    let moto = moto_stand_in().await;
    let local = checkout.join(".local");

    // The first serve starts the local runner and writes .local/env for other shells.
    let mut first = serve(&checkout, &moto)
        .process_group(0)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the first serve's runner", || {
        checkout.join("runner-started").exists()
    })
    .await;
    let env = std::fs::read_to_string(local.join("env")).unwrap();
    assert!(
        env.contains(&format!("AWS_ENDPOINT_URL={moto}")) && env.contains("first-instance-key"),
        "{env}"
    );
    let pid = std::fs::read_to_string(local.join("serve.pid")).unwrap();
    assert_eq!(pid.trim(), first.id().to_string());
    std::fs::remove_file(checkout.join("runner-started")).unwrap();

    // The second, with other settings, refuses at once and says why and what to do.
    let second = serve(&checkout, "http://127.0.0.1:9")
        .env("AWS_ACCESS_KEY_ID", "second-instance-key")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("scripts/serve is already running in this checkout")
            && stderr.contains(&format!("pid {}", first.id()))
            && stderr.contains("source .local/env"),
        "{stderr}"
    );
    assert!(
        !checkout.join("runner-started").exists(),
        "the second serve started no runner"
    );

    // The first is untouched: still running, its env and pid file as they were.
    assert!(
        first.try_wait().unwrap().is_none(),
        "the first serve is running"
    );
    assert_eq!(std::fs::read_to_string(local.join("env")).unwrap(), env);
    assert_eq!(
        std::fs::read_to_string(local.join("serve.pid")).unwrap(),
        pid
    );

    // Stopped, the first takes its env and pid file with it; a new serve may start.
    interrupt(&first);
    tokio::task::spawn_blocking(move || first.wait().unwrap())
        .await
        .unwrap();
    assert!(
        !local.join("env").exists(),
        "the first serve's env is removed"
    );
    assert!(!local.join("serve.pid").exists());
    std::fs::remove_dir_all(&checkout).unwrap();
}
