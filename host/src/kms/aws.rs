//! `managed-aws` / `aws`: AWS Secrets Manager, as OpenMetadata uses it.
//!
//! - The secret's **name is the id**, leading `/` included
//!   (`/openmetadata/database/x/authtype/password`), holding the value as
//!   `SecretString`: what OpenMetadata's ingestion side reads with
//!   `get_secret_value(SecretId=<id>)["SecretString"]`.
//! - `put` = `UpdateSecret`, or `CreateSecret` (with the description
//!   OpenMetadata gives and the configured tags) if there is none; a secret
//!   still in its recovery window (deleted by something else) is restored
//!   first. Tags are set on creation only.
//! - `delete` = `DeleteSecret` with `ForceDeleteWithoutRecovery`: immediate, so
//!   a service deleted and re-created under the same name works.
//! - An empty value or `"null"` deletes; a stored `"null"` reads as absent.
//! - A reference's canonical id is the secret's name: a name is itself (it
//!   must be a valid name: 1–512 characters of `A-Za-z0-9/_+=.@-`); an ARN,
//!   full or partial, is resolved with `DescribeSecret` (AWS appends a
//!   random `-XXXXXX` to the name in a full ARN, which is not guessed); an
//!   ARN of another region than the configured one is refused.
//! - `list` = `ListSecrets` with a `name` filter (a prefix match), every
//!   page, then kept exactly by prefix.
//!
//! Parameters: `region`, `accessKeyId` + `secretAccessKey` (else the SDK's
//! default credential chain), `endpointUrl` (moto, LocalStack, VPC
//! endpoints). The SDK's own retries are off: [`super::resilient`] retries.
//! This module also holds what the SSM store shares: the SDK configuration and
//! the mapping of SDK errors onto [`KmsErrorKind`].

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_secretsmanager as sm;
use sm::config::{BehaviorVersion, Credentials, Region};
use sm::error::{ProvideErrorMetadata, SdkError};

use super::{KmsError, KmsErrorKind, SecretStore, SecretValue, absent_if_null};
use crate::config::Settings;
use crate::{Error, Result};

const NAME: &str = "aws";

/// The description OpenMetadata gives the secrets it creates.
pub(crate) const DESCRIPTION: &str = "This secret was created by OpenMetadata";

/// The SDK configuration both AWS stores use.
pub(crate) async fn sdk_config(
    settings: &Settings,
    timeout: Duration,
) -> Result<aws_config::SdkConfig> {
    let p = &settings.parameters;
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        // resilient.rs retries (and counts) transient failures.
        .retry_config(sm::config::retry::RetryConfig::disabled())
        .timeout_config(
            sm::config::timeout::TimeoutConfig::builder()
                .connect_timeout(timeout)
                .operation_attempt_timeout(timeout)
                .build(),
        );
    if let Some(r) = p.get("region").filter(|r| !r.trim().is_empty()) {
        loader = loader.region(Region::new(r.trim().to_string()));
    }
    match (p.get("accessKeyId"), p.get("secretAccessKey")) {
        (Some(id), Some(key)) => {
            loader = loader.credentials_provider(Credentials::new(
                id.trim(),
                key.trim(),
                None,
                None,
                "om-secrets",
            ));
        }
        (None, None) => {} // the default chain: env, profile, web identity, ECS, IMDS
        _ => {
            return Err(Error::Config(format!(
                "secretsManager `{}`: give both parameters.accessKeyId (OM_SM_ACCESS_KEY_ID) and parameters.secretAccessKey (OM_SM_ACCESS_KEY), or neither to use the default credential chain",
                settings.secrets_manager
            )));
        }
    }
    if let Some(url) = p.get("endpointUrl").filter(|u| !u.trim().is_empty()) {
        let url = url.trim();
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(Error::Config(format!(
                "parameters.endpointUrl `{url}` is not an http(s) URL"
            )));
        }
        loader = loader.endpoint_url(url);
    }
    let config = loader.load().await;
    if config.region().is_none() {
        return Err(Error::Config(format!(
            "secretsManager `{}` needs parameters.region (or OM_SM_REGION, or AWS_REGION)",
            settings.secrets_manager
        )));
    }
    Ok(config)
}

/// What an AWS error code or HTTP status means for retries.
pub(crate) fn classify(code: &str, status: u16) -> KmsErrorKind {
    const AUTH: &[&str] = &[
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
        "AccessDeniedException",
        "AccessDenied",
        "ExpiredTokenException",
        "ExpiredToken",
        "InvalidClientTokenId",
        "MissingAuthenticationToken",
        "IncompleteSignature",
        "AuthFailure",
    ];
    const TRANSIENT: &[&str] = &[
        "ThrottlingException",
        "Throttling",
        "ThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "TooManyUpdates",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "InternalServiceError",
        "InternalServiceErrorException",
        "InternalServerError",
        "InternalServerException",
        "InternalFailure",
        "RequestTimeout",
        "RequestTimeoutException",
    ];
    if AUTH.contains(&code) || status == 401 || status == 403 {
        KmsErrorKind::Auth
    } else if TRANSIENT.contains(&code) || status == 429 || status >= 500 {
        KmsErrorKind::Transient
    } else {
        KmsErrorKind::Other
    }
}

/// `msg` without `value` in it (service messages can echo input).
pub(crate) fn scrub(msg: &str, value: Option<&str>) -> String {
    let mut m: String = msg.chars().take(400).collect();
    if let Some(v) = value.filter(|v| v.len() >= 3) {
        m = msg.replace(v, "<redacted>").chars().take(400).collect();
    }
    m
}

/// An error and its sources, `: `-separated (without the SDK's Debug dump).
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cur = s.source();
    }
    out
}

/// An SDK error as a [`KmsError`] naming `id` (never a value).
pub(crate) fn sdk_error<E>(
    store: &str,
    id: &str,
    what: &str,
    e: &SdkError<E>,
    value: Option<&str>,
) -> KmsError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let (kind, message) = match e {
        SdkError::ConstructionFailure(_) => (KmsErrorKind::Other, format!("{what}: {}", chain(e))),
        SdkError::TimeoutError(_) => (KmsErrorKind::Transient, format!("{what}: timed out")),
        SdkError::DispatchFailure(d) => {
            // I/O (refused, reset), timeouts, and what the connector itself
            // classifies as retryable (a connection closed before the answer).
            let other = d.as_connector_error().and_then(|c| c.as_other());
            let transient = d.is_io()
                || d.is_timeout()
                || matches!(other, Some(k) if k != aws_smithy_types::retry::ErrorKind::ClientError);
            let kind = if transient {
                KmsErrorKind::Transient
            } else {
                KmsErrorKind::Other
            };
            (
                kind,
                format!("{what}: could not reach the service: {}", chain(e)),
            )
        }
        SdkError::ResponseError(_) => (
            KmsErrorKind::Transient,
            format!("{what}: unreadable response: {}", chain(e)),
        ),
        SdkError::ServiceError(ctx) => {
            let status = ctx.raw().status().as_u16();
            let code = ctx.err().code().unwrap_or("unknown error");
            let kind = classify(code, status);
            let hint = if kind == KmsErrorKind::Auth {
                " (check the AWS credentials and their permissions)"
            } else {
                ""
            };
            let detail = ctx
                .err()
                .message()
                .map(|m| format!(": {m}"))
                .unwrap_or_default();
            (
                kind,
                format!("{what}: {code} (HTTP {status}){detail}{hint}"),
            )
        }
        _ => (KmsErrorKind::Other, format!("{what}: {}", chain(e))),
    };
    KmsError::new(store, Some(id), kind, scrub(&message, value))
}

/// `key:value` tags in Secrets Manager's form.
fn tags(settings: &Settings) -> Vec<sm::types::Tag> {
    settings
        .tags
        .iter()
        .map(|(k, v)| sm::types::Tag::builder().key(k).value(v).build())
        .collect()
}

/// AWS Secrets Manager.
pub struct AwsSecretsStore {
    client: sm::Client,
    tags: Vec<sm::types::Tag>,
    region: String,
}

impl AwsSecretsStore {
    /// The name `DescribeSecret` answers for a reference (a name or an ARN):
    /// `None` when no such secret exists, `Some(Err(()))` when the answer is
    /// no valid name.
    async fn described_name(
        &self,
        reference: &str,
    ) -> Result<Option<Result<String, ()>>, KmsError> {
        match self
            .client
            .describe_secret()
            .secret_id(reference)
            .send()
            .await
        {
            Ok(out) => Ok(Some(match out.name() {
                Some(name) if secret_name_problem(name).is_none() => Ok(name.to_string()),
                _ => Err(()),
            })),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(sdk_error(NAME, reference, "DescribeSecret", &e, None)),
        }
    }

    /// A client for the settings' region, credentials and endpoint. Does not
    /// contact AWS.
    pub async fn connect(settings: &Settings, timeout: Duration) -> Result<Self> {
        let config = sdk_config(settings, timeout).await?;
        Ok(AwsSecretsStore {
            client: sm::Client::new(&config),
            tags: tags(settings),
            region: config.region().map(|r| r.to_string()).unwrap_or_default(),
        })
    }

    /// The SDK client (tests, tools).
    pub fn client(&self) -> &sm::Client {
        &self.client
    }

    async fn update(
        &self,
        id: &str,
        value: &str,
    ) -> Result<(), SdkError<sm::operation::update_secret::UpdateSecretError>> {
        self.client
            .update_secret()
            .secret_id(id)
            .description(DESCRIPTION)
            .secret_string(value)
            .send()
            .await
            .map(|_| ())
    }

    async fn create(
        &self,
        id: &str,
        value: &str,
    ) -> Result<(), SdkError<sm::operation::create_secret::CreateSecretError>> {
        self.client
            .create_secret()
            .name(id)
            .description(DESCRIPTION)
            .secret_string(value)
            .set_tags((!self.tags.is_empty()).then(|| self.tags.clone()))
            .send()
            .await
            .map(|_| ())
    }
}

/// Why `name` cannot be a Secrets Manager secret name (1–512 characters of
/// `A-Za-z0-9/_+=.@-`), or `None` if it can.
pub(crate) fn secret_name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() || name.len() > 512 {
        Some("a Secrets Manager name has 1 to 512 characters")
    } else if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"/_+=.@-".contains(&b))
    {
        Some("a Secrets Manager name holds only the characters A-Z a-z 0-9 / _ + = . @ -")
    } else {
        None
    }
}

/// The parts of an ARN (`arn:<partition>:<service>:<region>:<account>:<resource>`)
/// if `s` is one of `service`: (region, resource).
pub(crate) fn arn_parts<'a>(s: &'a str, service: &str) -> Option<(&'a str, &'a str)> {
    let mut p = s.splitn(6, ':');
    let (arn, _partition, svc, region, _account, resource) = (
        p.next()?,
        p.next()?,
        p.next()?,
        p.next()?,
        p.next()?,
        p.next()?,
    );
    (arn == "arn" && svc == service).then_some((region, resource))
}

fn marked_for_deletion<E: ProvideErrorMetadata>(e: &E) -> bool {
    e.code() == Some("InvalidRequestException")
        && e.message()
            .is_some_and(|m| m.contains("deletion") || m.contains("deleted"))
}

#[async_trait]
impl SecretStore for AwsSecretsStore {
    fn name(&self) -> &str {
        NAME
    }

    async fn get(&self, id: &str) -> Result<Option<SecretValue>, KmsError> {
        match self.client.get_secret_value().secret_id(id).send().await {
            Ok(out) => match out.secret_string {
                Some(s) => Ok(absent_if_null(Some(SecretValue::new(s)))),
                None if out.secret_binary.is_some() => Err(KmsError::new(
                    NAME,
                    Some(id),
                    KmsErrorKind::Other,
                    "holds a binary secret (SecretBinary); OpenMetadata reads SecretString only",
                )),
                None => Ok(None),
            },
            Err(e) => match e.as_service_error() {
                Some(s) if s.is_resource_not_found_exception() => Ok(None),
                // In its recovery window: gone as far as readers are concerned.
                Some(s) if marked_for_deletion(s) => Ok(None),
                _ => Err(sdk_error(NAME, id, "GetSecretValue", &e, None)),
            },
        }
    }

    async fn put(&self, id: &str, value: &str) -> Result<(), KmsError> {
        if value.is_empty() || value == "null" {
            self.delete(id).await?;
            return Ok(());
        }
        let mut restored = false;
        loop {
            let e = match self.update(id, value).await {
                Ok(()) => return Ok(()),
                Err(e) => e,
            };
            match e.as_service_error() {
                Some(s) if s.is_resource_not_found_exception() => {
                    match self.create(id, value).await {
                        Ok(()) => return Ok(()),
                        Err(c)
                            if c.as_service_error()
                                .is_some_and(|s| s.is_resource_exists_exception())
                                && !restored =>
                        {
                            restored = true; // created concurrently: update it
                        }
                        Err(c) => return Err(sdk_error(NAME, id, "CreateSecret", &c, Some(value))),
                    }
                }
                Some(s) if marked_for_deletion(s) && !restored => {
                    restored = true;
                    tracing::info!(
                        id,
                        "restoring a secret scheduled for deletion before updating it"
                    );
                    self.client
                        .restore_secret()
                        .secret_id(id)
                        .send()
                        .await
                        .map_err(|r| sdk_error(NAME, id, "RestoreSecret", &r, None))?;
                }
                _ => return Err(sdk_error(NAME, id, "UpdateSecret", &e, Some(value))),
            }
        }
    }

    async fn delete(&self, id: &str) -> Result<bool, KmsError> {
        match self
            .client
            .delete_secret()
            .secret_id(id)
            .force_delete_without_recovery(true)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(sdk_error(NAME, id, "DeleteSecret", &e, None)),
        }
    }

    /// A name is looked up exactly (names are case-sensitive and cannot
    /// contain `:`, so none is taken for an ARN): it is its own canonical
    /// form, if it is a valid name (one with capitals is confirmed with
    /// `DescribeSecret`). An ARN, full (with the `-XXXXXX` suffix
    /// AWS adds) or partial, is resolved by asking the store
    /// (`DescribeSecret`), which answers the secret's name; an ARN of another
    /// region than the configured one, or of no secret, is refused.
    async fn canonical(&self, reference: &str) -> Result<String, KmsError> {
        let refuse = |why: &str| {
            Err(KmsError::new(
                NAME,
                Some(reference),
                KmsErrorKind::Other,
                format!("is not a reference this store resolves: {why}"),
            ))
        };
        if !reference.starts_with("arn:") {
            if let Some(why) = secret_name_problem(reference) {
                return refuse(why);
            }
            if !reference.bytes().any(|b| b.is_ascii_uppercase()) {
                return Ok(reference.to_string());
            }
            // Names are case-sensitive; should a lookup ever not be, the
            // store's answer is the name, not the spelling (om-secrets' own
            // ids are lower-case, so this never costs their reads a call).
            return match self.described_name(reference).await? {
                Some(Ok(name)) => Ok(name),
                Some(Err(())) => refuse("the store answered no valid name for it"),
                None => Ok(reference.to_string()),
            };
        }
        let Some((region, resource)) = arn_parts(reference, "secretsmanager") else {
            return refuse("an ARN here must be a Secrets Manager secret's");
        };
        if !resource.starts_with("secret:") || resource.len() == "secret:".len() {
            return refuse("an ARN here must be a Secrets Manager secret's");
        }
        if region != self.region {
            return refuse(&format!(
                "the ARN is of region `{region}`, the store reads region `{}`",
                self.region
            ));
        }
        match self.described_name(reference).await? {
            Some(Ok(name)) => Ok(name),
            Some(Err(())) => refuse("the store answered no valid name for this ARN"),
            None => refuse("no secret has this ARN"),
        }
    }

    fn validate(&self, id: &str) -> Result<(), KmsError> {
        if let Some(why) = secret_name_problem(id) {
            return Err(KmsError::new(NAME, Some(id), KmsErrorKind::Other, why));
        }
        super::check_well_formed(NAME, id)
    }

    /// `ListSecrets` with a name filter (a prefix match), every page, then
    /// kept exactly by prefix. Secrets scheduled for deletion are not listed.
    async fn list(&self, prefix: &str) -> Result<Vec<String>, KmsError> {
        super::check_prefix(NAME, prefix)?;
        let filter = sm::types::Filter::builder()
            .key(sm::types::FilterNameStringType::Name)
            .values(prefix)
            .build();
        let mut names = Vec::new();
        let mut pages = self
            .client
            .list_secrets()
            .filters(filter)
            .max_results(100)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let out = page.map_err(|e| sdk_error(NAME, prefix, "ListSecrets", &e, None))?;
            names.extend(
                out.secret_list()
                    .iter()
                    .filter_map(|s| s.name())
                    .map(str::to_string),
            );
        }
        Ok(super::under_prefix(&names, prefix))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_names() {
        assert_eq!(
            secret_name_problem("/openmetadata/database/x/authtype/password"),
            None
        );
        assert_eq!(secret_name_problem("a+b=c.d@e-f_g/h"), None);
        assert_eq!(secret_name_problem(&"a".repeat(512)), None);
        for bad in ["", "a b", "a:b", "a%b", "é", "a?b"] {
            assert!(secret_name_problem(bad).is_some(), "{bad:?}");
        }
        assert!(secret_name_problem(&"a".repeat(513)).is_some());
        assert_eq!(
            arn_parts(
                "arn:aws:secretsmanager:us-east-1:123:secret:/a/b-AbCdEf",
                "secretsmanager"
            ),
            Some(("us-east-1", "secret:/a/b-AbCdEf"))
        );
        assert_eq!(
            arn_parts("arn:aws:ssm:us-east-1:123:parameter/a", "secretsmanager"),
            None
        );
        assert_eq!(
            arn_parts("arn:aws:secretsmanager:us-east-1", "secretsmanager"),
            None
        );
    }

    #[test]
    fn classification() {
        assert_eq!(
            classify("ThrottlingException", 400),
            KmsErrorKind::Transient
        );
        assert_eq!(classify("", 503), KmsErrorKind::Transient);
        assert_eq!(
            classify("UnrecognizedClientException", 400),
            KmsErrorKind::Auth
        );
        assert_eq!(classify("", 403), KmsErrorKind::Auth);
        assert_eq!(
            classify("ResourceNotFoundException", 400),
            KmsErrorKind::Other
        );
        assert_eq!(
            scrub("Value 'hunter2' at 'value' failed", Some("hunter2")),
            "Value '<redacted>' at 'value' failed"
        );
    }
}
