//! The HTTP side: one [`Client`] per program, shared by threads. It picks
//! HTTPS or (only where allowed) plain HTTP per registry, answers auth
//! challenges (basic, bearer tokens by scope), and retries 429 and 5xx a
//! bounded number of times.

use crate::challenge::{self, Challenge};
use crate::{Credential, CredentialSource, DockerConfig, Reference, RegistryError};
use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use ureq::http::{self, Response};
use ureq::{Body, SendBody};

/// Builds a [`Client`].
#[derive(Debug)]
pub struct ClientBuilder {
    credentials: Option<Box<dyn CredentialSource>>,
    insecure: BTreeSet<String>,
    retries: u32,
    retry_delay: Duration,
    user_agent: String,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        ClientBuilder {
            credentials: None,
            insecure: BTreeSet::new(),
            retries: 3,
            retry_delay: Duration::from_millis(500),
            user_agent: format!("strata/{}", env!("CARGO_PKG_VERSION")),
        }
    }
}

impl ClientBuilder {
    /// Where credentials come from (default: [`DockerConfig::load`]).
    pub fn credentials(mut self, source: impl CredentialSource + 'static) -> Self {
        self.credentials = Some(Box::new(source));
        self
    }

    /// Allows plain HTTP for a registry (`host:port` as in references),
    /// after HTTPS failed. `localhost`, `127.0.0.0/8` and `[::1]` are
    /// always allowed.
    pub fn insecure_registry(mut self, registry: impl Into<String>) -> Self {
        self.insecure.insert(registry.into());
        self
    }

    /// How often a request that got 429, a 5xx or a network error is
    /// tried again (default 3), and the first delay (doubled each time,
    /// default 500 ms; a `Retry-After` of up to 30 s is honoured).
    pub fn retries(mut self, retries: u32, first_delay: Duration) -> Self {
        self.retries = retries;
        self.retry_delay = first_delay;
        self
    }

    /// Builds the client; reads docker's config unless credentials were set.
    pub fn build(self) -> Result<Client, RegistryError> {
        let credentials = match self.credentials {
            Some(c) => c,
            None => Box::new(DockerConfig::load()?),
        };
        let config = |proxy: bool| {
            let b = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .user_agent(self.user_agent.as_str())
                .max_redirects(5)
                .timeout_connect(Some(Duration::from_secs(30)))
                .timeout_recv_response(Some(Duration::from_secs(300)))
                .timeout_per_read(Some(Duration::from_secs(300)));
            if proxy { b } else { b.proxy(None) }.build()
        };
        Ok(Client {
            inner: Arc::new(Inner {
                agent: config(true).new_agent(),
                loopback_agent: config(false).new_agent(),
                credentials,
                insecure: self.insecure,
                retries: self.retries,
                retry_delay: self.retry_delay,
                hosts: Mutex::new(BTreeMap::new()),
                known_blobs: Mutex::new(BTreeMap::new()),
                requests: Mutex::new(BTreeMap::new()),
                token_fetch: Mutex::new(()),
            }),
        })
    }
}

/// A registry client: pull and push (see [`Client::pull`],
/// [`Client::push`]). Cheap to clone; safe to share between threads.
#[derive(Debug, Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    agent: ureq::Agent,
    loopback_agent: ureq::Agent,
    credentials: Box<dyn CredentialSource>,
    insecure: BTreeSet<String>,
    retries: u32,
    retry_delay: Duration,
    hosts: Mutex<BTreeMap<String, HostState>>,
    /// (registry, blob) → a repository known to hold it (for mounts).
    pub(crate) known_blobs: Mutex<BTreeMap<(String, strata_store::Digest), String>>,
    /// Requests sent, by method (for callers that report or test).
    requests: Mutex<BTreeMap<&'static str, u64>>,
    /// Held while a token is fetched, so parallel blobs wait for one
    /// token instead of each asking for its own.
    token_fetch: Mutex<()>,
}

/// What the client learnt about a registry.
#[derive(Default)]
struct HostState {
    /// `https://host` or `http://host`.
    base: String,
    challenge: Option<Challenge>,
    credential: Option<Option<Credential>>,
    /// Bearer tokens by scope key, with their expiry.
    tokens: BTreeMap<String, (String, Instant)>,
}

impl std::fmt::Debug for HostState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostState")
            .field("base", &self.base)
            .field("challenge", &self.challenge)
            .field("tokens", &self.tokens.len())
            .finish()
    }
}

/// What [`Client::cached_auth`] found.
enum Cached {
    /// Send this `Authorization` header.
    Header(String),
    /// Ask the token server first.
    NeedToken {
        realm: String,
        service: Option<String>,
    },
}

/// The access a request needs: `repository:NAME:ACTIONS` entries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Scope(BTreeSet<String>);

impl Scope {
    pub(crate) fn pull(repo: &str) -> Scope {
        Scope([format!("repository:{repo}:pull")].into())
    }

    pub(crate) fn push(repo: &str) -> Scope {
        Scope([format!("repository:{repo}:pull,push")].into())
    }

    pub(crate) fn and_pull(mut self, repo: &str) -> Scope {
        self.0.insert(format!("repository:{repo}:pull"));
        self
    }

    fn key(&self) -> String {
        self.0.iter().cloned().collect::<Vec<_>>().join(" ")
    }
}

/// A request body that can be sent again (after a 401 or a retry).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Payload<'a> {
    /// No body at all (GET, HEAD).
    None,
    /// Bytes in memory (manifests; an empty PUT).
    Bytes(&'a [u8]),
    /// `len` bytes of a file from `offset` (blobs, streamed).
    File {
        file: &'a File,
        offset: u64,
        len: u64,
    },
}

/// One request, by absolute URL.
pub(crate) struct Req<'a> {
    pub method: &'static str,
    pub url: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Payload<'a>,
    /// Called with the bytes of the body sent so far.
    pub on_sent: Option<&'a (dyn Fn(u64) + Sync)>,
}

impl<'a> Req<'a> {
    pub(crate) fn new(method: &'static str, url: String) -> Req<'a> {
        Req {
            method,
            url,
            headers: Vec::new(),
            body: Payload::None,
            on_sent: None,
        }
    }

    pub(crate) fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub(crate) fn body(mut self, body: Payload<'a>) -> Self {
        self.body = body;
        self
    }
}

/// True for hosts that may be spoken to over plain HTTP without asking.
pub(crate) fn is_loopback(registry: &str) -> bool {
    let host = if let Some(rest) = registry.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        registry.split(':').next().unwrap_or("")
    };
    host == "localhost"
        || host == "::1"
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Client {
    /// A client with docker's credentials and default settings.
    pub fn new() -> Result<Client, RegistryError> {
        ClientBuilder::default().build()
    }

    /// Starts a [`ClientBuilder`].
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// How many requests of each method this client sent (sorted by
    /// method), token requests included.
    pub fn request_counts(&self) -> BTreeMap<&'static str, u64> {
        lock(&self.inner.requests).clone()
    }

    fn agent(&self, registry: &str) -> &ureq::Agent {
        if is_loopback(registry) {
            &self.inner.loopback_agent
        } else {
            &self.inner.agent
        }
    }

    fn insecure_allowed(&self, registry: &str) -> bool {
        is_loopback(registry) || self.inner.insecure.contains(registry)
    }

    /// `https://host` (or `http://host` where allowed and HTTPS failed),
    /// found once per registry with `GET /v2/`, which also tells how the
    /// registry wants to be authenticated.
    pub(crate) fn base_url(&self, r: &Reference) -> Result<String, RegistryError> {
        if let Some(state) = lock(&self.inner.hosts).get(r.registry()) {
            return Ok(state.base.clone());
        }
        let host = r.api_host();
        let https = format!("https://{host}");
        let (base, resp) =
            match self.send_once(r.registry(), &Req::new("GET", format!("{https}/v2/")), None) {
                Ok(resp) => (https, resp),
                Err(e) if self.insecure_allowed(r.registry()) => {
                    let http = format!("http://{host}");
                    match self.send_once(
                        r.registry(),
                        &Req::new("GET", format!("{http}/v2/")),
                        None,
                    ) {
                        Ok(resp) => (http, resp),
                        Err(_) => return Err(e),
                    }
                }
                Err(e) => return Err(e),
            };
        let challenge = if resp.status() == 401 {
            challenge::parse(&www_authenticate(&resp))
        } else {
            None
        };
        let mut hosts = lock(&self.inner.hosts);
        let state = hosts.entry(r.registry().to_string()).or_default();
        state.base = base.clone();
        state.challenge = challenge;
        Ok(base)
    }

    /// `BASE/v2/REPO/PATH`.
    pub(crate) fn url(&self, r: &Reference, path: &str) -> Result<String, RegistryError> {
        Ok(format!(
            "{}/v2/{}/{path}",
            self.base_url(r)?,
            r.repository()
        ))
    }

    /// Sends a request with authentication and retries; returns whatever
    /// status came last (callers decide what a status means), except that
    /// a 401 after fresh credentials is [`RegistryError::Unauthorized`].
    pub(crate) fn execute(
        &self,
        r: &Reference,
        scope: &Scope,
        req: &Req<'_>,
    ) -> Result<Response<Body>, RegistryError> {
        let mut scope = scope.clone();
        let mut auth_retried = false;
        let mut attempt = 0;
        loop {
            let auth = self.authorization(r, &scope)?;
            let delay = self.inner.retry_delay * 2u32.saturating_pow(attempt);
            let retryable = req.method != "PATCH" && attempt < self.inner.retries;
            let resp = match self.send_once(r.registry(), req, auth.as_deref()) {
                Ok(resp) => resp,
                Err(_) if retryable => {
                    std::thread::sleep(delay);
                    attempt += 1;
                    continue;
                }
                Err(e) => return Err(e),
            };
            match resp.status().as_u16() {
                401 if !auth_retried => {
                    auth_retried = true;
                    let offered = challenge::parse(&www_authenticate(&resp));
                    if let Some(Challenge::Bearer { scope: Some(s), .. }) = &offered {
                        scope.0.extend(s.split(' ').map(str::to_string));
                    }
                    let mut hosts = lock(&self.inner.hosts);
                    let state = hosts.entry(r.registry().to_string()).or_default();
                    if offered.is_some() {
                        state.challenge = offered;
                    }
                    state.tokens.remove(&scope.key());
                }
                401 => {
                    return Err(RegistryError::Unauthorized {
                        registry: r.registry().to_string(),
                        message: format!("{} {}: {}", req.method, req.url, error_text(resp)),
                    });
                }
                429 | 500 | 502 | 503 | 504 if retryable => {
                    let wait = retry_after(&resp).unwrap_or(delay);
                    drop(resp);
                    std::thread::sleep(wait);
                    attempt += 1;
                }
                _ => return Ok(resp),
            }
        }
    }

    /// One HTTP exchange, no auth logic.
    fn send_once(
        &self,
        registry: &str,
        req: &Req<'_>,
        authorization: Option<&str>,
    ) -> Result<Response<Body>, RegistryError> {
        *lock(&self.inner.requests).entry(req.method).or_default() += 1;
        let transport = |message: String| RegistryError::Transport {
            method: req.method,
            url: req.url.clone(),
            message,
        };
        let mut builder = http::Request::builder().method(req.method).uri(&req.url);
        for (k, v) in &req.headers {
            builder = builder.header(*k, v);
        }
        if let Some(a) = authorization {
            builder = builder.header("Authorization", a);
        }
        let agent = self.agent(registry);
        let result = match req.body {
            Payload::None => builder
                .body(SendBody::none())
                .map_err(|e| transport(e.to_string()))
                .map(|r| agent.run(r)),
            Payload::Bytes(b) => builder
                .header("Content-Length", b.len().to_string())
                .body(b)
                .map_err(|e| transport(e.to_string()))
                .map(|r| agent.run(r)),
            Payload::File { file, offset, len } => {
                let mut reader = FileRange {
                    file,
                    offset,
                    remaining: len,
                    sent: 0,
                    on_sent: req.on_sent,
                };
                builder
                    .header("Content-Length", len.to_string())
                    .body(SendBody::from_reader(&mut reader))
                    .map_err(|e| transport(e.to_string()))
                    .map(|r| agent.run(r))
            }
        }?;
        result.map_err(|e| transport(e.to_string()))
    }

    /// The `Authorization` header for a request needing `scope`.
    fn authorization(&self, r: &Reference, scope: &Scope) -> Result<Option<String>, RegistryError> {
        let Some(challenge) = self.cached_auth(r, scope)? else {
            return Ok(None);
        };
        let (realm, service) = match challenge {
            Cached::Header(h) => return Ok(Some(h)),
            Cached::NeedToken { realm, service } => (realm, service),
        };
        let _one_at_a_time = lock(&self.inner.token_fetch);
        if let Some(Cached::Header(h)) = self.cached_auth(r, scope)? {
            return Ok(Some(h)); // another thread fetched it meanwhile
        }
        let (token, ttl) = self.fetch_token(r, &realm, service.as_deref(), scope)?;
        let mut hosts = lock(&self.inner.hosts);
        if let Some(state) = hosts.get_mut(r.registry()) {
            // Renew a little early.
            let ttl = ttl
                .saturating_sub(Duration::from_secs(10))
                .max(Duration::from_secs(5));
            state
                .tokens
                .insert(scope.key(), (token.clone(), Instant::now() + ttl));
        }
        Ok(Some(format!("Bearer {token}")))
    }

    /// The header from what is known (basic credentials, a valid token),
    /// or what to ask the token server.
    fn cached_auth(&self, r: &Reference, scope: &Scope) -> Result<Option<Cached>, RegistryError> {
        let (challenge, token) = {
            let hosts = lock(&self.inner.hosts);
            let Some(state) = hosts.get(r.registry()) else {
                return Ok(None);
            };
            let token = state
                .tokens
                .get(&scope.key())
                .filter(|(_, exp)| *exp > Instant::now())
                .map(|(t, _)| t.clone());
            (state.challenge.clone(), token)
        };
        Ok(match challenge {
            None => None,
            Some(Challenge::Basic) => match self.credential(r.registry())? {
                Some(Credential::RegistryToken(t)) => Some(Cached::Header(format!("Bearer {t}"))),
                Some(c) => c.basic_header().map(Cached::Header),
                None => None,
            },
            Some(Challenge::Bearer { realm, service, .. }) => Some(match token {
                Some(t) => Cached::Header(format!("Bearer {t}")),
                None => Cached::NeedToken { realm, service },
            }),
        })
    }

    fn credential(&self, registry: &str) -> Result<Option<Credential>, RegistryError> {
        if let Some(state) = lock(&self.inner.hosts).get(registry)
            && let Some(c) = &state.credential
        {
            return Ok(c.clone());
        }
        let c = self.inner.credentials.get(registry)?;
        lock(&self.inner.hosts)
            .entry(registry.to_string())
            .or_default()
            .credential = Some(c.clone());
        Ok(c)
    }

    /// Gets a bearer token for `scope` from the realm (docker's token
    /// protocol: GET with basic auth, or an OAuth2 POST with a refresh
    /// token). Returns the token and how long it is valid.
    fn fetch_token(
        &self,
        r: &Reference,
        realm: &str,
        service: Option<&str>,
        scope: &Scope,
    ) -> Result<(String, Duration), RegistryError> {
        let unauthorized = |message: String| RegistryError::Unauthorized {
            registry: r.registry().to_string(),
            message,
        };
        let realm_host = realm
            .split_once("://")
            .map(|(_, rest)| rest.split('/').next().unwrap_or(""))
            .unwrap_or("");
        if !realm.starts_with("https://")
            && !(realm.starts_with("http://")
                && (is_loopback(realm_host) || self.insecure_allowed(r.registry())))
        {
            return Err(unauthorized(format!(
                "token realm {realm:?} is not HTTPS; refusing to send credentials there"
            )));
        }
        let credential = self.credential(r.registry())?;
        if let Some(Credential::RegistryToken(t)) = &credential {
            return Ok((t.clone(), Duration::from_secs(60)));
        }
        let mut query = Vec::new();
        if let Some(s) = service {
            query.push(format!("service={}", percent_encode(s)));
        }
        let resp = if let Some(Credential::IdentityToken(refresh)) = &credential {
            query.push("grant_type=refresh_token".into());
            query.push("client_id=strata".into());
            query.push(format!("refresh_token={}", percent_encode(refresh)));
            if !scope.0.is_empty() {
                query.push(format!("scope={}", percent_encode(&scope.key())));
            }
            let form = query.join("&");
            let req = Req::new("POST", realm.to_string())
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(Payload::Bytes(form.as_bytes()));
            self.send_once(realm_host, &req, None)?
        } else {
            for s in &scope.0 {
                query.push(format!("scope={}", percent_encode(s)));
            }
            if let Some(Credential::Basic { username, .. }) = &credential {
                query.push(format!("account={}", percent_encode(username)));
            }
            let sep = if realm.contains('?') { '&' } else { '?' };
            let url = format!("{realm}{sep}{}", query.join("&"));
            let auth = credential.as_ref().and_then(Credential::basic_header);
            self.send_once(realm_host, &Req::new("GET", url), auth.as_deref())?
        };
        let status = resp.status().as_u16();
        if status == 401 || status == 403 {
            return Err(unauthorized(format!(
                "token server {realm} refused: {}",
                error_text(resp)
            )));
        }
        if status != 200 {
            return Err(RegistryError::Status {
                method: "GET",
                url: realm.to_string(),
                status,
                message: error_text(resp),
            });
        }
        #[derive(serde::Deserialize)]
        struct TokenResponse {
            #[serde(default)]
            token: String,
            #[serde(default)]
            access_token: String,
            #[serde(default)]
            expires_in: Option<u64>,
        }
        let mut body = resp.into_body();
        let bytes = body
            .with_config()
            .limit(1 << 20)
            .read_to_vec()
            .map_err(|e| unauthorized(format!("token server {realm}: {e}")))?;
        let parsed: TokenResponse = serde_json::from_slice(&bytes).map_err(|e| {
            unauthorized(format!("token server {realm}: not a token response: {e}"))
        })?;
        let token = if parsed.token.is_empty() {
            parsed.access_token
        } else {
            parsed.token
        };
        if token.is_empty() {
            return Err(unauthorized(format!("token server {realm} sent no token")));
        }
        Ok((
            token,
            Duration::from_secs(parsed.expires_in.unwrap_or(60).max(60)),
        ))
    }

    /// Remembers that `repo` on `registry` holds `digest` (for mounts).
    pub(crate) fn remember_blob(&self, r: &Reference, digest: &strata_store::Digest) {
        lock(&self.inner.known_blobs)
            .entry((r.registry().to_string(), digest.clone()))
            .or_insert_with(|| r.repository().to_string());
    }

    /// A repository of `r`'s registry, other than `r`'s, known to hold
    /// `digest`.
    pub(crate) fn known_elsewhere(
        &self,
        r: &Reference,
        digest: &strata_store::Digest,
    ) -> Option<String> {
        lock(&self.inner.known_blobs)
            .get(&(r.registry().to_string(), digest.clone()))
            .filter(|repo| repo.as_str() != r.repository())
            .cloned()
    }
}

fn www_authenticate(resp: &Response<Body>) -> Vec<&str> {
    resp.headers()
        .get_all("www-authenticate")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect()
}

fn retry_after(resp: &Response<Body>) -> Option<Duration> {
    let secs: u64 = resp
        .headers()
        .get("retry-after")?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(secs.min(30)))
}

/// The registry's error list (`CODE: message; …`), or the body's start.
pub(crate) fn error_text(resp: Response<Body>) -> String {
    #[derive(serde::Deserialize)]
    struct Errors {
        errors: Vec<ErrorEntry>,
    }
    #[derive(serde::Deserialize)]
    struct ErrorEntry {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    let status = resp.status();
    let mut body = resp.into_body();
    let bytes = body
        .with_config()
        .limit(64 << 10)
        .read_to_vec()
        .unwrap_or_default();
    if let Ok(parsed) = serde_json::from_slice::<Errors>(&bytes)
        && !parsed.errors.is_empty()
    {
        return parsed
            .errors
            .iter()
            .map(|e| format!("{}: {}", e.code, e.message))
            .collect::<Vec<_>>()
            .join("; ");
    }
    let text: String = String::from_utf8_lossy(&bytes).chars().take(300).collect();
    let text = text.trim();
    if text.is_empty() {
        status.canonical_reason().unwrap_or("").to_string()
    } else {
        text.to_string()
    }
}

/// Percent-encodes a query component (everything but RFC 3986 unreserved).
pub(crate) fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A range of a file as a reader (positional reads: the file's offset is
/// not used, so several readers may share one file).
struct FileRange<'a> {
    file: &'a File,
    offset: u64,
    remaining: u64,
    sent: u64,
    on_sent: Option<&'a (dyn Fn(u64) + Sync)>,
}

impl Read for FileRange<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let want = buf
            .len()
            .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        if want == 0 {
            return Ok(0);
        }
        let n = self.file.read_at(&mut buf[..want], self.offset)?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "file shorter than its descriptor",
            ));
        }
        self.offset += n as u64;
        self.remaining -= n as u64;
        self.sent += n as u64;
        if let Some(f) = self.on_sent {
            f(self.sent);
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for h in [
            "localhost",
            "localhost:5000",
            "127.0.0.1:5000",
            "127.1.2.3",
            "[::1]:5000",
        ] {
            assert!(is_loopback(h), "{h}");
        }
        for h in [
            "docker.io",
            "10.0.0.1:5000",
            "localhost.example.com",
            "[fc00::1]:5000",
        ] {
            assert!(!is_loopback(h), "{h}");
        }
    }

    #[test]
    fn scopes_and_encoding() {
        let s = Scope::push("a/b").and_pull("c");
        assert_eq!(s.key(), "repository:a/b:pull,push repository:c:pull");
        assert_eq!(
            percent_encode("repository:a/b:pull,push x"),
            "repository%3Aa%2Fb%3Apull%2Cpush%20x"
        );
    }
}
