//! Heuristics for credentials that no schema marks: entries of free-form maps
//! (`connectionOptions`, `connectionArguments`, extra headers) and connection
//! URLs with an embedded password.
//!
//! OpenMetadata stores such values in plain text. The rules here err on the side
//! of calling something a credential, but keep ordinary keys (`ssl_mode`,
//! `timeout`, `authSource`, `token_url`) plain:
//!
//! 1. The key is split into words at separators (`_ - . space`) and at
//!    lower→upper case changes, and lower-cased: `sslMode` → `ssl mode`,
//!    `API_KEY` → `api key`.
//! 2. If the last word names a *property of* a credential rather than the
//!    credential itself (`url`, `uri`, `endpoint`, `path`, `file`, `type`,
//!    `mode`, `method`, `name`, `id`-less words such as `ttl`, `expiry`,
//!    `length`, `timeout`, `source`, `mechanism`, `provider`, `header`…), the key
//!    is not a credential: `token_url`, `password_file`, `authSource`.
//! 3. Otherwise it is one if any word is `password`, `passwd`, `pwd`,
//!    `passphrase`, `secret`, `token`, `credential(s)`, `apikey`, `privatekey`,
//!    `accesskey`, `secretkey`; or two adjacent words are `api key`,
//!    `private key`, `access key`, `secret key`; or the *last* word is `auth`
//!    (`basic_auth`, `proxy-auth`, but not `auth_type`).

/// Words that make a key a credential wherever they stand.
const CREDENTIAL_WORDS: &[&str] = &[
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
    "authtoken",
    "accesstoken",
    "refreshtoken",
    "sessiontoken",
    "clientsecret",
];

/// Adjacent word pairs that make a key a credential.
const CREDENTIAL_PAIRS: &[(&str, &str)] = &[
    ("api", "key"),
    ("private", "key"),
    ("access", "key"),
    ("secret", "key"),
    ("sas", "key"),
];

/// Last words that describe something *about* a credential, not the credential.
const DESCRIPTIVE_SUFFIXES: &[&str] = &[
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
];

/// Split a key into lower-cased words (see the module docs).
fn words(key: &str) -> Vec<String> {
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

/// Whether an entry of a free-form map with this key holds a credential.
pub fn is_credential_key(key: &str) -> bool {
    let w = words(key);
    let Some(last) = w.last() else { return false };
    if DESCRIPTIVE_SUFFIXES.contains(&last.as_str()) {
        return false;
    }
    if last == "auth" {
        return true;
    }
    if w.iter().any(|x| CREDENTIAL_WORDS.contains(&x.as_str())) {
        return true;
    }
    w.windows(2).any(|p| {
        CREDENTIAL_PAIRS
            .iter()
            .any(|(a, b)| p[0] == *a && p[1] == *b)
    })
}

/// Whether a string is a URL carrying a password in its userinfo
/// (`scheme://user:password@host…`). A user name alone is not a secret.
pub fn url_has_password(s: &str) -> bool {
    let Some(i) = s.find("://") else { return false };
    let rest = &s[i + 3..];
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let Some(at) = authority.rfind('@') else {
        return false;
    };
    match authority[..at].split_once(':') {
        Some((_, password)) => !password.is_empty(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_keys() {
        for k in [
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
            "aws_access_key_id",
            "access_key",
            "credentials",
            "basic_auth",
            "proxyAuth",
            "auth",
            "sslPassphrase",
            "secret_key",
        ] {
            assert!(is_credential_key(k), "{k} should be a credential");
        }
    }

    #[test]
    fn ordinary_keys() {
        for k in [
            "ssl_mode",
            "sslmode",
            "timeout",
            "connect_timeout",
            "authSource",
            "auth_type",
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
            "",
        ] {
            assert!(!is_credential_key(k), "{k} should not be a credential");
        }
    }

    #[test]
    fn urls() {
        assert!(url_has_password("mysql://root:s3cret@localhost:3306/db"));
        assert!(url_has_password(
            "postgresql+psycopg2://u:p@h/x?sslmode=require"
        ));
        assert!(url_has_password("https://a:b@c@host/"));
        assert!(!url_has_password("mysql://root@localhost:3306"));
        assert!(!url_has_password("mysql://root:@localhost"));
        assert!(!url_has_password("localhost:3306"));
        assert!(!url_has_password("https://host/path?x=a:b@c"));
        assert!(!url_has_password("user:pass@host"));
    }
}
