//! Settings from the environment, and the ledger built from them. Each function's `main` and the
//! local runner call [`Settings::from_env`] once per execution environment, then build clients once.
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `FLUXO_BACKEND` | `embedded` (SQLite in `FLUXO_DATA_DIR`) or `aws` (DynamoDB and SQS) | `embedded` |
//! | `FLUXO_TABLE` | DynamoDB table (aws backend) | `fluxo-ledger` |
//! | `FLUXO_QUEUE_URL` | SQS queue URL (aws backend); when unset, looked up by `FLUXO_QUEUE_NAME` | |
//! | `FLUXO_QUEUE_NAME` | SQS queue name; its dead-letter queue is `{name}-dlq` | `fluxo-entries` |
//! | `FLUXO_DATA_DIR` | directory of the embedded store and queue | `.fluxo` |
//! | `FLUXO_AUTH` | `jwt` (verify HS256 bearer tokens) or `apigateway` (trust authorizer claims) | `jwt` |
//! | `FLUXO_JWT_SECRET` | HS256 secret of at least 32 bytes; when unset, one is created in the data directory | |
//! | `FLUXO_JWT_ISSUER` | when set, written into local tokens as `iss` and required of every token | |
//! | `FLUXO_JWT_AUDIENCE` | when set, written into local tokens as `aud` and required of every token | |
//! | `FLUXO_RELAY_BATCH` | postings one relay pass takes from the outbox at most | `500` |
//! | `FLUXO_RECONCILE_DAYS` | business dates a reconciliation pass checks, back from today | `32` |
//! | `FLUXO_RECONCILE_GRACE` | how long after recording an entry in no balance is published again | `10m` |
//! | `FLUXO_QUEUE_VISIBILITY` | embedded queue visibility timeout | `30s` |
//! | `FLUXO_QUEUE_MAX_RECEIVES` | receives before a message is dead-lettered | `5` |
//! | `FLUXO_CONNECT_AT_INIT` | `on` (a function opens its DynamoDB and SQS connections during init) or `off` | `on` |

use std::path::{Path, PathBuf};
use std::time::Duration;

use jiff::SignedDuration;
use secrecy::{ExposeSecret, SecretString};

#[cfg(feature = "embedded")]
use crate::adapters::embedded::QueueSettings;
use crate::auth::{Authenticator, TokenBinding};
use crate::ledger::RelayPolicy;
use crate::ports::PortError;

mod wiring;

#[cfg(feature = "embedded")]
pub use wiring::Embedded;
pub use wiring::{RelaySource, Wiring, books};

/// How long a function's init waits for its connections to open: well inside Lambda's 10 s init
/// budget, and well past a TLS handshake at the smallest memory size.
pub const CONNECT_WITHIN: Duration = Duration::from_secs(1);

/// A setting is missing or malformed, or a backend could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
    #[error("{0} is required")]
    Missing(&'static str),
    #[error("cannot prepare {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Backend(#[from] PortError),
}

/// Where the ledger keeps its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Embedded,
    Aws,
}

/// How callers are authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    Jwt,
    ApiGateway,
}

/// Every setting, read once.
#[derive(Debug, Clone)]
pub struct Settings {
    pub backend: Backend,
    pub data_dir: PathBuf,
    pub auth: AuthMode,
    /// `FLUXO_JWT_SECRET`; shown as `[REDACTED]` by `Debug`.
    pub jwt_secret: Option<SecretString>,
    pub token_binding: TokenBinding,
    pub relay: RelayPolicy,
    #[cfg(feature = "embedded")]
    pub queue: QueueSettings,
    pub table: String,
    pub queue_url: Option<String>,
    pub queue_name: String,
    /// Whether a function opens its connections during init (`FLUXO_CONNECT_AT_INIT`).
    pub connect_at_init: bool,
}

impl Settings {
    /// Reads the settings from the process environment.
    ///
    /// # Errors
    /// When a variable is set to something that does not parse.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `var`, so tests need not touch the process environment.
    ///
    /// # Errors
    /// When a variable is set to something that does not parse.
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let backend = match var("FLUXO_BACKEND").as_deref() {
            None | Some("embedded") => Backend::Embedded,
            Some("aws") => Backend::Aws,
            Some(other) => {
                return Err(invalid("FLUXO_BACKEND", format!("unknown backend {other:?}; use embedded or aws")));
            }
        };
        let auth = match var("FLUXO_AUTH").as_deref() {
            None | Some("jwt") => AuthMode::Jwt,
            Some("apigateway") => AuthMode::ApiGateway,
            Some(other) => return Err(invalid("FLUXO_AUTH", format!("unknown mode {other:?}; use jwt or apigateway"))),
        };
        let defaults = RelayPolicy::default();
        #[cfg(feature = "embedded")]
        let queue_defaults = QueueSettings::default();
        Ok(Self {
            backend,
            data_dir: var("FLUXO_DATA_DIR").map_or_else(|| PathBuf::from(".fluxo"), PathBuf::from),
            auth,
            jwt_secret: var("FLUXO_JWT_SECRET").filter(|s| !s.is_empty()).map(SecretString::from),
            token_binding: TokenBinding {
                issuer: var("FLUXO_JWT_ISSUER").filter(|s| !s.is_empty()),
                audience: var("FLUXO_JWT_AUDIENCE").filter(|s| !s.is_empty()),
            },
            relay: RelayPolicy {
                batch_max: number(&var, "FLUXO_RELAY_BATCH", defaults.batch_max)?,
                reconcile_days: number(&var, "FLUXO_RECONCILE_DAYS", defaults.reconcile_days)?,
                reconcile_grace: duration(&var, "FLUXO_RECONCILE_GRACE", defaults.reconcile_grace)?,
            },
            #[cfg(feature = "embedded")]
            queue: QueueSettings {
                visibility_timeout: duration(&var, "FLUXO_QUEUE_VISIBILITY", queue_defaults.visibility_timeout)?,
                max_receives: number(&var, "FLUXO_QUEUE_MAX_RECEIVES", queue_defaults.max_receives)?,
            },
            table: var("FLUXO_TABLE").unwrap_or_else(|| "fluxo-ledger".to_owned()),
            queue_url: var("FLUXO_QUEUE_URL").filter(|u| !u.is_empty()),
            queue_name: var("FLUXO_QUEUE_NAME").unwrap_or_else(|| "fluxo-entries".to_owned()),
            connect_at_init: switch(&var, "FLUXO_CONNECT_AT_INIT", true)?,
        })
    }

    /// The HS256 secret: `FLUXO_JWT_SECRET`, else the one kept in the data directory, created on
    /// first use with owner-only permissions.
    ///
    /// # Errors
    /// When the secret is shorter than [`SECRET_BYTES_MIN`], or its file or directory is open to
    /// others, or the file cannot be read or created.
    pub fn jwt_secret(&self) -> Result<Vec<u8>, ConfigError> {
        let secret = match &self.jwt_secret {
            Some(secret) => secret.expose_secret().as_bytes().to_vec(),
            None => secret_file(&self.data_dir.join("jwt-secret"))?,
        };
        if secret.len() < SECRET_BYTES_MIN {
            let hint = format!("must be at least {SECRET_BYTES_MIN} bytes (`openssl rand -hex 32` makes one)");
            return Err(invalid("FLUXO_JWT_SECRET", hint));
        }
        Ok(secret)
    }

    /// The authenticator for the configured mode.
    ///
    /// # Errors
    /// When the JWT secret cannot be had.
    pub fn authenticator(&self) -> Result<Authenticator, ConfigError> {
        match self.auth {
            AuthMode::Jwt => Ok(Authenticator::jwt(&self.jwt_secret()?, &self.token_binding)),
            AuthMode::ApiGateway => Ok(Authenticator::ApiGateway),
        }
    }
}

fn invalid(name: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { name, reason: reason.into() }
}

fn duration(
    var: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: SignedDuration,
) -> Result<SignedDuration, ConfigError> {
    let Some(raw) = var(name) else { return Ok(default) };
    let parsed: SignedDuration = raw.parse().map_err(|e| invalid(name, format!("{e}; write e.g. 30s or 5m")))?;
    if parsed.is_negative() {
        return Err(invalid(name, "must not be negative"));
    }
    Ok(parsed)
}

fn switch(var: &impl Fn(&str) -> Option<String>, name: &'static str, default: bool) -> Result<bool, ConfigError> {
    match var(name).as_deref() {
        None => Ok(default),
        Some("on") => Ok(true),
        Some("off") => Ok(false),
        Some(other) => Err(invalid(name, format!("{other:?} is neither on nor off"))),
    }
}

fn number<T: std::str::FromStr + PartialOrd + Default>(
    var: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: T,
) -> Result<T, ConfigError> {
    let Some(raw) = var(name) else { return Ok(default) };
    raw.parse::<T>().ok().filter(|n| *n > T::default()).ok_or_else(|| invalid(name, "must be a positive whole number"))
}

/// The shortest HS256 secret accepted: the hash's own size, below which a secret is guessable
/// sooner than the signature is forged (RFC 7518, section 3.2).
pub const SECRET_BYTES_MIN: usize = 32;

/// Creates `dir` (and its parents) for the owner alone, and refuses it when others may enter it:
/// it holds the ledger and the token secret.
fn private_dir(dir: &Path) -> Result<(), ConfigError> {
    let io = |source| ConfigError::Io { path: dir.to_path_buf(), source };
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(io)?;
    owner_only(dir, "chmod 700")
}

/// Refuses a file or directory whose mode lets its group or others in.
fn owner_only(path: &Path, fix: &str) -> Result<(), ConfigError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map_err(|source| ConfigError::Io { path: path.to_path_buf(), source })?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            let reason =
                format!("{} is open to others (mode {:o}); `{fix} {}`", path.display(), mode & 0o777, path.display());
            return Err(invalid("FLUXO_DATA_DIR", reason));
        }
    }
    #[cfg(not(unix))]
    let _ = (path, fix);
    Ok(())
}

/// The secret kept in `path`, or a new one: of two processes creating it at once, both end with
/// the one that was published first.
fn secret_file(path: &Path) -> Result<Vec<u8>, ConfigError> {
    if let Some(secret) = read_secret(path)? {
        return Ok(secret);
    }
    if let Some(parent) = path.parent() {
        private_dir(parent)?;
    }
    let io = |source| ConfigError::Io { path: path.to_path_buf(), source };
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| io(std::io::Error::other(e.to_string())))?;
    let secret: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    match publish_private(path, &secret) {
        Ok(()) => Ok(secret.into_bytes()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            read_secret(path)?.ok_or_else(|| io(std::io::Error::other("the secret file vanished")))
        }
        Err(e) => Err(io(e)),
    }
}

/// The secret in `path`, `None` when there is no file; refused when others may read it or it is empty.
fn read_secret(path: &Path) -> Result<Option<Vec<u8>>, ConfigError> {
    let secret = match std::fs::read_to_string(path) {
        Ok(secret) => secret,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(ConfigError::Io { path: path.to_path_buf(), source }),
    };
    owner_only(path, "chmod 600")?;
    let secret = secret.trim();
    if secret.is_empty() {
        let reason = format!("{} is empty; remove it and a new secret is made", path.display());
        return Err(invalid("FLUXO_DATA_DIR", reason));
    }
    Ok(Some(secret.as_bytes().to_vec()))
}

/// Writes `contents` to a file only its owner can read, whole, before it appears at `path`: it is
/// written beside it and hard-linked into place, which fails with `AlreadyExists` if another
/// process published first.
fn publish_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut nonce = [0u8; 8];
    getrandom::fill(&mut nonce).map_err(|e| std::io::Error::other(e.to_string()))?;
    let draft = path.with_extension(format!("{}.draft", u64::from_le_bytes(nonce)));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options.open(&draft).and_then(|mut file| {
        file.write_all(contents.as_bytes())?;
        file.sync_all()
    });
    let published = written.and_then(|()| std::fs::hard_link(&draft, path));
    let _ = std::fs::remove_file(&draft);
    published
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned())
    }

    #[test]
    fn defaults_hold_without_variables() {
        let s = Settings::from_lookup(lookup(&[])).expect("settings");
        assert_eq!(
            (s.backend, s.auth, s.data_dir.clone()),
            (Backend::Embedded, AuthMode::Jwt, PathBuf::from(".fluxo"))
        );
        assert_eq!(s.relay.reconcile_grace, SignedDuration::from_mins(10));
        assert_eq!(s.relay.reconcile_days, 32);
        assert!(s.connect_at_init);
        let off = Settings::from_lookup(lookup(&[("FLUXO_CONNECT_AT_INIT", "off")])).expect("settings");
        assert!(!off.connect_at_init);
    }

    #[test]
    fn durations_and_modes_parse_or_fail_loudly() {
        let s = Settings::from_lookup(lookup(&[("FLUXO_RECONCILE_GRACE", "2s"), ("FLUXO_AUTH", "apigateway")]))
            .expect("settings");
        assert_eq!((s.relay.reconcile_grace, s.auth), (SignedDuration::from_secs(2), AuthMode::ApiGateway));
        for bad in [
            &[("FLUXO_RECONCILE_GRACE", "soon")][..],
            &[("FLUXO_RECONCILE_DAYS", "0")],
            &[("FLUXO_AUTH", "none")],
            &[("FLUXO_QUEUE_MAX_RECEIVES", "0")],
            &[("FLUXO_BACKEND", "s3")],
            &[("FLUXO_CONNECT_AT_INIT", "yes")],
        ] {
            let pairs: &'static [(&str, &str)] = bad;
            assert!(Settings::from_lookup(lookup(pairs)).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn the_secret_file_is_created_once_and_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("data").join("jwt-secret");
        let first = secret_file(&path).expect("created");
        assert_eq!(first.len(), 64);
        assert_eq!(secret_file(&path).expect("read"), first);
    }

    #[test]
    fn creators_racing_for_the_secret_all_end_with_the_one_published() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("data").join("jwt-secret");
        let secrets: Vec<Vec<u8>> = std::thread::scope(|scope| {
            let racers: Vec<_> = (0..8).map(|_| scope.spawn(|| secret_file(&path).expect("a secret"))).collect();
            racers.into_iter().map(|r| r.join().expect("no panic")).collect()
        });
        let kept = std::fs::read(&path).expect("the file");
        assert!(secrets.iter().all(|s| *s == kept), "every racer holds the file's secret");
        let left: Vec<_> = std::fs::read_dir(path.parent().expect("dir")).expect("list").collect();
        assert_eq!(left.len(), 1, "no draft is left behind: {left:?}");
    }

    #[cfg(unix)]
    #[test]
    fn a_secret_or_a_data_directory_open_to_others_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("data");
        private_dir(&data).expect("created for the owner");
        let mode = std::fs::metadata(&data).expect("dir").permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        let path = data.join("jwt-secret");
        secret_file(&path).expect("created");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let refused = secret_file(&path).expect_err("a readable secret");
        assert!(refused.to_string().contains("chmod 600"), "{refused}");
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let refused = private_dir(&data).expect_err("a directory others may enter");
        assert!(refused.to_string().contains("chmod 700"), "{refused}");
    }

    #[test]
    fn a_short_secret_is_refused_and_no_secret_is_shown_by_debug() {
        let short = Settings::from_lookup(lookup(&[("FLUXO_JWT_SECRET", "31-bytes-is-one-byte-too-short!")]))
            .expect("settings");
        assert!(short.jwt_secret().is_err(), "31 bytes were accepted");
        let secret = "a-secret-of-thirty-two-bytes-ok!";
        let settings = Settings::from_lookup(lookup(&[("FLUXO_JWT_SECRET", "a-secret-of-thirty-two-bytes-ok!")]))
            .expect("settings");
        assert_eq!(settings.jwt_secret().expect("32 bytes"), secret.as_bytes());
        assert!(!format!("{settings:?}").contains(secret), "Debug shows the secret");
    }
}
