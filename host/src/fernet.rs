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
    while !k.len().is_multiple_of(4) {
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
pub(crate) fn is_tokenized(value: &str) -> bool {
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

    // A fixed key whose url-safe form holds both `-` and `_` (and so whose
    // standard form holds both `+` and `/`): every normalisation step has
    // something to do.
    const BOTH_URL: &str = "X-zrZv_IbzjZUnhsbWlsecLbwjndTpG0ZynXOif7V-k=";
    const BOTH_STD: &str = "X+zrZv/IbzjZUnhsbWlsecLbwjndTpG0ZynXOif7V+k=";

    #[test]
    fn standard_and_urlsafe_forms_are_the_same_key() {
        // The forms really differ, and the standard one is no valid url-safe key.
        assert!(BOTH_STD.contains('+') && BOTH_STD.contains('/'));
        assert!(fernet::Fernet::new(BOTH_STD).is_none());
        assert!(fernet::Fernet::new(OM_SAMPLE).is_none());
        for (a, b) in [
            (OM_SAMPLE, "jJ_9sz0g0OHxsfxOoSfdFdmk3ysNmPRnH3TUAbz3IHA"),
            (BOTH_STD, BOTH_URL),
            (BOTH_STD, BOTH_URL.trim_end_matches('=')),
            (BOTH_URL, BOTH_STD.trim_end_matches('=')),
        ] {
            let a = FernetKeys::parse(a).unwrap();
            let b = FernetKeys::parse(b).unwrap();
            // Both ways: each form decrypts what the other encrypted.
            assert_eq!(&*b.decrypt(&a.encrypt("x")).unwrap(), "x");
            assert_eq!(&*a.decrypt(&b.encrypt("y")).unwrap(), "y");
        }
        // And a different key is not mistaken for it.
        let other = FernetKeys::parse(OM_SAMPLE).unwrap();
        let t = FernetKeys::parse(BOTH_STD).unwrap().encrypt("z");
        assert!(other.decrypt(&t).is_err());
    }

    #[test]
    fn rotation_first_encrypts_all_decrypt() {
        let old = OM_SAMPLE;
        let new = BOTH_URL;
        let before = FernetKeys::parse(old).unwrap().encrypt("v");
        let both = FernetKeys::parse(&format!("{new}, {old}")).unwrap();
        assert_eq!(&*both.decrypt(&before).unwrap(), "v");
        let after = both.encrypt("w");
        assert_eq!(
            &*FernetKeys::parse(new).unwrap().decrypt(&after).unwrap(),
            "w"
        );
        assert_eq!(
            FernetKeys::parse(old).unwrap().decrypt(&after).unwrap_err(),
            FernetError::Decrypt { pointer: None }
        );
    }

    #[test]
    fn errors_say_what_and_never_the_key() {
        assert_eq!(FernetKeys::parse(" , ").unwrap_err(), FernetError::NoKey);
        // A key that is almost valid (one character short) is still refused by
        // position, and never quoted.
        let short = &BOTH_URL[..42];
        let e = FernetKeys::parse(&format!("{OM_SAMPLE},{short}")).unwrap_err();
        assert_eq!(e, FernetError::BadKey { index: 2 });
        let msg = e.to_string();
        assert!(!msg.contains(short) && !msg.contains(OM_SAMPLE), "{msg}");

        let k = FernetKeys::parse(BOTH_URL).unwrap();
        let sample = FernetKeys::parse(OM_SAMPLE).unwrap();
        let other = sample.encrypt("v");
        let e = k.decrypt(&other).unwrap_err().at("/authType/password");
        assert_eq!(
            e,
            FernetError::Decrypt {
                pointer: Some("/authType/password".into())
            }
        );
        let msg = e.to_string();
        assert!(
            msg.contains("/authType/password") && msg.contains("Fernet key changed"),
            "{msg}"
        );
        for key in [
            BOTH_URL,
            BOTH_STD,
            OM_SAMPLE,
            "jJ_9sz0g0OHxsfxOoSfdFdmk3ysNmPRnH3TUAbz3IHA",
        ] {
            let bare = key.trim_end_matches('=');
            assert!(!msg.contains(bare), "the message holds a key: {msg}");
            assert!(!format!("{e:?}").contains(bare), "{e:?}");
        }
        assert!(!format!("{k:?}").contains(&BOTH_URL[..8]), "{k:?}");

        // A tampered token fails with the key that decrypts the original.
        assert_eq!(&*sample.decrypt(&other).unwrap(), "v");
        let token = other.strip_prefix(PREFIX).unwrap();
        for at in [0, 10, 30, token.len() / 2, token.len() - 2] {
            let mut tampered = token.to_string();
            let c = &token[at..at + 1];
            tampered.replace_range(at..at + 1, if c == "A" { "B" } else { "A" });
            assert_ne!(tampered, token);
            assert_eq!(
                sample.decrypt(&tampered).unwrap_err(),
                FernetError::Decrypt { pointer: None },
                "tampered at {at}"
            );
        }
        assert_eq!(
            sample.decrypt("fernet:not-a-token").unwrap_err(),
            FernetError::Decrypt { pointer: None }
        );
        // Bytes that are not text: a typed error of its own.
        let bin = format!("{PREFIX}{}", sample.multi.encrypt(&[0xff, 0xfe]));
        assert_eq!(
            sample.decrypt(&bin).unwrap_err().at("/p"),
            FernetError::NotText {
                pointer: Some("/p".into())
            }
        );
    }
}
