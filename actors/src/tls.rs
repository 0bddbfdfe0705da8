//! Making one connection to a Redis URL (`connect_manager`, the one place connections are
//! made), with TLS (cargo feature `tls`): the redis-rs client for a URL and the
//! `redis.tls_*` files, and failed handshakes explained in the words of those settings.
//!
//! redis-rs reads PEM files it is handed without saying which setting held a bad one, and
//! reports a refused handshake as rustls's bare error ("invalid peer certificate:
//! UnknownIssuer"); both are turned into messages that name the setting and the path.

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::error::StoreError;
use crate::settings::{RedisSettings, RedisUrl, Settings};

/// Connects to `url` (with TLS as `redis.tls_*` say, for `rediss://`), failing within about
/// `connect_timeout × (retries + 1)` when Redis is unreachable, or as soon as the retries
/// are spent when a TLS handshake is refused. Afterwards the manager reconnects on its own
/// whenever a request fails.
pub(crate) async fn connect_manager(
    url: &RedisUrl,
    settings: &Settings,
) -> Result<ConnectionManager, StoreError> {
    let client = client(url, &settings.redis)?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(settings.redis.connect_timeout()))
        .set_response_timeout(Some(settings.redis.response_timeout()))
        .set_number_of_retries(settings.redis.reconnect_retries)
        .set_max_delay(std::time::Duration::from_secs(1));
    ConnectionManager::new_with_config(client, config)
        .await
        .map_err(|e| connect_error(url, &settings.redis, &e))
}

/// The client for `url` with the `redis.tls_*` files of `redis` (none: the system's
/// trusted roots for a `rediss://` URL). Reads and checks the files, naming the setting and
/// the path of one that cannot be read or holds no usable PEM.
pub(crate) fn client(url: &RedisUrl, redis: &RedisSettings) -> Result<redis::Client, StoreError> {
    #[cfg(feature = "tls")]
    if url.is_tls() {
        with_files::install_provider();
    }
    if no_tls_files(redis) {
        return redis::Client::open(url.expose()).map_err(|e| StoreError::Redis(e.to_string()));
    }
    #[cfg(feature = "tls")]
    return with_files::client(url, redis);
    // Validation refuses the settings first; this is for a caller that skipped it.
    #[cfg(not(feature = "tls"))]
    Err(StoreError::Tls(
        "redis.tls_*: TLS settings need TLS support, and the fanout crate was built without its `tls` feature"
            .to_owned(),
    ))
}

/// Whether none of the `redis.tls_*` files is set.
fn no_tls_files(redis: &RedisSettings) -> bool {
    [
        &redis.tls_ca_file,
        &redis.tls_cert_file,
        &redis.tls_key_file,
    ]
    .iter()
    .all(|file| file.is_none())
}

/// The certificates of the `redis.tls_*` files for a cluster's nodes; `None` when no file
/// is set (the system's trusted roots).
#[cfg(feature = "tls")]
pub(crate) fn certificates(
    redis: &RedisSettings,
) -> Result<Option<redis::TlsCertificates>, StoreError> {
    if redis.uses_tls() {
        with_files::install_provider();
    }
    if no_tls_files(redis) {
        return Ok(None);
    }
    with_files::read_all(redis).map(Some)
}

/// What a failed first connection to `url` is reported as: [`StoreError::Tls`] when the
/// TLS handshake was refused (nothing to wait out), else Redis unavailable.
pub(crate) fn connect_error(
    url: &RedisUrl,
    redis: &RedisSettings,
    error: &redis::RedisError,
) -> StoreError {
    let text = error.to_string();
    match url
        .is_tls()
        .then(|| handshake_failure(&text, redis))
        .flatten()
    {
        Some(why) => StoreError::Tls(format!(
            "cannot connect to {url}: TLS handshake failed: {why} ({text})"
        )),
        None => StoreError::Unavailable(format!("cannot connect to {url}: {text}")),
    }
}

/// The start of rustls's messages (its `Error`'s `Display`) for the failures explained;
/// a test pins them to rustls's own wording.
mod rustls_says {
    pub const UNKNOWN_ISSUER: &str = "invalid peer certificate: UnknownIssuer";
    pub const BAD_CERTIFICATE: &str = "invalid peer certificate: ";
    pub const CERTIFICATE_REQUIRED: &str = "received fatal alert: CertificateRequired";
    pub const ALERT: &str = "received fatal alert: ";
}

/// The handshake failure `text` (redis-rs's message) reports, in the settings' words.
fn handshake_failure(text: &str, redis: &RedisSettings) -> Option<String> {
    let shown = |file: &Option<std::path::PathBuf>| {
        file.as_deref()
            .map_or_else(String::new, |p| p.display().to_string())
    };
    if text.contains(rustls_says::UNKNOWN_ISSUER) {
        return Some(match &redis.tls_ca_file {
            Some(_) => format!(
                "the server's certificate is not signed by redis.tls_ca_file ({})",
                shown(&redis.tls_ca_file)
            ),
            None => "the server's certificate is not signed by any certificate authority the system trusts (set redis.tls_ca_file to the one that signed it)".to_owned(),
        });
    }
    if let Some((_, why)) = text.split_once(rustls_says::BAD_CERTIFICATE) {
        return Some(format!("the server's certificate is not accepted: {why}"));
    }
    if text.contains(rustls_says::CERTIFICATE_REQUIRED) {
        return Some(match &redis.tls_cert_file {
            None => "the server requires a client certificate (mutual TLS): set redis.tls_cert_file and redis.tls_key_file".to_owned(),
            Some(_) => format!(
                "the server did not accept the client certificate of redis.tls_cert_file ({})",
                shown(&redis.tls_cert_file)
            ),
        });
    }
    let (_, alert) = text.split_once(rustls_says::ALERT)?;
    Some(match &redis.tls_cert_file {
        // A server refuses a client certificate it does not trust with such an alert.
        Some(_) => format!(
            "the server refused the handshake ({alert}): is the client certificate of redis.tls_cert_file ({}) signed by a CA the server trusts?",
            shown(&redis.tls_cert_file)
        ),
        None => format!("the server refused the handshake ({alert})"),
    })
}

#[cfg(feature = "tls")]
mod with_files {
    use std::path::Path;

    use redis::{ClientTlsConfig, TlsCertificates};
    use rustls::crypto::{ring, CryptoProvider};
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    use rustls::sign::CertifiedKey;

    use crate::error::StoreError;
    use crate::settings::{RedisSettings, RedisUrl};

    /// Makes ring the process's rustls provider unless one is set already (so a host that
    /// installs its own first keeps it). redis-rs builds its rustls configuration with the
    /// process default, which rustls cannot choose by itself when a host's build compiles in
    /// a second provider (aws-lc-rs) next to ours.
    pub(super) fn install_provider() {
        if CryptoProvider::get_default().is_none() {
            // Fails only when another thread installed one meanwhile, which is as good.
            let _ = ring::default_provider().install_default();
        }
    }

    pub(super) fn client(
        url: &RedisUrl,
        redis: &RedisSettings,
    ) -> Result<redis::Client, StoreError> {
        redis::Client::build_with_tls(url.expose(), read_all(redis)?)
            .map_err(|e| StoreError::Tls(format!("cannot set up TLS to {url}: {e}")))
    }

    /// The certificates of the `redis.tls_*` files, read and checked.
    pub(super) fn read_all(redis: &RedisSettings) -> Result<TlsCertificates, StoreError> {
        install_provider();
        let root_cert = match &redis.tls_ca_file {
            Some(path) => Some(certificates("redis.tls_ca_file", path)?.0),
            None => None,
        };
        let client_tls = match (&redis.tls_cert_file, &redis.tls_key_file) {
            (Some(cert), Some(key)) => Some(identity(cert, key)?),
            // Validation refuses one without the other; without either, no client identity.
            _ => None,
        };
        Ok(TlsCertificates {
            client_tls,
            root_cert,
        })
    }

    /// `setting`'s file (`path`) as read, and the certificates in it (at least one).
    fn certificates(
        setting: &str,
        path: &Path,
    ) -> Result<(Vec<u8>, Vec<CertificateDer<'static>>), StoreError> {
        let pem = read(setting, path)?;
        let certs = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| refused(setting, path, format!("not a PEM certificate file: {e}")))?;
        if certs.is_empty() {
            return Err(refused(
                setting,
                path,
                "holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
            ));
        }
        Ok((pem, certs))
    }

    /// The client certificate and its key, checked to belong together.
    fn identity(cert_path: &Path, key_path: &Path) -> Result<ClientTlsConfig, StoreError> {
        let (client_cert, chain) = certificates("redis.tls_cert_file", cert_path)?;
        let client_key = read("redis.tls_key_file", key_path)?;
        let key = PrivateKeyDer::from_pem_slice(&client_key).map_err(|e| {
            refused(
                "redis.tls_key_file",
                key_path,
                format!("holds no usable PEM private key: {e}"),
            )
        })?;
        CertifiedKey::from_der(chain, key, &ring::default_provider()).map_err(|e| {
            refused(
                "redis.tls_key_file",
                key_path,
                format!(
                    "is not the key of redis.tls_cert_file ({}): {e}",
                    cert_path.display()
                ),
            )
        })?;
        Ok(ClientTlsConfig {
            client_cert,
            client_key,
        })
    }

    fn read(setting: &str, path: &Path) -> Result<Vec<u8>, StoreError> {
        std::fs::read(path).map_err(|e| refused(setting, path, format!("cannot be read: {e}")))
    }

    fn refused(setting: &str, path: &Path, why: impl std::fmt::Display) -> StoreError {
        StoreError::Tls(format!("{setting}: {} {why}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "tls")]
    #[test]
    fn the_explained_messages_are_rustls_own() {
        use rustls::{AlertDescription, CertificateError, Error};
        let unknown = Error::InvalidCertificate(CertificateError::UnknownIssuer).to_string();
        assert_eq!(unknown, rustls_says::UNKNOWN_ISSUER);
        let expired = Error::InvalidCertificate(CertificateError::Expired).to_string();
        assert!(
            expired.starts_with(rustls_says::BAD_CERTIFICATE),
            "{expired}"
        );
        let required = Error::AlertReceived(AlertDescription::CertificateRequired).to_string();
        assert_eq!(required, rustls_says::CERTIFICATE_REQUIRED);
        let alert = Error::AlertReceived(AlertDescription::UnknownCA).to_string();
        assert!(alert.starts_with(rustls_says::ALERT), "{alert}");
    }

    fn tls_settings(ca: Option<&str>, cert: Option<&str>) -> RedisSettings {
        RedisSettings {
            tls_ca_file: ca.map(Into::into),
            tls_cert_file: cert.map(Into::into),
            tls_key_file: cert.map(|_| "/k.pem".into()),
            ..RedisSettings::default()
        }
    }

    #[test]
    fn handshake_failures_name_the_settings() {
        let untrusted = "I/O error: invalid peer certificate: UnknownIssuer";
        let with_ca = tls_settings(Some("/etc/ca.pem"), None);
        assert_eq!(
            handshake_failure(untrusted, &with_ca).unwrap(),
            "the server's certificate is not signed by redis.tls_ca_file (/etc/ca.pem)"
        );
        let system = handshake_failure(untrusted, &tls_settings(None, None)).unwrap();
        assert!(
            system.contains("any certificate authority the system trusts"),
            "{system}"
        );
        let required = "I/O error: received fatal alert: CertificateRequired";
        let anonymous = handshake_failure(required, &with_ca).unwrap();
        assert!(
            anonymous.contains("requires a client certificate"),
            "{anonymous}"
        );
        assert!(anonymous.contains("redis.tls_cert_file"), "{anonymous}");
        let refused = "received fatal alert: UnknownCA";
        let with_cert = tls_settings(None, Some("/c.pem"));
        let refused = handshake_failure(refused, &with_cert).unwrap();
        assert!(refused.contains("UnknownCA"), "{refused}");
        assert!(
            refused.contains("redis.tls_cert_file (/c.pem)"),
            "{refused}"
        );
        assert_eq!(handshake_failure("Connection refused", &with_ca), None);
    }

    #[cfg(feature = "tls")]
    #[test]
    fn unreadable_files_name_the_setting_and_the_path() {
        let url = RedisUrl::parse("rediss://127.0.0.1:1").unwrap();
        let missing = tls_settings(Some("/nonexistent/ca.pem"), None);
        let e = client(&url, &missing).err().unwrap().to_string();
        assert!(
            e.starts_with("redis.tls_ca_file: /nonexistent/ca.pem cannot be read: "),
            "{e}"
        );
        let dir = std::env::temp_dir().join(format!("fanout-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let not_pem = dir.join("ca.pem");
        std::fs::write(&not_pem, "not a certificate\n").unwrap();
        let garbage = tls_settings(not_pem.to_str(), None);
        let e = client(&url, &garbage).err().unwrap().to_string();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            e,
            format!(
                "redis.tls_ca_file: {} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
                not_pem.display()
            )
        );
    }

    #[cfg(not(feature = "tls"))]
    #[test]
    fn without_the_feature_tls_files_are_refused() {
        let e = client(&RedisUrl::default(), &tls_settings(Some("/ca.pem"), None));
        let e = e.err().unwrap().to_string();
        assert!(e.contains("without its `tls` feature"), "{e}");
    }
}
