//! A typed async client for `om-secrets serve` (feature `client`).
//!
//! Each method is one route of the service's HTTP contract: JSON envelopes in
//! and out, errors as `application/problem+json` parsed into a [`Problem`].
//! The client holds no secret of its own beyond the bearer token, which it
//! never logs or shows (`Debug` redacts it).
//!
//! ```no_run
//! # async fn demo() -> Result<(), om_secrets::client::ClientError> {
//! use om_secrets::client::{Client, Target};
//! let client = Client::new("http://127.0.0.1:8590")?.with_token("an API key");
//! let orders = Target::service("database", "orders");
//! let config = serde_json::json!({"type": "Mysql", "authType": {"password": "s3cret"}});
//! let stored = client.seal(&orders, &config).await?;
//! let shown = client.mask(&orders, &stored).await?;
//! # let _ = shown; Ok(()) }
//! ```

use std::time::Duration;

use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use reqwest::{Method, StatusCode, Url};
use serde_json::{Map, Value, json};
use zeroize::Zeroizing;

use crate::ops::{BatchItem, Failure, Field, Operation, Outcome, SubjectKind};

/// How long one request may take, unless [`Client::with_timeout`] says
/// otherwise: longer than the service's own request timeout, so that its 503
/// arrives before the client gives up.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// The entity a document belongs to: the subject part of a route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A service: its connection config or the whole service entity.
    Service {
        /// Service type (`database`, `dashboard`, …).
        service_type: String,
        /// The service's name (secret ids are built from it).
        name: String,
    },
    /// A bot user (the User entity).
    Bot(String),
    /// An ingestion pipeline (the IngestionPipeline entity).
    Pipeline(String),
    /// A test-connection workflow (the automation Workflow entity).
    Workflow(String),
}

impl Target {
    /// A service of a type, by name.
    pub fn service(service_type: impl Into<String>, name: impl Into<String>) -> Self {
        Target::Service {
            service_type: service_type.into(),
            name: name.into(),
        }
    }

    /// A bot, by name.
    pub fn bot(name: impl Into<String>) -> Self {
        Target::Bot(name.into())
    }

    /// An ingestion pipeline, by name.
    pub fn pipeline(name: impl Into<String>) -> Self {
        Target::Pipeline(name.into())
    }

    /// A test-connection workflow, by name.
    pub fn workflow(name: impl Into<String>) -> Self {
        Target::Workflow(name.into())
    }

    /// The target of kind `kind` named `name`.
    pub fn of_kind(kind: &SubjectKind, name: impl Into<String>) -> Self {
        match kind {
            SubjectKind::Service(t) => Target::service(t.clone(), name),
            SubjectKind::Bot => Target::bot(name),
            SubjectKind::Pipeline => Target::pipeline(name),
            SubjectKind::Workflow => Target::workflow(name),
        }
    }

    /// The kind of entity (what a batch of such targets is).
    pub fn kind(&self) -> SubjectKind {
        match self {
            Target::Service { service_type, .. } => SubjectKind::Service(service_type.clone()),
            Target::Bot(_) => SubjectKind::Bot,
            Target::Pipeline(_) => SubjectKind::Pipeline,
            Target::Workflow(_) => SubjectKind::Workflow,
        }
    }

    /// The entity's name.
    pub fn name(&self) -> &str {
        match self {
            Target::Service { name, .. }
            | Target::Bot(name)
            | Target::Pipeline(name)
            | Target::Workflow(name) => name,
        }
    }

    /// Path segments of the subject: `services/{type}/{name}`, `bots/{name}`…
    fn segments(&self) -> Vec<&str> {
        match self {
            Target::Service { service_type, name } => vec!["services", service_type, name],
            Target::Bot(n) => vec!["bots", n],
            Target::Pipeline(n) => vec!["pipelines", n],
            Target::Workflow(n) => vec!["workflows", n],
        }
    }
}

/// Path segments of a batch route's kind: `services/{type}`, `bots`…
fn kind_segments(kind: &SubjectKind) -> Vec<&str> {
    match kind {
        SubjectKind::Service(t) => vec!["services", t],
        SubjectKind::Bot => vec!["bots"],
        SubjectKind::Pipeline => vec!["pipelines"],
        SubjectKind::Workflow => vec!["workflows"],
    }
}

/// The last segment of a batch route.
fn op_segment(op: Operation) -> &'static str {
    match op {
        Operation::Seal => "seal",
        Operation::Reveal { .. } => "reveal",
        Operation::Mask => "mask",
        Operation::Merge => "merge",
        Operation::Forget => "forget",
        Operation::Fields => "fields",
    }
}

/// An error the service answered (RFC 9457 problem details). Never holds a
/// secret value: the service puts none in a problem, and the client adds
/// nothing of a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The HTTP status.
    pub status: u16,
    /// The problem type URI (`https://om-secrets.invalid/problems/<kind>`);
    /// `about:blank` when the body was no problem document.
    pub r#type: String,
    /// Short summary of the problem type.
    pub title: String,
    /// What went wrong with this request (the library's message).
    pub detail: Option<String>,
    /// The RFC 6901 pointer into the document that is wrong, if any.
    pub pointer: Option<String>,
    /// The secret id concerned, if any.
    pub id: Option<String>,
    /// How long to wait before retrying (`Retry-After`, on 429 and 503).
    pub retry_after: Option<Duration>,
}

impl Problem {
    /// The problem kind: the last segment of [`type`](Self::type)
    /// (`invalid-input`, `unauthorized`, …).
    pub fn kind(&self) -> &str {
        self.r#type.rsplit('/').next().unwrap_or(&self.r#type)
    }

    /// Parse a response: a problem document, or whatever else came with an
    /// error status (its text is not kept: it is no problem document, and
    /// nothing says it holds no secret).
    fn parse(status: StatusCode, retry_after: Option<Duration>, body: &[u8]) -> Self {
        let reason = status.canonical_reason().unwrap_or("error").to_string();
        let doc: Map<String, Value> = match serde_json::from_slice(body) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        };
        let text = |k: &str| doc.get(k).and_then(Value::as_str).map(str::to_string);
        Problem {
            status: status.as_u16(),
            r#type: text("type").unwrap_or_else(|| "about:blank".into()),
            title: text("title").unwrap_or(reason),
            detail: text("detail"),
            pointer: text("pointer"),
            id: text("id"),
            retry_after,
        }
    }

    /// The problem as a batch line reports it.
    pub fn to_failure(&self) -> Failure {
        Failure {
            pointer: self.pointer.clone(),
            message: self.to_string(),
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.detail {
            Some(d) => write!(f, "{d}")?,
            None => write!(f, "{}", self.title)?,
        }
        write!(f, " (HTTP {}", self.status)?;
        if let Some(after) = self.retry_after {
            write!(f, ", retry after {} s", after.as_secs())?;
        }
        write!(f, ")")
    }
}

/// What can go wrong calling the service.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The service answered with an error status.
    #[error("{0}")]
    Problem(Box<Problem>),
    /// The base URL is unusable.
    #[error("server URL `{url}`: {message}")]
    Url {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        message: String,
    },
    /// The request did not complete: connection refused, TLS, timeout…
    #[error("{url}: {source}")]
    Transport {
        /// The URL asked (no query holds a secret).
        url: String,
        /// The cause.
        #[source]
        source: reqwest::Error,
    },
    /// The service answered 2xx with a body that is not what the contract
    /// says (the body is not kept: it may hold secrets).
    #[error("{url}: unexpected response: {message}")]
    Protocol {
        /// The URL asked.
        url: String,
        /// What was wrong.
        message: String,
    },
}

impl ClientError {
    /// The problem, if the service answered one.
    pub fn problem(&self) -> Option<&Problem> {
        match self {
            ClientError::Problem(p) => Some(p.as_ref()),
            _ => None,
        }
    }

    /// The HTTP status the service answered, if it answered.
    pub fn status(&self) -> Option<u16> {
        self.problem().map(|p| p.status)
    }
}

/// Result of a client call.
pub type Result<T, E = ClientError> = std::result::Result<T, E>;

/// A client of one `om-secrets serve` instance. Cheap to clone (one
/// connection pool).
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: Url,
    token: Option<Zeroizing<String>>,
    timeout: Duration,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base.as_str())
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Client {
    /// A client of the service at `base` (`http://host:port` or `https://…`,
    /// optionally with a path prefix), without a token.
    pub fn new(base: &str) -> Result<Self> {
        let bad = |message: &str| ClientError::Url {
            url: crate::redact::url(base).unwrap_or_else(|| "<the URL given>".to_string()),
            message: message.to_string(),
        };
        let mut url = Url::parse(base).map_err(|e| bad(&e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(bad("not http:// or https://"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad(
                "credentials in the URL are refused (give a bearer token)",
            ));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(bad("a base URL takes no query or fragment"));
        }
        if url.cannot_be_a_base() {
            return Err(bad("not a base URL"));
        }
        // A trailing slash would add an empty segment before `v1`.
        url.path_segments_mut()
            .map_err(|()| bad("not a base URL"))?
            .pop_if_empty();
        Ok(Client {
            http: Self::http(DEFAULT_TIMEOUT)?,
            base: url,
            token: None,
            timeout: DEFAULT_TIMEOUT,
        })
    }

    fn http(timeout: Duration) -> Result<reqwest::Client> {
        reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .build()
            .map_err(|e| ClientError::Url {
                url: String::new(),
                message: format!("HTTP client: {e}"),
            })
    }

    /// Send `token` as `Authorization: Bearer <token>` (an API key or an
    /// OpenMetadata JWT).
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(Zeroizing::new(token.into()));
        self
    }

    /// Give up on a request after `timeout` (default [`DEFAULT_TIMEOUT`]).
    pub fn with_timeout(mut self, timeout: Duration) -> Result<Self> {
        self.http = Self::http(timeout)?;
        self.timeout = timeout;
        Ok(self)
    }

    /// The base URL.
    pub fn base(&self) -> &Url {
        &self.base
    }

    fn url(&self, segments: &[&str], keep_references: bool) -> Url {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .expect("checked in new: a base URL")
            .extend(segments);
        if keep_references {
            url.set_query(Some("keepReferences=true"));
        }
        url
    }

    /// Send one request; 2xx bodies are returned as JSON, the rest become a
    /// [`Problem`].
    async fn call(&self, method: Method, url: Url, body: Option<&Value>) -> Result<Value> {
        let shown = url.to_string();
        let mut request = self
            .http
            .request(method, url)
            .header(ACCEPT, "application/json, application/problem+json");
        if let Some(token) = &self.token {
            let mut value = HeaderValue::try_from(
                Zeroizing::new(format!("Bearer {}", token.as_str())).as_str(),
            )
            .map_err(|_| ClientError::Url {
                url: shown.clone(),
                message: "the token is not a valid header value".into(),
            })?;
            value.set_sensitive(true);
            request = request.header(AUTHORIZATION, value);
        }
        if let Some(body) = body {
            let bytes = serde_json::to_vec(body).expect("a JSON value serialises");
            request = request.header(CONTENT_TYPE, "application/json").body(bytes);
        }
        let transport = |source| ClientError::Transport {
            url: shown.clone(),
            source,
        };
        let response = request.send().await.map_err(transport)?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let bytes = response.bytes().await.map_err(transport)?;
        if !status.is_success() {
            return Err(ClientError::Problem(Box::new(Problem::parse(
                status,
                retry_after,
                &bytes,
            ))));
        }
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Protocol {
            url: shown,
            message: format!("not JSON ({:?} error)", e.classify()),
        })
    }

    /// A subject route: `POST|DELETE /v1/<subject>/<op>`.
    async fn subject_call(
        &self,
        method: Method,
        target: &Target,
        op: &str,
        keep_references: bool,
        body: Value,
    ) -> Result<Value> {
        let mut segments = vec!["v1"];
        segments.extend(target.segments());
        segments.push(op);
        let url = self.url(&segments, keep_references);
        self.call(method, url, Some(&body)).await
    }

    /// The member `key` of a 2xx answer.
    fn member(&self, mut answer: Value, key: &str, op: &str) -> Result<Value> {
        answer
            .as_object_mut()
            .and_then(|m| m.remove(key))
            .ok_or_else(|| ClientError::Protocol {
                url: self.base.to_string(),
                message: format!("{op}: no `{key}` in the answer"),
            })
    }

    async fn document_op(
        &self,
        target: &Target,
        op: &str,
        keep_references: bool,
        body: Value,
    ) -> Result<Value> {
        let answer = self
            .subject_call(Method::POST, target, op, keep_references, body)
            .await?;
        self.member(answer, "document", op)
    }

    /// Seal a new document: its stored form.
    pub async fn seal(&self, target: &Target, doc: &Value) -> Result<Value> {
        self.seal_update(target, None, doc).await
    }

    /// Seal an update; `previous` is the entity's stored form before it (its
    /// secrets the new form no longer references are deleted).
    pub async fn seal_update(
        &self,
        target: &Target,
        previous: Option<&Value>,
        doc: &Value,
    ) -> Result<Value> {
        let mut body = json!({ "document": doc });
        if let Some(p) = previous {
            body["previous"] = p.clone();
        }
        self.document_op(target, "seal", false, body).await
    }

    /// Reveal a stored document; `keep_references` decrypts only and keeps
    /// `secret:<id>` references.
    pub async fn reveal(
        &self,
        target: &Target,
        doc: &Value,
        keep_references: bool,
    ) -> Result<Value> {
        self.document_op(
            target,
            "reveal",
            keep_references,
            json!({ "document": doc }),
        )
        .await
    }

    /// Mask every secret field of a document.
    pub async fn mask(&self, target: &Target, doc: &Value) -> Result<Value> {
        self.document_op(target, "mask", false, json!({ "document": doc }))
            .await
    }

    /// Merge an update that still holds masks with the stored form.
    pub async fn merge(&self, target: &Target, stored: &Value, incoming: &Value) -> Result<Value> {
        self.document_op(
            target,
            "merge",
            false,
            json!({ "document": incoming, "stored": stored }),
        )
        .await
    }

    /// The secret fields of a document.
    pub async fn fields(&self, target: &Target, doc: &Value) -> Result<Vec<Field>> {
        let answer = self
            .subject_call(
                Method::POST,
                target,
                "fields",
                false,
                json!({ "document": doc }),
            )
            .await?;
        let fields = self.member(answer, "fields", "fields")?;
        serde_json::from_value(fields).map_err(|e| ClientError::Protocol {
            url: self.base.to_string(),
            message: format!("fields: {e}"),
        })
    }

    /// Delete the entity's secrets (on hard delete): the ids deleted.
    pub async fn forget(&self, target: &Target, stored: &Value) -> Result<Vec<String>> {
        let answer = self
            .subject_call(
                Method::DELETE,
                target,
                "secrets",
                false,
                json!({ "document": stored }),
            )
            .await?;
        let deleted = self.member(answer, "deleted", "forget")?;
        serde_json::from_value(deleted).map_err(|e| ClientError::Protocol {
            url: self.base.to_string(),
            message: format!("forget: {e}"),
        })
    }

    /// Run `op` on many documents of one kind: one result per item, in order;
    /// one bad item never stops the others. A batch the service refuses as a
    /// whole (401, 403, 429…) is an `Err`; one too large for its body limit
    /// (413) is sent in halves, down to single items, and an item still too
    /// large gets that item's error.
    pub async fn batch(
        &self,
        op: Operation,
        kind: &SubjectKind,
        items: &[BatchItem],
    ) -> Result<Vec<Result<Outcome, Failure>>> {
        let mut out = Vec::with_capacity(items.len());
        // Spans still to send, in order (a stack: the next span is last).
        let mut todo = vec![(0, items.len())];
        while let Some((start, end)) = todo.pop() {
            if start == end {
                continue;
            }
            match self.batch_page(op, kind, &items[start..end]).await {
                Ok(results) => out.extend(results),
                Err(ClientError::Problem(p)) if p.status == 413 => {
                    if end - start == 1 {
                        out.push(Err(p.to_failure()));
                    } else {
                        let mid = start + (end - start) / 2;
                        todo.push((mid, end));
                        todo.push((start, mid));
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// One request of a batch.
    async fn batch_page(
        &self,
        op: Operation,
        kind: &SubjectKind,
        items: &[BatchItem],
    ) -> Result<Vec<Result<Outcome, Failure>>> {
        let mut segments = vec!["v1", "batch"];
        segments.extend(kind_segments(kind));
        segments.push(op_segment(op));
        let keep = matches!(
            op,
            Operation::Reveal {
                keep_references: true
            }
        );
        let url = self.url(&segments, keep);
        let body = json!({ "items": items.iter().map(item_json).collect::<Vec<_>>() });
        let answer = self.call(Method::POST, url, Some(&body)).await?;
        let protocol = |message: String| ClientError::Protocol {
            url: self.base.to_string(),
            message: format!("batch: {message}"),
        };
        let Some(Value::Array(results)) = answer.get("results") else {
            return Err(protocol("no `results` array in the answer".into()));
        };
        if results.len() != items.len() {
            return Err(protocol(format!(
                "{} results for {} items",
                results.len(),
                items.len()
            )));
        }
        results
            .iter()
            .enumerate()
            .map(|(i, r)| parse_result(r).map_err(|m| protocol(format!("result {i}: {m}"))))
            .collect()
    }

    /// `GET /healthz` answered 200.
    pub async fn healthy(&self) -> Result<()> {
        self.probe("healthz").await
    }

    /// `GET /readyz` answered 200 (plugins loaded, store reachable).
    pub async fn ready(&self) -> Result<()> {
        self.probe("readyz").await
    }

    async fn probe(&self, route: &str) -> Result<()> {
        let url = self.url(&[route], false);
        let shown = url.to_string();
        let transport = |source| ClientError::Transport {
            url: shown.clone(),
            source,
        };
        let response = self.http.get(url).send().await.map_err(transport)?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let bytes = response.bytes().await.map_err(transport)?;
        Err(ClientError::Problem(Box::new(Problem::parse(
            status, None, &bytes,
        ))))
    }
}

/// A batch item as the contract sends it (absent members left out).
fn item_json(item: &BatchItem) -> Value {
    let mut m = Map::new();
    if let Some(n) = &item.name {
        m.insert("name".into(), Value::String(n.clone()));
    }
    m.insert("document".into(), item.document.clone());
    if let Some(s) = &item.stored {
        m.insert("stored".into(), s.clone());
    }
    if let Some(p) = &item.previous {
        m.insert("previous".into(), p.clone());
    }
    Value::Object(m)
}

/// One entry of a batch answer.
fn parse_result(r: &Value) -> std::result::Result<Result<Outcome, Failure>, String> {
    let Value::Object(m) = r else {
        return Err("not an object".into());
    };
    if m.len() != 1 {
        return Err("not exactly one member".into());
    }
    let (key, value) = m.iter().next().expect("one member");
    Ok(match key.as_str() {
        "document" => Ok(Outcome::Document(value.clone())),
        "deleted" => Ok(Outcome::Deleted(
            serde_json::from_value(value.clone()).map_err(|e| format!("deleted: {e}"))?,
        )),
        "fields" => Ok(Outcome::Fields(
            serde_json::from_value(value.clone()).map_err(|e| format!("fields: {e}"))?,
        )),
        "error" => Err(Failure {
            pointer: value
                .get("pointer")
                .and_then(Value::as_str)
                .map(str::to_string),
            message: value
                .get("message")
                .and_then(Value::as_str)
                .ok_or("error without a message")?
                .to_string(),
        }),
        other => return Err(format!("unknown member `{}`", other.escape_debug())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::check::Treatment;

    #[test]
    fn routes_escape_names_and_keep_the_base_path() {
        let c = Client::new("http://127.0.0.1:8590/prefix/").unwrap();
        let t = Target::service("database", "a b/c?d");
        let mut segments = vec!["v1"];
        segments.extend(t.segments());
        segments.push("seal");
        assert_eq!(
            c.url(&segments, false).as_str(),
            "http://127.0.0.1:8590/prefix/v1/services/database/a%20b%2Fc%3Fd/seal"
        );
        let mut segments = vec!["v1"];
        let bot = Target::bot("ingestion-bot");
        segments.extend(bot.segments());
        segments.push("reveal");
        assert_eq!(
            c.url(&segments, true).as_str(),
            "http://127.0.0.1:8590/prefix/v1/bots/ingestion-bot/reveal?keepReferences=true"
        );
        let c = Client::new("https://om.example:9443").unwrap();
        let mut segments = vec!["v1", "batch"];
        segments.extend(kind_segments(&SubjectKind::Workflow));
        segments.push(op_segment(Operation::Forget));
        assert_eq!(
            c.url(&segments, false).as_str(),
            "https://om.example:9443/v1/batch/workflows/forget"
        );
    }

    #[test]
    fn bad_base_urls_are_refused() {
        for bad in [
            "127.0.0.1:8590",
            "ftp://host/",
            "http://user:pw@host/",
            "http://host/?a=b",
            "not a url",
        ] {
            let e = Client::new(bad).unwrap_err();
            assert!(matches!(e, ClientError::Url { .. }), "{bad}: {e}");
        }
        // The password of a refused URL is not echoed, in any spelling (a
        // `/` in it, or no `scheme://` at all: `admin:` parses as a scheme).
        let e = Client::new("http://user:hunter2@host/").unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
        assert!(e.to_string().contains("host/"), "{e}");
        for bad in ["http://u:pa/ss-hunter2@host/", "admin:hunter2@host:8590"] {
            let e = Client::new(bad).unwrap_err();
            assert!(matches!(e, ClientError::Url { .. }), "{bad}: {e}");
            assert!(!e.to_string().contains("hunter2"), "{bad}: {e}");
        }
    }

    #[test]
    fn debug_redacts_the_token() {
        let c = Client::new("http://127.0.0.1:1")
            .unwrap()
            .with_token("tok-hunter2");
        let shown = format!("{c:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("<redacted>"));
    }

    #[test]
    fn problems_are_parsed() {
        let body = br#"{"type":"https://om-secrets.invalid/problems/invalid-input","title":"Invalid input","status":422,"detail":"invalid input at `/authType/password`: not a string","pointer":"/authType/password"}"#;
        let p = Problem::parse(StatusCode::UNPROCESSABLE_ENTITY, None, body);
        assert_eq!(p.status, 422);
        assert_eq!(p.kind(), "invalid-input");
        assert_eq!(p.pointer.as_deref(), Some("/authType/password"));
        assert_eq!(p.id, None);
        assert_eq!(
            p.to_string(),
            "invalid input at `/authType/password`: not a string (HTTP 422)"
        );
        let f = p.to_failure();
        assert_eq!(f.pointer.as_deref(), Some("/authType/password"));

        // 429 with Retry-After.
        let p = Problem::parse(
            StatusCode::TOO_MANY_REQUESTS,
            Some(Duration::from_secs(3)),
            br#"{"type":"https://om-secrets.invalid/problems/rate-limited","title":"Too many requests","status":429}"#,
        );
        assert_eq!(p.kind(), "rate-limited");
        assert_eq!(p.retry_after, Some(Duration::from_secs(3)));
        assert_eq!(
            p.to_string(),
            "Too many requests (HTTP 429, retry after 3 s)"
        );

        // A body that is no problem document (a proxy's HTML page): the
        // status's reason, and nothing of the body.
        let p = Problem::parse(StatusCode::BAD_GATEWAY, None, b"<html>secret</html>");
        assert_eq!(p.r#type, "about:blank");
        assert_eq!(p.title, "Bad Gateway");
        assert_eq!(p.detail, None);
        assert!(!p.to_string().contains("secret"));
    }

    #[test]
    fn batch_results_are_parsed() {
        let ok = parse_result(&json!({"document": {"a": 1}})).unwrap();
        assert_eq!(ok, Ok(Outcome::Document(json!({"a": 1}))));
        let del = parse_result(&json!({"deleted": ["x", "y"]})).unwrap();
        assert_eq!(del, Ok(Outcome::Deleted(vec!["x".into(), "y".into()])));
        let fields = parse_result(&json!({"fields": [
            {"pointer": "/password", "secretId": "/om/database/s/password", "treatment": "secret"}
        ]}))
        .unwrap();
        assert_eq!(
            fields,
            Ok(Outcome::Fields(vec![Field {
                pointer: "/password".into(),
                secret_id: "/om/database/s/password".into(),
                treatment: Treatment::Secret,
            }]))
        );
        let err = parse_result(&json!({"error": {"pointer": "/x", "message": "bad"}})).unwrap();
        assert_eq!(
            err,
            Err(Failure {
                pointer: Some("/x".into()),
                message: "bad".into()
            })
        );
        let err = parse_result(&json!({"error": {"pointer": null, "message": "bad"}})).unwrap();
        assert_eq!(err.unwrap_err().pointer, None);
        assert!(parse_result(&json!({"document": 1, "error": {}})).is_err());
        assert!(parse_result(&json!({"what": 1})).is_err());
        assert!(parse_result(&json!([])).is_err());
        assert!(parse_result(&json!({"error": {"pointer": "/x"}})).is_err());
    }

    #[test]
    fn batch_items_leave_out_absent_members() {
        let mut item = BatchItem::named("orders", json!({"type": "Mysql"}));
        assert_eq!(
            item_json(&item),
            json!({"name": "orders", "document": {"type": "Mysql"}})
        );
        item.stored = Some(json!({"s": 1}));
        item.previous = Some(json!({"p": 1}));
        item.name = None;
        assert_eq!(
            item_json(&item),
            json!({"document": {"type": "Mysql"}, "stored": {"s": 1}, "previous": {"p": 1}})
        );
    }

    #[test]
    fn targets_and_kinds_agree() {
        for t in [
            Target::service("database", "n"),
            Target::bot("n"),
            Target::pipeline("n"),
            Target::workflow("n"),
        ] {
            assert_eq!(Target::of_kind(&t.kind(), "n"), t);
            assert_eq!(t.name(), "n");
        }
    }

    #[tokio::test]
    async fn a_refused_connection_is_a_transport_error() {
        // Port 1 on loopback: nothing listens (and nothing needs to).
        let c = Client::new("http://127.0.0.1:1").unwrap();
        let e = c.mask(&Target::bot("b"), &json!({})).await.unwrap_err();
        assert!(matches!(e, ClientError::Transport { .. }), "{e}");
        assert_eq!(e.status(), None);
    }
}
