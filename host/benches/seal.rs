//! Discovery + seal of a typical MySQL config: the policy as a sandboxed wasm
//! component (fresh instance per call, memory cap, epoch deadline, answer
//! checked) versus the same policy code compiled natively (same rule table,
//! same answer check, same sealing). Run side by side in one process:
//!
//! ```sh
//! cargo bench -p om-secrets --bench seal
//! ```
//!
//! The README reports the ratio `wasm / native`.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use om_secrets::fernet::FernetKeys;
use om_secrets::ops::Backend;
use om_secrets::plugin::check::{self, CheckedField, Treatment};
use om_secrets::plugin::{Limits, Plugins, Sandbox};
use om_secrets::secret_id::IdBuilder;
use om_secrets::{SecretsManager, Subject};
use om_secrets_plugin_database::RULES;
use serde_json::{Value, json};

/// A typical MySQL service config (~1 KB): basic auth, SSL, options.
fn mysql() -> Value {
    json!({
        "type": "Mysql",
        "scheme": "mysql+pymysql",
        "username": "openmetadata_user",
        "authType": {"password": "s3cr3t-Pa55w0rd"},
        "hostPort": "mysql.prod.internal:3306",
        "databaseName": "sales",
        "databaseSchema": "public",
        "sslConfig": {
            "caCertificate": "-----BEGIN CERTIFICATE-----\nMIIDdzCCAl+gAwIBAgIEAgAAuTANBgkqhkiG9w0BAQUFADBaMQswCQYDVQQGEwJJ\n-----END CERTIFICATE-----\n",
            "sslCertificate": "-----BEGIN CERTIFICATE-----\nMIIDdzCCAl+gAwIBAgIEAgAAuTANBgkqhkiG9w0BAQUFADBaMQswCQYDVQQGEwJJ\n-----END CERTIFICATE-----\n",
            "sslKey": "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj\n-----END PRIVATE KEY-----\n"
        },
        "connectionOptions": {"ssl_mode": "REQUIRED", "charset": "utf8mb4"},
        "connectionArguments": {"connect_timeout": "10", "read_timeout": "30"},
        "schemaFilterPattern": {"includes": ["sales.*"], "excludes": ["^information_schema$", "^performance_schema$"]},
        "supportsMetadataExtraction": true,
        "supportsDBTExtraction": true,
        "supportsProfiler": true,
        "supportsQueryComment": true
    })
}

/// `db`-mode sealing of checked fields: what both arms share.
fn seal_fields(keys: &FernetKeys, config: &Value, fields: &[CheckedField]) -> Value {
    let mut out = config.clone();
    for f in fields.iter().filter(|f| f.treatment == Treatment::Secret) {
        if let Some(Value::String(s)) = out.pointer_mut(&f.pointer) {
            *s = keys.encrypt_once(s);
        }
    }
    out
}

fn bench(c: &mut Criterion) {
    let keys = FernetKeys::parse(&FernetKeys::generate_key()).unwrap();
    let sandbox = Sandbox::new(Limits::default()).unwrap();
    let bytes = om_secrets::plugin::registry::builtin()
        .iter()
        .find(|(n, _)| *n == "database")
        .unwrap()
        .1;
    let mut plugins = Plugins::new();
    plugins
        .add_bytes(&sandbox, None, bytes, "builtin:database")
        .unwrap();
    let plugin = plugins.route("database", "Mysql").unwrap();
    let config = mysql();
    let max = Limits::default().max_fields;

    // Both arms must agree before they are compared.
    let native_fields = {
        let found = RULES.discover_value("Mysql", &config).unwrap();
        let answer = found
            .into_iter()
            .map(|f| (f.pointer, f.segments, Treatment::Secret))
            .collect();
        check::check(&config, answer, max).unwrap()
    };
    assert_eq!(plugin.discover("Mysql", &config).unwrap(), native_fields);

    let mut g = c.benchmark_group("discover+seal mysql");
    g.bench_function("wasm plugin (sandboxed)", |b| {
        b.iter(|| {
            let fields = plugin.discover("Mysql", black_box(&config)).unwrap();
            black_box(seal_fields(&keys, &config, &fields))
        })
    });
    g.bench_function("native (same policy code)", |b| {
        b.iter(|| {
            // The same work the plugin does: serialise, parse, walk, check.
            let text = black_box(&config).to_string();
            let found = RULES.discover("Mysql", &text).unwrap();
            let answer = found
                .into_iter()
                .map(|f| (f.pointer, f.segments, Treatment::Secret))
                .collect();
            let fields = check::check(&config, answer, max).unwrap();
            black_box(seal_fields(&keys, &config, &fields))
        })
    });
    g.finish();

    // The whole operation as the CLI runs it (db mode, no I/O), for reference.
    let manager = SecretsManager::new(
        Backend::Db,
        keys,
        IdBuilder::new("", "openmetadata"),
        Arc::new(plugins),
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let subject = Subject::service("database", Some("mysql-bench")).unwrap();
    c.bench_function("SecretsManager::seal mysql (db mode)", |b| {
        b.iter(|| {
            rt.block_on(manager.seal(&subject, black_box(&config)))
                .unwrap()
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
