//! Errors as `application/problem+json` (RFC 9457). A problem's text comes
//! from the library's typed errors (which name fields, ids, plugins and
//! files, never a value) or from the server itself; no request body is ever
//! copied into one.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::Error;
use crate::error::ErrorCategory;

/// The base of every problem `type`.
pub const TYPE_BASE: &str = "https://om-secrets.invalid/problems/";

/// One problem.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// `https://om-secrets.invalid/problems/<kind>`.
    #[serde(rename = "type")]
    pub kind: String,
    /// A short summary of the kind.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What happened (never a secret value).
    pub detail: String,
    /// The JSON pointer into the request's document that is wrong.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pointer: Option<String>,
    /// The secret id involved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Seconds until a rate-limited caller may retry (`Retry-After`).
    #[serde(skip)]
    pub retry_after: Option<u64>,
}

impl Problem {
    /// A problem of a kind (`bad-json`, `forbidden`…).
    pub fn new(status: StatusCode, kind: &str, title: &str, detail: impl Into<String>) -> Self {
        Problem {
            kind: format!("{TYPE_BASE}{kind}"),
            title: title.into(),
            status: status.as_u16(),
            detail: detail.into(),
            pointer: None,
            id: None,
            retry_after: None,
        }
    }

    /// 400: the body is not what the route takes.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "bad-request",
            "Bad request",
            detail,
        )
    }

    /// 400 at a pointer into the body.
    pub fn bad_request_at(pointer: &str, detail: impl Into<String>) -> Self {
        let mut p = Self::bad_request(detail);
        p.pointer = Some(pointer.into());
        p
    }

    /// 401.
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Unauthorized",
            "a valid `Authorization: Bearer <API key or JWT>` header is required",
        )
    }

    /// 403.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", "Forbidden", detail)
    }

    /// 404.
    pub fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not-found",
            "Not found",
            "no such route (see /openapi.json)",
        )
    }

    /// 503: not ready yet.
    pub fn not_ready(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not-ready",
            "Not ready",
            detail,
        )
    }

    /// The problem a library error is.
    pub fn from_error(e: &Error) -> Self {
        use ErrorCategory as C;
        use StatusCode as S;
        let detail = e.to_string();
        let (status, kind, title) = match e.category() {
            C::Input => (S::UNPROCESSABLE_ENTITY, "invalid-input", "Invalid input"),
            C::MissingSecret => (S::UNPROCESSABLE_ENTITY, "missing-secret", "Missing secret"),
            C::Undecryptable => (
                S::UNPROCESSABLE_ENTITY,
                "undecryptable",
                "Cannot decrypt a value",
            ),
            C::Config | C::File => (
                S::INTERNAL_SERVER_ERROR,
                "server-configuration",
                "Server configuration",
            ),
            C::StoreUnavailable | C::StoreDenied => (
                S::SERVICE_UNAVAILABLE,
                "kms-unavailable",
                "Secret store unavailable",
            ),
            C::StoreCorrupt => (
                S::INTERNAL_SERVER_ERROR,
                "kms-corrupt",
                "Secret store unreadable",
            ),
            C::StoreRefused => (
                S::UNPROCESSABLE_ENTITY,
                "kms-refused",
                "Refused by the secret store",
            ),
            C::Store => (S::INTERNAL_SERVER_ERROR, "kms-error", "Secret store error"),
            C::TooLarge => (S::PAYLOAD_TOO_LARGE, "too-large", "Document too large"),
            C::Plugin => (S::INTERNAL_SERVER_ERROR, "plugin-failure", "Plugin failure"),
        };
        let mut p = Self::new(status, kind, title, detail);
        let f = crate::ops::Failure::from(e);
        p.pointer = f.pointer;
        p.id = match e {
            Error::MissingSecret { id, .. } => Some(id.clone()),
            Error::Kms(k) => k.id.clone(),
            _ => None,
        };
        p
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut r = (status, body).into_response();
        let h = r.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if status == StatusCode::UNAUTHORIZED {
            h.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(s) = self.retry_after {
            h.insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        r
    }
}
