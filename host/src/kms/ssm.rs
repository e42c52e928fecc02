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
//!
//! Parameters and credentials as for [`super::aws`].

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_ssm as ssm;

use super::aws::{sdk_config, sdk_error};
use super::{KmsError, SecretStore, SecretValue, absent_if_null};
use crate::config::Settings;
use crate::{Error, Result};

const NAME: &str = "aws-ssm";

/// AWS SSM Parameter Store.
pub struct SsmStore {
    client: ssm::Client,
    tags: Vec<ssm::types::Tag>,
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
        })
    }

    /// The SDK client (tests, tools).
    pub fn client(&self) -> &ssm::Client {
        &self.client
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
}
