//! The hostile-plugin suite: a plugin that loops, hoards memory, recurses,
//! panics, lies about pointers, floods the host or keeps state fails that one
//! call with a typed error naming it and the reason, and the host then serves
//! the next call normally (same plugin, fresh instance; and a built-in one).
//! Failing closed: a failing plugin makes `seal` write nothing and `mask`
//! return nothing. Fixtures: `tests/fixtures/plugins/hostile`.

use std::time::{Duration, Instant};

use om_secrets::Error;
use om_secrets::plugin::{PluginFailure, Plugins};
use serde_json::{Value, json};

use crate::plugins_fixtures::{
    HANG_MS, TEST_TIME_MS, fixture, hostile_set, manual_time_set, sha256_of,
};
use crate::util::Om;

const SECRET: &str = "hunter2-very-secret";

/// A config for one behaviour of the hostile plugin.
fn config(mode: &str) -> Value {
    json!({
        "type": mode,
        "password": SECRET,
        "object": {"a": 1},
        "number": 5,
        "c1": "x", "c2": "y", "c3": "z",
    })
}

/// Longer than any bounded failure can take, even on a loaded machine: an
/// upper time bound only tells a hang from an answer.
const HANG: Duration = Duration::from_secs(60);

/// Ask the hostile plugin; return the failure and how long it took.
fn fail(set: &Plugins, mode: &str) -> (Error, Duration) {
    let start = Instant::now();
    let r = set.discover("hostile", &config(mode));
    let took = start.elapsed();
    (r.expect_err(&format!("{mode} should fail")), took)
}

/// The host still serves: the same plugin (a fresh instance) answers
/// honestly, and so does a built-in plugin.
fn still_serves(set: &Plugins) {
    let good = set.discover("hostile", &config("Good")).unwrap();
    assert_eq!(
        good.iter().map(|f| f.pointer.as_str()).collect::<Vec<_>>(),
        vec!["/password"]
    );
    let mysql = json!({"type": "Mysql", "username": "u", "authType": {"password": SECRET}, "hostPort": "h:3306"});
    let fields = set.discover("database", &mysql).unwrap();
    assert_eq!(fields[0].pointer, "/authType/password");
}

/// Assert the exact typed failure and its message, then that the host serves.
fn assert_failure(mode: &str, want: PluginFailure, message: &str) -> Duration {
    let set = hostile_set();
    let (err, took) = fail(set, mode);
    check_failure(set, mode, &err, want, message);
    eprintln!("sandbox: {mode} failed in {took:?}: {err}");
    took
}

/// The failure is exactly `want`, says `message`, holds no secret; then the
/// host serves.
fn check_failure(set: &Plugins, mode: &str, err: &Error, want: PluginFailure, message: &str) {
    match &err {
        Error::Plugin { plugin, reason } => {
            assert_eq!(plugin, "hostile");
            assert_eq!(reason, &want, "{mode}");
        }
        other => panic!("{mode}: expected a plugin failure, got {other:?}"),
    }
    assert_eq!(err.to_string(), message);
    assert!(
        !format!("{err:?}").contains(SECRET),
        "{mode}: the error holds the secret: {err:?}"
    );
    still_serves(set);
}

/// On an engine whose time only the test moves: the loop is cut by the time
/// limit (typed `Timeout`) and not before the limit's worth of ticks; then
/// the same engine serves the next calls, which no load can time out since
/// no tick is made meanwhile.
#[test]
fn sandbox_infinite_loop_times_out() {
    use om_secrets::plugin::sandbox::TICK;
    use std::sync::atomic::{AtomicBool, Ordering};
    let (sandbox, set) = manual_time_set();
    let done = std::sync::Arc::new(AtomicBool::new(false));
    let call = std::thread::spawn({
        let done = done.clone();
        move || {
            let r = fail(set, "Loop");
            done.store(true, Ordering::SeqCst);
            r
        }
    });
    let start = Instant::now();
    let mut ticks = 0u64;
    while !done.load(Ordering::SeqCst) {
        assert!(
            start.elapsed() < HANG,
            "the loop was not stopped after {ticks} ticks"
        );
        sandbox.engine().increment_epoch();
        ticks += 1;
        std::thread::sleep(TICK);
    }
    let (err, _) = call.join().unwrap();
    // Every tick is ours: the deadline was not early.
    let limit = TEST_TIME_MS / TICK.as_millis() as u64;
    assert!(ticks >= limit, "timed out after {ticks} of {limit} ticks");
    check_failure(
        set,
        "Loop",
        &err,
        PluginFailure::Timeout {
            limit_ms: TEST_TIME_MS,
        },
        &format!("plugin `hostile`: timed out after {TEST_TIME_MS} ms"),
    );
}

#[test]
fn sandbox_unbounded_allocation_hits_the_memory_cap() {
    let took = assert_failure(
        "Alloc",
        PluginFailure::MemoryLimit {
            limit_bytes: 64 << 20,
        },
        "plugin `hostile`: exceeded its memory limit of 67108864 bytes",
    );
    assert!(took < HANG, "{took:?}");
}

#[test]
fn sandbox_unbounded_recursion_overflows_the_stack() {
    assert_failure(
        "Recurse",
        PluginFailure::StackOverflow,
        "plugin `hostile`: overflowed its stack",
    );
}

#[test]
fn sandbox_panic_message_is_captured_and_redacted() {
    let set = hostile_set();
    let (err, _) = fail(set, "Panic");
    let Error::Plugin {
        plugin,
        reason: PluginFailure::Panic { message, location },
    } = &err
    else {
        panic!("expected a panic, got {err:?}")
    };
    assert_eq!(plugin, "hostile");
    assert_eq!(
        message.as_deref(),
        Some("cannot handle password [redacted]")
    );
    let location = location.as_deref().unwrap();
    assert!(location.starts_with("hostile/src/lib.rs:"), "{location}");
    // The text a caller shows holds neither: plugin text stays in the log.
    assert_eq!(
        err.to_string(),
        "plugin `hostile`: panicked (its message is in om-secrets' log)"
    );
    assert!(!format!("{err:?}").contains(SECRET));
    still_serves(set);
}

#[test]
fn sandbox_trap_without_message_is_a_panic_without_message() {
    assert_failure(
        "Unreachable",
        PluginFailure::Panic {
            message: None,
            location: None,
        },
        "plugin `hostile`: panicked",
    );
}

#[test]
fn sandbox_pointers_that_do_not_exist_or_name_non_strings_are_refused() {
    let cases = [
        ("PointerMissing", "`/nope` does not exist in the config"),
        ("PointerObject", "`/object` does not name a string or null"),
        ("PointerNumber", "`/number` does not name a string or null"),
        ("PointerSyntax", "`password` is not a JSON pointer"),
        (
            "SegmentsLie",
            "segments for `/password` do not match the pointer",
        ),
        ("Duplicate", "`/password` listed twice"),
        ("LeakPointer", "`/[redacted]` does not exist in the config"),
        ("Refuse", "declared connector type `Refuse` but refused it"),
    ];
    for (mode, reason) in cases {
        assert_failure(
            mode,
            PluginFailure::InvalidAnswer(reason.to_string()),
            &format!("plugin `hostile`: invalid answer: {reason}"),
        );
    }
}

#[test]
fn sandbox_routing_keys_cannot_be_secret_fields() {
    // The key the host routed by, and every nested key a route may use: a
    // sealed or masked routing key leaves a config nothing can route again.
    assert_failure(
        "TypeField",
        PluginFailure::RoutingKey {
            pointer: "/type".into(),
        },
        "plugin `hostile`: invalid answer: `/type` routes the config: a routing key cannot be a secret field",
    );
    let set = hostile_set();
    let report = |type_key: &str, doc: Value, pointer: &str| {
        let err = set
            .discover_by("hostile", type_key, &doc)
            .expect_err(&format!("{pointer} was accepted"));
        match err {
            Error::Plugin {
                plugin,
                reason: PluginFailure::RoutingKey { pointer: p },
            } => {
                assert_eq!(plugin, "hostile");
                assert_eq!(p, pointer);
            }
            other => panic!("{pointer}: expected a routing-key refusal, got {other:?}"),
        }
    };
    // Connections: the root `type`, a nested connection's.
    report(
        "type",
        json!({"type": "Report", "report": ["@type"]}),
        "/type",
    );
    report(
        "type",
        json!({"type": "Report", "connection": {"type": "Mysql", "password": SECRET}, "report": ["@connection@password", "@connection@type"]}),
        "/connection/type",
    );
    // A bot's `authType`, a dbt source's `dbtConfigType`, at the root.
    report(
        "authType",
        json!({"authType": "Report", "config": {"JWTToken": SECRET}, "report": ["@authType"]}),
        "/authType",
    );
    report(
        "dbtConfigType",
        json!({"dbtConfigType": "Report", "dbtCloudAuthToken": SECRET, "report": ["@dbtConfigType"]}),
        "/dbtConfigType",
    );
    // Nested: an ingestion pipeline's dbt source (routed by its
    // `dbtConfigType`), a test suite's service connections, bot credentials.
    report(
        "type",
        json!({"type": "Report", "dbtConfigSource": {"dbtConfigType": "cloud", "dbtCloudAuthToken": SECRET}, "report": ["@dbtConfigSource@dbtConfigType"]}),
        "/dbtConfigSource/dbtConfigType",
    );
    report(
        "type",
        json!({"type": "Report", "serviceConnections": [{"serviceConnection": {"config": {"type": "Mysql"}}}],
               "report": ["@serviceConnections@0@serviceConnection@config@type"]}),
        "/serviceConnections/0/serviceConnection/config/type",
    );
    report(
        "type",
        json!({"type": "Report", "auth": {"authType": "JWT"}, "report": ["@auth@authType"]}),
        "/auth/authType",
    );
    // The same plugin may report what is not a route: secrets beside routing
    // keys, and a map entry named like one holding what no connector type is
    // called (a URL with a password).
    let fields = set
        .discover(
            "hostile",
            &json!({"type": "Report", "connection": {"type": "Mysql", "password": SECRET},
                    "connectionOptions": {"db_type": format!("mysql://u:{SECRET}@h")},
                    "report": ["@connection@password", "@connectionOptions@db_type"]}),
        )
        .unwrap();
    assert_eq!(
        fields
            .iter()
            .map(|f| f.pointer.as_str())
            .collect::<Vec<_>>(),
        ["/connection/password", "/connectionOptions/db_type"]
    );
    still_serves(set);
}

#[test]
fn sandbox_field_count_is_bounded() {
    assert_failure(
        "TenThousandOne",
        PluginFailure::InvalidAnswer("10001 fields returned, the limit is 10000".into()),
        "plugin `hostile`: invalid answer: 10001 fields returned, the limit is 10000",
    );
}

#[test]
fn sandbox_a_million_fields_are_refused_before_they_are_copied() {
    // 10^6 fields cost the host ~56 MB to lift: the output limit (8 MiB of
    // hostcall fuel) stops the copy before it starts.
    let took = assert_failure(
        "Million",
        PluginFailure::OutputTooLarge { limit: 8 << 20 },
        "plugin `hostile`: tried to send more than the output limit of 8388608 bytes to the host",
    );
    assert!(took < HANG, "{took:?}");
}

#[test]
fn sandbox_huge_strings_are_refused_before_they_are_copied() {
    for mode in ["HugeString", "HugeLog"] {
        assert_failure(
            mode,
            PluginFailure::OutputTooLarge { limit: 8 << 20 },
            "plugin `hostile`: tried to send more than the output limit of 8388608 bytes to the host",
        );
    }
}

#[test]
fn sandbox_huge_error_messages_are_cut_and_redacted() {
    let set = hostile_set();
    let err = set.discover("hostile", &config("HugeError")).unwrap_err();
    let Error::Input { pointer, message } = &err else {
        panic!("expected an input error, got {err:?}")
    };
    // The caller gets a generic message naming the plugin, at the part of
    // the plugin's pointer (`/<the secret>`) that exists in the config: the
    // root. The plugin's message goes to the log only (below, through the
    // CLI).
    assert_eq!(pointer.as_deref(), Some(""));
    assert_eq!(
        message,
        "plugin `hostile` finds the config malformed here (its reason is in om-secrets' log)"
    );
    assert!(!format!("{err:?}").contains(SECRET));
    still_serves(set);

    // The log keeps 512 characters of the 1 MiB message (`m` repeated, then
    // the password) and 200 of the pointer (`/<password>`): a config value
    // made of `m`s sits inside the kept part of the message, the password
    // inside the kept part of the pointer. Both must be redacted there.
    let om = om_with_hostile().with("OM_SECRETS_LOG", "warn");
    let ms = "m".repeat(40);
    let doc = json!({"type": "HugeError", "password": SECRET, "note": ms});
    let r = run(&om, "mask", &["--service-type", "hostile"], &doc);
    let stderr = without_ansi(r.err());
    let line = stderr
        .lines()
        .find(|l| l.contains("the plugin finds the config malformed: "))
        .unwrap_or_else(|| panic!("nothing logged: {stderr}"));
    let message = line
        .split_once("the plugin finds the config malformed: ")
        .unwrap()
        .1
        .split_once(" plugin=hostile")
        .unwrap_or_else(|| panic!("no plugin field: {line}"))
        .0;
    let kept = message
        .strip_suffix('…')
        .unwrap_or_else(|| panic!("the message was not cut: {line}"));
    assert!(kept.starts_with("[redacted]"), "{kept}");
    assert!(
        !kept.contains(&ms[..21]),
        "a value in the kept part: {kept}"
    );
    assert!(kept.chars().count() <= 512, "{}", kept.chars().count());
    assert!(
        line.contains("pointer=/[redacted]"),
        "the pointer is not redacted: {line}"
    );
    for leak in [SECRET, &SECRET[..8], &ms[..21]] {
        assert!(!stderr.contains(leak), "`{leak}` in {stderr}");
    }
}

/// Log text without its colours (the log writes ANSI escapes even when
/// stderr is not a terminal).
fn without_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Through the CLI: `mask` of a config the plugin calls malformed, with a
/// message and a pointer that quote the secret in its JSON-escaped form. The
/// caller's error is generic; the log has the message, redacted and cut.
#[test]
fn sandbox_malformed_config_messages_reach_the_log_not_the_caller() {
    let om = om_with_hostile().with("OM_SECRETS_LOG", "warn");
    // A password with a quote, a backslash and a tab: in the config text the
    // plugin sees (and quotes), it reads `pa\"ss\\w\tord-x7`.
    let secret = "pa\"ss\\w\tord-x7";
    let escaped = &serde_json::to_string(secret).unwrap()[1..];
    let escaped = &escaped[..escaped.len() - 1];
    for (mode, expected_pointer) in [("Malformed", "/password"), ("HugeError", "")] {
        let doc = json!({"type": mode, "password": secret, "object": {"a": 1}});
        let r = run(&om, "mask", &["--service-type", "hostile"], &doc);
        let stderr = r.err();
        let error_lines: Vec<&str> = stderr
            .lines()
            .filter(|l| l.starts_with("om-secrets: error: "))
            .collect();
        let at = if expected_pointer.is_empty() {
            " at the document root".to_string()
        } else {
            format!(" at `{expected_pointer}`")
        };
        assert_eq!(
            error_lines,
            [format!(
                "om-secrets: error: invalid input{at}: plugin `hostile` finds the config malformed here (its reason is in om-secrets' log)"
            )],
            "{mode}: {stderr}"
        );
        let stderr = without_ansi(stderr);
        let log: Vec<&str> = stderr
            .lines()
            .filter(|l| l.contains("the plugin finds the config malformed"))
            .collect();
        assert_eq!(log.len(), 1, "{mode}: {stderr}");
        assert!(log[0].contains("WARN"), "{}", log[0]);
        assert!(log[0].contains("plugin=hostile"), "{}", log[0]);
        assert!(log[0].contains("[redacted]"), "{}", log[0]);
        for leak in [secret, escaped, "ord-x7"] {
            assert!(!stderr.contains(leak), "{mode}: `{leak}` in {stderr}");
        }
    }
}

#[test]
fn sandbox_no_state_survives_between_calls() {
    let set = hostile_set();
    for _ in 0..3 {
        let fields = set.discover("hostile", &config("Counter")).unwrap();
        // `/c1` every time: each call met a fresh instance that had seen one config.
        assert_eq!(
            fields
                .iter()
                .map(|f| f.pointer.as_str())
                .collect::<Vec<_>>(),
            vec!["/c1"]
        );
    }
}

#[test]
fn sandbox_oversized_input_is_refused_before_the_call() {
    let set = hostile_set();
    let big = json!({"type": "Good", "password": "x".repeat(5 << 20)});
    let err = set.discover("hostile", &big).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Plugin {
                reason: PluginFailure::InputTooLarge { limit: 4194304, .. },
                ..
            }
        ),
        "{err:?}"
    );
    still_serves(set);
}

// ---- Through the CLI: failing closed, and what reaches stderr -------------

/// An installation with the hostile plugin granted and pinned, and a short
/// time limit.
fn om_with_hostile() -> Om {
    let om = Om::new();
    let dir = om.home.path().join("plugins");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("hostile.wasm");
    std::fs::copy(fixture("hostile"), &file).unwrap();
    for (name, ms) in [
        ("om-secrets.yaml", HANG_MS),
        ("om-secrets-timed.yaml", TEST_TIME_MS),
    ] {
        std::fs::write(
            om.home.path().join(name),
            format!(
                "plugins:\n  directory: {}\n  allow:\n    - {{file: hostile.wasm, sha256: {}}}\nlimits: {{timeMs: {ms}}}\n",
                dir.display(),
                sha256_of(&file)
            ),
        )
        .unwrap();
    }
    om
}

fn args<'a>(om: &'a Om, op: &'a str, extra: &[&'a str]) -> Vec<String> {
    let cfg = om.home.path().join("om-secrets.yaml");
    let mut v = vec![op.to_string(), "--config".into(), cfg.display().to_string()];
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

/// `op` on `doc` through the CLI. The `Loop` mode runs under the short
/// limit (it must time out); every other under [`HANG_MS`], so that a loaded
/// machine cannot turn its failure (or success) into a timeout.
fn run(om: &Om, op: &str, extra: &[&str], doc: &Value) -> crate::util::Run {
    let mut a = args(om, op, extra);
    if doc["type"] == "Loop" {
        a[2] = om
            .home
            .path()
            .join("om-secrets-timed.yaml")
            .display()
            .to_string();
    }
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    om.run(&a, &doc.to_string())
}

#[test]
fn sandbox_seal_fails_closed_and_writes_nothing() {
    let om = om_with_hostile();
    // A first seal (built-in plugin) creates the store.
    let mysql = json!({"type": "Mysql", "username": "u", "authType": {"password": "first"}, "hostPort": "h:1"});
    run(
        &om,
        "seal",
        &["--service-type", "database", "--name", "db1"],
        &mysql,
    )
    .json();
    let before = om.store_bytes().expect("the store exists");
    for (mode, reason) in [
        (
            "Loop",
            format!("plugin `hostile`: timed out after {TEST_TIME_MS} ms"),
        ),
        (
            "SegmentsLie",
            "plugin `hostile`: invalid answer: segments for `/password` do not match the pointer"
                .into(),
        ),
        (
            "Alloc",
            "plugin `hostile`: exceeded its memory limit of 67108864 bytes".into(),
        ),
        (
            "Panic",
            "plugin `hostile`: panicked (its message is in om-secrets' log)".into(),
        ),
    ] {
        let r = run(
            &om,
            "seal",
            &["--service-type", "hostile", "--name", "victim"],
            &config(mode),
        );
        let stderr = r.err(); // exit 1, nothing on stdout
        assert!(
            stderr.contains(&format!("om-secrets: error: {reason}")),
            "{mode}: {stderr}"
        );
        if mode == "Panic" {
            // The panic message is in the log, redacted (not in the error).
            assert!(
                stderr.contains("plugin panicked: ")
                    && stderr.contains("cannot handle password [redacted]"),
                "{stderr}"
            );
        }
        assert!(
            !stderr.contains(SECRET),
            "{mode}: the secret reached stderr: {stderr}"
        );
        assert_eq!(
            om.store_bytes().as_deref(),
            Some(before.as_slice()),
            "{mode}: the store changed"
        );
    }
    // The host still seals with the same plugin, from the same configuration.
    let sealed = run(
        &om,
        "seal",
        &["--service-type", "hostile", "--name", "ok"],
        &config("Good"),
    )
    .json();
    assert!(sealed["password"].as_str().unwrap().starts_with("fernet:"));
    assert!(
        om.store_ids()
            .contains(&"/openmetadata/hostile/ok/password".to_string())
    );
}

#[test]
fn sandbox_routing_keys_are_refused_through_the_cli() {
    // A plugin that seals a nested connection's `type` would store a config
    // nothing can route again: `seal` and `mask` fail, nothing is written.
    let om = om_with_hostile();
    let mysql = json!({"type": "Mysql", "username": "u", "authType": {"password": "first"}, "hostPort": "h:1"});
    run(
        &om,
        "seal",
        &["--service-type", "database", "--name", "db1"],
        &mysql,
    )
    .json();
    let before = om.store_bytes().expect("the store exists");
    let doc = json!({"type": "Report", "password": SECRET, "connection": {"type": "Mysql"},
                     "report": ["@password", "@connection@type"]});
    for (op, extra) in [
        (
            "seal",
            &["--service-type", "hostile", "--name", "victim"][..],
        ),
        ("mask", &["--service-type", "hostile"][..]),
    ] {
        let r = run(&om, op, extra, &doc);
        let stderr = r.err();
        assert!(
            stderr.contains(
                "om-secrets: error: plugin `hostile`: invalid answer: `/connection/type` routes the config: \
                 a routing key cannot be a secret field"
            ),
            "{op}: {stderr}"
        );
        assert!(!stderr.contains(SECRET), "{op}: {stderr}");
        assert_eq!(om.store_bytes().as_deref(), Some(before.as_slice()), "{op}");
    }
}

#[test]
fn sandbox_mask_fails_rather_than_returning_unmasked_data() {
    let om = om_with_hostile();
    for mode in ["Panic", "PointerObject", "Loop"] {
        let r = run(&om, "mask", &["--service-type", "hostile"], &config(mode));
        let stderr = r.err();
        assert!(
            stderr.contains("om-secrets: error: plugin `hostile`: "),
            "{stderr}"
        );
        assert!(!stderr.contains(SECRET), "{stderr}");
    }
    let masked = run(&om, "mask", &["--service-type", "hostile"], &config("Good")).json();
    assert_eq!(masked["password"], "*********");
}

#[test]
fn sandbox_plugin_log_lines_are_capped_at_32_per_call() {
    let om = om_with_hostile().with("OM_SECRETS_LOG", "warn");
    let r = run(
        &om,
        "fields",
        &["--service-type", "hostile"],
        &config("LogMany"),
    );
    assert_eq!(r.json()[0]["pointer"], "/password");
    let kept: Vec<usize> = r
        .stderr
        .lines()
        .filter_map(|l| l.split("hostile log line ").nth(1))
        .map(|rest| rest.split_whitespace().next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(kept, (0..32).collect::<Vec<_>>(), "{}", r.stderr);
    // The next call has a budget of its own.
    let r = run(
        &om,
        "fields",
        &["--service-type", "hostile"],
        &config("LogMany"),
    );
    assert_eq!(
        r.stderr.matches("hostile log line ").count(),
        32,
        "{}",
        r.stderr
    );
}

#[test]
fn sandbox_plugin_log_lines_are_redacted_and_cannot_forge_lines() {
    let om = om_with_hostile().with("OM_SECRETS_LOG", "warn");
    let r = run(
        &om,
        "fields",
        &["--service-type", "hostile"],
        &config("LogSecret"),
    );
    let fields = r.json();
    assert_eq!(fields[0]["pointer"], "/password");
    assert!(
        r.stderr
            .contains("the password is [redacted]\\nERROR forged host line"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains(SECRET), "{}", r.stderr);
    assert!(
        !r.stderr.lines().any(|l| l.starts_with("ERROR forged")),
        "{}",
        r.stderr
    );
    // A password with a quote, a backslash and a tab, logged in the JSON
    // form it has in the config text and in Rust's `{:?}` form.
    let secret = "pa\"ss\\w\tord-x7";
    let doc = json!({"type": "LogConfig", "password": secret});
    let r = run(&om, "fields", &["--service-type", "hostile"], &doc);
    assert_eq!(r.json()[0]["pointer"], "/password");
    let line = r
        .stderr
        .lines()
        .find(|l| l.contains("config: "))
        .unwrap_or_else(|| panic!("nothing logged: {}", r.stderr));
    assert!(
        line.contains(
            r#"config: {"type":"[redacted]","password":"[redacted]"}; password: "[redacted]""#
        ),
        "{line}"
    );
    for leak in [secret, r#"pa\"ss"#, "ord-x7"] {
        assert!(!r.stderr.contains(leak), "`{leak}` in {}", r.stderr);
    }

    // SECURITY.md's directive silences plugin lines (and only them).
    let quiet = om_with_hostile().with("OM_SECRETS_LOG", "warn,om_secrets::plugin::sandbox=off");
    let r = run(&quiet, "fields", &["--service-type", "hostile"], &doc);
    assert_eq!(r.json()[0]["pointer"], "/password");
    assert!(!r.stderr.contains("config: "), "{}", r.stderr);
    let r = run(
        &quiet,
        "fields",
        &["--service-type", "hostile"],
        &config("LogSecret"),
    );
    assert!(!r.stderr.contains("the password is"), "{}", r.stderr);
}

#[test]
fn sandbox_host_logs_hold_no_secret() {
    // Everything om-secrets logs at the most verbose level, over a seal, a
    // mask and a reveal through both a built-in and a granted plugin.
    let om = om_with_hostile().with("OM_SECRETS_LOG", "trace");
    let mysql = json!({"type": "Mysql", "username": "u", "authType": {"password": SECRET}, "hostPort": "h:1"});
    let mut stderr = String::new();
    for (service, doc) in [("database", mysql), ("hostile", config("Good"))] {
        let r = run(
            &om,
            "seal",
            &["--service-type", service, "--name", "s"],
            &doc,
        );
        let sealed = r.json();
        stderr += &r.stderr;
        let r = run(&om, "mask", &["--service-type", service], &sealed);
        r.json();
        stderr += &r.stderr;
        let r = run(
            &om,
            "reveal",
            &["--service-type", service, "--name", "s"],
            &sealed,
        );
        assert!(r.json().to_string().contains(SECRET));
        stderr += &r.stderr;
    }
    assert!(!stderr.is_empty(), "trace logging produced nothing");
    assert!(
        !stderr.contains(SECRET),
        "a secret reached the log: {stderr}"
    );
}

/// A plugin log line is kept (redacted) up to 4096 bytes and dropped whole
/// beyond: the `LogConfig` mode logs `config: <config text>; password:
/// <password as {:?}>`, sized here to the byte by the password's length.
#[test]
fn sandbox_plugin_log_lines_over_4_kib_are_dropped_whole() {
    let om = om_with_hostile().with("OM_SECRETS_LOG", "warn");
    let password = "s3cr3t-in-a-long-line";
    let line_len = |note: &str| {
        let doc = json!({"type": "LogConfig", "password": password, "note": note});
        format!("config: {doc}; password: {password:?}").len()
    };
    let base = line_len("");
    for len in [4095, 4096, 4097, 5000] {
        let note = format!("n0te{}", "e".repeat(len - base - 4));
        assert_eq!(line_len(&note), len);
        let doc = json!({"type": "LogConfig", "password": password, "note": note});
        let r = run(&om, "fields", &["--service-type", "hostile"], &doc);
        assert_eq!(r.json()[0]["pointer"], "/password", "{len}");
        let stderr = without_ansi(&r.stderr);
        let kept: Vec<&str> = stderr.lines().filter(|l| l.contains("config: ")).collect();
        let dropped: Vec<&str> = stderr
            .lines()
            .filter(|l| {
                l.contains(&format!(
                    "[log line of {len} bytes dropped: over the 4096-byte limit]"
                ))
            })
            .collect();
        if len <= 4096 {
            assert_eq!(kept.len(), 1, "{len}: {stderr}");
            assert!(
                kept[0].contains(
                    r#"config: {"type":"[redacted]","password":"[redacted]","note":"[redacted]"}; password: "[redacted]""#
                ),
                "{len}: {}",
                kept[0]
            );
            assert!(dropped.is_empty(), "{len}: {stderr}");
        } else {
            assert!(
                kept.is_empty(),
                "{len}: a line over 4 KiB was kept: {stderr}"
            );
            assert_eq!(dropped.len(), 1, "{len}: {stderr}");
        }
        for leak in [password, &note[..16]] {
            assert!(!stderr.contains(leak), "{len}: {stderr}");
        }
    }
}

/// A component of exactly 32 MiB loads (a valid component padded with a
/// custom section); one byte more is refused by size, before it is parsed.
#[test]
fn sandbox_components_over_32_mib_are_refused() {
    use om_secrets::plugin::sandbox::MAX_COMPONENT_BYTES;
    use om_secrets::plugin::{Limits, Refusal, Sandbox};
    assert_eq!(MAX_COMPONENT_BYTES, 32 << 20);
    let good = crate::plugins_fixtures::fixture_bytes("hostile");
    // `good` followed by one custom section (id 0, LEB128 size, name) making
    // the whole file `total` bytes long.
    let padded = |total: usize| {
        let name = b"pad";
        let mut body_len = total - good.len() - 1 - 5;
        let mut v = good.clone();
        v.push(0);
        // A fixed 5-byte LEB128, so the size field's length never varies.
        let mut n = body_len as u32;
        for i in 0..5 {
            let mut b = (n & 0x7f) as u8;
            n >>= 7;
            if i < 4 {
                b |= 0x80;
            }
            v.push(b);
        }
        v.push(name.len() as u8);
        v.extend_from_slice(name);
        body_len -= 1 + name.len();
        v.resize(v.len() + body_len, 0);
        assert_eq!(v.len(), total);
        v
    };
    let sandbox = Sandbox::new(Limits::default()).unwrap();
    let at_cap = padded(MAX_COMPONENT_BYTES);
    let plugin = sandbox
        .load(&at_cap, "at-cap.wasm", None)
        .expect("a component of exactly 32 MiB loads");
    assert_eq!(plugin.info.name, "hostile");
    let over = padded(MAX_COMPONENT_BYTES + 1);
    match sandbox.load(&over, "over.wasm", None) {
        Err(PluginFailure::Refused(Refusal::TooLarge { bytes, limit })) => {
            assert_eq!(
                (bytes, limit),
                (MAX_COMPONENT_BYTES + 1, MAX_COMPONENT_BYTES)
            );
        }
        Err(other) => panic!("expected a size refusal, got {other:?}"),
        Ok(_) => panic!("a component over 32 MiB loaded"),
    }
}

/// Nothing logged at `trace` holds a secret when things fail: a plugin that
/// fails (panic, lying answer, malformed-config message quoting it) on
/// `seal` and `mask`, and input errors of the built-in plugin; and in `db`
/// mode, over a whole seal, mask, merge and reveal.
#[test]
fn sandbox_host_logs_hold_no_secret_on_failures_and_in_db_mode() {
    let om = om_with_hostile().with("OM_SECRETS_LOG", "trace");
    let mut stderr = String::new();
    let mut failures = 0;
    for mode in [
        "Panic",
        "SegmentsLie",
        "PointerObject",
        "LeakPointer",
        "Malformed",
        "Duplicate",
    ] {
        for (op, extra) in [
            (
                "seal",
                &["--service-type", "hostile", "--name", "victim"][..],
            ),
            ("mask", &["--service-type", "hostile"][..]),
        ] {
            let r = run(&om, op, extra, &config(mode));
            stderr += r.err();
            failures += 1;
        }
    }
    // The built-in plugin: a mask beside the secret, a reference to another
    // entity's secret beside it, a secret in a number-typed field's place,
    // JSON cut short after the secret.
    let db = ["--service-type", "database", "--name", "db1"];
    for doc in [
        json!({"type": "Mysql", "authType": {"password": SECRET}, "sslConfig": {"sslKey": "*********"}}).to_string(),
        json!({"type": "Mysql", "authType": {"password": SECRET},
               "connectionOptions": {"apiToken": "secret:/openmetadata/database/other/authtype/password"}}).to_string(),
        json!({"type": "Mysql", "authType": {"password": 5}, "connectionOptions": {"token": SECRET}}).to_string(),
        format!("{{\"type\": \"Mysql\", \"authType\": {{\"password\": \"{SECRET}\""),
    ] {
        let a = args(&om, "seal", &db);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        let r = om.run(&a, &doc);
        stderr += r.err();
        failures += 1;
    }
    assert!(
        om.store_ids().is_empty(),
        "a failed seal wrote: {:?}",
        om.store_ids()
    );
    assert_eq!(failures, 16);

    // db mode: the values themselves are encrypted in place.
    let db_om = Om::new()
        .with("SECRET_MANAGER", "db")
        .with("OM_SECRETS_LOG", "trace");
    let mysql = json!({"type": "Mysql", "username": "u", "authType": {"password": SECRET},
                       "connectionOptions": {"apiToken": SECRET}, "hostPort": "h:1"});
    let r = db_om.run(
        &["seal", "--service-type", "database", "--name", "s"],
        &mysql.to_string(),
    );
    let sealed = r.json();
    stderr += &r.stderr;
    let r = db_om.run(&["mask", "--service-type", "database"], &sealed.to_string());
    r.json();
    stderr += &r.stderr;
    let stored = db_om.home.path().join("stored.json");
    std::fs::write(&stored, sealed.to_string()).unwrap();
    let mut incoming = r.json();
    incoming["username"] = json!("u2");
    let r = db_om.run(
        &[
            "merge",
            "--service-type",
            "database",
            "--stored",
            stored.to_str().unwrap(),
        ],
        &incoming.to_string(),
    );
    let merged = r.json();
    stderr += &r.stderr;
    let r = db_om.run(
        &["reveal", "--service-type", "database", "--name", "s"],
        &merged.to_string(),
    );
    assert_eq!(r.json()["authType"]["password"], SECRET);
    stderr += &r.stderr;
    // A changed key: reveal fails, naming the field.
    let other_key = Om::new()
        .with("SECRET_MANAGER", "db")
        .with("FERNET_KEY", "jJ/9sz0g0OHxsfxOoSfdFdmk3ysNmPRnH3TUAbz3IHA=")
        .with("OM_SECRETS_LOG", "trace");
    let r = other_key.run(
        &["reveal", "--service-type", "database", "--name", "s"],
        &sealed.to_string(),
    );
    stderr += r.err();

    assert!(
        stderr.contains("TRACE") || stderr.contains("DEBUG"),
        "trace logging produced nothing: {stderr}"
    );
    for leak in [SECRET, &SECRET[..10], &SECRET[SECRET.len() - 10..]] {
        assert!(!stderr.contains(leak), "`{leak}` reached the log: {stderr}");
    }
}
