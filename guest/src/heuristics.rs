//! Heuristics for credentials that no schema marks: entries of free-form maps
//! (`connectionOptions`, `connectionArguments`, extra headers, Kafka client
//! properties), properties a rule table does not know (configs newer than the
//! tables), and connection URLs with an embedded password.
//!
//! OpenMetadata stores such values in plain text. The rules here err on the side
//! of calling something a credential, but keep ordinary keys (`ssl_mode`,
//! `timeout`, `authSource`, `token_url`, `awsAccessKeyId`) plain.
//!
//! **Keys** ([`is_credential_key`]):
//!
//! 1. The key is split into words at every character that is not a letter or
//!    digit (`_ - . space`…) and at lower→upper case changes, and lower-cased:
//!    `sslMode` → `ssl mode`, `API_KEY` → `api key`, `sasl.jaas.config` →
//!    `sasl jaas config`. Trailing digits are ignored when a word is compared
//!    (`password2` → `password`).
//! 2. Not a credential when the first word is a quantity
//!    ([`QUANTITY_PREFIXES`]: `max_tokens`), when the last word names a
//!    *property of* a credential rather than the credential itself
//!    ([`DESCRIPTIVE_SUFFIXES`]: `token_url`, `password_file`, `authSource`),
//!    or when the key names a key's identifier (last word `id`/`ids` after a word
//!    ending in `key`, or a last word ending in `keyid`: `awsAccessKeyId`,
//!    `key_id`, `apiKeyId`).
//! 3. Otherwise it is one when a word is, or ends with, one of
//!    [`CREDENTIAL_WORDS`] (`password`, `pgpassword`, `sslpassword`,
//!    `clientsecret`, `authtoken`…); when the last word is one of
//!    [`LAST_WORDS`] (`pass`, `authorization`, `cookie`…: `db_pass`,
//!    `Proxy-Authorization`, but not `pass_through`), or the last of two or
//!    more words is one of [`QUALIFIED_LAST_WORDS`] (`basic_auth`, but not
//!    `auth` alone, nor `auth_type`);
//!    or when two adjacent words are one of [`CREDENTIAL_PAIRS`] (`api key`,
//!    `ssl key`, `user info`…); or when a run of two or more adjacent words,
//!    joined, is exactly one of [`CREDENTIAL_WORDS`]: a credential word split
//!    by case or separators (`passWord`, `dbPassWord`, `PASS_WORD`,
//!    `passPhrase`, `PassWd` → `pass wd` → `passwd`), but not `passThrough`,
//!    `bypass_word` (`bypassword` is not `password`) nor `passWordFile` (rule 2).
//!
//! **URLs** ([`url_has_password`]): `scheme://user:password@host…`, where the
//! password may hold `@ / ? #`, and the scheme-less `user:password@host`.
//!
//! These lists are the only copy the project keeps by hand: `tools/gen-rules.py`
//! ports the same algorithm to compute the connector manifest's expectations,
//! and `tests/all/connectors.rs` checks that its lists equal these and that it
//! decides the same on a corpus of keys and URLs.

/// Words that make a key a credential wherever they stand, alone or as the end
/// of a longer word (`pgpassword`, `clientsecret`, `accesstoken`).
pub const CREDENTIAL_WORDS: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "passphrase",
    "secret",
    "secrets",
    "token",
    "tokens",
    "credential",
    "credentials",
    "apikey",
    "privatekey",
    "accesskey",
    "secretkey",
    "jaas",
    "userinfo",
];

/// Words that make a key a credential only as its last word: as a first word
/// they usually qualify something else (`auth_type`, `pass_through`).
pub const LAST_WORDS: &[&str] = &["pass", "jwt", "authorization", "cookie", "cookies"];

/// Words that make a key a credential only as the last of two or more words:
/// alone they name a kind of authentication (Hive's `auth: LDAP`), after
/// another word a credential (`basic_auth`, `proxyAuth`).
pub const QUALIFIED_LAST_WORDS: &[&str] = &["auth"];

/// Adjacent word pairs that make a key a credential.
pub const CREDENTIAL_PAIRS: &[(&str, &str)] = &[
    ("api", "key"),
    ("private", "key"),
    ("access", "key"),
    ("secret", "key"),
    ("sas", "key"),
    ("ssl", "key"),
    ("tls", "key"),
    ("account", "key"),
    ("master", "key"),
    ("signing", "key"),
    ("encryption", "key"),
    ("shared", "key"),
    ("user", "info"),
];

/// Last words that describe something *about* a credential, not the credential.
pub const DESCRIPTIVE_SUFFIXES: &[&str] = &[
    "url",
    "uri",
    "endpoint",
    "path",
    "file",
    "filename",
    "dir",
    "location",
    "type",
    "mode",
    "method",
    "name",
    "ttl",
    "expiry",
    "expires",
    "expiration",
    "length",
    "timeout",
    "source",
    "mechanism",
    "provider",
    "header",
    "enabled",
    "required",
    "format",
    "version",
    "scope",
    "scopes",
    "policy",
    "count",
    "size",
    "algorithm",
    "domain",
    "env",
    "var",
    "command",
    "cmd",
    "interval",
    "lifetime",
    "retries",
    "attempts",
    "at",
    "validity",
    "age",
    "seconds",
    "minutes",
    "hours",
    "days",
    "ms",
    "manager",
    "loader",
];

/// First words that make a key a quantity (`max_tokens`, `minPasswordLength`).
pub const QUANTITY_PREFIXES: &[&str] = &["max", "min", "num"];

/// Split a key into lower-cased words (see the module docs).
pub fn words(key: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut prev_lower = false;
    for c in key.chars() {
        if !c.is_alphanumeric() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            prev_lower = false;
            continue;
        }
        if c.is_uppercase() && prev_lower && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        prev_lower = c.is_lowercase() || c.is_ascii_digit();
        cur.extend(c.to_lowercase());
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// A word as it is compared: without trailing digits (`password2`).
fn stem(word: &str) -> &str {
    word.trim_end_matches(|c: char| c.is_ascii_digit())
}

/// Longest key, and most words, split without allocating (ASCII keys only):
/// every property name of OpenMetadata's models and ordinary option keys fit;
/// longer or non-ASCII keys take the general path, with the same result.
const FAST_KEY_BYTES: usize = 96;
const FAST_KEY_WORDS: usize = 16;

/// [`words`] of an ASCII key, lower-cased into `buf`, as byte ranges; `None`
/// when the key is not ASCII or does not fit.
fn ascii_words(
    key: &str,
    buf: &mut [u8; FAST_KEY_BYTES],
    ranges: &mut [(u8, u8); FAST_KEY_WORDS],
) -> Option<usize> {
    let bytes = key.as_bytes();
    if bytes.len() > FAST_KEY_BYTES || !key.is_ascii() {
        return None;
    }
    let mut n = 0;
    let mut start: Option<usize> = None;
    let mut prev_lower = false;
    let mut close = |from: usize, to: usize, n: &mut usize| -> Option<()> {
        if *n == FAST_KEY_WORDS {
            return None;
        }
        ranges[*n] = (from as u8, to as u8);
        *n += 1;
        Some(())
    };
    for (i, &b) in bytes.iter().enumerate() {
        if !b.is_ascii_alphanumeric() {
            if let Some(s) = start.take() {
                close(s, i, &mut n)?;
            }
            prev_lower = false;
            continue;
        }
        if b.is_ascii_uppercase()
            && prev_lower
            && let Some(s) = start.take()
        {
            close(s, i, &mut n)?;
        }
        prev_lower = b.is_ascii_lowercase() || b.is_ascii_digit();
        buf[i] = b.to_ascii_lowercase();
        start.get_or_insert(i);
    }
    if let Some(s) = start {
        close(s, bytes.len(), &mut n)?;
    }
    Some(n)
}

/// Substrings one of which every word that can make a key a credential holds
/// (each of [`CREDENTIAL_WORDS`], [`LAST_WORDS`], [`QUALIFIED_LAST_WORDS`],
/// and one word of each of [`CREDENTIAL_PAIRS`]; a test checks it). Every way
/// [`decide`] can say yes finds such a word in the key's stems, alone or as
/// adjacent stems joined, so it finds one of these in the stems' joined text:
/// a key whose stems hold none is no credential, decided without comparing a
/// word (most keys: `hostPort`, `username`, `databaseSchema`…).
const ROOTS: &[&[u8]] = &[
    b"pass",
    b"pwd",
    b"secret",
    b"token",
    b"credential",
    b"key",
    b"jaas",
    b"info",
    b"jwt",
    b"auth",
    b"cookie",
];

/// Whether the stems, joined, hold one of [`ROOTS`].
fn holds_a_root(stems: &[&str]) -> bool {
    let mut joined = [0u8; FAST_KEY_BYTES];
    let mut len = 0;
    for s in stems {
        joined[len..len + s.len()].copy_from_slice(s.as_bytes());
        len += s.len();
    }
    let joined = &joined[..len];
    (0..len).any(|i| {
        let rest = &joined[i..];
        ROOTS.iter().any(|r| r[0] == rest[0] && rest.starts_with(r))
    })
}

/// Whether an entry with this key holds a credential (see the module docs).
pub fn is_credential_key(key: &str) -> bool {
    // The same decision on the same words; ASCII keys (all but exotic ones)
    // are split on the stack: this runs on every key the rules leave.
    let mut buf = [0u8; FAST_KEY_BYTES];
    let mut ranges = [(0u8, 0u8); FAST_KEY_WORDS];
    if let Some(n) = ascii_words(key, &mut buf, &mut ranges) {
        // Separators were left as zero bytes: still ASCII, never inside a word.
        let lower = std::str::from_utf8(&buf[..key.len()]).expect("ASCII");
        let mut stems = [""; FAST_KEY_WORDS];
        for (stem_at, &(a, b)) in stems.iter_mut().zip(&ranges[..n]) {
            *stem_at = stem(&lower[a as usize..b as usize]);
        }
        // The stems are a key's words, at most its length joined.
        return holds_a_root(&stems[..n]) && decide(&stems[..n]);
    }
    let w = words(key);
    let stems: Vec<&str> = w.iter().map(|x| stem(x)).collect();
    decide(&stems)
}

/// [`is_credential_key`] on a key's stemmed words.
fn decide(stems: &[&str]) -> bool {
    let (Some(first), Some(last)) = (stems.first(), stems.last()) else {
        return false;
    };
    if QUANTITY_PREFIXES.contains(first) || DESCRIPTIVE_SUFFIXES.contains(last) {
        return false;
    }
    let names_a_key_id = last.ends_with("keyid")
        || (matches!(*last, "id" | "ids")
            && stems.len() >= 2
            && stems[stems.len() - 2].ends_with("key"));
    if names_a_key_id {
        return false;
    }
    LAST_WORDS.contains(last)
        || (stems.len() >= 2 && QUALIFIED_LAST_WORDS.contains(last))
        || stems
            .iter()
            .any(|x| CREDENTIAL_WORDS.iter().any(|c| x.ends_with(c)))
        || stems.windows(2).any(|p| {
            CREDENTIAL_PAIRS
                .iter()
                .any(|(a, b)| p[0] == *a && p[1] == *b)
        })
        || joins_a_credential_word(stems)
}

/// Whether a run of two or more adjacent, non-empty words, joined, is exactly
/// one of [`CREDENTIAL_WORDS`] (`pass` `word` → `password`). Exactly, not
/// "ends with": `bypass` `word` is not a credential.
fn joins_a_credential_word(stems: &[&str]) -> bool {
    (0..stems.len()).any(|i| {
        CREDENTIAL_WORDS.iter().any(|c| {
            let mut rest = *c;
            for (n, w) in stems[i..].iter().enumerate() {
                match rest.strip_prefix(w) {
                    _ if w.is_empty() => return false,
                    Some("") => return n >= 1,
                    Some(r) => rest = r,
                    None => return false,
                }
            }
            false
        })
    })
}

/// Whether a string is a URL carrying a password in its userinfo:
/// `scheme://user:password@host…` (the user may be empty, `redis://:pw@h`) or
/// the scheme-less `user:password@host`. The password may hold `@ / ? #`
/// (the userinfo ends at the last `@`); a user name alone is not a secret, and
/// neither is `host:port/path@x` (a port, then a path that holds `@`).
pub fn url_has_password(s: &str) -> bool {
    // Most strings hold no `@`, which every password-carrying URL needs.
    if !s.as_bytes().contains(&b'@') {
        return false;
    }
    // The first `://` (found by its `:`: a substring searcher costs more to
    // set up than these short strings take to scan).
    let scheme_end = s
        .match_indices(':')
        .map(|(i, _)| i)
        .find(|&i| s[i + 1..].starts_with("//"));
    let (rest, schemeless) = match scheme_end {
        Some(i) => (&s[i + 3..], false),
        None => (s, true),
    };
    let Some(colon) = rest.find(':') else {
        return false;
    };
    let Some(at) = rest.rfind('@') else {
        return false;
    };
    let user = &rest[..colon];
    if at < colon || user.contains(['/', '?', '#', '@']) {
        return false;
    }
    if schemeless && (user.is_empty() || at + 1 == rest.len() || s.contains(char::is_whitespace)) {
        return false;
    }
    let password = &rest[colon + 1..at];
    if password.is_empty() {
        return false;
    }
    match password.find(['/', '?', '#']) {
        Some(end) => !password[..end].bytes().all(|b| b.is_ascii_digit()),
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`ROOTS`] covers every word that can make a key a credential, so the
    /// filter in [`is_credential_key`] never turns a credential away.
    #[test]
    fn every_credential_word_holds_a_root() {
        let words = CREDENTIAL_WORDS
            .iter()
            .chain(LAST_WORDS)
            .chain(QUALIFIED_LAST_WORDS);
        for w in words {
            assert!(holds_a_root(&[w]), "{w} holds no root");
        }
        for (a, b) in CREDENTIAL_PAIRS {
            assert!(
                holds_a_root(&[a]) || holds_a_root(&[b]),
                "neither {a} nor {b} holds a root"
            );
        }
    }

    /// With or without the filter, the same decision: on every key of the
    /// tests below, and on every key of one to three words drawn from the
    /// lists (and some plain words), in three spellings each.
    #[test]
    fn the_root_filter_changes_no_decision() {
        let unfiltered = |key: &str| {
            let w = words(key);
            let stems: Vec<&str> = w.iter().map(|x| stem(x)).collect();
            decide(&stems)
        };
        let mut pool: Vec<&str> = CREDENTIAL_WORDS
            .iter()
            .chain(LAST_WORDS)
            .chain(QUALIFIED_LAST_WORDS)
            .chain(DESCRIPTIVE_SUFFIXES)
            .chain(QUANTITY_PREFIXES)
            .copied()
            .collect();
        pool.extend(CREDENTIAL_PAIRS.iter().flat_map(|(a, b)| [*a, *b]));
        pool.extend([
            "host", "port", "user", "name", "id", "ids", "pa", "ss", "word", "wd", "phrase", "by",
            "through", "db", "2", "k", "ey", "s", "sec", "ret", "to", "ken", "ja", "as",
        ]);
        let mut keys: Vec<String> = CREDENTIAL_KEYS
            .iter()
            .chain(ORDINARY_KEYS)
            .map(|k| k.to_string())
            .collect();
        for a in &pool {
            keys.push(a.to_string());
            for b in &pool {
                keys.push(format!("{a}_{b}"));
                keys.push(format!("{a}{}", capitalise(b)));
                keys.push(format!("{}{}", a.to_uppercase(), b));
            }
        }
        for a in pool.iter().step_by(3) {
            for b in pool.iter().step_by(2) {
                for c in pool.iter().step_by(5) {
                    keys.push(format!("{a}_{b}.{c}"));
                    keys.push(format!("{a}{}{}", capitalise(b), capitalise(c)));
                }
            }
        }
        let mut credentials = 0;
        for k in &keys {
            let want = unfiltered(k);
            assert_eq!(is_credential_key(k), want, "{k}");
            credentials += usize::from(want);
        }
        // Both kinds were tried, many times over.
        assert!(
            credentials > 1000 && keys.len() - credentials > 1000,
            "{credentials} of {}",
            keys.len()
        );
    }

    fn capitalise(s: &str) -> String {
        let mut c = s.chars();
        match c.next() {
            Some(f) => f.to_uppercase().chain(c).collect(),
            None => String::new(),
        }
    }

    /// Keys that hold credentials.
    const CREDENTIAL_KEYS: &[&str] = &[
        "password",
        "Password",
        "db_password",
        "DB-PASSWORD",
        "passwd",
        "pwd",
        "secret",
        "client_secret",
        "clientSecret",
        "token",
        "access_token",
        "accessToken",
        "api_key",
        "apiKey",
        "APIKEY",
        "api-key",
        "private_key",
        "privateKey",
        "access_key",
        "credentials",
        "basic_auth",
        "proxyAuth",
        "sslPassphrase",
        "secret_key",
        // Kafka client properties, dotted.
        "sasl.jaas.config",
        "basic.auth.user.info",
        "ssl.key.password",
        "sasl.password",
        // HTTP headers.
        "Authorization",
        "Proxy-Authorization",
        "Cookie",
        "X-Api-Key",
        "X-Auth-Token",
        // libpq and friends.
        "PGPASSWORD",
        "sslpassword",
        "password2",
        "pass",
        "db_pass",
        "ssl_key",
        "sslKey",
        "awsSessionToken",
        "secret_id",
        "userInfo",
        "jwt",
        // A credential word split by case or separators.
        "passWord",
        "PassWord",
        "dbPassWord",
        "db_pass_word",
        "passPhrase",
        "PassPhrase",
        "sslPassPhrase",
        "PassWd",
        "PASS_WORD",
        "pass-word",
        "pass_word",
        "pass.word",
        "passWord2",
        "pass_word_2",
        "clientSecRet",
        "accessToKen",
    ];

    /// Near misses: keys that only look like credentials.
    const ORDINARY_KEYS: &[&str] = &[
        "ssl_mode",
        "sslmode",
        "timeout",
        "connect_timeout",
        "authSource",
        "auth_type",
        "authType",
        "dbtConfigType",
        "type",
        "authMechanism",
        "author",
        "authority",
        "tokenizer",
        "token_url",
        "tokenEndpoint",
        "password_file",
        "secret_name",
        "keytab_path",
        "application_name",
        "charset",
        "key",
        "monkey",
        "passage",
        "bypass",
        "pass_through",
        "",
        "keyId",
        "key_id",
        "awsAccessKeyId",
        "aws_access_key_id",
        "accessKeyId",
        "privateKeyId",
        "kms_key_ids",
        "sasl.mechanism",
        "basic.auth.credentials.source",
        "sasl.jaas.config.file",
        "max_tokens",
        "maxTokens",
        "minPasswordLength",
        "password_env",
        "cookie_domain",
        "userinfo_endpoint",
        // Typed fields of OpenMetadata's models that only look like credentials.
        "auth",
        "JWTTokenExpiresAt",
        "tokenValidity",
        "secretsManagerLoader",
        "secretsManager",
        "clientKeyCertificate",
        // Near misses for joined words: no run is exactly a credential word,
        // or a descriptive suffix ends the key.
        "passThrough",
        "PassThrough",
        "passive",
        "bypass_mode",
        "bypass_word",
        "compass_word",
        "passwordFile",
        "passWordFile",
        "pass_word_file",
        "passPhraseLength",
        "pass_wordlist",
        "passPort",
        "maxPassWord",
    ];

    /// The allocation-free split of ASCII keys decides as the general one.
    #[test]
    fn ascii_fast_path_agrees_with_words() {
        let slow = |k: &str| {
            let w = words(k);
            let stems: Vec<&str> = w.iter().map(|x| stem(x)).collect();
            decide(&stems)
        };
        let long = "aB".repeat(40) + "_password";
        let many = "a_".repeat(20) + "token";
        let mut keys: Vec<String> = CREDENTIAL_KEYS
            .iter()
            .chain(ORDINARY_KEYS)
            .map(|k| k.to_string())
            .collect();
        keys.extend([
            long,
            many,
            "".into(),
            "__".into(),
            "X".into(),
            "aPI_KEY2".into(),
        ]);
        for k in &keys {
            for v in [
                k.clone(),
                k.to_uppercase(),
                format!("{k}Id"),
                format!("my.{k}_9"),
            ] {
                assert_eq!(is_credential_key(&v), slow(&v), "{v}");
            }
        }
    }

    #[test]
    fn credential_keys() {
        for k in CREDENTIAL_KEYS {
            assert!(is_credential_key(k), "{k} should be a credential");
        }
    }

    #[test]
    fn ordinary_keys() {
        for k in ORDINARY_KEYS {
            assert!(!is_credential_key(k), "{k} should not be a credential");
        }
    }

    #[test]
    fn words_split_at_separators_and_case() {
        assert_eq!(words("sasl.jaas.config"), ["sasl", "jaas", "config"]);
        assert_eq!(words("awsAccessKeyId"), ["aws", "access", "key", "id"]);
        assert_eq!(words("X-Api-Key"), ["x", "api", "key"]);
        assert_eq!(words("PGPASSWORD"), ["pgpassword"]);
        assert_eq!(words("password2"), ["password2"]);
        assert!(words("._-").is_empty());
    }

    #[test]
    fn urls() {
        for yes in [
            "mysql://root:s3cret@localhost:3306/db",
            "postgresql+psycopg2://u:p@h/x?sslmode=require",
            "https://a:b@c@host/",
            "redis://:pw@cache:6379/0",
            // The password holds `#`, `/`, `?` or `@`.
            "mysql://root:pa#ss@localhost:3306/db",
            "mysql://root:pa/ss@localhost:3306/db",
            "mysql://root:pa?ss@localhost:3306/db",
            "mysql://root:p@ss@localhost:3306/db",
            // Scheme-less.
            "user:pass@host",
            "user:pass@host:5432/db",
            "admin:p#w/d@db.example.com",
        ] {
            assert!(url_has_password(yes), "{yes} has a password");
        }
        for no in [
            "mysql://root@localhost:3306",
            "mysql://root:@localhost",
            "localhost:3306",
            "https://host/path?x=a:b@c",
            "https://host:443/@someone",
            "https://host/@scope/pkg",
            "host:3306",
            "user@host",
            "user:pass@",
            ":pass@host",
            "a b:c@d",
            "",
        ] {
            assert!(!url_has_password(no), "{no} has no password");
        }
    }
}
