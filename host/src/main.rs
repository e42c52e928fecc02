//! The `om-secrets` command: JSON on stdin, JSON on stdout, errors on stderr,
//! exit status 1 on any error. See `om-secrets --help` and the README.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use om_secrets::config::Settings;
use om_secrets::fernet::FernetKeys;
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
    /// The service's name (secret ids are built from it).
    #[arg(long, requires = "service_type")]
    name: Option<String>,
    /// A bot: stdin is the bot's User entity (isBot, authenticationMechanism).
    #[arg(long, value_name = "NAME", group = "entity")]
    bot: Option<String>,
    /// An ingestion pipeline: stdin is the IngestionPipeline entity (its sourceConfig.config).
    #[arg(long, value_name = "NAME", group = "entity")]
    pipeline: Option<String>,
    /// A test-connection workflow: stdin is the automation Workflow entity.
    #[arg(long, value_name = "NAME", group = "entity")]
    workflow: Option<String>,
}

impl Target {
    fn subject(&self, doc: &Value) -> Result<Subject> {
        Ok(if let Some(st) = &self.service_type {
            Subject::service_for(st, self.name.as_deref(), doc)?
        } else if let Some(name) = &self.bot {
            om_secrets::ops::check_bot(doc)?;
            Subject::bot(Some(name))
        } else if let Some(name) = &self.pipeline {
            Subject::pipeline(Some(name))
        } else if let Some(name) = &self.workflow {
            Subject::workflow(Some(name), doc)?
        } else {
            bail!("name what the input is: --service-type, --bot, --pipeline or --workflow")
        })
    }
}

#[derive(Subcommand)]
enum Command {
    /// Seal a config: store or encrypt every secret field, per the mode.
    Seal {
        #[command(flatten)]
        target: Target,
        /// The entity's previous stored (sealed) form: secrets it referenced
        /// that the new one no longer does are deleted (managed mode).
        #[arg(long, value_name = "FILE")]
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
        /// The stored (sealed) config.
        #[arg(long, value_name = "FILE")]
        stored: PathBuf,
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
