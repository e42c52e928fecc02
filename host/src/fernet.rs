//! Fernet, as OpenMetadata uses it.
//!
//! - Stored ciphertext is `fernet:<token>` ([`PREFIX`]).
//! - `FERNET_KEY` may list several keys separated by commas: the first
//!   encrypts, every one is tried to decrypt (key rotation).
//! - Keys are normalised as OpenMetadata does: `/` → `_`, `+` → `-` (so standard
//!   base64 keys work) and padding is optional.
//! - Tokens never expire.
//! - A value that is already a token is never encrypted again.
//!
//! Tokens interoperate with Python `cryptography`'s `Fernet` both ways: the
//! `fernet` crate implements the same specification (AES-128-CBC + HMAC-SHA256).

use zeroize::Zeroizing;

/// The prefix of an encrypted value.
pub const PREFIX: &str = "fernet:";

/// What can go wrong with keys and tokens. Never carries a key or a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FernetError {
    /// No key is configured.
    #[error("no Fernet key configured (set FERNET_KEY or fernetKey)")]
    NoKey,
    /// A key in the list is not 32 url-safe base64-encoded bytes.
    #[error(
        "Fernet key number {index} (of the comma-separated list) is not a valid key: it must be 32 bytes, url-safe base64-encoded"
    )]
    BadKey {
        /// 1-based position in the list.
        index: usize,
    },
    /// No configured key decrypts the token.
    #[error(
        "{}cannot decrypt a Fernet token: the token is corrupt or the Fernet key changed (FERNET_KEY must still list the key the value was encrypted with)",
        field(pointer)
    )]
    Decrypt {
        /// The field whose value failed, when known.
        pointer: Option<String>,
    },
    /// The decrypted bytes are not UTF-8 text.
    #[error(
        "{}a Fernet token decrypts to bytes that are not UTF-8 text",
        field(pointer)
    )]
    NotText {
        /// The field whose value failed, when known.
        pointer: Option<String>,
    },
}

fn field(pointer: &Option<String>) -> String {
    pointer
        .as_ref()
        .map(|p| format!("field `{p}`: "))
        .unwrap_or_default()
}

impl FernetError {
    /// The same error, naming the field it happened at.
    pub fn at(self, pointer: &str) -> Self {
        match self {
            FernetError::Decrypt { .. } => FernetError::Decrypt {
                pointer: Some(pointer.into()),
            },
            FernetError::NotText { .. } => FernetError::NotText {
                pointer: Some(pointer.into()),
            },
            other => other,
        }
    }
}

/// The configured keys.
pub struct FernetKeys {
    multi: fernet::MultiFernet,
}

impl std::fmt::Debug for FernetKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FernetKeys(..)")
    }
}

/// Normalise one key as OpenMetadata does, and restore the padding the
/// decoder wants.
fn normalise(key: &str) -> Zeroizing<String> {
    let mut k: String = key
        .trim()
        .chars()
        .filter(|c| *c != '=')
        .map(|c| match c {
            '/' => '_',
            '+' => '-',
            c => c,
        })
        .collect();
    while k.len() % 4 != 0 {
        k.push('=');
    }
    Zeroizing::new(k)
}

impl FernetKeys {
    /// Parse a comma-separated key list (`FERNET_KEY`).
    pub fn parse(list: &str) -> Result<Self, FernetError> {
        let mut keys = Vec::new();
        for (i, raw) in list.split(',').enumerate() {
            if raw.trim().is_empty() {
                continue;
            }
            let key =
                fernet::Fernet::new(&normalise(raw)).ok_or(FernetError::BadKey { index: i + 1 })?;
            keys.push(key);
        }
        if keys.is_empty() {
            return Err(FernetError::NoKey);
        }
        Ok(FernetKeys {
            multi: fernet::MultiFernet::new(keys),
        })
    }

    /// A new random key, url-safe base64 (what `fernet keygen` prints).
    pub fn generate_key() -> String {
        fernet::Fernet::generate_key()
    }

    /// Encrypt with the first key: `fernet:<token>`.
    pub fn encrypt(&self, plain: &str) -> String {
        format!("{PREFIX}{}", self.multi.encrypt(plain.as_bytes()))
    }

    /// Encrypt unless the value already is a token (never twice).
    pub fn encrypt_once(&self, value: &str) -> String {
        if is_tokenized(value) {
            value.to_string()
        } else {
            self.encrypt(value)
        }
    }

    /// Decrypt `fernet:<token>` (the prefix is optional) with any key.
    pub fn decrypt(&self, value: &str) -> Result<Zeroizing<String>, FernetError> {
        let token = value.strip_prefix(PREFIX).unwrap_or(value);
        let bytes = Zeroizing::new(
            self.multi
                .decrypt(token)
                .map_err(|_| FernetError::Decrypt { pointer: None })?,
        );
        match std::str::from_utf8(&bytes) {
            Ok(s) => Ok(Zeroizing::new(s.to_string())),
            Err(_) => Err(FernetError::NotText { pointer: None }),
        }
    }
}

/// Whether a value is a Fernet token as stored (`fernet:…`).
pub fn is_tokenized(value: &str) -> bool {
    value.starts_with(PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    // OpenMetadata's documented sample key, in standard base64 (with `/`).
    const OM_SAMPLE: &str = "jJ/9sz0g0OHxsfxOoSfdFdmk3ysNmPRnH3TUAbz3IHA=";

    #[test]
    fn round_trip_and_prefix() {
        let k = FernetKeys::parse(OM_SAMPLE).unwrap();
        let t = k.encrypt("s3cret");
        assert!(t.starts_with("fernet:"));
        assert!(!t.contains("s3cret"));
        assert_eq!(&*k.decrypt(&t).unwrap(), "s3cret");
        assert_eq!(k.encrypt_once(&t), t);
    }

    #[test]
    fn standard_and_urlsafe_forms_are_the_same_key() {
        let std_form = FernetKeys::parse(OM_SAMPLE).unwrap();
        let url_form = FernetKeys::parse("jJ_9sz0g0OHxsfxOoSfdFdmk3ysNmPRnH3TUAbz3IHA").unwrap();
        assert_eq!(&*url_form.decrypt(&std_form.encrypt("x")).unwrap(), "x");
        let plus = FernetKeys::generate_key().replace('-', "+");
        FernetKeys::parse(&plus).unwrap();
    }

    #[test]
    fn rotation_first_encrypts_all_decrypt() {
        let old = FernetKeys::generate_key();
        let new = FernetKeys::generate_key();
        let before = FernetKeys::parse(&old).unwrap().encrypt("v");
        let both = FernetKeys::parse(&format!("{new}, {old}")).unwrap();
        assert_eq!(&*both.decrypt(&before).unwrap(), "v");
        let after = both.encrypt("w");
        assert_eq!(
            &*FernetKeys::parse(&new).unwrap().decrypt(&after).unwrap(),
            "w"
        );
        assert!(FernetKeys::parse(&old).unwrap().decrypt(&after).is_err());
    }

    #[test]
    fn errors_say_what_and_never_the_key() {
        assert_eq!(FernetKeys::parse(" , ").unwrap_err(), FernetError::NoKey);
        let e = FernetKeys::parse(&format!("{},short", FernetKeys::generate_key())).unwrap_err();
        assert_eq!(e, FernetError::BadKey { index: 2 });
        let k = FernetKeys::parse(&FernetKeys::generate_key()).unwrap();
        let other = FernetKeys::parse(OM_SAMPLE).unwrap().encrypt("v");
        let e = k.decrypt(&other).unwrap_err().at("/authType/password");
        let msg = e.to_string();
        assert!(
            msg.contains("/authType/password") && msg.contains("Fernet key changed"),
            "{msg}"
        );
        let mut tampered = other.clone();
        tampered.replace_range(20..21, if &other[20..21] == "A" { "B" } else { "A" });
        assert!(k.decrypt(&tampered).is_err());
        assert!(k.decrypt("fernet:not-a-token").is_err());
    }
}
