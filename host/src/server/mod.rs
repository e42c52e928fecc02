//! `om-secrets serve`: the library over HTTP, for OpenMetadata's server and
//! its other clients.
//!
//! ## Design
//!
//! ```text
//!  request ─► measure (metrics by route template)
//!          ─► /healthz /readyz /metrics /openapi.json      (no auth; /metrics optionally)
//!          ─► /v1/…: ready? ─► auth (API key | JWT) ─► rate limit ─┐
//!                                                                  ▼ request timeout (503)
//!             concurrency permit ─► body (size limit) ─► envelope ─► roles (403, audited)
//!             ─► SecretsManager::batch in its own task ─► audit line per document ─► JSON
//! ```
//!
//! The server has no logic of its own beyond transport, authentication,
//! authorization and limits: every route is one [`SecretsManager::batch`]
//! call (a single-document route is a batch of one), so a route gives
//! exactly what the CLI gives. It is stateless: every instance in front of
//! the same store (Vault/OpenBao, AWS) with the same Fernet key serves the
//! same answers; the read cache of remote stores (`cacheTtlSeconds`, default
//! 300 s) bounds how stale one instance's reads can be after another's write.
//!
//! Modules, one concern each: [`config`] (the `server:` block), [`routes`](mod@routes)(mod@routes)
//! (route table, handlers, limits on the way in), [`auth`] (API keys, JWTs),
//! [`roles`] (deny-by-default authorization), [`audit`], [`limits`] (rate
//! limit), [`metrics`], [`problem`] (RFC 9457 errors), [`openapi`], [`tls`].
//!
//! ## Start-up and readiness
//!
//! [`Server::bind`] binds the address (so `/healthz` answers at once) and
//! makes the admin key if nothing is configured. [`Server::serve`] starts
//! answering; `/v1` routes and `/readyz` answer 503 until the manager is
//! built (plugins loaded), the store answered a probe read, and every
//! [`ReadyHold`] taken from [`Server::readiness`] is dropped. An embedder
//! hooks its own start-up work (a database migration before the first
//! request) with [`run_with`], or by holding the readiness itself:
//!
//! ```no_run
//! # async fn f(settings: om_secrets::config::Settings) -> Result<(), om_secrets::server::ServeError> {
//! use om_secrets::server::{ServerConfig, run_with};
//! run_with(settings, ServerConfig::default(), async {
//!     // migrate the database, warm a cache…; an error stops the server.
//!     Ok(())
//! })
//! .await
//! # }
//! ```
//!
//! SIGTERM (or Ctrl-C) stops accepting connections; requests in flight
//! finish (connections get the request timeout plus 5 s, then are cut off),
//! and operations already started (even of requests that timed out)
//! complete before [`Server::serve`] returns.

pub mod audit;
pub mod auth;
pub mod config;
pub mod limits;
pub mod metrics;
pub mod openapi;
pub mod problem;
pub mod roles;
pub mod routes;
pub mod tls;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::sync::Semaphore;

pub use config::ServerConfig;
pub use routes::{Route, routes};

use crate::SecretsManager;
use crate::config::{Provider, Settings};
use crate::kms::{KmsErrorKind, SecretStore};
use crate::ops::Backend;

/// Why the server could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The `server:` block (or a file it names) is wrong.
    #[error("configuration: {0}")]
    Config(String),
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The library could not start (plugins, keys, store settings).
    #[error(transparent)]
    Library(#[from] crate::Error),
    /// An embedder's start-up task failed.
    #[error("start-up task failed: {0}")]
    Startup(String),
}

/// The readiness of a server: ready when nothing holds it.
#[derive(Clone, Default)]
pub struct Readiness {
    inner: Arc<ReadinessInner>,
}

#[derive(Default)]
struct ReadinessInner {
    holds: AtomicUsize,
    waiting_for: Mutex<Vec<String>>,
}

/// Held while a start-up task runs: `/readyz` is 503 until every hold is
/// dropped.
pub struct ReadyHold {
    inner: Arc<ReadinessInner>,
    what: String,
}

impl Readiness {
    /// Hold readiness while `what` (named in `/readyz`'s answer) runs.
    pub fn hold(&self, what: impl Into<String>) -> ReadyHold {
        let what = what.into();
        self.inner.holds.fetch_add(1, Ordering::SeqCst);
        self.inner
            .waiting_for
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(what.clone());
        ReadyHold {
            inner: self.inner.clone(),
            what,
        }
    }

    /// What is still running, if anything.
    pub fn waiting_for(&self) -> Option<String> {
        (self.inner.holds.load(Ordering::SeqCst) > 0).then(|| {
            self.inner
                .waiting_for
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .join(", ")
        })
    }
}

impl Drop for ReadyHold {
    fn drop(&mut self) {
        let mut w = self
            .inner
            .waiting_for
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(i) = w.iter().position(|x| *x == self.what) {
            w.remove(i);
        }
        self.inner.holds.fetch_sub(1, Ordering::SeqCst);
    }
}

/// What the handlers share.
pub struct App {
    config: ServerConfig,
    manager: OnceLock<Arc<SecretsManager>>,
    readiness: Readiness,
    auth: auth::Authenticator,
    grants: Vec<roles::Grant>,
    rate: limits::RateLimiter,
    concurrency: Arc<Semaphore>,
    max_body: usize,
    audit: audit::Audit,
    metrics: Arc<metrics::Metrics>,
}

impl App {
    /// Why the server is not ready, or `None`.
    fn not_ready(&self) -> Option<String> {
        self.readiness
            .waiting_for()
            .map(|w| format!("starting: waiting for {w}"))
    }
}

/// A bound server, not answering yet.
pub struct Server {
    app: Arc<App>,
    settings: Settings,
    listener: tokio::net::TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    startup: ReadyHold,
}

impl Server {
    /// Check the configuration, make the admin key if no credential is
    /// configured (printing where it is, once, to stderr), load the JWKS and
    /// the TLS files, and bind the address.
    pub async fn bind(settings: Settings, config: ServerConfig) -> Result<Self, ServeError> {
        let mut keys: Vec<(String, [u8; 32])> = config
            .api_keys
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        let mut grants = config.grants.clone();
        if config.unconfigured() {
            let (path, hash, created) = auth::api_key::admin_key(&settings.home)?;
            if created {
                eprintln!(
                    "om-secrets serve: created an admin API key in {} (mode 0600); send it as `Authorization: Bearer <key>`",
                    path.display()
                );
            } else {
                tracing::info!(file = %path.display(), "using the admin API key");
            }
            keys.push((auth::api_key::ADMIN.into(), hash));
            grants.push(roles::Grant {
                role: roles::Role::Privileged,
                principals: vec![roles::Principal::ApiKey(auth::api_key::ADMIN.into())],
                subjects: None,
                service_types: None,
                names: None,
            });
        }
        let jwt = match &config.jwt {
            Some(j) => {
                let text = auth::jwt::load_jwks(j).await?;
                Some(auth::jwt::JwtVerifier::new(&text, j)?)
            }
            None => None,
        };
        let tls = config.tls.as_ref().map(tls::server_config).transpose()?;
        let addr = config.listen_addr();
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| ServeError::Bind { addr, source })?;
        let readiness = Readiness::default();
        let startup = readiness.hold("plugins and store");
        let app = Arc::new(App {
            auth: auth::Authenticator {
                keys: auth::api_key::ApiKeys::new(keys),
                jwt,
            },
            grants,
            rate: limits::RateLimiter::new(config.limits.rate_per_second, config.limits.burst),
            concurrency: Arc::new(Semaphore::new(config.limits.max_concurrent)),
            max_body: config
                .limits
                .max_body_bytes
                .unwrap_or(settings.limits.max_input_bytes),
            audit: audit::Audit::open(config.audit_file.as_deref())?,
            metrics: Arc::default(),
            manager: OnceLock::new(),
            readiness,
            config,
        });
        Ok(Server {
            app,
            settings,
            listener,
            tls,
            startup,
        })
    }

    /// The bound address (the port, when `:0` was asked).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| self.app.config.listen_addr())
    }

    /// The server's readiness: [`Readiness::hold`] keeps `/readyz` (and the
    /// `/v1` routes) at 503 while a start-up task runs.
    pub fn readiness(&self) -> Readiness {
        self.app.readiness.clone()
    }

    /// Answer requests until `shutdown` completes; then finish the requests
    /// and operations in flight. The manager (plugins, keys, store) is built
    /// meanwhile; if that fails, the server stops with the error.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let Server {
            app,
            settings,
            listener,
            tls,
            startup,
        } = self;
        let (fail_tx, mut fail_rx) = tokio::sync::mpsc::channel::<ServeError>(1);
        let loader = {
            let app = app.clone();
            tokio::spawn(async move {
                match build_manager(&settings, app.metrics.clone()).await {
                    Ok(m) => {
                        probe_store(&m).await;
                        let _ = app.manager.set(Arc::new(m));
                        drop(startup);
                        tracing::info!("ready");
                    }
                    Err(e) => {
                        let _ = fail_tx.send(e).await;
                    }
                }
            })
        };
        let router = routes::router(app.clone());
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let fired = Arc::new(tokio::sync::Notify::new());
        let signal = {
            let fired = fired.clone();
            async move {
                tokio::select! {
                    _ = shutdown => {}
                    _ = stop_rx => {}
                }
                fired.notify_one();
            }
        };
        // Once stopping, connections get the request timeout (and a grace)
        // to finish: a client that never completes its request (or keeps a
        // half-sent one open) cannot hold the process up for ever.
        let grace = app.config.limits.request_timeout + Duration::from_secs(5);
        let deadline = async move {
            fired.notified().await;
            tokio::time::sleep(grace).await;
        };
        let head_timeout = app.config.limits.request_timeout;
        let local = listener.local_addr().ok();
        let scheme = if tls.is_some() { "https" } else { "http" };
        if let Some(a) = local {
            eprintln!("om-secrets serve: listening on {scheme}://{a}");
        }
        let serving = async move {
            match tls {
                Some(cfg) => {
                    let l = tls::TlsListener::new(listener, cfg).map_err(|source| {
                        ServeError::Bind {
                            addr: local.unwrap_or_else(|| ([0, 0, 0, 0], 0).into()),
                            source,
                        }
                    })?;
                    serve_connections(l, router, signal, head_timeout).await;
                    Ok::<(), ServeError>(())
                }
                None => {
                    serve_connections(listener, router, signal, head_timeout).await;
                    Ok(())
                }
            }
        };
        let mut serving = std::pin::pin!(serving);
        let mut deadline = std::pin::pin!(deadline);
        let mut failure = None;
        let mut stop_tx = Some(stop_tx);
        loop {
            tokio::select! {
                r = &mut serving => {
                    r?;
                    break;
                }
                Some(e) = fail_rx.recv(), if failure.is_none() => {
                    if let Some(tx) = stop_tx.take() {
                        let _ = tx.send(());
                    }
                    failure = Some(e);
                }
                _ = &mut deadline => {
                    tracing::warn!(
                        "connections still open {grace:?} after the stop signal; closing them"
                    );
                    break;
                }
            }
        }
        loader.abort();
        // Operations of requests that timed out still hold their permits.
        let all = u32::try_from(app.config.limits.max_concurrent).unwrap_or(u32::MAX);
        let drain = app.config.limits.request_timeout + Duration::from_secs(30);
        if tokio::time::timeout(drain, app.concurrency.acquire_many(all))
            .await
            .is_err()
        {
            tracing::warn!("operations still running after {drain:?}; stopping anyway");
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// Serve HTTP/1.1 connections from `listener` until `signal`, then let each
/// finish the request it is on (and close) and wait for them all. What
/// `axum::serve` does, plus a deadline on request heads: a connection must
/// deliver each whole request head within `head_timeout` of starting to wait
/// for it (an idle kept-alive connection is closed then), so clients that
/// open connections and never finish a request cannot hold tasks and file
/// descriptors for ever.
async fn serve_connections<L>(
    mut listener: L,
    router: axum::Router,
    signal: impl Future<Output = ()>,
    head_timeout: Duration,
) where
    L: axum::serve::Listener,
{
    use hyper_util::rt::{TokioIo, TokioTimer};
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    // Every connection task holds a receiver: all gone = all closed.
    let (open_tx, open_rx) = tokio::sync::watch::channel(());
    let mut signal = std::pin::pin!(signal);
    loop {
        let (io, _peer) = tokio::select! {
            x = listener.accept() => x,
            _ = &mut signal => break,
        };
        let service = hyper_util::service::TowerToHyperService::new(router.clone());
        let mut stop = stop_rx.clone();
        let open = open_rx.clone();
        tokio::spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(head_timeout);
            let conn = builder.serve_connection(TokioIo::new(io), service);
            let mut conn = std::pin::pin!(conn);
            let mut stopping = false;
            loop {
                tokio::select! {
                    r = conn.as_mut() => {
                        if let Err(e) = r {
                            tracing::trace!("connection: {e}");
                        }
                        break;
                    }
                    c = stop.changed(), if !stopping => {
                        stopping = true;
                        if c.is_ok() {
                            conn.as_mut().graceful_shutdown();
                        }
                    }
                }
            }
            drop(open);
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    drop(open_rx);
    open_tx.closed().await;
}

/// The manager the operations use: [`SecretsManager::from_settings`], with
/// the store wrapped to count its calls for the metrics.
async fn build_manager(
    settings: &Settings,
    metrics: Arc<metrics::Metrics>,
) -> Result<SecretsManager, ServeError> {
    let fernet = crate::ops::fernet_keys(settings)?;
    let backend = if settings.provider == Provider::Db {
        Backend::Db
    } else {
        let store = crate::kms::open(settings)
            .await?
            .map(|s| Arc::new(metrics::ObservedStore::new(s, metrics)) as Arc<dyn SecretStore>);
        Backend::new(settings.mode, store)?
    };
    let s = settings.clone();
    let plugins = tokio::task::spawn_blocking(move || crate::ops::load_plugins(&s))
        .await
        .map_err(|e| ServeError::Startup(format!("loading plugins: {e}")))??;
    let ids = crate::secret_id::IdBuilder::new(&settings.prefix, &settings.cluster_name);
    Ok(SecretsManager::new(backend, fernet, ids, Arc::new(plugins)))
}

/// Wait until the store answers a read (of an id nobody writes).
async fn probe_store(m: &SecretsManager) {
    let Some(store) = m.store() else { return };
    let probe = format!(
        "{}readiness-probe",
        m.scope(&crate::Subject::bot(Some("om-secrets-server")))
            .root
    );
    let mut delay = Duration::from_millis(200);
    loop {
        match store.get(&probe).await {
            Ok(_) => return,
            Err(e) => {
                let level = if e.kind == KmsErrorKind::Transient {
                    "unreachable"
                } else {
                    "refused the probe"
                };
                tracing::warn!("the secret store is {level}: {e}; not ready, retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    tracing::info!("shutting down: finishing the requests in flight");
}

/// Serve until SIGTERM/Ctrl-C (what `om-secrets serve` runs). Needs a
/// multi-threaded tokio runtime.
///
/// With `migrateOnStart` in the settings, the database migration runs first,
/// as a start-up task of [`run_with`]: `/readyz` and `/v1` answer 503 until
/// it has finished (clean, or unclean with `requireClean: false`); a failure
/// stops the server with its error.
pub async fn run(settings: Settings, config: ServerConfig) -> Result<(), ServeError> {
    match settings.migrate_on_start.clone() {
        None => run_with(settings, config, async { Ok(()) }).await,
        Some(migration) => {
            let task = migrate_on_start(settings.clone(), migration);
            run_with(settings, config, task).await
        }
    }
}

/// The start-up task of `migrateOnStart`.
#[cfg(feature = "migrate")]
fn migrate_on_start(
    settings: Settings,
    migration: crate::config::MigrateOnStart,
) -> impl Future<Output = Result<(), Box<dyn std::error::Error + Send + Sync>>> + Send + 'static {
    // The migration's future is not Send: it runs on a blocking thread of
    // the runtime, driven by the runtime's handle.
    let handle = tokio::runtime::Handle::current();
    async move {
        tokio::task::spawn_blocking(move || {
            handle.block_on(async {
                let manager = SecretsManager::from_settings(&settings)
                    .await
                    .map_err(|e| format!("migrateOnStart: {e}"))?;
                crate::migrate::on_start::run(&manager, &migration).await?;
                Ok(())
            })
        })
        .await?
    }
}

/// Without the `migrate` feature, `migrateOnStart` cannot run: the server
/// stops rather than serve an unmigrated database.
#[cfg(not(feature = "migrate"))]
fn migrate_on_start(
    _settings: Settings,
    _migration: crate::config::MigrateOnStart,
) -> impl Future<Output = Result<(), Box<dyn std::error::Error + Send + Sync>>> + Send + 'static {
    async { Err("migrateOnStart needs om-secrets built with the `migrate` feature".into()) }
}

/// [`run`], with a start-up task (a database migration, for instance): the
/// server binds and answers `/healthz` at once, but `/readyz` and the `/v1`
/// routes answer 503 until `startup` completes; if it fails, the server
/// stops with its error.
pub async fn run_with<F>(
    settings: Settings,
    config: ServerConfig,
    startup: F,
) -> Result<(), ServeError>
where
    F: Future<Output = Result<(), Box<dyn std::error::Error + Send + Sync>>> + Send + 'static,
{
    let server = Server::bind(settings, config).await?;
    let hold = server.readiness().hold("start-up tasks");
    let (tx, rx) = tokio::sync::oneshot::channel::<String>();
    let task = tokio::spawn(startup);
    tokio::spawn(async move {
        match task.await {
            Ok(Ok(())) => drop(hold),
            // A failed start-up never turns ready, even while stopping (and a
            // panic is a failure too).
            Ok(Err(e)) => {
                std::mem::forget(hold);
                let _ = tx.send(e.to_string());
            }
            Err(e) => {
                std::mem::forget(hold);
                let _ = tx.send(format!("panicked: {e}"));
            }
        }
    });
    let failed = Arc::new(Mutex::new(None::<String>));
    let f = failed.clone();
    let stop = async move {
        tokio::select! {
            _ = shutdown_signal() => {}
            Ok(msg) = rx => {
                *f.lock().unwrap_or_else(|p| p.into_inner()) = Some(msg);
            }
        }
    };
    server.serve(stop).await?;
    match failed.lock().unwrap_or_else(|p| p.into_inner()).take() {
        Some(msg) => Err(ServeError::Startup(msg)),
        None => Ok(()),
    }
}
