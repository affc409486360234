//! A tansu broker (Kafka protocol, in-memory storage) on a free port, killed on drop.

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::free_port;

/// Where scripts/test.sh installs tansu when it is not on PATH.
const TANSU_FALLBACK: &str = "/var/cache/telemetryd-tools/tansu/bin/tansu";

/// The tansu binary: on PATH, else where scripts/test.sh installs it.
fn tansu() -> PathBuf {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("tansu"))
            .find(|p| p.is_file())
    });
    on_path
        .or_else(|| Some(PathBuf::from(TANSU_FALLBACK)).filter(|p| p.is_file()))
        .unwrap_or_else(|| {
            panic!("tansu (a Kafka broker) is not on PATH nor at {TANSU_FALLBACK}: run scripts/test.sh, which installs it")
        })
}

/// A Kafka-protocol broker. Its storage is memory: a `stop` loses the topics.
pub struct TestKafka {
    pub port: u16,
    child: Option<Child>,
    log: tempfile::NamedTempFile,
}

impl TestKafka {
    /// Starts tansu on a free port and waits until it accepts connections.
    pub fn start() -> TestKafka {
        let mut kafka = TestKafka {
            port: free_port(),
            child: None,
            log: tempfile::NamedTempFile::new().unwrap(),
        };
        kafka.start_again();
        kafka
    }

    /// Starts the broker again on the same port (after `stop`).
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "tansu is already running");
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let child = Command::new(tansu())
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", "memory://tansu/"])
            .stdout(Stdio::null())
            .stderr(self.log.reopen().unwrap())
            .spawn()
            .expect("start tansu");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("tansu exited with {status}: {}", self.log_text());
            }
            assert!(
                Instant::now() < deadline,
                "tansu on port {} did not start",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILLs the broker (an outage) and waits for it to be gone.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// `127.0.0.1:<port>`, as `kafka.brokers` takes it.
    pub fn broker(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Creates `name` with `partitions` partitions.
    pub fn create_topic(&self, name: &str, partitions: u32) {
        let out = Command::new(tansu())
            .args([
                "topic",
                "create",
                name,
                "--partitions",
                &partitions.to_string(),
            ])
            .args(["--broker", &format!("tcp://127.0.0.1:{}", self.port)])
            .output()
            .expect("run tansu topic create");
        assert!(
            out.status.success(),
            "tansu topic create {name}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// What the broker wrote to stderr.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }
}

impl Drop for TestKafka {
    fn drop(&mut self) {
        self.stop();
    }
}
