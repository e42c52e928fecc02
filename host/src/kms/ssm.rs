//! `managed-aws-ssm` / `aws-ssm`: AWS Systems Manager Parameter Store, as
//! OpenMetadata uses it.
//!
//! - The parameter's **name is the id**, leading `/` included (a hierarchical
//!   name), type `SecureString` (encrypted with the account's default
//!   `alias/aws/ssm` key): what OpenMetadata's ingestion side reads with
//!   `get_parameter(Name=<id>, WithDecryption=True)`.
//! - `put` = `PutParameter` without overwrite and with the configured tags;
//!   if it exists, `PutParameter` with overwrite and without tags (SSM rejects
//!   tags together with overwrite, so tags are set on creation only).
//! - `delete` = `DeleteParameter` (immediate).
//! - An empty value or `"null"` deletes; a stored `"null"` reads as absent.
//! - A reference's canonical id is the parameter's name: an ARN
//!   (`arn:…:ssm:<region>:<account>:parameter/<name>`), a `name:version` or
//!   `name:label` selector, and a one-level name with or without its `/` all
//!   name one parameter. Names `GetParameter` would not read as exactly one
//!   of this store's parameters are refused: `aws`/`ssm` prefixes (reserved;
//!   `/aws/reference/secretsmanager/…` reads Secrets Manager), hierarchical
//!   names without the leading `/`, empty levels, other regions' ARNs.
//! - `validate`: `a-zA-Z0-9_.-/`, at most 15 levels, at most 1011
//!   characters with the ARN, no reserved prefix.
//! - `list` = `GetParametersByPath`, recursive, every page.
//!
//! Parameters and credentials as for [`super::aws`].

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_ssm as ssm;

use super::aws::{arn_parts, sdk_config, sdk_error};
use super::{KmsError, KmsErrorKind, SecretStore, SecretValue, absent_if_null};
use crate::config::Settings;
use crate::{Error, Result};

const NAME: &str = "aws-ssm";

/// AWS SSM Parameter Store.
pub struct SsmStore {
    client: ssm::Client,
    tags: Vec<ssm::types::Tag>,
    region: String,
}

impl SsmStore {
    /// A client for the settings' region, credentials and endpoint. Does not
    /// contact AWS.
    pub async fn connect(settings: &Settings, timeout: Duration) -> Result<Self> {
        let config = sdk_config(settings, timeout).await?;
        let mut tags = Vec::new();
        for (k, v) in &settings.tags {
            tags.push(
                ssm::types::Tag::builder()
                    .key(k)
                    .value(v)
                    .build()
                    .map_err(|e| Error::Config(format!("tag `{k}:{v}`: {e}")))?,
            );
        }
        Ok(SsmStore {
            client: ssm::Client::new(&config),
            tags,
            region: config.region().map(|r| r.to_string()).unwrap_or_default(),
        })
    }

    /// The SDK client (tests, tools).
    pub fn client(&self) -> &ssm::Client {
        &self.client
    }
}

/// The longest ARN prefix SSM counts in a name's length
/// (`arn:aws-us-gov:ssm:<region>:<12-digit account>:parameter/`): a name and
/// its ARN may hold 1011 characters together.
fn arn_overhead(region: &str) -> usize {
    "arn:aws-us-gov:ssm:".len() + region.len() + ":123456789012:parameter/".len()
}

/// Why `name` cannot be an SSM parameter name, or `None` if it can: only
/// `a-zA-Z0-9_.-` and `/`; hierarchical names start with `/`, have no empty
/// segment and at most 15 levels; no `aws`/`ssm` prefix (reserved, and
/// `/aws/reference/secretsmanager/…` reads Secrets Manager); at most 1011
/// characters with the ARN.
pub(crate) fn parameter_name_problem(name: &str, region: &str) -> Option<&'static str> {
    let bare = name.strip_prefix('/').unwrap_or(name);
    let lower = bare.to_ascii_lowercase();
    if bare.is_empty() {
        Some("an SSM parameter name is not empty")
    } else if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"_.-/".contains(&b))
    {
        Some("an SSM parameter name holds only the characters a-z A-Z 0-9 _ . - /")
    } else if bare.contains('/') && !name.starts_with('/') {
        Some("a hierarchical SSM parameter name starts with `/`")
    } else if bare.split('/').any(str::is_empty) {
        Some("an SSM parameter name has no empty level")
    } else if bare.split('/').count() > 15 {
        Some("an SSM parameter name has at most 15 levels")
    } else if lower.starts_with("aws") || lower.starts_with("ssm") {
        Some("an SSM parameter name cannot begin with `aws` or `ssm` (reserved)")
    } else if bare.len() + arn_overhead(region) > 1011 {
        Some("an SSM parameter name is too long (1011 characters with its ARN)")
    } else {
        None
    }
}

/// The parameter a `GetParameter` name names, without asking: an ARN
/// (`arn:…:ssm:<region>:<account>:parameter/<name>`) gives its name, a
/// `name:version` or `name:label` selector its name, and a one-level name is
/// the same parameter with or without its leading `/` (canonical: without).
/// `Err` says why it names none (or one of another region).
pub(crate) fn parameter_of(reference: &str, region: &str) -> Result<String, String> {
    let (name, from_arn) = if reference.starts_with("arn:") {
        let Some((r, resource)) = arn_parts(reference, "ssm") else {
            return Err("an ARN here must be an SSM parameter's".into());
        };
        let Some(rest) = resource.strip_prefix("parameter/") else {
            return Err("an ARN here must be an SSM parameter's".into());
        };
        if r != region {
            return Err(format!(
                "the ARN is of region `{r}`, the store reads region `{region}`"
            ));
        }
        (rest, true)
    } else {
        (reference, false)
    };
    let name = match name.split_once(':') {
        Some((n, selector))
            if !selector.is_empty()
                && selector
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b)) =>
        {
            n
        }
        Some(_) => return Err("a selector is `:<version>` or `:<label>`".into()),
        None => name,
    };
    // In an ARN the leading `/` of a hierarchical name is implied.
    let name = if from_arn && name.contains('/') {
        format!("/{name}")
    } else {
        name.to_string()
    };
    let name = match name.strip_prefix('/') {
        Some(one_level) if !one_level.contains('/') => one_level.to_string(),
        _ => name,
    };
    match parameter_name_problem(&name, region) {
        Some(why) => Err(why.into()),
        None => Ok(name),
    }
}

#[async_trait]
impl SecretStore for SsmStore {
    fn name(&self) -> &str {
        NAME
    }

    async fn get(&self, id: &str) -> Result<Option<SecretValue>, KmsError> {
        match self
            .client
            .get_parameter()
            .name(id)
            .with_decryption(true)
            .send()
            .await
        {
            Ok(out) => Ok(absent_if_null(
                out.parameter.and_then(|p| p.value).map(SecretValue::new),
            )),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_parameter_not_found()) =>
            {
                Ok(None)
            }
            Err(e) => Err(sdk_error(NAME, id, "GetParameter", &e, None)),
        }
    }

    async fn put(&self, id: &str, value: &str) -> Result<(), KmsError> {
        if value.is_empty() || value == "null" {
            self.delete(id).await?;
            return Ok(());
        }
        let put = || {
            self.client
                .put_parameter()
                .name(id)
                .value(value)
                .r#type(ssm::types::ParameterType::SecureString)
        };
        let created = put()
            .overwrite(false)
            .set_tags((!self.tags.is_empty()).then(|| self.tags.clone()))
            .send()
            .await;
        match created {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_parameter_already_exists()) =>
            {
                put()
                    .overwrite(true)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| sdk_error(NAME, id, "PutParameter", &e, Some(value)))
            }
            Err(e) => Err(sdk_error(NAME, id, "PutParameter", &e, Some(value))),
        }
    }

    async fn delete(&self, id: &str) -> Result<bool, KmsError> {
        match self.client.delete_parameter().name(id).send().await {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_parameter_not_found()) =>
            {
                Ok(false)
            }
            Err(e) => Err(sdk_error(NAME, id, "DeleteParameter", &e, None)),
        }
    }

    /// See `parameter_of`: ARNs, selectors and one-level spellings give the
    /// parameter's name; anything else `GetParameter` would not read as
    /// exactly one parameter is refused.
    async fn canonical(&self, reference: &str) -> Result<String, KmsError> {
        parameter_of(reference, &self.region).map_err(|why| {
            KmsError::new(
                NAME,
                Some(reference),
                KmsErrorKind::Other,
                format!("is not a reference this store resolves: {why}"),
            )
        })
    }

    fn validate(&self, id: &str) -> Result<(), KmsError> {
        if let Some(why) = parameter_name_problem(id, &self.region) {
            return Err(KmsError::new(NAME, Some(id), KmsErrorKind::Other, why));
        }
        super::check_well_formed(NAME, id)
    }

    /// `GetParametersByPath`, recursive, every page, kept exactly by prefix.
    async fn list(&self, prefix: &str) -> Result<Vec<String>, KmsError> {
        super::check_prefix(NAME, prefix)?;
        let mut names = Vec::new();
        let mut pages = self
            .client
            .get_parameters_by_path()
            .path(prefix.trim_end_matches('/'))
            .recursive(true)
            .with_decryption(false)
            .max_results(10)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let out = page.map_err(|e| sdk_error(NAME, prefix, "GetParametersByPath", &e, None))?;
            names.extend(
                out.parameters()
                    .iter()
                    .filter_map(|p| p.name())
                    .map(str::to_string),
            );
        }
        Ok(super::under_prefix(&names, prefix))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const R: &str = "us-east-1";
    const VICTIM: &str = "/openmetadata/database/victim/authtype/password";

    #[test]
    fn every_spelling_of_a_parameter_gives_its_name() {
        for alias in [
            VICTIM.to_string(),
            format!("{VICTIM}:1"),
            format!("{VICTIM}:prod"),
            "arn:aws:ssm:us-east-1:123456789012:parameter/openmetadata/database/victim/authtype/password".into(),
            "arn:aws:ssm:us-east-1:123456789012:parameter/openmetadata/database/victim/authtype/password:3".into(),
            "arn:aws-us-gov:ssm:us-east-1:999999999999:parameter/openmetadata/database/victim/authtype/password:lbl".into(),
        ] {
            assert_eq!(parameter_of(&alias, R).as_deref(), Ok(VICTIM), "{alias}");
        }
        // One level: with or without the `/`, one parameter.
        for alias in [
            "foo",
            "/foo",
            "foo:2",
            "arn:aws:ssm:us-east-1:1:parameter/foo",
        ] {
            assert_eq!(parameter_of(alias, R).as_deref(), Ok("foo"), "{alias}");
        }
    }

    #[test]
    fn other_spellings_are_refused() {
        for bad in [
            "openmetadata/database/victim/authtype/password",
            "/openmetadata//database/victim",
            "/openmetadata/database/victim/",
            "/openmetadata/database/victim/authtype/password:",
            "/openmetadata/database/victim/authtype/password:1:2",
            "/openmetadata/database/victim/authtype/pass word",
            "/openmetadata/database/victim/authtype/pass%77ord",
            "/aws/reference/secretsmanager/openmetadata/database/victim/authtype/password",
            "/AWS/x/y",
            "ssm-x",
            "/ssm/x",
            "arn:aws:ssm:eu-west-1:123456789012:parameter/openmetadata/database/victim/authtype/password",
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:/openmetadata/database/victim/authtype/password",
            "arn:aws:ssm:us-east-1:123456789012:document/x",
            "",
            "/",
        ] {
            assert!(parameter_of(bad, R).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn naming_rules() {
        assert_eq!(parameter_name_problem(VICTIM, R), None);
        let deep = "/a".repeat(15);
        assert_eq!(parameter_name_problem(&deep, R), None);
        assert!(parameter_name_problem(&format!("{deep}/b"), R).is_some());
        let long = format!("/{}", "a".repeat(1011 - arn_overhead(R)));
        assert_eq!(parameter_name_problem(&long, R), None);
        assert!(parameter_name_problem(&format!("{long}a"), R).is_some());
        assert!(parameter_name_problem("/a/b+c", R).is_some());
        assert!(parameter_name_problem("/a/b@c", R).is_some());
    }
}
