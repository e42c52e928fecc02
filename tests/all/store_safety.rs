//! The embedded store (`managed-local`) across processes and crashes: two
//! real `om-secrets seal` processes writing at once lose nothing (the lock
//! on `store.lock` serialises their read-modify-write), a temp file a crashed
//! writer left is ignored and removed, and a truncated store file is an
//! error that writes nothing, never an empty store that drops every secret.

use serde_json::{Value, json};

use crate::util::Om;

const KEY: &str = "jJ/9sz0g0OHxsfxOoSfdFdmk3ysNmPRnH3TUAbz3IHA=";

/// A config with two secrets, and many plain options: a bigger document
/// makes each writer's read-modify-write longer, so unlocked writers would
/// overlap.
fn doc(password: &str) -> Value {
    let mut d = json!({"type": "Mysql", "username": "u", "authType": {"password": password},
           "connectionOptions": {"apiToken": format!("{password}-token")}});
    for i in 0..200 {
        d["connectionArguments"][format!("arg{i}")] = json!(format!("value {i}"));
    }
    d
}

fn seal(om: &Om, name: &str, password: &str) -> Value {
    om.json(
        &["seal", "--service-type", "database", "--name", name],
        &doc(password),
    )
}

fn reveal(om: &Om, name: &str, sealed: &Value) -> Value {
    om.json(
        &["reveal", "--service-type", "database", "--name", name],
        sealed,
    )
}

fn ids_of(name: &str) -> [String; 2] {
    [
        format!("/openmetadata/database/{name}/authtype/password"),
        format!("/openmetadata/database/{name}/connectionoptions/apitoken"),
    ]
}

#[test]
fn store_two_processes_sealing_at_once_lose_nothing() {
    let om = Om::new().with("FERNET_KEY", KEY);
    // The store file exists before the race starts, so both writers always
    // read-modify-write it.
    let first = seal(&om, "first", "first-pw");
    const ROUNDS: usize = 16;
    // Each round both processes start together.
    let barrier = std::sync::Barrier::new(2);
    let sealed: Vec<Vec<(String, Value)>> = std::thread::scope(|s| {
        let writers: Vec<_> = (0..2)
            .map(|w| {
                let om = &om;
                let barrier = &barrier;
                s.spawn(move || {
                    (0..ROUNDS)
                        .map(|i| {
                            barrier.wait();
                            let name = format!("w{w}-{i}");
                            let v = seal(om, &name, &format!("pw-{w}-{i}"));
                            (name, v)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        writers.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut want: Vec<String> = ids_of("first").to_vec();
    for (name, _) in sealed.iter().flatten() {
        want.extend(ids_of(name));
    }
    want.sort();
    let mut have = om.store_ids();
    have.sort();
    assert_eq!(have, want, "a concurrent write was lost");
    for (name, v) in sealed.iter().flatten() {
        let (w, i) = name[1..].split_once('-').unwrap();
        assert_eq!(reveal(&om, name, v), doc(&format!("pw-{w}-{i}")), "{name}");
    }
    assert_eq!(reveal(&om, "first", &first), doc("first-pw"));
    // No temp file is left once every writer is done.
    let left: Vec<_> = std::fs::read_dir(om.path("store"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("tmp"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn store_a_crashed_writers_temp_file_is_ignored_and_removed() {
    let om = Om::new().with("FERNET_KEY", KEY);
    let a = seal(&om, "a", "a-pw");
    let before = om.store_bytes().unwrap();
    // What a writer killed between writing its temp file and renaming it
    // leaves: a torn temp file beside an intact store file.
    let torn = om.path("store/.secrets.json.tmp4242.0");
    std::fs::write(&torn, &before[..before.len() / 2]).unwrap();
    // Reads ignore it, and see the intact file.
    assert_eq!(reveal(&om, "a", &a), doc("a-pw"));
    assert_eq!(om.store_bytes().unwrap(), before);
    // The next write removes it, and keeps every earlier secret.
    let b = seal(&om, "b", "b-pw");
    assert!(
        !torn.exists(),
        "the crashed writer's temp file is still there"
    );
    let mut ids = om.store_ids();
    ids.sort();
    let mut want = [ids_of("a"), ids_of("b")].concat();
    want.sort();
    assert_eq!(ids, want);
    assert_eq!(reveal(&om, "a", &a), doc("a-pw"));
    assert_eq!(reveal(&om, "b", &b), doc("b-pw"));
}

#[test]
fn store_a_truncated_store_file_is_an_error_that_writes_nothing() {
    let om = Om::new().with("FERNET_KEY", KEY);
    let a = seal(&om, "a", "a-pw");
    let whole = om.store_bytes().unwrap();
    for cut in [whole.len() / 2, 1, 0] {
        let truncated = whole[..cut].to_vec();
        std::fs::write(om.path("store/secrets.json"), &truncated).unwrap();
        // A write would otherwise start from an empty store and drop `a`.
        let r = om.run(
            &["seal", "--service-type", "database", "--name", "b"],
            &doc("b-pw").to_string(),
        );
        let err = r.err();
        assert!(
            err.contains("secrets.json") && err.contains("not a valid store file"),
            "cut at {cut}: {err}"
        );
        assert!(!err.contains("b-pw"), "{err}");
        assert_eq!(
            om.store_bytes().unwrap(),
            truncated,
            "cut at {cut}: the damaged store was overwritten"
        );
        // Reading fails closed too, naming the file.
        let r = om.run(
            &["reveal", "--service-type", "database", "--name", "a"],
            &a.to_string(),
        );
        assert!(r.err().contains("secrets.json"), "{}", r.stderr);
    }
    // Restored from a backup, everything is there again.
    std::fs::write(om.path("store/secrets.json"), &whole).unwrap();
    assert_eq!(reveal(&om, "a", &a), doc("a-pw"));
}
