//! A MariaDB server in a temporary directory, on a free port, with its own database and
//! user; killed on drop.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::free_port;

/// A binary on PATH or in /usr/sbin, /usr/bin (Debian's mariadb-server).
fn find(name: &str) -> PathBuf {
    let paths = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&paths)
        .chain(["/usr/sbin".into(), "/usr/bin".into()])
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("{name} is not installed: run scripts/test.sh, which installs mariadb-server")
        })
}

pub const DATABASE: &str = "telemetry";
pub const USER: &str = "archiver";
pub const PASSWORD: &str = "archive-test-pw";
/// Exactly the rights the README's "Setting it up" grants the archiver.
pub const PRIVILEGES: &str = "SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, INDEX";

/// mariadbd with its data in a temporary directory.
pub struct TestMariaDb {
    pub port: u16,
    child: Option<Child>,
    dir: tempfile::TempDir,
}

impl TestMariaDb {
    /// Creates a data directory, starts the server, and creates [`DATABASE`] and [`USER`].
    pub fn start() -> TestMariaDb {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        // Now and then (seen twice, right after a build, with seven starting at once) the
        // bootstrap fails; its output is printed and it is tried once more on a clean
        // directory, so a flaky bootstrap is visible without failing the test it serves.
        let install = || {
            Command::new(find("mariadb-install-db"))
                .arg("--no-defaults")
                .arg(format!("--datadir={}", data.display()))
                .args(["--auth-root-authentication-method=normal", "--skip-test-db"])
                .args(user_arg())
                .output()
                .expect("run mariadb-install-db")
        };
        let mut out = install();
        if !out.status.success() {
            eprintln!(
                "mariadb-install-db failed ({}), trying again: {}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            let _ = std::fs::remove_dir_all(&data);
            out = install();
        }
        assert!(
            out.status.success(),
            "mariadb-install-db: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let mut db = TestMariaDb {
            port: free_port(),
            child: None,
            dir,
        };
        db.start_again();
        db.sql(&format!(
            "CREATE DATABASE {DATABASE}; \
             CREATE USER '{USER}'@'%' IDENTIFIED BY '{PASSWORD}'; \
             GRANT {PRIVILEGES} ON {DATABASE}.* TO '{USER}'@'%';"
        ));
        db
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("mysqld.sock")
    }

    /// Starts the server again on the same data and port (after `stop`), and waits until
    /// it answers on its socket.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "mariadbd is already running");
        let log = std::fs::File::create(self.dir.path().join("error.log")).unwrap();
        let child = Command::new(find("mariadbd"))
            .arg("--no-defaults")
            .arg(format!(
                "--datadir={}",
                self.dir.path().join("data").display()
            ))
            .arg(format!("--socket={}", self.socket().display()))
            .arg(format!(
                "--pid-file={}",
                self.dir.path().join("mysqld.pid").display()
            ))
            .arg(format!("--port={}", self.port))
            .args(["--skip-networking=0", "--bind-address=127.0.0.1"])
            .args(["--innodb-buffer-pool-size=32M", "--skip-log-bin"])
            .args(user_arg())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start mariadbd");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.answers() {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("mariadbd exited with {status}: {}", self.error_log());
            }
            assert!(
                Instant::now() < deadline,
                "mariadbd did not start: {}",
                self.error_log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn answers(&self) -> bool {
        self.client()
            .arg("-e")
            .arg("SELECT 1")
            .output()
            .is_ok_and(|o| o.status.success())
    }

    /// The mariadb client as root, through the socket.
    fn client(&self) -> Command {
        let mut c = Command::new(find("mariadb"));
        c.arg("--no-defaults")
            .arg(format!("--socket={}", self.socket().display()))
            .args(["-uroot", "--batch", "--skip-column-names"]);
        c
    }

    /// Runs `statements` as root and returns what they print; fails the test on an error.
    pub fn sql(&self, statements: &str) -> String {
        let out = self
            .client()
            .arg("-e")
            .arg(statements)
            .output()
            .expect("run mariadb");
        assert!(
            out.status.success(),
            "mariadb -e {statements:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Stops the server (SIGTERM, a clean shutdown) and waits for it to be gone.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            super::signal(child.id(), "TERM");
            let deadline = Instant::now() + Duration::from_secs(30);
            while child.try_wait().unwrap().is_none() {
                if Instant::now() > deadline {
                    let _ = child.kill();
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// `mysql://archiver@127.0.0.1:<port>/telemetry`, as `history.database` takes it; the
    /// password is [`PASSWORD`].
    pub fn url(&self) -> String {
        format!("mysql://{USER}@127.0.0.1:{}/{DATABASE}", self.port)
    }

    pub fn password(&self) -> &'static str {
        PASSWORD
    }

    fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// mariadbd refuses to run as root unless told to.
fn user_arg() -> Vec<String> {
    if rustix::process::geteuid().is_root() {
        vec!["--user=root".into()]
    } else {
        Vec::new()
    }
}

impl Drop for TestMariaDb {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
