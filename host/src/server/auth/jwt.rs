//! OpenMetadata's JWTs: RS256 only (`none`, HMAC and every other algorithm
//! are refused before any key is looked at), verified against a JWKS (a file,
//! or OpenMetadata's JWKS URL fetched at start-up), `iss` and `exp` required
//! and checked with a bounded clock skew. The claims (`sub`, `isBot`,
//! `tokenType`, …) are handed to the role mapping.

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};

use crate::server::ServeError;
use crate::server::config::JwtConfig;

/// Verifies JWTs against the configured keys.
pub struct JwtVerifier {
    keys: Vec<(Option<String>, DecodingKey)>,
    validation: Validation,
}

/// Why a JWT was refused (kept for tests and logs; callers see one 401).
#[derive(Debug, thiserror::Error)]
pub enum JwtError {
    /// The header is unreadable, or names an algorithm other than RS256.
    #[error("unsupported or unreadable JWT header")]
    Header,
    /// No JWKS key has the token's `kid`.
    #[error("no key for the token's kid")]
    UnknownKey,
    /// Signature, issuer, expiry or claims do not verify.
    #[error("{0:?}")]
    Invalid(jsonwebtoken::errors::ErrorKind),
}

impl JwtVerifier {
    /// A verifier for a JWKS document (its RSA keys; others are skipped).
    pub fn new(jwks: &str, config: &JwtConfig) -> Result<Self, ServeError> {
        let set: JwkSet = serde_json::from_str(jwks)
            .map_err(|e| ServeError::Config(format!("server.jwt: the JWKS is not valid: {e}")))?;
        let mut keys = Vec::new();
        for k in &set.keys {
            if let jsonwebtoken::jwk::AlgorithmParameters::RSA(_) = &k.algorithm
                && let Ok(d) = DecodingKey::from_jwk(k)
            {
                keys.push((k.common.key_id.clone(), d));
            }
        }
        if keys.is_empty() {
            return Err(ServeError::Config(
                "server.jwt: the JWKS holds no RSA key".into(),
            ));
        }
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[&config.issuer]);
        validation.leeway = config.clock_skew.as_secs();
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.validate_aud = false;
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        Ok(JwtVerifier { keys, validation })
    }

    /// The claims of a valid token.
    pub fn verify(
        &self,
        token: &str,
    ) -> Result<serde_json::Map<String, serde_json::Value>, JwtError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| JwtError::Header)?;
        if header.alg != Algorithm::RS256 {
            return Err(JwtError::Header);
        }
        let candidates: Vec<&DecodingKey> = match &header.kid {
            Some(kid) => self
                .keys
                .iter()
                .filter(|(k, _)| k.as_deref() == Some(kid.as_str()))
                .map(|(_, d)| d)
                .collect(),
            None => self.keys.iter().map(|(_, d)| d).collect(),
        };
        if candidates.is_empty() {
            return Err(JwtError::UnknownKey);
        }
        let mut last = JwtError::UnknownKey;
        for key in candidates {
            match jsonwebtoken::decode::<serde_json::Map<String, serde_json::Value>>(
                token,
                key,
                &self.validation,
            ) {
                Ok(data) => return Ok(data.claims),
                Err(e) => last = JwtError::Invalid(e.into_kind()),
            }
        }
        Err(last)
    }
}

/// The JWKS document of a configuration: the file's contents, or the URL's
/// answer (fetched once, at start-up).
pub async fn load_jwks(config: &JwtConfig) -> Result<String, ServeError> {
    match &config.jwks {
        super::super::config::JwksSource::File(p) => {
            std::fs::read_to_string(p).map_err(|e| ServeError::Io {
                path: p.clone(),
                source: e,
            })
        }
        super::super::config::JwksSource::Url(u) => fetch(u).await,
    }
}

#[cfg(feature = "client")]
async fn fetch(url: &str) -> Result<String, ServeError> {
    let err = |e: String| ServeError::Config(format!("server.jwt.jwksUrl `{url}`: {e}"));
    let resp = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .map_err(|e| err(e.to_string()))?
        .get(url)
        .send()
        .await
        .map_err(|e| err(e.to_string()))?;
    if !resp.status().is_success() {
        return Err(err(format!("answered {}", resp.status())));
    }
    resp.text().await.map_err(|e| err(e.to_string()))
}

#[cfg(not(feature = "client"))]
async fn fetch(url: &str) -> Result<String, ServeError> {
    Err(ServeError::Config(format!(
        "server.jwt.jwksUrl `{url}`: this build has no HTTP client (feature `client`); use jwksFile"
    )))
}
