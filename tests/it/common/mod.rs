//! Helpers shared by the integration tests: a `streamrec serve` child process on an ephemeral port, and
//! (in [`personalize`]) the AWS SDK clients and resource helpers of the `tests/it/personalize_*.rs` tests.

/// The AWS SDK clients, polling and resource helpers of the `tests/it/personalize_*.rs` tests.
pub mod personalize;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running `streamrec serve` child.
pub struct Server {
    /// The child process.
    pub child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
}

impl Server {
    /// Starts `streamrec serve` on `data_dir` and waits until it listens.
    pub fn start(data_dir: &Path) -> Server {
        Server::start_with(data_dir, &[])
    }

    /// Starts `streamrec serve` on `data_dir` with extra arguments and waits until it listens.
    pub fn start_with(data_dir: &Path, extra: &[&str]) -> Server {
        let mut command = Command::new(env!("CARGO_BIN_EXE_streamrec"));
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(extra)
            .stderr(Stdio::null());
        Server::spawn(command)
    }

    /// Spawns `command`, a `streamrec serve --listen 127.0.0.1:0 ...` command line, with its stdout piped,
    /// and waits until the child says where it listens.
    pub fn spawn(mut command: Command) -> Server {
        let mut child = command.stdout(Stdio::piped()).spawn().expect("spawn streamrec serve");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("listening on ") {
                    let _ = tx.send(addr.to_string());
                }
            }
        });
        let base = rx.recv_timeout(Duration::from_secs(120)).expect("server did not start listening");
        Server { child, base }
    }

    /// Kills the child with SIGKILL (no chance to clean up) and reaps it.
    pub fn kill(mut self) {
        self.child.kill().expect("kill");
        self.child.wait().expect("wait");
    }

    /// Stops the child gracefully (SIGTERM) and waits.
    pub fn stop(mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        self.child.wait().expect("wait");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
