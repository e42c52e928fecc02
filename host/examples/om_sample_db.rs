//! Load a sample OpenMetadata-shaped database for `om-secrets migrate`:
//! OpenMetadata's tables with rows sealed in `db` mode (`fernet:` values in
//! place) by om-secrets itself — every connector variant of the committed
//! manifest as a service, bots, dbt pipelines, workflows, human users.
//!
//! ```sh
//! FERNET_KEY=$(om-secrets fernet keygen) \
//!   cargo run -p om-secrets --example om-sample-db -- --database-url postgres://… [--services 10000]
//! ```
//!
//! The same `FERNET_KEY` must then be given to `om-secrets migrate`.

#[path = "../../tests/all/migrate_sample.rs"]
mod sample;

use std::path::Path;

use om_secrets::SecretsManager;
use om_secrets::config::{FileConfig, Settings};

fn main() {
    let mut args = std::env::args().skip(1);
    let (mut url, mut services, mut others) = (None, None, true);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--database-url" => url = args.next(),
            "--services" => services = args.next().and_then(|n| n.parse().ok()),
            "--services-only" => others = false,
            _ => {
                eprintln!(
                    "usage: om-sample-db --database-url URL [--services N] [--services-only]\n\
                     (FERNET_KEY must be set: the key `om-secrets migrate` will decrypt with)"
                );
                std::process::exit(2);
            }
        }
    }
    let url = url
        .or_else(|| std::env::var("OM_SECRETS_DATABASE_URL").ok())
        .unwrap_or_else(|| {
            eprintln!("om-sample-db: --database-url URL (or OM_SECRETS_DATABASE_URL) is required");
            std::process::exit(2)
        });
    if std::env::var("FERNET_KEY").is_err() {
        eprintln!("om-sample-db: set FERNET_KEY (e.g. FERNET_KEY=$(om-secrets fernet keygen))");
        std::process::exit(2);
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let settings = Settings::resolve(FileConfig::default(), |k| match k {
        // Rows as an OpenMetadata server in `db` mode stores them.
        "SECRET_MANAGER" => Some("db".into()),
        _ => std::env::var(k).ok(),
    })
    .unwrap_or_else(|e| {
        eprintln!("om-sample-db: {e}");
        std::process::exit(1)
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let manager = SecretsManager::from_settings(&settings).await.unwrap();
        let shape = sample::Shape {
            services,
            others,
            ..sample::Shape::default()
        };
        let rows = sample::corpus(repo, &shape);
        let stored = sample::seal(&manager, &rows).await;
        sample::create_tables(repo, &url).await;
        sample::insert(&url, &rows, &stored).await;
        let mut per: std::collections::BTreeMap<&str, usize> = Default::default();
        for r in &rows {
            *per.entry(r.table).or_default() += 1;
        }
        for (t, n) in per {
            println!("{t:<28} {n:>6} rows");
        }
        println!(
            "loaded {} rows into {}",
            rows.len(),
            om_secrets::migrate::redact(&url)
        );
    });
}
