//! Registry credentials: from docker's `config.json` (`auths`,
//! `credHelpers`, `credsStore`) or given by the caller. Secrets never reach
//! a `Debug` or `Display` output.

use crate::base64;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The key docker uses for Docker Hub in `config.json` and with helpers.
pub const DOCKER_HUB_AUTH_KEY: &str = "https://index.docker.io/v1/";

/// Credentials for one registry.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// User name and password (HTTP basic, or sent to a token server).
    Basic {
        /// The user name.
        username: String,
        /// The password (redacted in `Debug`).
        password: String,
    },
    /// An OAuth2 refresh token (`identitytoken`), exchanged at the token
    /// server for access tokens.
    IdentityToken(String),
    /// A bearer token to send as it is (`registrytoken`).
    RegistryToken(String),
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::Basic { username, .. } => f
                .debug_struct("Basic")
                .field("username", username)
                .field("password", &"<redacted>")
                .finish(),
            Credential::IdentityToken(_) => f.write_str("IdentityToken(<redacted>)"),
            Credential::RegistryToken(_) => f.write_str("RegistryToken(<redacted>)"),
        }
    }
}

impl Credential {
    /// `Authorization: Basic …` for a user and password.
    pub(crate) fn basic_header(&self) -> Option<String> {
        match self {
            Credential::Basic { username, password } => Some(format!(
                "Basic {}",
                base64::encode(format!("{username}:{password}").as_bytes())
            )),
            _ => None,
        }
    }
}

/// Errors while looking credentials up.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// The config file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The config file is not what docker writes.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong (never a secret).
        message: String,
    },
    /// A `docker-credential-*` helper failed.
    #[error("credential helper {helper} for {registry}: {message}")]
    Helper {
        /// The executable.
        helper: String,
        /// The registry asked about.
        registry: String,
        /// What went wrong.
        message: String,
    },
}

/// Where a [`crate::Client`] gets credentials for a registry (`docker.io`,
/// `localhost:5000`).
pub trait CredentialSource: Send + Sync + fmt::Debug {
    /// The credentials for `registry`, or `None` for anonymous access.
    fn get(&self, registry: &str) -> Result<Option<Credential>, CredentialError>;
}

/// No credentials anywhere.
#[derive(Debug, Clone, Copy, Default)]
pub struct Anonymous;

impl CredentialSource for Anonymous {
    fn get(&self, _: &str) -> Result<Option<Credential>, CredentialError> {
        Ok(None)
    }
}

/// Credentials given by the caller, by registry.
#[derive(Debug, Clone, Default)]
pub struct StaticCredentials(pub BTreeMap<String, Credential>);

impl CredentialSource for StaticCredentials {
    fn get(&self, registry: &str) -> Result<Option<Credential>, CredentialError> {
        Ok(self.0.get(registry).cloned())
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConfigFile {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(default)]
    cred_helpers: BTreeMap<String, String>,
    #[serde(default)]
    creds_store: Option<String>,
}

#[derive(Default, Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
    #[serde(default)]
    registrytoken: Option<String>,
}

impl fmt::Debug for AuthEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuthEntry(<redacted>)")
    }
}

/// Docker's client configuration: `$DOCKER_CONFIG/config.json`, else
/// `~/.docker/config.json`. Looked up as the docker CLI does: a
/// `credHelpers` entry for the registry, else `credsStore`, else `auths`
/// (a helper that knows nothing falls back to `auths`).
#[derive(Debug, Default)]
pub struct DockerConfig {
    path: Option<PathBuf>,
    file: ConfigFile,
    helper_prefix: String,
}

impl DockerConfig {
    /// Loads the default config file; a missing file means no credentials.
    pub fn load() -> Result<DockerConfig, CredentialError> {
        let dir = match std::env::var_os("DOCKER_CONFIG") {
            Some(d) if !d.is_empty() => PathBuf::from(d),
            _ => match std::env::var_os("HOME") {
                Some(h) => Path::new(&h).join(".docker"),
                None => return Ok(DockerConfig::empty()),
            },
        };
        DockerConfig::from_file(&dir.join("config.json"))
    }

    /// No credentials.
    pub fn empty() -> DockerConfig {
        DockerConfig {
            path: None,
            file: ConfigFile::default(),
            helper_prefix: "docker-credential-".into(),
        }
    }

    /// Loads a given file; a missing file means no credentials.
    pub fn from_file(path: &Path) -> Result<DockerConfig, CredentialError> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(DockerConfig::empty());
            }
            Err(source) => {
                return Err(CredentialError::Io {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        let file = serde_json::from_slice(&bytes).map_err(|e| CredentialError::Parse {
            path: path.to_path_buf(),
            message: format!("not a docker config file: {e}"),
        })?;
        Ok(DockerConfig {
            path: Some(path.to_path_buf()),
            file,
            helper_prefix: "docker-credential-".into(),
        })
    }

    /// Runs helpers as `{prefix}{name}` instead of `docker-credential-{name}`
    /// found on `PATH` (a directory prefix for tests).
    pub fn with_helper_prefix(mut self, prefix: impl Into<String>) -> DockerConfig {
        self.helper_prefix = prefix.into();
        self
    }

    fn lookup_auths(&self, registry: &str) -> Result<Option<Credential>, CredentialError> {
        let key = auth_key(registry);
        let entry = self.file.auths.get(&key).or_else(|| {
            self.file
                .auths
                .iter()
                .find(|(k, _)| hostname_of(k) == hostname_of(&key))
                .map(|(_, v)| v)
        });
        let Some(entry) = entry else {
            return Ok(None);
        };
        if let Some(t) = entry.registrytoken.as_deref().filter(|t| !t.is_empty()) {
            return Ok(Some(Credential::RegistryToken(t.to_string())));
        }
        if let Some(t) = entry.identitytoken.as_deref().filter(|t| !t.is_empty()) {
            return Ok(Some(Credential::IdentityToken(t.to_string())));
        }
        if let Some(auth) = entry.auth.as_deref().filter(|a| !a.is_empty()) {
            let parse_err = || CredentialError::Parse {
                path: self.path.clone().unwrap_or_default(),
                message: format!("auths[{key:?}].auth is not base64 of user:password"),
            };
            let plain = base64::decode(auth.trim()).ok_or_else(parse_err)?;
            let plain = String::from_utf8(plain).map_err(|_| parse_err())?;
            let (username, password) = plain.split_once(':').ok_or_else(parse_err)?;
            return Ok(Some(Credential::Basic {
                username: username.to_string(),
                password: password.to_string(),
            }));
        }
        match (&entry.username, &entry.password) {
            (Some(u), Some(p)) if !u.is_empty() => Ok(Some(Credential::Basic {
                username: u.clone(),
                password: p.clone(),
            })),
            _ => Ok(None),
        }
    }

    fn run_helper(
        &self,
        helper: &str,
        registry: &str,
    ) -> Result<Option<Credential>, CredentialError> {
        let program = format!("{}{helper}", self.helper_prefix);
        let server = auth_key(registry);
        let err = |message: String| CredentialError::Helper {
            helper: program.clone(),
            registry: registry.to_string(),
            message,
        };
        let mut child = Command::new(&program)
            .arg("get")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| err(format!("cannot run: {e}")))?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(server.as_bytes())
                .map_err(|e| err(format!("cannot write to it: {e}")))?;
        }
        let out = child
            .wait_with_output()
            .map_err(|e| err(format!("cannot read its output: {e}")))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            if stdout.contains("credentials not found") {
                return Ok(None);
            }
            let stderr = String::from_utf8_lossy(&out.stderr);
            return Err(err(format!(
                "{}: {}",
                out.status,
                first_line(if stderr.trim().is_empty() {
                    &stdout
                } else {
                    &stderr
                })
            )));
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct HelperOutput {
            #[serde(default)]
            username: String,
            #[serde(default)]
            secret: String,
        }
        let parsed: HelperOutput = serde_json::from_str(&stdout)
            .map_err(|e| err(format!("output is not the helper protocol's JSON: {e}")))?;
        if parsed.username.is_empty() && parsed.secret.is_empty() {
            return Ok(None);
        }
        Ok(Some(if parsed.username == "<token>" {
            Credential::IdentityToken(parsed.secret)
        } else {
            Credential::Basic {
                username: parsed.username,
                password: parsed.secret,
            }
        }))
    }
}

impl CredentialSource for DockerConfig {
    fn get(&self, registry: &str) -> Result<Option<Credential>, CredentialError> {
        let key = auth_key(registry);
        let helper = self
            .file
            .cred_helpers
            .get(registry)
            .or_else(|| self.file.cred_helpers.get(&key))
            .or(self.file.creds_store.as_ref())
            .filter(|h| !h.is_empty());
        if let Some(helper) = helper
            && let Some(c) = self.run_helper(helper, registry)?
        {
            return Ok(Some(c));
        }
        self.lookup_auths(registry)
    }
}

/// The key of a registry in `config.json`.
fn auth_key(registry: &str) -> String {
    if registry == crate::reference::DEFAULT_REGISTRY
        || registry == "index.docker.io"
        || registry == crate::reference::DOCKER_HUB_API_HOST
    {
        DOCKER_HUB_AUTH_KEY.to_string()
    } else {
        registry.to_string()
    }
}

/// docker's `ConvertToHostname`: no scheme, nothing after the first `/`.
fn hostname_of(key: &str) -> &str {
    let k = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    k.split('/').next().unwrap_or(k)
}

fn first_line(s: &str) -> String {
    s.lines()
        .next()
        .unwrap_or("")
        .trim()
        .chars()
        .take(200)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(dir: &Path, json: &str) -> DockerConfig {
        let path = dir.join("config.json");
        std::fs::write(&path, json).unwrap();
        DockerConfig::from_file(&path).unwrap()
    }

    #[test]
    fn auths_base64_and_fields_and_hub_key() {
        let dir = tempfile::tempdir().unwrap();
        let c = config(
            dir.path(),
            r#"{"auths":{
                "https://index.docker.io/v1/":{"auth":"aHViOnMzY3JldA=="},
                "https://r.example.com/v2/":{"username":"u","password":"p"},
                "tok.example.com":{"identitytoken":"refresh"},
                "broken.example.com":{"auth":"!!"}
            }}"#,
        );
        assert_eq!(
            c.get("docker.io").unwrap(),
            Some(Credential::Basic {
                username: "hub".into(),
                password: "s3cret".into()
            })
        );
        assert_eq!(
            c.get("r.example.com").unwrap(),
            Some(Credential::Basic {
                username: "u".into(),
                password: "p".into()
            })
        );
        assert_eq!(
            c.get("tok.example.com").unwrap(),
            Some(Credential::IdentityToken("refresh".into()))
        );
        assert_eq!(c.get("other.example.com").unwrap(), None);
        let err = c.get("broken.example.com").unwrap_err().to_string();
        assert!(err.contains("not base64"), "{err}");
    }

    #[test]
    fn debug_never_shows_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let c = config(
            dir.path(),
            r#"{"auths":{"a.example.com":{"auth":"dTpodW50ZXIy"}}}"#,
        );
        let cred = c.get("a.example.com").unwrap().unwrap();
        let shown = format!("{cred:?} {c:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(!shown.contains("dTpodW50ZXIy"), "{shown}");
        assert!(shown.contains("<redacted>"));
        for c in [
            Credential::IdentityToken("hunter2".into()),
            Credential::RegistryToken("hunter2".into()),
        ] {
            assert!(!format!("{c:?}").contains("hunter2"));
        }
    }

    #[test]
    fn helpers_take_precedence_and_fall_back_to_auths() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let helper = dir.path().join("docker-credential-fake");
        std::fs::write(
            &helper,
            r#"#!/bin/sh
read server
case "$server" in
  helped.example.com) echo '{"ServerURL":"helped.example.com","Username":"hu","Secret":"hs"}' ;;
  https://index.docker.io/v1/) echo '{"ServerURL":"x","Username":"<token>","Secret":"idt"}' ;;
  broken.example.com) echo 'boom' >&2; exit 3 ;;
  *) echo 'credentials not found in native keychain'; exit 1 ;;
esac
"#,
        )
        .unwrap();
        std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
        let prefix = format!("{}/docker-credential-", dir.path().display());
        let c = config(
            dir.path(),
            r#"{"credHelpers":{"helped.example.com":"fake","broken.example.com":"fake"},
                "credsStore":"fake",
                "auths":{"plain.example.com":{"auth":"cDpx"}}}"#,
        )
        .with_helper_prefix(prefix);
        assert_eq!(
            c.get("helped.example.com").unwrap(),
            Some(Credential::Basic {
                username: "hu".into(),
                password: "hs".into()
            })
        );
        assert_eq!(
            c.get("docker.io").unwrap(),
            Some(Credential::IdentityToken("idt".into()))
        );
        // The store knows nothing: auths answers.
        assert_eq!(
            c.get("plain.example.com").unwrap(),
            Some(Credential::Basic {
                username: "p".into(),
                password: "q".into()
            })
        );
        assert_eq!(c.get("nobody.example.com").unwrap(), None);
        let err = c.get("broken.example.com").unwrap_err().to_string();
        assert!(
            err.contains("boom") && err.contains("broken.example.com"),
            "{err}"
        );
    }

    #[test]
    fn missing_file_is_anonymous_and_bad_json_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let c = DockerConfig::from_file(&dir.path().join("none.json")).unwrap();
        assert_eq!(c.get("docker.io").unwrap(), None);
        std::fs::write(dir.path().join("config.json"), "{").unwrap();
        let err = DockerConfig::from_file(&dir.path().join("config.json")).unwrap_err();
        assert!(err.to_string().contains("config.json"), "{err}");
    }
}
