//! The route table and the handlers. Every route is one row of [`routes`];
//! the router and the OpenAPI document are both built from it.
//!
//! A request to a `/v1` route goes: readiness (503) → authentication (401) →
//! rate limit (429) → then, under the request timeout (503): a concurrency
//! permit, the body read with its size limit (413), parsed (400/415),
//! authorization for every entity it names (403, audited), and the
//! operation, run by the library in a task of its own (so that a request
//! that times out never cuts a store write short: the write completes or is
//! undone by the library, as it would be for the CLI).

// A refusal is a whole `Response`, built once per request and returned up
// a few frames: boxing it would buy nothing.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{MatchedPath, Path, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use serde_json::{Map, Value, json};

use super::App;
use super::audit::{self, Event, Outcome as AuditOutcome, op_name};
use super::problem::Problem;
use super::roles::{self, Caller};
use crate::ops::{
    BatchItem, Envelope, EnvelopeError, EnvelopeName, Failure, Operation, Outcome, SubjectKind,
    envelope_members,
};

/// The kinds of subject a route serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubjectRoute {
    /// `/v1/services/{serviceType}/{name}`.
    Services,
    /// `/v1/bots/{name}`.
    Bots,
    /// `/v1/pipelines/{name}`.
    Pipelines,
    /// `/v1/workflows/{name}`.
    Workflows,
}

impl SubjectRoute {
    const ALL: [SubjectRoute; 4] = [
        SubjectRoute::Services,
        SubjectRoute::Bots,
        SubjectRoute::Pipelines,
        SubjectRoute::Workflows,
    ];

    fn segment(self) -> &'static str {
        match self {
            SubjectRoute::Services => "services",
            SubjectRoute::Bots => "bots",
            SubjectRoute::Pipelines => "pipelines",
            SubjectRoute::Workflows => "workflows",
        }
    }

    /// The kind, from the path's parameters.
    fn kind(self, params: &HashMap<String, String>) -> SubjectKind {
        match self {
            SubjectRoute::Services => {
                SubjectKind::Service(params.get("serviceType").cloned().unwrap_or_default())
            }
            SubjectRoute::Bots => SubjectKind::Bot,
            SubjectRoute::Pipelines => SubjectKind::Pipeline,
            SubjectRoute::Workflows => SubjectKind::Workflow,
        }
    }
}

/// An operation as routes name it (`reveal`'s `keepReferences` comes from
/// the query string).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// seal / seal_update.
    Seal,
    /// reveal.
    Reveal,
    /// mask.
    Mask,
    /// merge.
    Merge,
    /// fields.
    Fields,
    /// forget.
    Forget,
}

impl Op {
    const ALL: [Op; 6] = [
        Op::Seal,
        Op::Reveal,
        Op::Mask,
        Op::Merge,
        Op::Fields,
        Op::Forget,
    ];

    /// The route segment.
    pub fn name(self) -> &'static str {
        match self {
            Op::Seal => "seal",
            Op::Reveal => "reveal",
            Op::Mask => "mask",
            Op::Merge => "merge",
            Op::Fields => "fields",
            Op::Forget => "forget",
        }
    }

    fn operation(self, keep_references: bool) -> Operation {
        match self {
            Op::Seal => Operation::Seal,
            Op::Reveal => Operation::Reveal { keep_references },
            Op::Mask => Operation::Mask,
            Op::Merge => Operation::Merge,
            Op::Fields => Operation::Fields,
            Op::Forget => Operation::Forget,
        }
    }
}

/// What a route does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// One document.
    Single(SubjectRoute, Op),
    /// Many documents of one kind.
    Batch(SubjectRoute, Op),
    /// `GET /healthz`.
    Health,
    /// `GET /readyz`.
    Ready,
    /// `GET /metrics`.
    Metrics,
    /// `GET /openapi.json`.
    OpenApi,
}

/// One route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// The HTTP method.
    pub method: Method,
    /// The path template (`{param}`, as axum and OpenAPI write it).
    pub path: String,
    /// What it does.
    pub action: Action,
}

/// Every route the server has.
pub fn routes() -> Vec<Route> {
    let mut v = Vec::new();
    let get = |path: &str, action| Route {
        method: Method::GET,
        path: path.into(),
        action,
    };
    v.push(get("/healthz", Action::Health));
    v.push(get("/readyz", Action::Ready));
    v.push(get("/metrics", Action::Metrics));
    v.push(get("/openapi.json", Action::OpenApi));
    for s in SubjectRoute::ALL {
        let (base, batch) = match s {
            SubjectRoute::Services => (
                "/v1/services/{serviceType}/{name}".to_string(),
                "/v1/batch/services/{serviceType}".to_string(),
            ),
            _ => (
                format!("/v1/{}/{{name}}", s.segment()),
                format!("/v1/batch/{}", s.segment()),
            ),
        };
        for op in Op::ALL {
            v.push(if op == Op::Forget {
                Route {
                    method: Method::DELETE,
                    path: format!("{base}/secrets"),
                    action: Action::Single(s, op),
                }
            } else {
                Route {
                    method: Method::POST,
                    path: format!("{base}/{}", op.name()),
                    action: Action::Single(s, op),
                }
            });
        }
        for op in Op::ALL {
            v.push(Route {
                method: Method::POST,
                path: format!("{batch}/{}", op.name()),
                action: Action::Batch(s, op),
            });
        }
    }
    v
}

/// The router over the app.
pub fn router(app: Arc<App>) -> Router {
    let mut r = Router::new();
    for route in routes() {
        let action = route.action;
        let handler = move |State(app): State<Arc<App>>, req: Request| async move {
            dispatch(app, action, req).await
        };
        let m = match route.method {
            Method::GET => axum::routing::get(handler),
            Method::DELETE => axum::routing::delete(handler),
            _ => axum::routing::post(handler),
        };
        r = r.route(&route.path, m);
    }
    r.fallback(|| async { Problem::not_found() })
        .method_not_allowed_fallback(|| async {
            Problem::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "Method not allowed",
                "this route does not take this method (see /openapi.json)",
            )
        })
        .layer(axum::middleware::from_fn_with_state(app.clone(), measure))
        .with_state(app)
}

/// Metrics for every request, by route template.
async fn measure(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let t0 = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    // A label from a fixed set: HTTP lets a client send any method token,
    // and one label value per token would grow the registry without bound.
    let method = match *req.method() {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    };
    let resp = next.run(req).await;
    app.metrics
        .request(&route, method, resp.status().as_u16(), t0.elapsed());
    resp
}

async fn dispatch(app: Arc<App>, action: Action, req: Request) -> Response {
    match action {
        Action::Health => (StatusCode::OK, "ok").into_response(),
        Action::Ready => match app.not_ready() {
            None => (StatusCode::OK, "ready").into_response(),
            Some(why) => Problem::not_ready(why).into_response(),
        },
        Action::OpenApi => super::openapi::response(),
        Action::Metrics => {
            if app.config.metrics_auth
                && let Err(r) = authenticate(&app, req.headers())
            {
                return r;
            }
            (
                [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                app.metrics.render(
                    app.not_ready().is_none(),
                    app.manager.get().and_then(|m| m.store()).map(|s| &**s),
                ),
            )
                .into_response()
        }
        Action::Single(s, op) | Action::Batch(s, op) => {
            let batch = matches!(action, Action::Batch(..));
            match api(app, s, op, batch, req).await {
                Ok(r) | Err(r) => r,
            }
        }
    }
}

fn authenticate(app: &App, headers: &HeaderMap) -> Result<Caller, Response> {
    let h = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    app.auth.authenticate(h).map_err(|why| {
        app.metrics.inc(
            "om_secrets_auth_failures_total",
            format!("reason=\"{}\"", why.label()),
        );
        Problem::unauthorized().into_response()
    })
}

/// A `/v1` request.
async fn api(
    app: Arc<App>,
    s: SubjectRoute,
    op: Op,
    batch: bool,
    req: Request,
) -> Result<Response, Response> {
    let manager = match (app.not_ready(), app.manager.get()) {
        (None, Some(m)) => m.clone(),
        (why, _) => {
            return Err(
                Problem::not_ready(why.unwrap_or_else(|| "starting".into())).into_response()
            );
        }
    };
    let caller = authenticate(&app, req.headers())?;
    if let Err(secs) = app.rate.take(&caller.id) {
        app.metrics
            .inc("om_secrets_rate_limited_total", String::new());
        let mut p = Problem::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate-limited",
            "Too many requests",
            format!("this principal's rate limit is reached; retry in {secs} s"),
        );
        p.retry_after = Some(secs);
        return Err(p.into_response());
    }
    let (mut parts, body) = req.into_parts();
    let keep_references = parts
        .uri
        .query()
        .map(|q| {
            q.split('&')
                .any(|kv| kv.eq_ignore_ascii_case("keepReferences=true"))
        })
        .unwrap_or(false);
    let params: HashMap<String, String> =
        match <Path<HashMap<String, String>> as axum::extract::FromRequestParts<()>>::from_request_parts(&mut parts, &()).await {
            Ok(Path(p)) => p,
            Err(_) => {
                return Err(Problem::bad_request("the path's names are not valid").into_response());
            }
        };
    let kind = s.kind(&params);
    let operation = op.operation(keep_references);
    // Authorization before the body: a caller the route's entity (or, for a
    // batch, every entity of the kind) is refused to never gets its body read
    // nor a plugin run, and holds no concurrency permit.
    let route_name = if batch {
        None
    } else {
        params.get("name").map(String::as_str)
    };
    let may = if batch {
        roles::allowed_somewhere(&app.grants, &caller, operation, &kind)
    } else {
        roles::allowed(&app.grants, &caller, operation, &kind, route_name)
    };
    if !may {
        if audit::audited(operation) {
            app.audit.record(&Event {
                principal: &caller.id,
                op: operation,
                kind: &kind,
                name: route_name,
                ids: &[],
                outcome: AuditOutcome::Refused,
                status: 403,
            });
        }
        let which = if batch {
            "this batch's entities"
        } else {
            "this entity"
        };
        return Err(forbidden(&caller, operation, which));
    }
    let timeout = app.config.limits.request_timeout;
    let work = async {
        let content_type = parts
            .headers
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap_or("?").to_ascii_lowercase());
        if let Some(ct) = content_type {
            let essence = ct.split(';').next().unwrap_or_default().trim().to_string();
            if essence != "application/json" && !essence.ends_with("+json") {
                return Err(Problem::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported-media-type",
                    "Unsupported media type",
                    "the body must be JSON (Content-Type: application/json)",
                )
                .into_response());
            }
        }
        let permit = app
            .concurrency
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Problem::not_ready("shutting down").into_response())?;
        let bytes = read_body(&app, body).await?;
        let items = if batch {
            parse_batch(&bytes, op)?
        } else {
            let name = params.get("name").cloned();
            vec![Ok(parse_single(&bytes, op, name)?)]
        };
        Ok::<_, Response>((permit, items))
    };
    let run = async {
        let (permit, items) = match work.await {
            Ok(x) => x,
            Err(r) => return r,
        };
        execute(
            app.clone(),
            manager,
            caller,
            kind,
            operation,
            items,
            batch,
            permit,
        )
        .await
    };
    match tokio::time::timeout(timeout, run).await {
        Ok(r) => Ok(r),
        Err(_) => {
            app.metrics
                .inc("om_secrets_request_timeouts_total", String::new());
            Err(Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "timeout",
                "Request timed out",
                format!(
                    "no answer within the request timeout ({} s): the secret store may be slow or unreachable; a write already started completes or is undone",
                    timeout.as_secs_f64()
                ),
            )
            .into_response())
        }
    }
}

async fn read_body(app: &App, body: Body) -> Result<Bytes, Response> {
    let limit = app.max_body;
    let too_large = || {
        Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too-large",
            "Body too large",
            format!(
                "the request body is over the limit of {limit} bytes (server.limits.maxBodyBytes)"
            ),
        )
        .into_response()
    };
    match http_body_util::Limited::new(body, limit).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(too_large())
        }
        Err(_) => Err(Problem::bad_request("the request body could not be read").into_response()),
    }
}

fn parse_json(bytes: &[u8]) -> Result<Map<String, Value>, Response> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| {
        // Position and category only: serde's message may quote the input.
        Problem::bad_request(format!(
            "the body is not valid JSON ({:?} error at line {} column {})",
            e.classify(),
            e.line(),
            e.column()
        ))
        .into_response()
    })?;
    match v {
        Value::Object(m) => Ok(m),
        _ => Err(Problem::bad_request_at("", "the body must be a JSON object").into_response()),
    }
}

/// A member name fit to repeat in an error: a short identifier, or nothing.
fn shown(key: &str) -> String {
    if key.len() <= 64 && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        format!("`{key}`")
    } else {
        "a member".into()
    }
}

/// One envelope (a single request's body, or a batch item) into an item,
/// or where it is wrong (a pointer into the envelope) and what.
fn item_from(
    m: Map<String, Value>,
    op: Op,
    rules: Envelope,
) -> Result<BatchItem, (String, String)> {
    BatchItem::from_envelope(m, op.operation(false), rules).map_err(|e| {
        let pointer = member_pointer("", e.member());
        let message = match e {
            EnvelopeError::Unknown(k) => format!(
                "{} is not taken here; {} takes: {}",
                shown(&k),
                op.name(),
                envelope_members(op.operation(false), false).join(", ")
            ),
            EnvelopeError::NameNotString => "`name` must be a string".into(),
            EnvelopeError::NoDocument => "`document` is required".into(),
            EnvelopeError::DocumentNotObject => "`document` must be a JSON object".into(),
            EnvelopeError::NoStored => "merge needs `stored`, the stored (sealed) form".into(),
        };
        (pointer, message)
    })
}

/// A single request's body: the route's path names the entity (a `name`
/// member is not taken), the document must be an object.
const BODY: Envelope = Envelope {
    name: EnvelopeName::Elsewhere,
    object_document: true,
};

/// A batch item: as [`BODY`], but with its own `name`, read first.
const ITEM: Envelope = Envelope {
    name: EnvelopeName::MemberFirst,
    ..BODY
};

/// The pointer of an envelope member the route does not take: the member
/// when [`shown`] names it, else the envelope (a member name may be anything
/// a client sent, and is never repeated unless it is an identifier).
fn member_pointer(at: &str, key: &str) -> String {
    if shown(key).starts_with('`') {
        format!("{at}/{}", escape_token(key))
    } else {
        at.to_string()
    }
}

fn escape_token(k: &str) -> String {
    k.replace('~', "~0").replace('/', "~1")
}

fn parse_single(bytes: &[u8], op: Op, name: Option<String>) -> Result<BatchItem, Response> {
    let m = parse_json(bytes)?;
    let mut item = item_from(m, op, BODY)
        .map_err(|(pointer, msg)| Problem::bad_request_at(&pointer, msg).into_response())?;
    item.name = name;
    Ok(item)
}

/// Batch items; an item whose envelope is wrong becomes an error result of
/// its own (`Err`), so that the others still run.
fn parse_batch(bytes: &[u8], op: Op) -> Result<Vec<Result<BatchItem, Failure>>, Response> {
    let mut m = parse_json(bytes)?;
    if let Some(k) = m.keys().find(|k| k.as_str() != "items") {
        return Err(Problem::bad_request_at(
            &member_pointer("", k),
            format!(
                "{} is not taken here; a batch body is {{\"items\": [...]}}",
                shown(k)
            ),
        )
        .into_response());
    }
    let Some(Value::Array(items)) = m.remove("items") else {
        return Err(
            Problem::bad_request_at("/items", "`items` must be an array of envelopes")
                .into_response(),
        );
    };
    Ok(items
        .into_iter()
        .map(|it| {
            let Value::Object(o) = it else {
                return Err(Failure {
                    pointer: Some(String::new()),
                    message: "an item must be a JSON object".into(),
                });
            };
            item_from(o, op, ITEM).map_err(|(pointer, message)| Failure {
                pointer: Some(pointer),
                message,
            })
        })
        .collect())
}

#[allow(clippy::too_many_arguments)]
async fn execute(
    app: Arc<App>,
    manager: Arc<crate::SecretsManager>,
    caller: Caller,
    kind: SubjectKind,
    op: Operation,
    items: Vec<Result<BatchItem, Failure>>,
    batch: bool,
    permit: tokio::sync::OwnedSemaphorePermit,
) -> Response {
    // Authorization: every entity the request names, or nothing runs.
    let refused: Vec<usize> = items
        .iter()
        .enumerate()
        .filter(|(_, it)| match it {
            Ok(it) => !roles::allowed(&app.grants, &caller, op, &kind, it.name.as_deref()),
            Err(_) => false,
        })
        .map(|(i, _)| i)
        .collect();
    if !refused.is_empty() {
        // No secret ids: working them out would run a plugin per document
        // for a caller who may not have any of it done.
        if audit::audited(op) {
            for it in items.iter().flatten() {
                app.audit.record(&Event {
                    principal: &caller.id,
                    op,
                    kind: &kind,
                    name: it.name.as_deref(),
                    ids: &[],
                    outcome: AuditOutcome::Refused,
                    status: 403,
                });
            }
        }
        let which = if batch {
            format!("item {} of this batch", refused[0])
        } else {
            "this entity".into()
        };
        return forbidden(&caller, op, &which);
    }
    // Run in a task of its own: a request that times out leaves the
    // documents already started to finish (the permit goes with them), and
    // the task starts no more once the request is gone (timed out, or its
    // client went away): an abandoned batch of thousands of documents would
    // otherwise hold its permit, and the CPU, for as long as they all take.
    // The library's batch future is not `Send`: it runs on a blocking-pool
    // thread, driven by this runtime's I/O and timers.
    let gone = Arc::new(AtomicBool::new(false));
    let _on_drop = SetOnDrop(gone.clone());
    let task_app = app.clone();
    let rt = tokio::runtime::Handle::current();
    let handle = tokio::task::spawn_blocking(move || {
        rt.block_on(async move {
            let _permit = permit;
            let ok: Vec<BatchItem> = items.iter().flatten().cloned().collect();
            let mut ids: Vec<Vec<String>> = Vec::with_capacity(ok.len());
            let mut results: Vec<Option<crate::Result<Outcome>>> = Vec::with_capacity(ok.len());
            for chunk in ok.chunks(CHUNK) {
                if gone.load(Ordering::Relaxed) {
                    ids.extend(chunk.iter().map(|_| Vec::new()));
                    results.extend(chunk.iter().map(|_| None));
                    continue;
                }
                ids.extend(chunk.iter().map(|it| {
                    if audit::audited(op) && op != Operation::Forget {
                        ids_of(&manager, &kind, it)
                    } else {
                        Vec::new()
                    }
                }));
                results.extend(manager.batch(op, &kind, chunk).await.into_iter().map(Some));
            }
            let mut results = results.into_iter();
            let mut ids = ids.into_iter();
            let mut out: Vec<Result<Outcome, (Failure, Problem)>> = Vec::with_capacity(items.len());
            // One audit line per document an audited operation reached.
            let audit = |it: &BatchItem, ids: &[String], outcome, status| {
                if audit::audited(op) {
                    task_app.audit.record(&Event {
                        principal: &caller.id,
                        op,
                        kind: &kind,
                        name: it.name.as_deref(),
                        ids,
                        outcome,
                        status,
                    });
                }
            };
            for it in &items {
                let Ok(it) = it else {
                    let f = it.as_ref().err().cloned().expect("an error");
                    let mut p = Problem::bad_request(f.message.clone());
                    p.pointer = f.pointer.clone();
                    out.push(Err((f, p)));
                    continue;
                };
                let mut item_ids = ids.next().unwrap_or_default();
                let Some(r) = results.next().expect("one result per item") else {
                    audit(it, &item_ids, AuditOutcome::Failed, 503);
                    let f = Failure {
                        pointer: None,
                        message: "not run: the request timed out or its client went away".into(),
                    };
                    let p = Problem::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "timeout",
                        "Request timed out",
                        f.message.clone(),
                    );
                    out.push(Err((f, p)));
                    continue;
                };
                let (status, outcome) = match &r {
                    Ok(o) => {
                        if let Outcome::Deleted(d) = o {
                            item_ids = d.clone();
                        }
                        (200, AuditOutcome::Allowed)
                    }
                    Err(e) => {
                        task_app.metrics.error(e);
                        (Problem::from_error(e).status, AuditOutcome::Failed)
                    }
                };
                audit(it, &item_ids, outcome, status);
                out.push(r.map_err(|e| {
                    let f = Failure::of_item(&e, &kind, it);
                    let mut p = Problem::from_error(&e);
                    if p.pointer.is_none() {
                        p.pointer = f.pointer.clone();
                    }
                    (f, p)
                }));
            }
            out
        })
    });
    let out = match handle.await {
        Ok(o) => o,
        Err(_) => {
            return Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal error",
                "the operation failed unexpectedly",
            )
            .into_response();
        }
    };
    if batch {
        let results: Vec<Value> = out
            .into_iter()
            .map(|r| match r {
                Ok(o) => serde_json::to_value(o).unwrap_or_default(),
                Err((f, _)) => json!({ "error": f }),
            })
            .collect();
        axum::Json(json!({ "results": results })).into_response()
    } else {
        match out.into_iter().next() {
            Some(Ok(o)) => axum::Json(o).into_response(),
            Some(Err((_, p))) => p.into_response(),
            None => Problem::bad_request("no document").into_response(),
        }
    }
}

/// A batch's documents go to the library this many at a time; between two
/// chunks, a batch whose request is gone stops.
const CHUNK: usize = 32;

/// Sets its flag when dropped: the handler's future is dropped when the
/// request times out or its client goes away.
struct SetOnDrop(Arc<AtomicBool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// 403: `caller` may not run `op` on `which`.
fn forbidden(caller: &Caller, op: Operation, which: &str) -> Response {
    let what = match op {
        Operation::Reveal {
            keep_references: true,
        } => "reveal with keepReferences=true".to_string(),
        other => op_name(other).to_string(),
    };
    Problem::forbidden(format!(
        "`{}` may not {what} {which} (it needs the `{}` role there)",
        caller.id,
        match roles::Role::needed_for(op) {
            roles::Role::Viewer => "viewer",
            roles::Role::Editor => "editor",
            roles::Role::Ingestion => "ingestion",
            roles::Role::Privileged => "privileged",
        }
    ))
    .into_response()
}

/// The secret ids a document's fields have (for the audit); none if the
/// document cannot be read.
fn ids_of(manager: &crate::SecretsManager, kind: &SubjectKind, it: &BatchItem) -> Vec<String> {
    kind.subject(it.name.as_deref(), &it.document)
        .and_then(|s| manager.fields(&s, &it.document))
        .map(|f| f.into_iter().map(|f| f.secret_id).collect())
        .unwrap_or_default()
}
