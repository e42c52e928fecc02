//! The `om-secrets` command: JSON on stdin, JSON on stdout, errors on stderr,
//! exit status 1 on any error. See `om-secrets --help` and the README.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use om_secrets::config::Settings;
use om_secrets::fernet::FernetKeys;
use om_secrets::ops::{BatchItem, Failure, Operation, SubjectKind};
use om_secrets::{SecretsManager, Subject};
use serde_json::Value;

mod demo;

#[derive(Parser)]
#[command(
    name = "om-secrets",
    version,
    about = "Keep OpenMetadata's credentials out of its database"
)]
struct Cli {
    /// YAML configuration file (OpenMetadata's secretsManagerConfiguration keys). Without
    /// one, and without environment variables, the embedded default runs.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

/// Which document is on stdin, and whose secrets it holds: a service (its
/// connection config or the whole entity), a bot user, an ingestion pipeline
/// or a test-connection workflow.
#[derive(Args, Clone)]
#[group(skip)]
struct Target {
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

    /// The subject of the one document on stdin.
    fn subject(&self, doc: &Value) -> Result<Subject> {
        let (kind, name) = self.kind()?;
        if name.is_none() && !matches!(kind, SubjectKind::Service(_)) {
            bail!(
                "--bot, --pipeline and --workflow need the entity's NAME (only --batch takes it from each line)"
            );
        }
        Ok(kind.subject(name, doc)?)
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

#[derive(Subcommand)]
enum Command {
    /// Seal a config: store or encrypt every secret field, per the mode.
    Seal {
        #[command(flatten)]
        target: Target,
        /// The entity's previous stored (sealed) form: secrets it referenced
        /// that the new one no longer does are deleted (managed mode). With
        /// --batch, per line (`"previous"`).
        #[arg(long, value_name = "FILE", conflicts_with = "batch")]
        previous: Option<PathBuf>,
    },
    /// Reveal a stored config (privileged): decrypt, and resolve references.
    Reveal {
        #[command(flatten)]
        target: Target,
        /// Decrypt only; keep `secret:<id>` references (the form OpenMetadata's
        /// ingestion side resolves itself).
        #[arg(long)]
        keep_references: bool,
    },
    /// Mask every secret field with `*********` (what viewers see).
    Mask(#[command(flatten)] Target),
    /// Merge an update that still holds masks with the stored config.
    Merge {
        #[command(flatten)]
        target: Target,
        /// The stored (sealed) config. With --batch, per line (`"stored"`).
        #[arg(
            long,
            value_name = "FILE",
            required_unless_present = "batch",
            conflicts_with = "batch"
        )]
        stored: Option<PathBuf>,
    },
    /// Delete the entity's secrets from the store (on hard delete).
    Forget(#[command(flatten)] Target),
    /// List the secret fields of a config: pointer, secret id, treatment.
    Fields(#[command(flatten)] Target),
    /// Fernet with the configured key.
    Fernet {
        #[command(subcommand)]
        op: FernetOp,
    },
    /// The loaded plugins: versions, connector types, sha256; `check FILE.wasm`
    /// validates a plugin offline and prints its sha256 for pinning.
    Plugins {
        #[command(subcommand)]
        op: Option<PluginsOp>,
    },
    /// Seal, mask and reveal the bundled example connections on the configured
    /// (by default embedded) store, and show each step.
    Demo,
}

impl Command {
    /// The operation and target of a document command run with `--batch`.
    fn batch(&self) -> Option<(Operation, &Target)> {
        let (op, t) = match self {
            Command::Seal { target, .. } => (Operation::Seal, target),
            Command::Reveal {
                target,
                keep_references,
            } => (
                Operation::Reveal {
                    keep_references: *keep_references,
                },
                target,
            ),
            Command::Mask(t) => (Operation::Mask, t),
            Command::Merge { target, .. } => (Operation::Merge, target),
            Command::Forget(t) => (Operation::Forget, t),
            Command::Fields(t) => (Operation::Fields, t),
            _ => return None,
        };
        t.batch.then_some((op, t))
    }
}

#[derive(Subcommand)]
enum PluginsOp {
    /// Validate a plugin offline (imports, WIT version, connector types, a dry
    /// run on an empty config) and print its sha256 and a `plugins.allow` entry.
    Check {
        /// The component (`.wasm`).
        file: PathBuf,
    },
}

#[derive(Subcommand)]
enum FernetOp {
    /// stdin (text) → `fernet:<token>`.
    Encrypt,
    /// `fernet:<token>` (or a bare token) → text.
    Decrypt,
    /// Print a new key.
    Keygen,
}

fn read_stdin_text() -> Result<String> {
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

fn print_json(v: &impl serde::Serialize) -> Result<()> {
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
    let Value::Object(mut m) = value else {
        return Err(fail(
            "not a JSON object (each line is {\"name\": …, \"document\": {…}})".into(),
        ));
    };
    let allowed: &[&str] = match op {
        Operation::Seal => &["name", "document", "previous"],
        Operation::Merge => &["name", "document", "stored"],
        _ => &["name", "document"],
    };
    if let Some(k) = m.keys().find(|k| !allowed.contains(&k.as_str())) {
        let k: String = k.chars().take(64).collect();
        return Err(fail(format!(
            "unknown key `{}` (this operation takes {})",
            k.escape_debug(),
            allowed.join(", ")
        )));
    }
    let name = match m.shift_remove("name") {
        None | Some(Value::Null) => None,
        Some(Value::String(n)) => Some(n),
        Some(_) => return Err(fail("`name` must be a string".into())),
    };
    let document = m
        .shift_remove("document")
        .ok_or_else(|| fail("no `document`".into()))?;
    let mut optional = |key: &str| match m.shift_remove(key) {
        None | Some(Value::Null) => None,
        Some(v) => Some(v),
    };
    let previous = optional("previous");
    let stored = optional("stored");
    if op == Operation::Merge && stored.is_none() {
        return Err(fail(
            "merge needs the stored (sealed) form of the entity (`stored`)".into(),
        ));
    }
    Ok(BatchItem {
        name,
        document,
        stored,
        previous,
    })
}

/// `--batch`: JSON lines in, one JSON line out per input line, in order.
async fn run_batch(
    manager: &SecretsManager,
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
        let mut results = manager.batch(op, kind, &items).await.into_iter();
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        for p in parsed {
            let line = match p.map(|_| results.next().expect("one result per item")) {
                Ok(Ok(outcome)) => serde_json::to_value(&outcome)?,
                Ok(Err(e)) => serde_json::json!({ "error": Failure::from(&e) }),
                Err(f) => serde_json::json!({ "error": f }),
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

fn init_logging() {
    let mut filter = tracing_subscriber::EnvFilter::try_from_env("OM_SECRETS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    for d in om_secrets::kms::LOG_DIRECTIVES {
        filter = filter.add_directive(d.parse().expect("static log directive"));
    }
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        // Colour codes only on a terminal: a log file or a capture gets plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

async fn run(cli: Cli) -> Result<()> {
    let settings = Settings::load(cli.config.as_deref())?;
    match cli.command {
        Command::Fernet {
            op: FernetOp::Keygen,
        } => {
            println!("{}", FernetKeys::generate_key());
            return Ok(());
        }
        Command::Fernet { op } => {
            let keys = om_secrets::ops::fernet_keys(&settings)?;
            let input = read_stdin_text()?;
            let input = input.strip_suffix('\n').unwrap_or(&input);
            match op {
                FernetOp::Encrypt => println!("{}", keys.encrypt_once(input)),
                FernetOp::Decrypt => println!("{}", &*keys.decrypt(input)?),
                FernetOp::Keygen => unreachable!(),
            }
            return Ok(());
        }
        Command::Plugins {
            op: Some(PluginsOp::Check { file }),
        } => {
            return print_json(&om_secrets::plugin::check_file(&file, &settings)?);
        }
        _ => {}
    }
    let manager = SecretsManager::from_settings(&settings).await?;
    if let Some((op, target)) = cli.command.batch() {
        let kind = target.batch_kind()?;
        return run_batch(&manager, &settings, op, &kind).await;
    }
    match cli.command {
        Command::Seal { target, previous } => {
            let previous = previous.as_deref().map(read_json_file).transpose()?;
            let doc = parse_json(&read_stdin_text()?, "stdin")?;
            let subject = target.subject(&doc)?;
            print_json(
                &manager
                    .seal_update(&subject, previous.as_ref(), &doc)
                    .await?,
            )
        }
        Command::Reveal {
            target,
            keep_references,
        } => {
            let doc = parse_json(&read_stdin_text()?, "stdin")?;
            print_json(
                &manager
                    .reveal(&target.subject(&doc)?, &doc, keep_references)
                    .await?,
            )
        }
        Command::Mask(t) => {
            let doc = parse_json(&read_stdin_text()?, "stdin")?;
            print_json(&manager.mask(&t.subject(&doc)?, &doc)?)
        }
        Command::Merge { target, stored } => {
            let Some(stored) = stored else {
                bail!("merge needs --stored FILE (or --batch)")
            };
            let stored = read_json_file(&stored)?;
            let doc = parse_json(&read_stdin_text()?, "stdin")?;
            print_json(&manager.merge(&target.subject(&doc)?, &stored, &doc)?)
        }
        Command::Forget(t) => {
            let doc = parse_json(&read_stdin_text()?, "stdin")?;
            let deleted = manager.forget(&t.subject(&doc)?, &doc).await?;
            print_json(&serde_json::json!({ "deleted": deleted }))
        }
        Command::Fields(t) => {
            let doc = parse_json(&read_stdin_text()?, "stdin")?;
            print_json(&manager.fields(&t.subject(&doc)?, &doc)?)
        }
        Command::Plugins { .. } => print_json(&manager.plugins().infos().collect::<Vec<_>>()),
        Command::Demo => demo::run(&manager, &settings).await,
        Command::Fernet { .. } => bail!("unreachable"),
    }
}

fn main() {
    init_logging();
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    if let Err(e) = rt.block_on(run(cli)) {
        eprintln!("om-secrets: error: {e:#}");
        std::process::exit(1);
    }
}
