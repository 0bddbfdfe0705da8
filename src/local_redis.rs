//! A private `redis-server` child process on a free loopback port, with its own data
//! directory: the demo runs against one, and every integration test starts its own (and
//! can shut it down and restart it on the same port and data). With [`ServerTls`] it
//! speaks only TLS (`rediss://`), for the tests of TLS to Redis. A replica of another one,
//! for the tests of failover; a Redis Sentinel is started in `local_sentinel.rs`.
//!
//! The process is killed when the `LocalRedis` is dropped.

use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Why a private Redis could not be started.
#[derive(Debug, thiserror::Error)]
pub enum LocalRedisError {
    /// No `redis-server` on the PATH.
    #[error("redis-server is not installed (on Debian: apt-get install redis-server), or point --redis-url at a running Redis")]
    NotInstalled,
    /// It started but did not come up.
    #[error("redis-server did not start on port {port}: {reason}")]
    DidNotStart {
        /// The port tried.
        port: u16,
        /// What happened.
        reason: String,
    },
    /// Local I/O failed (temporary directory, free port).
    #[error("cannot prepare a private redis-server: {0}")]
    Io(#[from] std::io::Error),
}

/// Makes the kernel stop the child `command` starts (SIGTERM) when this process dies, even
/// by SIGKILL, so that no helper process outlives it.
pub fn dies_with_parent(command: &mut Command) {
    // SAFETY: prctl is async-signal-safe and touches nothing of the parent.
    unsafe {
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            Ok(())
        });
    }
}

/// The TLS side of a private `redis-server`: its certificate and key, the CA it checks
/// client certificates against, and whether a client must show one. All PEM files.
#[derive(Clone, Debug)]
pub struct ServerTls {
    /// The server's certificate (`--tls-cert-file`).
    pub cert_file: PathBuf,
    /// Its private key (`--tls-key-file`).
    pub key_file: PathBuf,
    /// The CA of client certificates (`--tls-ca-cert-file`).
    pub ca_file: PathBuf,
    /// Clients must show a certificate signed by `ca_file` (`--tls-auth-clients yes`).
    pub auth_clients: bool,
}

/// A running private `redis-server`.
pub struct LocalRedis {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
    /// Set: the port speaks only TLS.
    tls: Option<ServerTls>,
    /// What it is besides a plain server: a replica, or a sentinel.
    role: Role,
    /// Clients must give this password (`--requirepass`); a replica gives it to its
    /// master too (`--masterauth`).
    password: Option<String>,
}

/// What a private server is started as.
#[derive(Clone, Debug)]
pub(crate) enum Role {
    Server,
    /// `--replicaof 127.0.0.1 PORT`.
    ReplicaOf(u16),
    /// Redis Sentinel, with this configuration (written into its data directory, which
    /// it rewrites as it learns).
    Sentinel(String),
    /// A Redis Cluster node (`--cluster-enabled yes`), failed over after this many ms
    /// without an answer; its cluster bus is on the port + 10000.
    ClusterNode(u64),
}

impl LocalRedis {
    /// Starts `redis-server` on a free loopback port with an empty data directory.
    pub fn start() -> Result<Self, LocalRedisError> {
        Self::start_with(None, None)
    }

    /// Starts `redis-server` like [`LocalRedis::start`], listening for TLS only (no plain
    /// port), as `tls` says.
    pub fn start_tls(tls: ServerTls) -> Result<Self, LocalRedisError> {
        Self::start_with(None, Some(tls))
    }

    /// Starts `redis-server` like [`LocalRedis::start`], loading the data file `rdb` (a copy
    /// of it: the file itself is never written).
    pub fn start_from(rdb: &Path) -> Result<Self, LocalRedisError> {
        Self::start_with(Some(rdb), None)
    }

    /// Starts a replica of the private server on `master_port`; with `password`, both
    /// require it.
    pub fn start_replica_of(
        master_port: u16,
        password: Option<&str>,
    ) -> Result<Self, LocalRedisError> {
        Self::start_as(None, None, Role::ReplicaOf(master_port), password)
    }

    /// Starts `redis-server` like [`LocalRedis::start`], requiring `password`.
    pub fn start_with_password(password: &str) -> Result<Self, LocalRedisError> {
        Self::start_as(None, None, Role::Server, Some(password))
    }

    fn start_with(rdb: Option<&Path>, tls: Option<ServerTls>) -> Result<Self, LocalRedisError> {
        Self::start_as(rdb, tls, Role::Server, None)
    }

    pub(crate) fn start_as(
        rdb: Option<&Path>,
        tls: Option<ServerTls>,
        role: Role,
        password: Option<&str>,
    ) -> Result<Self, LocalRedisError> {
        let mut last = None;
        // Another process may take the free port between our probe and redis-server's bind.
        for _ in 0..5 {
            let port = match role {
                Role::ClusterNode(_) => free_cluster_port()?,
                _ => free_port()?,
            };
            let mut redis = LocalRedis {
                child: None,
                port,
                dir: tempfile::Builder::new().prefix("fanout-redis-").tempdir()?,
                tls: tls.clone(),
                role: role.clone(),
                password: password.map(str::to_owned),
            };
            if let Some(rdb) = rdb {
                std::fs::copy(rdb, redis.dir.path().join("dump.rdb"))?;
            }
            match redis.spawn() {
                Ok(()) => return Ok(redis),
                Err(e @ LocalRedisError::NotInstalled) => return Err(e),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or(LocalRedisError::DidNotStart {
            port: 0,
            reason: "no free port".to_owned(),
        }))
    }

    /// `redis://127.0.0.1:PORT` (`rediss://` when it speaks TLS).
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() {
            "rediss"
        } else {
            "redis"
        };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its data directory (`dump.rdb` is written there by `SHUTDOWN SAVE`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Waits for the process to exit (after a `SHUTDOWN` sent by the caller).
    pub fn wait_for_exit(&mut self, limit: Duration) -> Result<(), LocalRedisError> {
        let deadline = Instant::now() + limit;
        while let Some(child) = self.child.as_mut() {
            if child.try_wait()?.is_some() {
                self.child = None;
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(LocalRedisError::DidNotStart {
                    port: self.port,
                    reason: "did not exit after SHUTDOWN".to_owned(),
                });
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }

    /// Whether its process was killed (or waited for after a `SHUTDOWN`) and not restarted.
    pub fn is_stopped(&self) -> bool {
        self.child.is_none()
    }

    /// Kills it at once (`SIGKILL`, like `kill -9`): nothing is saved, no client is told.
    pub fn kill_9(&mut self) {
        self.kill();
    }

    /// Starts it again on the same port and data directory (after it exited).
    pub fn restart(&mut self) -> Result<(), LocalRedisError> {
        self.kill();
        self.spawn()
    }

    fn spawn(&mut self) -> Result<(), LocalRedisError> {
        let log: PathBuf = self.dir.path().join("redis.log");
        if self.tls.is_some() {
            // Readiness is read from the log: an earlier run's must not count.
            let _ = std::fs::remove_file(&log);
        }
        let mut command = Command::new("redis-server");
        // If this process dies without dropping us (SIGKILL, a closed terminal), redis-server
        // goes too instead of being left behind. Its own process group keeps a terminal's
        // Ctrl-C (sent to the whole foreground group) away from it: we stop it, when we are
        // interrupted, rather than it dying under a start we would then retry.
        dies_with_parent(&mut command);
        // SAFETY: setpgid is async-signal-safe and touches nothing of the parent.
        unsafe {
            command.pre_exec(|| {
                libc::setpgid(0, 0);
                Ok(())
            });
        }
        if let Role::Sentinel(config) = &self.role {
            let file = self.dir.path().join("sentinel.conf");
            std::fs::write(&file, config)?;
            command.arg(&file).arg("--sentinel");
        }
        if let Role::ReplicaOf(port) = &self.role {
            command
                .args(["--replicaof", "127.0.0.1"])
                .arg(port.to_string());
        }
        if let Role::ClusterNode(timeout_ms) = &self.role {
            command
                .args(["--cluster-enabled", "yes", "--cluster-config-file"])
                .arg(self.dir.path().join("nodes.conf"))
                .arg("--cluster-node-timeout")
                .arg(timeout_ms.to_string());
            if self.tls.is_some() {
                // The cluster bus and replication over TLS too, like the clients.
                command.args(["--tls-cluster", "yes", "--tls-replication", "yes"]);
            }
        }
        if let Some(password) = &self.password {
            command
                .arg("--requirepass")
                .arg(password)
                .arg("--masterauth")
                .arg(password);
        }
        command.args(["--bind", "127.0.0.1"]);
        match &self.tls {
            None => command.arg("--port").arg(self.port.to_string()),
            Some(tls) => command
                .args(["--port", "0", "--tls-port"])
                .arg(self.port.to_string())
                .arg("--tls-cert-file")
                .arg(&tls.cert_file)
                .arg("--tls-key-file")
                .arg(&tls.key_file)
                .arg("--tls-ca-cert-file")
                .arg(&tls.ca_file)
                .arg("--tls-auth-clients")
                .arg(if tls.auth_clients { "yes" } else { "no" }),
        };
        let child = command
            .arg("--dir")
            .arg(self.dir.path())
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--logfile")
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => LocalRedisError::NotInstalled,
                _ => LocalRedisError::Io(e),
            })?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Some(status) = child.try_wait()? {
                    self.child = None;
                    let tail = std::fs::read_to_string(&log).unwrap_or_default();
                    return Err(LocalRedisError::DidNotStart {
                        port: self.port,
                        reason: format!(
                            "exited with {status}: {}",
                            tail.lines().last().unwrap_or("")
                        ),
                    });
                }
            }
            if self.is_ready(&log) {
                return Ok(());
            }
            if Instant::now() > deadline {
                self.kill();
                return Err(LocalRedisError::DidNotStart {
                    port: self.port,
                    reason: "no answer to PING within 10 s".to_owned(),
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A plain port answers PING; a TLS one, which a plain PING cannot reach, is ready once
    /// the server logs so (it binds before it logs, and loads nothing from an empty dir).
    fn is_ready(&self, log: &Path) -> bool {
        match self.tls {
            None => self.answers_ping(),
            Some(_) => std::fs::read_to_string(log)
                .is_ok_and(|text| text.contains("Ready to accept connections")),
        }
    }

    fn answers_ping(&self) -> bool {
        use std::io::{Read, Write};
        let Ok(mut stream) = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
        let (ask, answer): (Vec<u8>, &[u8]) = match &self.password {
            None => (b"PING\r\n".to_vec(), b"+PONG\r\n"),
            Some(p) => {
                let auth = format!("*2\r\n$4\r\nAUTH\r\n${}\r\n{p}\r\nPING\r\n", p.len());
                (auth.into_bytes(), b"+OK\r\n+PONG\r\n")
            }
        };
        let mut reply = vec![0u8; answer.len()];
        stream.write_all(&ask).is_ok() && stream.read_exact(&mut reply).is_ok() && reply == answer
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for LocalRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

/// A free port whose cluster bus port (+ 10000) is free too.
fn free_cluster_port() -> std::io::Result<u16> {
    loop {
        let port = free_port()?;
        if port <= 55_535 && TcpListener::bind((Ipv4Addr::LOCALHOST, port + 10_000)).is_ok() {
            return Ok(port);
        }
    }
}
