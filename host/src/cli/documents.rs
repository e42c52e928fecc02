//! The document commands (seal, reveal, mask, merge, forget, fields, one
//! document or `--batch`), run in-process on a [`SecretsManager`] or, with
//! `--server URL`, through [`om_secrets::client`] against `om-secrets serve`.
//! Both give the same stdout and exit status: the service runs the same
//! library, and its error answers carry the library's message.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use om_secrets::client::{self, Client};
use om_secrets::config::Settings;
use om_secrets::ops::{
    BatchItem, Envelope, EnvelopeError, EnvelopeName, Failure, Operation, Outcome, SubjectKind,
    envelope_members,
};
use om_secrets::{SecretsManager, Subject};
use serde_json::Value;

/// Which document is on stdin, and whose secrets it holds: a service (its
/// connection config or the whole entity), a bot user, an ingestion pipeline
/// or a test-connection workflow.
#[derive(Args, Clone)]
#[group(skip)]
pub struct Target {
    /// Service type of the connection (database, dashboard, messaging, pipeline, …);
    /// stdin is its connection config or the whole service entity.
    #[arg(long, value_name = "TYPE", group = "entity")]
    service_type: Option<String>,
    /// The service's name (secret ids are built from it). Not with --batch:
    /// each line names its entity.
    #[arg(long, requires = "service_type", conflicts_with = "batch")]
    name: Option<String>,
    /// A bot: stdin is the bot's User entity (isBot, authenticationMechanism).
    /// With --batch, give no NAME: each line names its bot.
    #[arg(long, value_name = "NAME", group = "entity", num_args = 0..=1, default_missing_value = "")]
    bot: Option<String>,
    /// An ingestion pipeline: stdin is the IngestionPipeline entity (its sourceConfig.config).
    /// With --batch, give no NAME: each line names its pipeline.
    #[arg(long, value_name = "NAME", group = "entity", num_args = 0..=1, default_missing_value = "")]
    pipeline: Option<String>,
    /// A test-connection workflow: stdin is the automation Workflow entity.
    /// With --batch, give no NAME: each line names its workflow.
    #[arg(long, value_name = "NAME", group = "entity", num_args = 0..=1, default_missing_value = "")]
    workflow: Option<String>,
    /// Many documents: stdin is JSON lines, each `{"name": …, "document": {…}}`
    /// (merge: also `"stored"`; seal: optionally `"previous"`); stdout one line
    /// per input line, in order: the result or `{"error": {"pointer", "message"}}`.
    /// Exit status 1 if any line failed.
    #[arg(long)]
    batch: bool,
}

/// A name given on the command line (`--bot` without a value gives `""`).
fn named(n: &str) -> Option<&str> {
    (!n.is_empty()).then_some(n)
}

impl Target {
    /// The kind of entity the documents are, and the name given on the
    /// command line (`None` for `--bot` etc. without a value).
    fn kind(&self) -> Result<(SubjectKind, Option<&str>)> {
        Ok(if let Some(st) = &self.service_type {
            (SubjectKind::Service(st.clone()), self.name.as_deref())
        } else if let Some(name) = &self.bot {
            (SubjectKind::Bot, named(name))
        } else if let Some(name) = &self.pipeline {
            (SubjectKind::Pipeline, named(name))
        } else if let Some(name) = &self.workflow {
            (SubjectKind::Workflow, named(name))
        } else {
            bail!("name what the input is: --service-type, --bot, --pipeline or --workflow")
        })
    }

    /// The kind and name of the one document on stdin.
    fn single(&self) -> Result<(SubjectKind, Option<&str>)> {
        let (kind, name) = self.kind()?;
        if name.is_none() && !matches!(kind, SubjectKind::Service(_)) {
            bail!(
                "--bot, --pipeline and --workflow need the entity's NAME (only --batch takes it from each line)"
            );
        }
        Ok((kind, name))
    }

    /// The subject of the one document on stdin.
    fn subject(&self, doc: &Value) -> Result<Subject> {
        let (kind, name) = self.single()?;
        Ok(kind.subject(name, doc)?)
    }

    /// The service's route for the one document on stdin (a route always
    /// names its entity).
    fn remote(&self) -> Result<client::Target> {
        let (kind, name) = self.single()?;
        let Some(name) = name else {
            bail!("with --server, --service-type needs --name (the service's routes name it)")
        };
        Ok(client::Target::of_kind(&kind, name))
    }

    /// The kind for `--batch`, where every line names its own entity.
    fn batch_kind(&self) -> Result<SubjectKind> {
        let (kind, name) = self.kind()?;
        if name.is_some() {
            bail!(
                "with --batch each line names its entity (`\"name\"`): give --bot, --pipeline or --workflow without a NAME"
            );
        }
        Ok(kind)
    }
}

/// A document command as parsed from the command line.
pub struct Request {
    /// What to do with each document.
    pub op: Operation,
    /// Whose documents.
    pub target: Target,
    /// `seal --previous FILE`.
    pub previous: Option<PathBuf>,
    /// `merge --stored FILE`.
    pub stored: Option<PathBuf>,
}

/// Where the documents are processed: in this process, or by a service.
enum Engine {
    Local(SecretsManager),
    Remote(Client),
}

/// `--server URL` with its token: from `--token-file FILE`, else the
/// environment variable `OM_SECRETS_TOKEN`, else none.
pub fn client(url: &str, token_file: Option<&Path>) -> Result<Client> {
    let mut client = Client::new(url)?;
    let token = match token_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading the token file {}", path.display()))?;
            let token = text.trim().to_string();
            if token.is_empty() {
                bail!("the token file {} is empty", path.display());
            }
            Some(token)
        }
        None => std::env::var("OM_SECRETS_TOKEN")
            .ok()
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty()),
    };
    if let Some(token) = token {
        client = client.with_token(token);
    }
    Ok(client)
}

/// Run a document command: in-process, or through `remote`.
pub async fn run(request: Request, settings: &Settings, remote: Option<Client>) -> Result<()> {
    let engine = match remote {
        Some(c) => Engine::Remote(c),
        None => Engine::Local(SecretsManager::from_settings(settings).await?),
    };
    let Request {
        op,
        target,
        previous,
        stored,
    } = request;
    if target.batch {
        let kind = target.batch_kind()?;
        return run_batch(&engine, settings, op, &kind).await;
    }
    // Files before stdin, so that a missing file fails before a read waits.
    let previous = previous.as_deref().map(read_json_file).transpose()?;
    let stored = match op {
        Operation::Merge => {
            let Some(stored) = stored else {
                bail!("merge needs --stored FILE (or --batch)")
            };
            Some(read_json_file(&stored)?)
        }
        _ => None,
    };
    let doc = parse_json(&read_stdin_text()?, "stdin")?;
    match engine {
        Engine::Local(manager) => {
            let subject = target.subject(&doc)?;
            match op {
                Operation::Seal => print_json(
                    &manager
                        .seal_update(&subject, previous.as_ref(), &doc)
                        .await?,
                ),
                Operation::Reveal { keep_references } => {
                    print_json(&manager.reveal(&subject, &doc, keep_references).await?)
                }
                Operation::Mask => print_json(&manager.mask(&subject, &doc)?),
                Operation::Merge => print_json(&manager.merge(
                    &subject,
                    stored.as_ref().expect("read above"),
                    &doc,
                )?),
                Operation::Forget => {
                    let deleted = manager.forget(&subject, &doc).await?;
                    print_json(&serde_json::json!({ "deleted": deleted }))
                }
                Operation::Fields => print_json(&manager.fields(&subject, &doc)?),
            }
        }
        Engine::Remote(client) => {
            let t = target.remote()?;
            match op {
                Operation::Seal => {
                    print_json(&client.seal_update(&t, previous.as_ref(), &doc).await?)
                }
                Operation::Reveal { keep_references } => {
                    print_json(&client.reveal(&t, &doc, keep_references).await?)
                }
                Operation::Mask => print_json(&client.mask(&t, &doc).await?),
                Operation::Merge => print_json(
                    &client
                        .merge(&t, stored.as_ref().expect("read above"), &doc)
                        .await?,
                ),
                Operation::Forget => {
                    let deleted = client.forget(&t, &doc).await?;
                    print_json(&serde_json::json!({ "deleted": deleted }))
                }
                Operation::Fields => print_json(&client.fields(&t, &doc).await?),
            }
        }
    }
}

/// Read all of stdin as text.
pub fn read_stdin_text() -> Result<String> {
    let mut s = String::new();
    std::io::stdin()
        .read_to_string(&mut s)
        .context("reading stdin")?;
    Ok(s)
}

/// Parse JSON without ever echoing its content in an error.
fn parse_json(text: &str, what: &str) -> Result<Value> {
    serde_json::from_str(text).map_err(|e| {
        anyhow::anyhow!(
            "{what}: not valid JSON ({:?} error at line {}, column {})",
            e.classify(),
            e.line(),
            e.column()
        )
    })
}

fn read_json_file(path: &Path) -> Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    parse_json(&text, &path.display().to_string())
}

/// Print a value as pretty JSON on stdout.
pub fn print_json(v: &impl serde::Serialize) -> Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, v)?;
    writeln!(out)?;
    Ok(())
}

/// Lines answered per call into the library: whatever is already waiting on
/// stdin, up to this many (a line is answered as soon as it is read when no
/// more are waiting, so a caller may send one line and wait for its answer).
const PAGE: usize = 64;

/// A page also ends once its lines hold this many bytes, so that a stream of
/// large documents keeps memory bounded (a page, and the few lines waiting).
const PAGE_BYTES: usize = 8 << 20;

/// Why a line of `--batch` input could not even be read as JSON.
enum BadLine {
    TooLong(usize),
    NotUtf8,
}

/// Read stdin line by line on a thread of its own (blocking reads never stall
/// the runtime), each line at most `limit` bytes (a longer one is skipped to
/// its end and reported); the channel is bounded, so memory is too.
fn read_lines(
    limit: usize,
) -> tokio::sync::mpsc::Receiver<std::io::Result<std::result::Result<String, BadLine>>> {
    use std::io::BufRead;
    let (tx, rx) = tokio::sync::mpsc::channel(PAGE / 4);
    std::thread::spawn(move || {
        let stdin = std::io::stdin();
        let mut input = stdin.lock();
        let mut buf = Vec::new();
        loop {
            buf.clear();
            let line = match (&mut input)
                .take(limit as u64 + 1)
                .read_until(b'\n', &mut buf)
            {
                Ok(0) => break,
                Ok(_) if buf.last() != Some(&b'\n') && buf.len() > limit => {
                    // Skip the rest of the line, keeping none of it.
                    let mut skipped = Ok(());
                    loop {
                        let chunk = match input.fill_buf() {
                            Ok(c) => c,
                            Err(e) => {
                                skipped = Err(e);
                                break;
                            }
                        };
                        if chunk.is_empty() {
                            break;
                        }
                        match chunk.iter().position(|&b| b == b'\n') {
                            Some(i) => {
                                input.consume(i + 1);
                                break;
                            }
                            None => {
                                let n = chunk.len();
                                input.consume(n);
                            }
                        }
                    }
                    skipped.map(|()| Err(BadLine::TooLong(limit)))
                }
                Ok(_) => {
                    if buf.last() == Some(&b'\n') {
                        buf.pop();
                    }
                    if buf.last() == Some(&b'\r') {
                        buf.pop();
                    }
                    Ok(String::from_utf8(std::mem::take(&mut buf)).map_err(|_| BadLine::NotUtf8))
                }
                Err(e) => Err(e),
            };
            let stop = line.is_err();
            if tx.blocking_send(line).is_err() || stop {
                break;
            }
        }
    });
    rx
}

/// One `--batch` input line as a [`BatchItem`], or the error line's content.
/// No message quotes the line: it may hold secrets.
fn parse_line(
    number: usize,
    line: std::result::Result<String, BadLine>,
    op: Operation,
) -> std::result::Result<BatchItem, Failure> {
    let fail = |message: String| Failure {
        pointer: None,
        message: format!("line {number}: {message}"),
    };
    let text = match line {
        Ok(t) => t,
        Err(BadLine::TooLong(limit)) => {
            return Err(fail(format!("longer than {limit} bytes")));
        }
        Err(BadLine::NotUtf8) => return Err(fail("not valid UTF-8".into())),
    };
    if text.trim().is_empty() {
        return Err(fail(
            "empty (each line is {\"name\": …, \"document\": {…}})".into(),
        ));
    }
    let value: Value = serde_json::from_str(&text).map_err(|e| {
        fail(format!(
            "not valid JSON ({:?} error at column {})",
            e.classify(),
            e.column()
        ))
    })?;
    let Value::Object(m) = value else {
        return Err(fail(
            "not a JSON object (each line is {\"name\": …, \"document\": {…}})".into(),
        ));
    };
    BatchItem::from_envelope(m, op, LINE).map_err(|e| {
        fail(match e {
            EnvelopeError::Unknown(k) => {
                let k: String = k.chars().take(64).collect();
                format!(
                    "unknown key `{}` (this operation takes {})",
                    k.escape_debug(),
                    envelope_members(op, true).join(", ")
                )
            }
            EnvelopeError::NameNotString => "`name` must be a string".into(),
            EnvelopeError::NoDocument => "no `document`".into(),
            EnvelopeError::DocumentNotObject => "`document` must be a JSON object".into(),
            EnvelopeError::NoStored => {
                "merge needs the stored (sealed) form of the entity (`stored`)".into()
            }
        })
    })
}

/// A line's envelope: its own `name`, read once its keys are known good; any
/// document (the operation refuses one that is not an object, pointing into
/// it).
const LINE: Envelope = Envelope {
    name: EnvelopeName::Member,
    object_document: false,
};

impl Engine {
    /// One page of a batch: one result per item, in order.
    async fn batch(
        &self,
        op: Operation,
        kind: &SubjectKind,
        items: &[BatchItem],
    ) -> Result<Vec<std::result::Result<Outcome, Failure>>> {
        Ok(match self {
            Engine::Local(manager) => manager
                .batch(op, kind, items)
                .await
                .into_iter()
                .zip(items)
                .map(|(r, item)| r.map_err(|e| Failure::of_item(&e, kind, item)))
                .collect(),
            // A refusal of the whole request (401, 403, 429…) stops the run.
            Engine::Remote(client) => client.batch(op, kind, items).await?,
        })
    }
}

/// `--batch`: JSON lines in, one JSON line out per input line, in order.
async fn run_batch(
    engine: &Engine,
    settings: &Settings,
    op: Operation,
    kind: &SubjectKind,
) -> Result<()> {
    // A line holds a document and, for seal and merge, a second one.
    let limit = 2 * settings.limits.max_input_bytes + 64 * 1024;
    let mut lines = read_lines(limit);
    let (mut total, mut failed) = (0usize, 0usize);
    while let Some(first) = lines.recv().await {
        let size = |l: &std::io::Result<std::result::Result<String, BadLine>>| match l {
            Ok(Ok(text)) => text.len(),
            _ => 0,
        };
        let mut bytes = size(&first);
        let mut page = vec![first];
        while page.len() < PAGE && bytes < PAGE_BYTES {
            match lines.try_recv() {
                Ok(l) => {
                    bytes += size(&l);
                    page.push(l);
                }
                Err(_) => break,
            }
        }
        let mut read_error = None;
        let mut parsed = Vec::with_capacity(page.len());
        for line in page {
            match line {
                Ok(l) => {
                    total += 1;
                    parsed.push(parse_line(total, l, op));
                }
                Err(e) => {
                    read_error = Some(e);
                    break;
                }
            }
        }
        let items: Vec<BatchItem> = parsed
            .iter_mut()
            .filter_map(|p| p.as_mut().ok().map(std::mem::take))
            .collect();
        let mut results = engine.batch(op, kind, &items).await?.into_iter();
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        for p in parsed {
            let line = match p.map(|_| results.next().expect("one result per item")) {
                Ok(Ok(outcome)) => serde_json::to_value(&outcome)?,
                Ok(Err(f)) | Err(f) => serde_json::json!({ "error": f }),
            };
            if line.get("error").is_some() {
                failed += 1;
            }
            serde_json::to_writer(&mut out, &line)?;
            writeln!(out)?;
        }
        out.flush().context("writing stdout")?;
        if let Some(e) = read_error {
            return Err(anyhow::Error::new(e).context(format!("reading stdin after line {total}")));
        }
    }
    if failed > 0 {
        bail!("{failed} of {total} lines failed");
    }
    Ok(())
}
