//! TLS for the tests: certificates made at run time with the `openssl` command (nothing that
//! expires is checked in), a private redis-server speaking only TLS, and the tests' own
//! TLS connection to it.

use std::path::{Path, PathBuf};
use std::process::Command;

use fanout::Settings;
use fanout_cli::local_redis::{LocalRedis, ServerTls};

use super::{settings, Conn};

/// A test CA, the server certificate it signed for 127.0.0.1 (an IP SAN), a client
/// certificate it signed, and a second CA that signed neither. Removed when dropped.
pub struct Certs {
    dir: tempfile::TempDir,
}

impl Certs {
    /// Makes them.
    pub fn generate() -> Certs {
        let certs = Certs {
            dir: tempfile::Builder::new()
                .prefix("fanout-tls-")
                .tempdir()
                .unwrap(),
        };
        certs.make_ca("ca");
        certs.make_ca("other-ca");
        certs.make_signed(
            "server",
            "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
        );
        certs.make_signed("client", "extendedKeyUsage=clientAuth\n");
        // A cluster node's: it is also the client of the other nodes' bus, which asks for
        // a certificate.
        certs.make_signed(
            "node",
            "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n",
        );
        certs
    }

    /// `NAME.pem` (or another file) in the directory.
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The CA that signed the server's and the client's certificates.
    pub fn ca(&self) -> PathBuf {
        self.file("ca.pem")
    }

    /// A CA that signed nothing here.
    pub fn other_ca(&self) -> PathBuf {
        self.file("other-ca.pem")
    }

    /// The client certificate and its key.
    pub fn client(&self) -> (PathBuf, PathBuf) {
        (self.file("client.pem"), self.file("client.key"))
    }

    /// `NAME.pem` and `NAME.key`: a self-signed CA.
    fn make_ca(&self, name: &str) {
        openssl(
            self.dir.path(),
            &format!(
                "req -x509 -new {KEY} -days 2 -subj /CN={name} \
                 -addext basicConstraints=critical,CA:TRUE \
                 -addext keyUsage=critical,keyCertSign,cRLSign \
                 -keyout {name}.key -out {name}.pem"
            ),
        );
    }

    /// `NAME.pem` and `NAME.key`, signed by `ca.pem` with the extensions `ext`.
    fn make_signed(&self, name: &str, ext: &str) {
        let dir = self.dir.path();
        std::fs::write(dir.join(format!("{name}.ext")), ext).unwrap();
        openssl(
            dir,
            &format!("req -new {KEY} -subj /CN={name} -keyout {name}.key -out {name}.csr"),
        );
        openssl(
            dir,
            &format!(
                "x509 -req -in {name}.csr -CA ca.pem -CAkey ca.key -set_serial 1 -days 2 \
                 -extfile {name}.ext -out {name}.pem"
            ),
        );
    }
}

/// A new unencrypted P-256 key: quick to make, and ring signs with it.
const KEY: &str = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";

/// Runs `openssl` in `dir` with `args`, split at whitespace.
fn openssl(dir: &Path, args: &str) {
    let args: Vec<&str> = args.split_whitespace().collect();
    let out = Command::new("openssl")
        .args(&args)
        .current_dir(dir)
        .output()
        .expect("the openssl command must be installed to run the TLS tests (scripts/ensure-redis installs it)");
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A private redis-server speaking only TLS with the server certificate of `certs`;
/// `auth_clients`: it refuses clients without a certificate signed by the CA.
pub fn tls_redis(certs: &Certs, auth_clients: bool) -> LocalRedis {
    LocalRedis::start_tls(ServerTls {
        cert_file: certs.file("server.pem"),
        key_file: certs.file("server.key"),
        ca_file: certs.ca(),
        auth_clients,
    })
    .expect("redis-server (built with TLS) must be installed to run the tests")
}

/// The test settings for `redis` (a `rediss://` URL) trusting the CA of `certs`, and
/// showing the client certificate when `client_cert`.
pub fn tls_settings(redis: &LocalRedis, certs: &Certs, client_cert: bool) -> Settings {
    settings(redis, |s| {
        s.redis.tls_ca_file = Some(certs.ca());
        if client_cert {
            let (cert, key) = certs.client();
            s.redis.tls_cert_file = Some(cert);
            s.redis.tls_key_file = Some(key);
        }
    })
}

/// A plain (not fanout's) connection to the TLS `redis`, trusting the CA of `certs` and
/// showing its client certificate.
pub async fn tls_conn(redis: &LocalRedis, certs: &Certs) -> Conn {
    let read = |path: PathBuf| std::fs::read(path).unwrap();
    let (cert, key) = certs.client();
    let client = redis::Client::build_with_tls(
        redis.url(),
        redis::TlsCertificates {
            client_tls: Some(redis::ClientTlsConfig {
                client_cert: read(cert),
                client_key: read(key),
            }),
            root_cert: Some(read(certs.ca())),
        },
    )
    .unwrap();
    client.get_multiplexed_async_connection().await.unwrap()
}
