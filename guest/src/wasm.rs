//! The thin wasm layer: wit-bindgen bindings and conversions to and from the
//! plain-Rust types.

#[allow(unsafe_code, missing_docs)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "connector-policy",
        path: "../wit",
        pub_export_macro: true,
        export_macro_name: "export",
        default_bindings_module: "om_secrets_guest::wasm::bindings",
    });
}

use bindings::exports::omsecrets::policy::discovery as d;
use bindings::omsecrets::policy::log::{LogLevel, log};
use bindings::omsecrets::policy::types as t;

use crate::{Info, PolicyError, RuleTable, Treatment};

/// Route panic messages to the host's log: on wasm32 a panic is otherwise an
/// `unreachable` trap with no message. Each call runs in a fresh instance, so
/// the hook is installed on every entry.
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        log(LogLevel::Error, &format!("plugin panicked: {info}"));
    }));
}

/// `describe`, from the plugin's identity and its rule table.
pub fn describe(info: &Info, rules: &RuleTable) -> d::PluginInfo {
    install_panic_hook();
    t::PluginInfo {
        name: info.name.into(),
        version: info.version.into(),
        service_type: info.service_type.into(),
        connector_types: rules
            .connector_types()
            .into_iter()
            .map(String::from)
            .collect(),
    }
}

/// `discover`, from the rule table.
pub fn discover(
    rules: &RuleTable,
    connector_type: &str,
    config: &str,
) -> Result<Vec<d::SecretField>, d::PolicyError> {
    install_panic_hook();
    match rules.discover(connector_type, config) {
        Ok(fields) => Ok(fields
            .into_iter()
            .map(|f| t::SecretField {
                pointer: f.pointer,
                segments: f.segments,
                treatment: match f.treatment {
                    Treatment::Secret => t::Treatment::Secret,
                    Treatment::Sensitive => t::Treatment::Sensitive,
                },
            })
            .collect()),
        Err(PolicyError::UnknownConnectorType(t)) => Err(t::PolicyError::UnknownConnectorType(t)),
        Err(PolicyError::MalformedConfig { pointer, message }) => {
            Err(t::PolicyError::MalformedConfig(t::Malformed {
                pointer,
                message,
            }))
        }
    }
}
