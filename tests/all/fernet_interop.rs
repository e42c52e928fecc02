//! Fernet interoperability with Python `cryptography` (what OpenMetadata's
//! ingestion side uses), both ways, and the canonical test vectors from the
//! PyPI package `cryptography-vectors`.

use om_secrets::fernet::FernetKeys;
use serde_json::Value;

use crate::util::{Om, python};

fn vectors(name: &str) -> Vec<Value> {
    let code = format!(
        "import json, importlib.resources as r\nprint(r.files('cryptography_vectors').joinpath('fernet/{name}.json').read_text())"
    );
    serde_json::from_str(&python(&code, "")).unwrap()
}

#[test]
fn canonical_vectors_decrypt() {
    let mut n = 0;
    for v in vectors("generate").into_iter().chain(vectors("verify")) {
        let keys = FernetKeys::parse(v["secret"].as_str().unwrap()).unwrap();
        let plain = keys.decrypt(v["token"].as_str().unwrap()).unwrap();
        assert_eq!(plain.as_str(), v["src"].as_str().unwrap());
        n += 1;
    }
    assert!(n >= 2, "expected the generate and verify vectors, got {n}");
}

#[test]
fn invalid_vectors_are_refused() {
    let mut n = 0;
    for v in vectors("invalid") {
        let desc = v["desc"].as_str().unwrap();
        // Tokens never expire in OpenMetadata (no TTL), so the two vectors that
        // are only invalid under a TTL are valid here, as in Python without ttl.
        if desc.contains("TTL") || desc.contains("clock skew") {
            continue;
        }
        let keys = FernetKeys::parse(v["secret"].as_str().unwrap()).unwrap();
        assert!(
            keys.decrypt(v["token"].as_str().unwrap()).is_err(),
            "accepted invalid vector: {desc}"
        );
        n += 1;
    }
    assert_eq!(n, 6);
}

#[test]
fn python_and_om_secrets_read_each_other() {
    // A fixed key whose url-safe form holds both `-` and `_`: its standard
    // base64 form (`+`, `/`), as users paste it, really differs from the
    // form Python's `Fernet` takes.
    let key = "X-zrZv_IbzjZUnhsbWlsecLbwjndTpG0ZynXOif7V-k=";
    let std_key = key.replace('_', "/").replace('-', "+");
    assert_eq!(std_key, "X+zrZv/IbzjZUnhsbWlsecLbwjndTpG0ZynXOif7V+k=");
    let token = python(
        "import sys\nfrom cryptography.fernet import Fernet\nprint(Fernet(sys.argv[1].replace('/', '_').replace('+', '-').encode()).encrypt(b'p\\xc3\\xa4ss w0rd').decode())"
            .replace("sys.argv[1]", &format!("{key:?}"))
            .as_str(),
        "",
    );
    let om = Om::new().with("FERNET_KEY", &std_key);
    let out = om.run(&["fernet", "decrypt"], &format!("fernet:{}", token.trim()));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout.trim_end(), "päss w0rd");

    let ours = om.run(&["fernet", "encrypt"], "from-rust");
    assert_eq!(ours.code, 0, "{}", ours.stderr);
    let token = ours
        .stdout
        .trim()
        .strip_prefix("fernet:")
        .expect("fernet: prefix")
        .to_string();
    let back = python(
        &format!(
            "import sys\nfrom cryptography.fernet import Fernet\nprint(Fernet({key:?}.encode()).decrypt(sys.stdin.read().strip().encode()).decode())"
        ),
        &token,
    );
    assert_eq!(back.trim(), "from-rust");
}
