//! Which plugins may load: grants and sha256 pins, connector-type claims, no
//! ambient authority (WASI imports), WIT versions, the development flag, and
//! `om-secrets plugins check FILE.wasm`. Every refusal happens at start-up,
//! before any command runs, and names the plugin and the reason.

use std::path::{Path, PathBuf};

use om_secrets::plugin::cache::ComponentCache;
use om_secrets::plugin::sandbox::{LoadedPlugin, Trust, check_interface};
use om_secrets::plugin::{PluginFailure, Plugins, Refusal, Sandbox, compatible};
use serde_json::{Value, json};

use crate::plugins_fixtures::{fixture, fixture_bytes, sha256_of, test_limits};
use crate::util::{Om, shared_cache};

/// An installation whose plugin directory holds the given fixtures (as
/// `<name>.wasm`), with `plugins:` settings written by `grants`.
struct Setup {
    om: Om,
    dir: PathBuf,
}

impl Setup {
    fn new(fixtures: &[&str]) -> Self {
        let om = Om::new();
        let dir = om.home.path().join("plugins");
        std::fs::create_dir_all(&dir).unwrap();
        for f in fixtures {
            std::fs::copy(fixture(f), dir.join(format!("{f}.wasm"))).unwrap();
        }
        Setup { om, dir }
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.wasm"))
    }

    /// `- {file: <name>.wasm, sha256: <its digest>}` plus `extra` keys.
    fn pin(&self, name: &str, extra: &str) -> String {
        format!(
            "    - {{file: {name}.wasm, sha256: {}{extra}}}\n",
            sha256_of(&self.file(name))
        )
    }

    /// Write the config: the `plugins:` body (indented lines after `allow:`
    /// or other keys) is given whole.
    fn config(&self, plugins_body: &str) -> String {
        let cfg = self.om.home.path().join("om-secrets.yaml");
        std::fs::write(
            &cfg,
            format!(
                "plugins:\n  directory: {}\n{plugins_body}",
                self.dir.display()
            ),
        )
        .unwrap();
        cfg.display().to_string()
    }

    fn run(&self, cfg: &str, args: &[&str], stdin: &str) -> crate::util::Run {
        let mut a = vec!["--config", cfg];
        a.extend_from_slice(args);
        self.om.run(&a, stdin)
    }

    fn plugins(&self, cfg: &str) -> crate::util::Run {
        self.run(cfg, &["plugins"], "")
    }
}

fn error_line(stderr: &str) -> &str {
    stderr
        .lines()
        .find(|l| l.starts_with("om-secrets: error: "))
        .unwrap_or_else(|| panic!("no error line in: {stderr}"))
}

fn loaded<'a>(list: &'a Value, name: &str) -> Option<&'a Value> {
    list.as_array().unwrap().iter().find(|p| p["name"] == name)
}

#[test]
fn plugins_unlisted_plugin_is_refused_at_start_up() {
    let s = Setup::new(&["hostile"]);
    let cfg = s.config("");
    let r = s.plugins(&cfg);
    let digest = sha256_of(&s.file("hostile"));
    assert_eq!(
        error_line(r.err()),
        format!(
            "om-secrets: error: plugin `{}`: refused at load: not listed in plugins.allow (its sha256 is {digest}); \
             pin it with `- {{file: hostile.wasm, sha256: {digest}}}`, or set plugins.allowUnpinned for development",
            s.file("hostile").display()
        )
    );
    // Every command starts the same way: nothing runs.
    let r = s.run(
        &cfg,
        &["mask", "--service-type", "database"],
        r#"{"type":"Mysql","password":"p"}"#,
    );
    assert!(r.err().contains("not listed in plugins.allow"));
}

#[test]
fn plugins_pinned_plugin_loads_and_serves() {
    let s = Setup::new(&["hostile"]);
    let cfg = s.config(&format!(
        "  allow:\n{}",
        s.pin("hostile", ", name: hostile, serviceType: hostile")
    ));
    let list = s.plugins(&cfg).json();
    let p = loaded(&list, "hostile").expect("hostile is loaded");
    assert_eq!(p["trust"], "pinned");
    assert_eq!(p["sha256"], sha256_of(&s.file("hostile")));
    assert_eq!(p["witVersion"], "0.1.0");
    assert_eq!(loaded(&list, "database").unwrap()["trust"], "builtin");
    let fields = s
        .run(
            &cfg,
            &["fields", "--service-type", "hostile"],
            r#"{"type":"Good","password":"p"}"#,
        )
        .json();
    assert_eq!(fields[0]["pointer"], "/password");
}

#[test]
fn plugins_tampered_digest_is_refused_at_start_up() {
    let s = Setup::new(&["hostile"]);
    let pinned = sha256_of(&s.file("hostile"));
    let cfg = s.config(&format!("  allow:\n{}", s.pin("hostile", "")));
    // One byte changed after pinning (here: in the last custom section).
    let mut bytes = std::fs::read(s.file("hostile")).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    std::fs::write(s.file("hostile"), &bytes).unwrap();
    let actual = sha256_of(&s.file("hostile"));
    let r = s.plugins(&cfg);
    assert_eq!(
        error_line(r.err()),
        format!(
            "om-secrets: error: plugin `{}`: refused at load: sha256 mismatch: plugins.allow pins {pinned}, the file is {actual}",
            s.file("hostile").display()
        )
    );
    // The pin is checked before the bytes are parsed: garbage is reported as
    // a mismatch, not as an invalid component.
    std::fs::write(s.file("hostile"), b"not even wasm").unwrap();
    let r = s.plugins(&cfg);
    assert!(error_line(r.err()).contains(&format!("sha256 mismatch: plugins.allow pins {pinned}")));
}

#[test]
fn plugins_claiming_another_plugins_connector_type_is_refused_at_start_up() {
    let s = Setup::new(&["claimer"]);
    let cfg = s.config(&format!("  allow:\n{}", s.pin("claimer", "")));
    let r = s.plugins(&cfg);
    assert_eq!(
        error_line(r.err()),
        format!(
            "om-secrets: error: plugin `{}`: refused at load: claims connector type `Mysql` of service type `database`, \
             already served by plugin `database` (builtin:database)",
            s.file("claimer").display()
        )
    );
    // Without the built-in database plugin, the claim is the only one: it loads.
    let cfg = s.config(&format!(
        "  builtin: [dashboard]\n  allow:\n{}",
        s.pin("claimer", "")
    ));
    let list = s.plugins(&cfg).json();
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert_eq!(
        loaded(&list, "claimer").unwrap()["connectorTypes"],
        json!(["Mysql"])
    );
}

#[test]
fn plugins_connector_types_outside_the_grant_are_refused() {
    let s = Setup::new(&["hostile"]);
    let cfg = s.config(&format!(
        "  allow:\n{}",
        s.pin("hostile", ", connectorTypes: [Good]")
    ));
    let r = s.plugins(&cfg);
    assert_eq!(
        error_line(r.err()),
        format!(
            "om-secrets: error: plugin `{}`: refused at load: claims connector type `Loop`, which plugins.allow does not grant it (granted: Good)",
            s.file("hostile").display()
        )
    );
    let cfg = s.config(&format!("  allow:\n{}", s.pin("hostile", ", name: acme")));
    assert!(
        error_line(s.plugins(&cfg).err())
            .ends_with("refused at load: declares name `hostile`, but plugins.allow grants `acme`")
    );
}

#[test]
fn plugins_importing_wasi_is_refused_naming_the_imports() {
    let s = Setup::new(&["wasi"]);
    let cfg = s.config(&format!("  allow:\n{}", s.pin("wasi", "")));
    let r = s.plugins(&cfg);
    let line = error_line(r.err());
    let prefix = format!(
        "om-secrets: error: plugin `{}`: refused at load: imports `wasi:",
        s.file("wasi").display()
    );
    assert!(line.starts_with(&prefix), "{line}");
    assert!(
        line.ends_with(
            ", which the host does not offer (a plugin may import only omsecrets:policy/log)"
        ),
        "{line}"
    );
    for import in [
        "wasi:cli/environment@",
        "wasi:filesystem/types@",
        "wasi:filesystem/preopens@",
    ] {
        assert!(
            line.contains(&format!("`{import}")),
            "{import} not named in {line}"
        );
    }
    assert!(!line.contains("`omsecrets:policy/log@"), "{line}");

    // The same, typed, through the library.
    let sandbox = Sandbox::new(test_limits()).unwrap();
    let component =
        wasmtime::component::Component::new(sandbox.engine(), fixture_bytes("wasi")).unwrap();
    let Err(Refusal::Imports { imports }) = check_interface(sandbox.engine(), &component) else {
        panic!()
    };
    assert!(imports.len() >= 10, "{imports:?}");
    assert!(
        imports.iter().all(|i| i.starts_with("wasi:")),
        "{imports:?}"
    );
}

#[test]
fn plugins_wit_versions_are_checked_naming_both() {
    // Built against a frozen copy of the compatible WIT: loads and serves.
    let s = Setup::new(&["wit-0-1-0"]);
    let cfg = s.config(&format!("  allow:\n{}", s.pin("wit-0-1-0", "")));
    let list = s.plugins(&cfg).json();
    assert_eq!(
        loaded(&list, "fixture-wit-0-1-0").unwrap()["witVersion"],
        "0.1.0"
    );
    let r = s.run(
        &cfg,
        &["fields", "--service-type", "frozen"],
        r#"{"type":"Frozen","password":"p"}"#,
    );
    assert_eq!(r.json()[0]["pointer"], "/password");
    // Its `log` import is linked to the host's log.
    assert!(
        r.stderr
            .lines()
            .any(|l| l.contains("WARN frozen fixture: discovering plugin=\"fixture-wit-0-1-0\"")),
        "{}",
        r.stderr
    );

    for (name, version) in [
        ("wit-0-1-1", "0.1.1"),
        ("wit-0-2-0", "0.2.0"),
        ("wit-1-0-0", "1.0.0"),
    ] {
        let s = Setup::new(&[name]);
        let cfg = s.config(&format!("  allow:\n{}", s.pin(name, "")));
        let r = s.plugins(&cfg);
        assert_eq!(
            error_line(r.err()),
            format!(
                "om-secrets: error: plugin `{}`: refused at load: built against omsecrets:policy@{version}, \
                 but this host implements omsecrets:policy@0.1.0 (it loads plugins built against 0.1.0 to 0.1.0)",
                s.file(name).display()
            )
        );
    }
}

#[test]
fn plugins_host_rule_for_wit_versions() {
    // The rule the frozen fixtures exercise, at its boundaries: a host keeps
    // loading plugins built against an older version of its line.
    let sandbox = Sandbox::new(test_limits()).unwrap();
    let component =
        wasmtime::component::Component::new(sandbox.engine(), fixture_bytes("wit-0-1-0")).unwrap();
    let (version, imports) = check_interface(sandbox.engine(), &component).unwrap();
    assert_eq!(version, "0.1.0");
    // An older plugin that logs imports `log@0.1.0`, and links on this host.
    assert_eq!(
        imports,
        vec!["omsecrets:policy/types@0.1.0", "omsecrets:policy/log@0.1.0"]
    );
    assert!(
        compatible("0.1.0", "0.1.1"),
        "a 0.1.1 host loads a 0.1.0 plugin"
    );
    assert!(compatible("0.1.0", "0.1.9"));
    assert!(
        !compatible("0.1.1", "0.1.0"),
        "a plugin newer than the host is refused"
    );
    assert!(
        !compatible("0.1.0", "0.2.0"),
        "0.x minor versions are breaking"
    );
    assert!(
        compatible("1.0.0", "1.3.0"),
        "from 1.0, a newer minor host loads older plugins"
    );
    assert!(!compatible("1.0.0", "2.0.0"));
}

#[test]
fn plugins_allow_unpinned_relaxes_pinning_loudly() {
    let s = Setup::new(&["hostile"]);
    let cfg = s.config("  allowUnpinned: true\n");
    let r = s.plugins(&cfg);
    let list = r.json();
    assert_eq!(loaded(&list, "hostile").unwrap()["trust"], "unpinned");
    assert!(
        r.stderr
            .contains("plugins.allowUnpinned is set: plugin pinning is RELAXED"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains(&format!(
            "loading UNPINNED plugin {}",
            s.file("hostile").display()
        )),
        "{}",
        r.stderr
    );
    // A pin that is written is still enforced.
    let cfg = s.config(&format!(
        "  allowUnpinned: true\n  allow:\n    - {{file: hostile.wasm, sha256: {}}}\n",
        "0".repeat(64)
    ));
    assert!(error_line(s.plugins(&cfg).err()).contains("sha256 mismatch"));
    // Without the flag, a grant without sha256 is a configuration error.
    let cfg = s.config("  allow:\n    - {file: hostile.wasm}\n");
    assert!(error_line(s.plugins(&cfg).err()).contains("plugins.allow[0]: sha256 is required"));
}

fn check(om: &Om, file: &Path) -> crate::util::Run {
    om.run(&["plugins", "check", &file.display().to_string()], "")
}

#[test]
fn plugins_check_prints_the_digest_and_the_dry_run() {
    let om = Om::new();
    let file = fixture("claimer");
    let report = check(&om, &file).json();
    assert_eq!(report["sha256"], sha256_of(&file));
    assert_eq!(report["name"], "claimer");
    assert_eq!(report["serviceType"], "database");
    assert_eq!(report["connectorTypes"], json!(["Mysql"]));
    assert_eq!(report["witVersion"], "0.1.0");
    assert_eq!(
        report["imports"],
        json!(["omsecrets:policy/types@0.1.0", "omsecrets:policy/log@0.1.0"])
    );
    assert_eq!(
        report["dryRun"],
        json!([{"connectorType": "Mysql", "fields": 0}])
    );
    assert_eq!(
        report["conflicts"],
        json!(["database/Mysql (built-in plugin `database`)"])
    );
    assert_eq!(report["allow"]["sha256"], sha256_of(&file));
    assert_eq!(report["allow"]["file"], "fixture_claimer.wasm");
}

#[test]
fn plugins_check_fails_on_hostile_plugins() {
    let om = Om::new();
    let cfg = om.home.path().join("om-secrets.yaml");
    std::fs::write(&cfg, "limits: {timeMs: 500}\n").unwrap();
    let cfg = cfg.display().to_string();
    // The dry run meets the loop.
    let r = om.run(
        &[
            "--config",
            &cfg,
            "plugins",
            "check",
            &fixture("hostile").display().to_string(),
        ],
        "",
    );
    assert_eq!(
        error_line(r.err()),
        "om-secrets: error: plugin `hostile`: timed out after 500 ms"
    );
    let r = check(&om, &fixture("wasi"));
    assert!(error_line(r.err()).contains("refused at load: imports `wasi:"));
    let r = check(&om, &fixture("wit-0-2-0"));
    assert!(error_line(r.err()).contains(
        "built against omsecrets:policy@0.2.0, but this host implements omsecrets:policy@0.1.0"
    ));
    let not_wasm = om.home.path().join("x.wasm");
    std::fs::write(&not_wasm, b"\0asm garbage").unwrap();
    assert!(
        error_line(check(&om, &not_wasm).err()).contains("refused at load: not a valid component")
    );
}

#[test]
fn plugins_service_types_differing_only_by_case_are_the_same() {
    // `Database` is `database` (ids are lower-cased: it would write the
    // built-in's ids): claiming its `Mysql` is refused at start-up.
    let s = Setup::new(&["casefold"]);
    let cfg = s.config(&format!("  allow:\n{}", s.pin("casefold", "")));
    let r = s.plugins(&cfg);
    assert_eq!(
        error_line(r.err()),
        format!(
            "om-secrets: error: plugin `{}`: refused at load: claims connector type `Mysql` of service type `Database`, \
             already served by plugin `database` (builtin:database)",
            s.file("casefold").display()
        )
    );
    // `plugins check` says so before it is granted.
    let report = check(&s.om, &fixture("casefold")).json();
    assert_eq!(report["serviceType"], "Database");
    assert_eq!(
        report["conflicts"],
        json!(["Database/Mysql (built-in plugin `database`)"])
    );
    // Without the built-in, it serves `database` under either spelling.
    let cfg = s.config(&format!(
        "  builtin: [dashboard]\n  allow:\n{}",
        s.pin("casefold", "")
    ));
    for st in ["database", "Database", "DATABASE"] {
        let fields = s
            .run(
                &cfg,
                &["fields", "--service-type", st, "--name", "n"],
                r#"{"type":"Mysql","password":"p"}"#,
            )
            .json();
        assert_eq!(
            fields,
            json!([{"pointer": "/password", "secretId": "/openmetadata/database/n/password", "treatment": "secret"}]),
            "{st}"
        );
    }
}

/// A fresh set of the built-in plugins, and a loader of the `claimer` fixture
/// as a directory plugin declaring any service type and connector types.
fn builtins_and_claimer() -> (Plugins, impl Fn(&str, &str, &[&str]) -> LoadedPlugin) {
    let sandbox = Sandbox::new(test_limits()).unwrap();
    let cache = ComponentCache::new(shared_cache().join("components"));
    let mut set = Plugins::new();
    for (name, bytes) in om_secrets::plugin::registry::builtin() {
        set.add_bytes(&sandbox, Some(&cache), bytes, &format!("builtin:{name}"))
            .unwrap();
    }
    let bytes = fixture_bytes("claimer");
    let load = move |name: &str, service_type: &str, connector_types: &[&str]| {
        let mut p = sandbox.load(&bytes, "claimer.wasm", Some(&cache)).unwrap();
        assert_eq!(p.info.trust, Trust::Pinned);
        p.info.name = name.into();
        p.info.service_type = service_type.into();
        p.info.connector_types = connector_types.iter().map(|c| c.to_string()).collect();
        p
    };
    (set, load)
}

fn refusal(e: om_secrets::Error) -> Refusal {
    match e {
        om_secrets::Error::Plugin {
            reason: PluginFailure::Refused(r),
            ..
        } => r,
        other => panic!("expected a refusal at load, got {other:?}"),
    }
}

#[test]
fn plugins_claims_compare_service_and_connector_types_case_insensitively() {
    let (mut set, load) = builtins_and_claimer();
    for (st, ct) in [
        ("Database", "Mysql"),
        ("DATABASE", "Mysql"),
        ("database", "MYSQL"),
        ("dAtAbAsE", "mysql"),
        ("Messaging", "kafka"),
    ] {
        let r = refusal(set.add(load("acme", st, &["AcmeDb", ct])).unwrap_err());
        let Refusal::Claimed {
            service_type,
            connector_type,
            owner,
            ..
        } = r
        else {
            panic!("{st}/{ct}: {r:?}")
        };
        assert_eq!((service_type.as_str(), connector_type.as_str()), (st, ct));
        assert_eq!(owner, st.to_ascii_lowercase());
    }
    // A name is taken whatever its case.
    let r = refusal(set.add(load("DATABASE", "acme", &["AcmeDb"])).unwrap_err());
    assert!(
        matches!(&r, Refusal::BadDescription(m) if m.contains("`DATABASE` is already taken")),
        "{r:?}"
    );
    // A new connector type of `Database` loads, and routes under any case of
    // the service type; `Mysql` still routes to the built-in.
    set.add(load("acme", "Database", &["AcmeDb"])).unwrap();
    for st in ["database", "Database", "DATABASE"] {
        assert_eq!(set.route(st, "AcmeDb").unwrap().info.name, "acme");
        assert_eq!(set.route(st, "Mysql").unwrap().info.name, "database");
    }
    assert!(
        set.connector_types("DATABASE")
            .contains(&"AcmeDb".to_string())
    );
    assert_eq!(
        set.service_types()
            .iter()
            .filter(|s| s.eq_ignore_ascii_case("database"))
            .count(),
        1
    );
}

#[test]
fn plugins_may_not_declare_the_hosts_other_entity_kinds() {
    let (mut set, load) = builtins_and_claimer();
    for (st, kind) in [
        ("bot", "bot"),
        ("Bot", "bot"),
        ("BOT", "bot"),
        ("workflow", "workflow"),
        ("Workflow", "workflow"),
        ("WORKFLOW", "workflow"),
    ] {
        // A connector type nothing else serves: only the service type is wrong.
        let r = refusal(set.add(load("acme", st, &["Oauth2New"])).unwrap_err());
        assert_eq!(
            r,
            Refusal::ReservedServiceType {
                service_type: st.into(),
                kind: kind.into()
            },
            "{st}"
        );
    }
    // `pipeline` is also OpenMetadata's pipeline service type: a third-party
    // pipeline connector loads, under any case.
    set.add(load("acme", "Pipeline", &["AcmePipe"])).unwrap();
    assert_eq!(set.route("pipeline", "AcmePipe").unwrap().info.name, "acme");
    // The built-in `bot` plugin is the one that serves bots.
    assert_eq!(set.route("bot", "JWT").unwrap().info.name, "bot");

    // End to end: start-up and `plugins check` refuse such a file.
    let s = Setup::new(&["botlike"]);
    let cfg = s.config(&format!("  allow:\n{}", s.pin("botlike", "")));
    let expected = |file: &Path| {
        format!(
            "om-secrets: error: plugin `{}`: refused at load: declares service type `Bot`, the kind of the host's `bot` entities \
             (their secret ids live under `/…/bot/<name>/`): a plugin from plugins.directory may not serve it",
            file.display()
        )
    };
    assert_eq!(
        error_line(s.plugins(&cfg).err()),
        expected(&s.file("botlike"))
    );
    let file = fixture("botlike");
    assert_eq!(error_line(check(&s.om, &file).err()), expected(&file));
}

/// A component file over 32 MiB is refused by its size, pinned or not,
/// at start-up and by `plugins check`, naming the file.
#[test]
fn plugins_component_files_over_32_mib_are_refused() {
    let s = Setup::new(&["claimer"]);
    let mut big = std::fs::read(s.file("claimer")).unwrap();
    big.resize((32 << 20) + 1, 0);
    std::fs::write(s.file("claimer"), &big).unwrap();
    let cfg = s.config(&format!("  allow:\n{}", s.pin("claimer", "")));
    let r = s.plugins(&cfg);
    let line = error_line(r.err());
    assert!(
        line.contains("claimer.wasm")
            && line.ends_with("the component is 33554433 bytes, over the limit of 33554432 bytes"),
        "{line}"
    );
    let r = check(&s.om, &s.file("claimer"));
    let line = error_line(r.err());
    assert!(
        line.ends_with("the component is 33554433 bytes, over the limit of 33554432 bytes"),
        "{line}"
    );
}
