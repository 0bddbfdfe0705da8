//! The rules of the `redis.tls_*` settings, part of `Settings::validate` (kept apart from
//! `validate.rs` for its length). Whether the files can be read and hold PEM is checked
//! where they are read, when connecting (the crate's `tls.rs`).

use super::error::SettingsError;
use super::server::RedisSettings;

/// The `redis.tls_*` files: only in a build with TLS, only with a `rediss://` URL, and a
/// client certificate only with its key.
pub(super) fn check(redis: &RedisSettings) -> Result<(), SettingsError> {
    let files = [
        ("redis.tls_ca_file", &redis.tls_ca_file),
        ("redis.tls_cert_file", &redis.tls_cert_file),
        ("redis.tls_key_file", &redis.tls_key_file),
    ];
    let Some(&(first, _)) = files.iter().find(|(_, file)| file.is_some()) else {
        return Ok(());
    };
    if cfg!(not(feature = "tls")) {
        return Err(SettingsError::new(
            first,
            "TLS settings need TLS support, and the fanout crate was built without its `tls` feature",
        ));
    }
    if !redis.uses_tls() {
        return Err(SettingsError::new(
            first,
            format!(
                "is only used with a rediss:// (TLS) URL, and {} is '{}': write rediss:// to connect with TLS, or leave the tls_* settings unset",
                redis.source_setting(),
                redis.describe()
            ),
        ));
    }
    match (&redis.tls_cert_file, &redis.tls_key_file) {
        (Some(_), None) => Err(SettingsError::new(
            "redis.tls_cert_file",
            "needs redis.tls_key_file, the certificate's private key: mutual TLS takes both",
        )),
        (None, Some(_)) => Err(SettingsError::new(
            "redis.tls_key_file",
            "needs redis.tls_cert_file, the client certificate it is the key of: mutual TLS takes both",
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use crate::settings::{RedisUrl, Settings};

    /// `Settings::validate`'s error with `url` and the files `ca cert key` (`-`: unset).
    fn error(url: &str, files: &str) -> Option<String> {
        let mut s = Settings::default();
        s.redis.url = RedisUrl::parse(url).ok()?;
        let mut files = files.split(' ').map(|f| (f != "-").then(|| f.into()));
        s.redis.tls_ca_file = files.next().flatten();
        s.redis.tls_cert_file = files.next().flatten();
        s.redis.tls_key_file = files.next().flatten();
        s.validate().err().map(|e| e.to_string())
    }

    #[test]
    fn no_files_need_nothing() {
        assert_eq!(error("redis://127.0.0.1:6379", "- - -"), None);
    }

    #[cfg(feature = "tls")]
    #[test]
    fn files_go_with_a_tls_url_and_a_certificate_with_its_key() {
        let tls = "rediss://127.0.0.1:6380";
        assert_eq!(error(tls, "- - -"), None);
        assert_eq!(error(tls, "ca.pem - -"), None);
        assert_eq!(error(tls, "ca.pem c.pem k.pem"), None);
        assert_eq!(error(tls, "- c.pem k.pem"), None);
        assert_eq!(
            error(tls, "ca.pem c.pem -").unwrap(),
            "redis.tls_cert_file: needs redis.tls_key_file, the certificate's private key: mutual TLS takes both"
        );
        assert!(error(tls, "- - k.pem")
            .unwrap()
            .starts_with("redis.tls_key_file: needs redis.tls_cert_file"));
        assert_eq!(
            error("redis://:pw@127.0.0.1:6379", "- c.pem k.pem").unwrap(),
            "redis.tls_cert_file: is only used with a rediss:// (TLS) URL, and redis.url is 'redis://:***@127.0.0.1:6379': write rediss:// to connect with TLS, or leave the tls_* settings unset"
        );
    }

    #[cfg(not(feature = "tls"))]
    #[test]
    fn without_the_feature_tls_files_are_refused() {
        assert_eq!(
            error("redis://127.0.0.1:6379", "- - k.pem").unwrap(),
            "redis.tls_key_file: TLS settings need TLS support, and the fanout crate was built without its `tls` feature"
        );
    }
}
