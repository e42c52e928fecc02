//! The `om-secrets` command: JSON on stdin, JSON on stdout, errors on stderr,
//! exit status 1 on any error. See `om-secrets --help` and the README.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use om_secrets::SecretsManager;
use om_secrets::config::Settings;
use om_secrets::fernet::FernetKeys;
use om_secrets::ops::Operation;

use cli::documents::{self, Target, print_json, read_stdin_text};

mod cli;
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
    /// Run document commands (seal, reveal, mask, merge, forget, fields) on a
    /// running `om-secrets serve` at URL instead of in this process; the
    /// bearer token comes from --token-file or OM_SECRETS_TOKEN.
    #[arg(long, global = true, value_name = "URL")]
    server: Option<String>,
    /// With --server: a file holding the bearer token (an API key or an
    /// OpenMetadata JWT). Without it, the token is OM_SECRETS_TOKEN's value.
    #[arg(long, global = true, value_name = "FILE", requires = "server")]
    token_file: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
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
    /// Move every secret of an OpenMetadata database (`db`-mode `fernet:`
    /// values) into the configured managed store: services, bot users,
    /// ingestion pipelines, workflows. Resumable, idempotent, crash-safe.
    /// Exit status 1 if any row was skipped (the report lists them).
    Migrate(Box<DbRun>),
    /// Re-encrypt every `fernet:` value of those tables with the first key of
    /// FERNET_KEY (`new,old`: the others only decrypt); afterwards the old
    /// key can be dropped.
    Rotate(Box<DbRun>),
    /// Serve the document commands over HTTP (see the README's "Serving over
    /// HTTP"): the `server:` block of --config sets keys, roles and limits;
    /// with none, an admin API key is made in the data directory.
    Serve {
        /// Address and port to listen on (default 127.0.0.1:8590; also
        /// OM_SECRETS_LISTEN or `server.listen`). Port 0 picks a free one.
        #[arg(long, value_name = "ADDR")]
        listen: Option<String>,
    },
}

/// The options of `migrate` and `rotate`.
#[derive(Args)]
struct DbRun {
    /// `postgres://user:password@host:port/db` or `mysql://…` (MySQL 8,
    /// MariaDB). Also read from OM_SECRETS_DATABASE_URL, which keeps the
    /// password out of the process list.
    #[arg(
        long,
        value_name = "URL",
        env = "OM_SECRETS_DATABASE_URL",
        hide_env_values = true
    )]
    database_url: String,
    /// Count what would change (per table and service type); write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Only these tables (comma-separated), e.g. `dbservice_entity,user_entity`.
    #[arg(long, value_name = "TABLE,…", value_delimiter = ',')]
    only: Option<Vec<String>>,
    /// Ignore the checkpoint of an interrupted run; start over.
    #[arg(long)]
    restart: bool,
    /// Rows per page (one plugin batch and one checkpoint per page).
    #[arg(long, value_name = "N", default_value_t = 100)]
    page_size: usize,
    /// Write the summary as JSON to FILE (rows read, migrated, unchanged,
    /// skipped with table, id and reason, secrets written, orphans).
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
}

/// `migrate`/`rotate`: run, print the summary on stderr, write `--report`;
/// an error if any row was skipped or a secret orphaned.
async fn run_db(settings: &Settings, rotate: bool, args: DbRun) -> Result<()> {
    use om_secrets::migrate::{self, MigrateOptions, Progress};
    let opts = MigrateOptions {
        database_url: args.database_url,
        dry_run: args.dry_run,
        only: args.only,
        restart: args.restart,
        page_size: args.page_size,
    };
    let progress: Box<dyn Progress> = if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        Box::new(migrate::Bar::new())
    } else {
        Box::new(migrate::Lines::new(std::time::Duration::from_secs(5)))
    };
    let report = if rotate {
        let Some(keys) = settings.fernet_key.as_deref() else {
            bail!("rotate needs FERNET_KEY (or fernetKey): the new key first, then the old ones");
        };
        migrate::rotate(keys, &opts, progress.as_ref()).await?
    } else {
        let manager = SecretsManager::from_settings(settings).await?;
        migrate::migrate(&manager, &opts, progress.as_ref()).await?
    };
    eprintln!("{}", report.summary());
    if let Some(path) = &args.report {
        let text = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, text + "\n")
            .with_context(|| format!("writing the report {}", path.display()))?;
    }
    if !report.is_clean() {
        bail!(
            "{} rows skipped, {} orphaned secrets (listed above{})",
            report.skipped.len(),
            report.orphans.len(),
            if args.report.is_some() {
                " and in the report"
            } else {
                ""
            }
        );
    }
    Ok(())
}

impl Command {
    /// A document command as a request for [`documents::run`]; any other
    /// command back (boxed: a command is large next to a request).
    fn document(self) -> std::result::Result<documents::Request, Box<Command>> {
        let (op, target, previous, stored) = match self {
            Command::Seal { target, previous } => (Operation::Seal, target, previous, None),
            Command::Reveal {
                target,
                keep_references,
            } => (Operation::Reveal { keep_references }, target, None, None),
            Command::Mask(t) => (Operation::Mask, t, None, None),
            Command::Merge { target, stored } => (Operation::Merge, target, None, stored),
            Command::Forget(t) => (Operation::Forget, t, None, None),
            Command::Fields(t) => (Operation::Fields, t, None, None),
            other => return Err(Box::new(other)),
        };
        Ok(documents::Request {
            op,
            target,
            previous,
            stored,
        })
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
    let command = match cli.command.document() {
        Ok(request) => {
            let remote = cli
                .server
                .as_deref()
                .map(|url| documents::client(url, cli.token_file.as_deref()))
                .transpose()?;
            return documents::run(request, &settings, remote).await;
        }
        Err(other) => *other,
    };
    if cli.server.is_some() {
        bail!(
            "--server works with the document commands only (seal, reveal, mask, merge, forget, fields)"
        );
    }
    match command {
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
        Command::Migrate(args) => return run_db(&settings, false, *args).await,
        Command::Rotate(args) => return run_db(&settings, true, *args).await,
        Command::Serve { listen } => return serve(settings, cli.config.as_deref(), listen).await,
        _ => {}
    }
    let manager = SecretsManager::from_settings(&settings).await?;
    match command {
        Command::Plugins { .. } => print_json(&manager.plugins().infos().collect::<Vec<_>>()),
        Command::Demo => demo::run(&manager, &settings).await,
        Command::Fernet { .. }
        | Command::Migrate(_)
        | Command::Rotate(_)
        | Command::Serve { .. }
        | Command::Seal { .. }
        | Command::Reveal { .. }
        | Command::Mask(_)
        | Command::Merge { .. }
        | Command::Forget(_)
        | Command::Fields(_) => bail!("unreachable"),
    }
}

/// `om-secrets serve`: the server's own config block, then the library's server.
async fn serve(
    settings: Settings,
    config: Option<&std::path::Path>,
    listen: Option<String>,
) -> Result<()> {
    let mut server = om_secrets::server::ServerConfig::load(config)?;
    if let Some(l) = listen {
        server.listen = Some(
            l.trim()
                .parse()
                .with_context(|| format!("--listen `{l}` is not an address and port"))?,
        );
    }
    // With migrateOnStart, the library's server migrates before it turns
    // ready (and stops if the migration fails).
    om_secrets::server::run(settings, server).await?;
    Ok(())
}

fn main() {
    init_logging();
    let cli = Cli::parse();
    // The server answers many requests at once: a thread per core.
    let rt = if matches!(cli.command, Command::Serve { .. }) {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    }
    .enable_all()
    .build()
    .expect("tokio runtime");
    if let Err(e) = rt.block_on(run(cli)) {
        eprintln!("om-secrets: error: {e:#}");
        std::process::exit(1);
    }
}
