//! Authentication: `Authorization: Bearer <token>`, where the token is an API
//! key from the configuration ([`api_key`]) or a JWT issued by OpenMetadata
//! ([`jwt`]). Every failure is the same 401 to the caller (the reason goes to
//! the metrics, never the token).

pub mod api_key;
pub mod jwt;

use super::roles::Caller;

/// Why a request was not authenticated (a metric label; never shown with
/// the token).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthFailure {
    /// No `Authorization: Bearer` header.
    Missing,
    /// Not a configured key, and not a JWT (or JWTs are not configured).
    UnknownKey,
    /// A JWT that does not verify: signature, algorithm, issuer, expiry, key id.
    BadJwt,
}

impl AuthFailure {
    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            AuthFailure::Missing => "missing",
            AuthFailure::UnknownKey => "unknown_key",
            AuthFailure::BadJwt => "bad_jwt",
        }
    }
}

/// API keys and JWT verification together.
pub struct Authenticator {
    /// The keys.
    pub keys: api_key::ApiKeys,
    /// The JWT verifier, if configured.
    pub jwt: Option<jwt::JwtVerifier>,
}

impl Authenticator {
    /// The caller an `Authorization` header value names.
    pub fn authenticate(&self, header: Option<&str>) -> Result<Caller, AuthFailure> {
        let token = header
            .and_then(|h| {
                let (scheme, rest) = h.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
            })
            .filter(|t| !t.is_empty())
            .ok_or(AuthFailure::Missing)?;
        if let Some(name) = self.keys.check(token) {
            return Ok(Caller {
                id: format!("apiKey:{name}"),
                api_key: Some(name),
                claims: None,
            });
        }
        match &self.jwt {
            Some(v) if token.split('.').count() == 3 => {
                let claims = v.verify(token).map_err(|_| AuthFailure::BadJwt)?;
                let sub = claims
                    .get("sub")
                    .and_then(|s| s.as_str())
                    .unwrap_or_default()
                    .to_string();
                Ok(Caller {
                    id: format!("jwt:{sub}"),
                    api_key: None,
                    claims: Some(claims),
                })
            }
            _ => Err(AuthFailure::UnknownKey),
        }
    }
}
