//! `ADD https://…`: files fetched over HTTP(S).
//!
//! A download streams into a temp file under the store's `tmp/` (never
//! whole in memory), hashed while it is written. Each URL is fetched once
//! per build: the cache key needs the bytes' digest (unless `--checksum`
//! gives it), and the copy that follows a miss reuses the same file.
//!
//! As BuildKit does, the file is named after the last segment of the URL's
//! path ([`strata_plan::url_file_name`]), gets mode 0600, and its mtime
//! from the `Last-Modified` header, or the epoch when the server sends
//! none (the copy in `worker/copy` applies those).
//!
//! Revalidation, as BuildKit: after a download the store keeps the bytes
//! as a blob and a small record per URL (`http-v1/<sha256 of the URL>.json`:
//! `ETag`, `Last-Modified`, the blob's digest), written atomically. The
//! next build sends `If-None-Match` / `If-Modified-Since`; a `304 Not
//! Modified` reuses the stored bytes, so an unchanged remote file is not
//! downloaded again and the step keeps its key. A record whose blob was
//! pruned is ignored.

use sha2::{Digest as _, Sha256, Sha384, Sha512};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use strata_store::{Digest, Store};
use tempfile::NamedTempFile;

/// A failed download.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The request could not be made or the transfer broke off.
    #[error("fetching {url}: {message}")]
    Transport {
        /// The URL.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// The server answered with an error status.
    #[error("fetching {url}: the server answered {status}")]
    Status {
        /// The URL.
        url: String,
        /// The HTTP status.
        status: u16,
    },
    /// The content does not have the digest `--checksum` promised.
    #[error("ADD {url}: checksum mismatch: expected {expected}, got {actual}")]
    Checksum {
        /// The URL.
        url: String,
        /// The digest given with `--checksum`.
        expected: String,
        /// The digest of what the server sent.
        actual: String,
    },
    /// `--checksum` with an algorithm this version cannot compute.
    #[error("ADD {url}: unsupported checksum {checksum:?} (use sha256:, sha384: or sha512:)")]
    Algorithm {
        /// The URL.
        url: String,
        /// The checksum as given.
        checksum: String,
    },
    /// The temp file could not be written or read back.
    #[error("fetching {url}: storing the download: {source}")]
    Write {
        /// The URL.
        url: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The store's temp directory failed.
    #[error(transparent)]
    Store(#[from] strata_store::StoreError),
}

/// A fetched file.
#[derive(Debug)]
pub(crate) struct Download {
    /// The bytes, in a temp file under the store (removed when dropped).
    pub(crate) file: NamedTempFile,
    /// `sha256:…` of the bytes.
    pub(crate) digest: String,
    /// `Last-Modified`, in seconds since the epoch, when the server sent it.
    pub(crate) mtime: Option<i64>,
}

/// What the store remembers of a URL's last download (`http-v1/`).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Validators {
    /// The URL (the file name is its hash).
    url: String,
    /// The `ETag` the server sent.
    etag: Option<String>,
    /// The `Last-Modified` the server sent, as sent.
    last_modified: Option<String>,
    /// `sha256:…` of the bytes, a blob in the store.
    digest: String,
}

fn validators_path(store: &Store, url: &str) -> PathBuf {
    store.root().join("http-v1").join(format!(
        "{}.json",
        hex::encode(Sha256::digest(url.as_bytes()))
    ))
}

/// The record of `url`'s last download, when its blob is still stored
/// (claimed, so a prune running meanwhile keeps it).
fn load_validators(store: &Store, url: &str) -> Option<(Validators, Digest)> {
    let bytes = std::fs::read(validators_path(store, url)).ok()?;
    let v: Validators = serde_json::from_slice(&bytes).ok()?;
    let digest: Digest = v.digest.parse().ok()?;
    (v.url == url && (v.etag.is_some() || v.last_modified.is_some()) && store.claim_blob(&digest))
        .then_some((v, digest))
}

/// Downloads of one build, by URL.
pub(crate) struct Fetcher {
    /// For hosts other than loopback: honours the proxy environment.
    agent: ureq::Agent,
    /// For loopback hosts: never through a proxy.
    direct: ureq::Agent,
    done: Mutex<BTreeMap<String, Arc<Download>>>,
}

impl std::fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetcher").finish_non_exhaustive()
    }
}

impl Fetcher {
    /// A fetcher with nothing downloaded yet.
    pub(crate) fn new() -> Fetcher {
        let config = |proxy: bool| {
            let b = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .user_agent(concat!("strata/", env!("CARGO_PKG_VERSION")))
                .max_redirects(10)
                .timeout_connect(Some(Duration::from_secs(30)))
                .timeout_recv_response(Some(Duration::from_secs(300)))
                .timeout_per_read(Some(Duration::from_secs(300)));
            if proxy { b } else { b.proxy(None) }.build()
        };
        Fetcher {
            agent: config(true).new_agent(),
            direct: config(false).new_agent(),
            done: Mutex::new(BTreeMap::new()),
        }
    }

    /// The file at `url`, downloaded once per build; with a `checksum`
    /// (`sha256:…`, `sha384:…`, `sha512:…`) the content must match it.
    pub(crate) fn get(
        &self,
        store: &Store,
        url: &str,
        checksum: Option<&str>,
    ) -> Result<Arc<Download>, FetchError> {
        let known = self
            .done
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(url)
            .cloned();
        let download = match known {
            Some(d) => d,
            None => {
                let d = Arc::new(self.download(store, url)?);
                self.done
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(url.to_string(), d.clone());
                d
            }
        };
        if let Some(sum) = checksum {
            verify(url, sum, &download)?;
        }
        Ok(download)
    }

    fn download(&self, store: &Store, url: &str) -> Result<Download, FetchError> {
        let transport = |message: String| FetchError::Transport {
            url: url.to_string(),
            message,
        };
        let agent = if is_loopback_url(url) {
            &self.direct
        } else {
            &self.agent
        };
        let known = load_validators(store, url);
        let mut request = agent.get(url);
        if let Some((v, _)) = &known {
            if let Some(etag) = &v.etag {
                request = request.header("If-None-Match", etag);
            }
            if let Some(lm) = &v.last_modified {
                request = request.header("If-Modified-Since", lm);
            }
        }
        let resp = request.call().map_err(|e| transport(e.to_string()))?;
        let status = resp.status().as_u16();
        let write_err = |source| FetchError::Write {
            url: url.to_string(),
            source,
        };
        if status == 304
            && let Some((v, digest)) = known
        {
            // Unchanged: the stored bytes, in a temp file of this build.
            let file = store.temp_file()?;
            std::fs::copy(store.blob_path(&digest), file.path()).map_err(write_err)?;
            return Ok(Download {
                file,
                digest: v.digest,
                mtime: v.last_modified.as_deref().and_then(parse_http_date),
            });
        }
        if !(200..300).contains(&status) {
            return Err(FetchError::Status {
                url: url.to_string(),
                status,
            });
        }
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let (etag, last_modified) = (header("etag"), header("last-modified"));
        let mtime = last_modified.as_deref().and_then(parse_http_date);
        let mut body = resp.into_body();
        let mut reader = body.as_reader();
        let mut file = store.temp_file()?;
        let mut sha256 = Sha256::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(transport(e.to_string())),
            };
            sha256.update(&buf[..n]);
            file.write_all(&buf[..n]).map_err(write_err)?;
        }
        file.flush().map_err(write_err)?;
        let digest = format!("sha256:{}", hex::encode(sha256.finalize()));
        if etag.is_some() || last_modified.is_some() {
            remember(
                store,
                file.path(),
                &digest,
                Validators {
                    url: url.to_string(),
                    etag,
                    last_modified,
                    digest: digest.clone(),
                },
            )?;
        }
        Ok(Download {
            file,
            digest,
            mtime,
        })
    }
}

/// Keeps a download's bytes as a blob and its validators beside them, so
/// the next build can revalidate instead of downloading again.
fn remember(
    store: &Store,
    file: &std::path::Path,
    digest: &str,
    validators: Validators,
) -> Result<(), FetchError> {
    let expected: Digest = digest.parse().map_err(|_| FetchError::Transport {
        url: validators.url.clone(),
        message: format!("bad digest {digest}"),
    })?;
    store.import_blob_file(file, Some(&expected))?;
    let path = validators_path(store, &validators.url);
    let dir = store.root().join("http-v1");
    std::fs::create_dir_all(&dir).map_err(|source| FetchError::Write {
        url: validators.url.clone(),
        source,
    })?;
    let bytes = serde_json::to_vec(&validators).map_err(|e| FetchError::Transport {
        url: validators.url.clone(),
        message: format!("encoding the download record: {e}"),
    })?;
    store.write_file_atomic(&path, &bytes)?;
    Ok(())
}

/// A download against `--checksum` (sha256 was computed while
/// downloading; sha384 and sha512 read the file again).
fn verify(url: &str, sum: &str, download: &Download) -> Result<(), FetchError> {
    let (algorithm, _) = sum.split_once(':').unwrap_or(("", ""));
    use sha2::digest::DynDigest;
    let mut hasher: Box<dyn DynDigest> = match algorithm {
        "sha256" => return mismatch(url, sum, &download.digest),
        "sha384" => Box::new(Sha384::new()),
        "sha512" => Box::new(Sha512::new()),
        _ => {
            return Err(FetchError::Algorithm {
                url: url.to_string(),
                checksum: sum.to_string(),
            });
        }
    };
    let read_err = |source| FetchError::Write {
        url: url.to_string(),
        source,
    };
    let mut f = std::fs::File::open(download.file.path()).map_err(read_err)?;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => hasher.update(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(read_err(e)),
        }
    }
    let actual = format!("{algorithm}:{}", hex::encode(hasher.finalize()));
    mismatch(url, sum, &actual)
}

fn mismatch(url: &str, expected: &str, actual: &str) -> Result<(), FetchError> {
    if expected == actual {
        return Ok(());
    }
    Err(FetchError::Checksum {
        url: url.to_string(),
        expected: expected.to_string(),
        actual: actual.to_string(),
    })
}

/// True when the URL's host is loopback (no proxy then).
fn is_loopback_url(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host_port.split(':').next().unwrap_or(""),
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Parses an HTTP date (RFC 9110: IMF-fixdate, RFC 850, asctime) into
/// seconds since the epoch.
pub(crate) fn parse_http_date(s: &str) -> Option<i64> {
    let s = s.trim();
    let (date, time) = if let Some((_, rest)) = s.split_once(", ") {
        let parts: Vec<&str> = rest.split_whitespace().collect();
        match parts.as_slice() {
            // Sun, 06 Nov 1994 08:49:37 GMT
            [day, mon, year, time, "GMT"] => ((*day, *mon, year.parse::<i64>().ok()?), *time),
            // Sunday, 06-Nov-94 08:49:37 GMT
            [dmy, time, "GMT"] => {
                let mut it = dmy.split('-');
                let (day, mon, yy) = (it.next()?, it.next()?, it.next()?);
                let yy: i64 = yy.parse().ok()?;
                let year = if yy >= 69 { 1900 + yy } else { 2000 + yy };
                ((day, mon, year), *time)
            }
            _ => return None,
        }
    } else {
        // Sun Nov  6 08:49:37 1994
        let parts: Vec<&str> = s.split_whitespace().collect();
        match parts.as_slice() {
            [_, mon, day, time, year] => ((*day, *mon, year.parse::<i64>().ok()?), *time),
            _ => return None,
        }
    };
    let (day, mon, year) = date;
    let day: i64 = day.parse().ok()?;
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.iter().position(|m| *m == mon)? as i64 + 1;
    let mut hms = time.split(':').map(|p| p.parse::<i64>().ok());
    let (h, m, sec) = (hms.next()??, hms.next()??, hms.next()??);
    if !(1..=31).contains(&day) || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    Some(crate::time::days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + sec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates_in_all_three_forms() {
        let t = 784_111_777;
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), Some(t));
        assert_eq!(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), Some(t));
        assert_eq!(parse_http_date("Sun Nov  6 08:49:37 1994"), Some(t));
        assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(
            parse_http_date("Mon, 01 Jan 2024 00:00:00 GMT"),
            Some(1_704_067_200)
        );
        for bad in [
            "",
            "yesterday",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 25:00:00 GMT",
        ] {
            assert_eq!(parse_http_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn loopback_hosts_go_direct() {
        assert!(is_loopback_url("http://127.0.0.1:8080/x"));
        assert!(is_loopback_url("http://localhost/x"));
        assert!(is_loopback_url("http://[::1]:80/x"));
        assert!(is_loopback_url("http://user@127.0.0.2/x"));
        assert!(!is_loopback_url("https://example.com/127.0.0.1"));
    }
}
