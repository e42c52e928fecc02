//! The library's typed errors. None of them carries a secret value: they name
//! fields by JSON pointer, secrets by id, plugins by name and files by path.

use std::path::PathBuf;

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration is invalid.
    #[error("configuration: {0}")]
    Config(String),

    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },

    /// Input that is not what an operation expects.
    #[error("invalid input{}: {message}", at(pointer))]
    Input {
        /// Where in the input (RFC 6901 pointer), if known.
        pointer: Option<String>,
        /// What is wrong (never a secret value).
        message: String,
    },

    /// No plugin serves this connector type.
    #[error("unknown connector type {} for service type `{service_type}`; known: {}", shown_type(connector_type), known.join(", "))]
    UnknownConnectorType {
        /// The service type asked about.
        service_type: String,
        /// The connector type (`type` of the config).
        connector_type: String,
        /// The connector types loaded plugins serve for that service type.
        known: Vec<String>,
    },

    /// A plugin failed or answered something the host refuses.
    #[error("plugin `{plugin}`: {reason}")]
    Plugin {
        /// The plugin's name.
        plugin: String,
        /// What happened.
        reason: crate::plugin::PluginFailure,
    },

    /// A Fernet token could not be decrypted or a key is unusable.
    #[error("{0}")]
    Fernet(#[from] crate::fernet::FernetError),

    /// The key management store failed.
    #[error(transparent)]
    Kms(#[from] crate::kms::KmsError),

    /// A sealed field refers to a secret that is not there.
    #[error("field `{pointer}`: secret `{id}` does not exist in the {store} store")]
    MissingSecret {
        /// The field.
        pointer: String,
        /// The secret id.
        id: String,
        /// Which store was asked.
        store: String,
    },
}

/// A connector type as an error may show it: a name, or nothing of a value
/// that cannot be one (a token or a secret pasted there).
fn shown_type(t: &str) -> String {
    let name = !t.is_empty()
        && t.len() <= 128
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if name {
        format!("`{t}`")
    } else {
        "(a value that is no connector type name)".into()
    }
}

fn at(pointer: &Option<String>) -> String {
    match pointer {
        Some(p) if p.is_empty() => " at the document root".into(),
        Some(p) => format!(" at `{p}`"),
        None => String::new(),
    }
}

impl Error {
    /// An [`Error::Input`] at a pointer.
    pub fn input(pointer: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Input {
            pointer: Some(pointer.into()),
            message: message.into(),
        }
    }

    /// An [`Error::Io`] for a path.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// What kind of failure this is, for a front-end to report it (the
    /// server's HTTP status and problem type, the JVM binding's exception).
    pub fn category(&self) -> ErrorCategory {
        use crate::fernet::FernetError;
        use crate::kms::KmsErrorKind;
        match self {
            Error::Input { .. } | Error::UnknownConnectorType { .. } => ErrorCategory::Input,
            Error::Fernet(FernetError::Decrypt { .. } | FernetError::NotText { .. }) => {
                ErrorCategory::Undecryptable
            }
            Error::Fernet(_) | Error::Config(_) => ErrorCategory::Config,
            Error::Io { .. } => ErrorCategory::File,
            Error::MissingSecret { .. } => ErrorCategory::MissingSecret,
            Error::Plugin {
                reason: crate::plugin::PluginFailure::InputTooLarge { .. },
                ..
            } => ErrorCategory::TooLarge,
            Error::Plugin { .. } => ErrorCategory::Plugin,
            Error::Kms(k) => match k.kind {
                KmsErrorKind::Transient => ErrorCategory::StoreUnavailable,
                KmsErrorKind::Auth => ErrorCategory::StoreDenied,
                KmsErrorKind::Corrupt => ErrorCategory::StoreCorrupt,
                KmsErrorKind::Other if k.id.is_some() => ErrorCategory::StoreRefused,
                KmsErrorKind::Other => ErrorCategory::Store,
            },
        }
    }
}

/// What kind of failure an [`Error`] is ([`Error::category`]): the one
/// mapping of the variants that the server (HTTP status, problem type) and
/// the JVM binding (exception class, `retryable`) both report from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCategory {
    /// The caller's input: a document, a name, a connector type no plugin
    /// serves.
    Input,
    /// A value no configured Fernet key decrypts, or that is not text once
    /// decrypted.
    Undecryptable,
    /// A sealed field refers to a secret the store does not hold.
    MissingSecret,
    /// A document over the plugins' input limit.
    TooLarge,
    /// A plugin failed or answered something the host refuses.
    Plugin,
    /// The deployment's configuration, its Fernet keys included.
    Config,
    /// A file could not be read or written.
    File,
    /// The secret store is unreachable, throttling or failing: worth
    /// retrying.
    StoreUnavailable,
    /// The secret store refused the deployment's credentials.
    StoreDenied,
    /// The secret store's own data is unreadable.
    StoreCorrupt,
    /// The secret store refused a request about one secret.
    StoreRefused,
    /// Any other failure of the secret store.
    Store,
}

impl ErrorCategory {
    /// Whether the same call may succeed later, unchanged.
    pub fn retryable(self) -> bool {
        self == ErrorCategory::StoreUnavailable
    }
}
