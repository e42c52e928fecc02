//! # om-secrets guest SDK
//!
//! Everything a connector policy plugin needs, so that a plugin is a rule table
//! and a few lines:
//!
//! ```ignore
//! om_secrets_guest::plugin! {
//!     name: "database",
//!     version: env!("CARGO_PKG_VERSION"),
//!     service_type: "database",
//!     rules: include_str!("../rules/database.rules"),
//!     // Optional: the same table compiled by the plugin's build script, so
//!     // that a call parses no rules. The script includes this SDK's
//!     // `src/rules.rs` with `#[path]` and calls its `build("rules/….rules")`.
//!     compiled: include!(concat!(env!("OUT_DIR"), "/rules.rs")),
//! }
//! ```
//!
//! The logic is plain Rust that compiles and is tested natively:
//! - [`rules`]: the rule-table format (one section per connector type);
//! - [`discover`](mod@discover): walking one config with one section, through
//!   `oneOf` variants, arrays, free-form maps and nested connections, then
//!   sweeping what no rule settled (free-form maps, properties and variants
//!   newer than the table) with the heuristics;
//! - [`heuristics`]: which keys and URLs hold credentials, and the word lists
//!   behind them (the project's one hand-kept copy).
//!
//! On `wasm32` the [`plugin!`] macro also exports the WIT world
//! `omsecrets:policy/connector-policy` (see `wit/policy.wit`) with
//! wit-bindgen, and forwards panic messages to the host's log before the
//! instance traps.

pub mod discover;
mod fx;
pub mod heuristics;
pub mod json;
pub mod rules;

pub use discover::{PolicyError, SecretField, segment};
pub use rules::{RuleTable, Treatment};

#[cfg(target_arch = "wasm32")]
#[doc(hidden)]
pub mod wasm;

/// What a plugin says about itself (the WIT `plugin-info`, less the connector
/// types, which come from the rule table).
#[derive(Clone, Copy, Debug)]
pub struct Info {
    /// Short name, e.g. `database`.
    pub name: &'static str,
    /// The plugin's own version.
    pub version: &'static str,
    /// The service type it serves.
    pub service_type: &'static str,
}

/// Define a plugin: its identity and its rule table. Defines `INFO` and `RULES`
/// in the calling module (usable natively, e.g. for benchmarks) and, on wasm32,
/// exports the component's `discovery` interface.
#[macro_export]
macro_rules! plugin {
    (name: $name:expr, version: $version:expr, service_type: $st:expr, rules: $rules:expr $(,)?) => {
        $crate::plugin!(@table $name, $version, $st, $crate::RuleTable::new($rules));
    };
    (name: $name:expr, version: $version:expr, service_type: $st:expr, rules: $rules:expr,
     compiled: $compiled:expr $(,)?) => {
        $crate::plugin!(@table $name, $version, $st, $crate::RuleTable::compiled($rules, $compiled));
    };
    (@table $name:expr, $version:expr, $st:expr, $table:expr) => {
        /// What this plugin says about itself.
        pub const INFO: $crate::Info =
            $crate::Info { name: $name, version: $version, service_type: $st };
        /// This plugin's rule table.
        pub const RULES: $crate::RuleTable = $table;

        #[cfg(target_arch = "wasm32")]
        #[allow(unsafe_code)]
        mod __om_secrets_export {
            use $crate::wasm::bindings::exports::omsecrets::policy::discovery as d;
            struct Plugin;
            impl d::Guest for Plugin {
                fn describe() -> d::PluginInfo {
                    $crate::wasm::describe(&super::INFO, &super::RULES)
                }
                fn discover(
                    connector_type: ::std::string::String,
                    config: ::std::string::String,
                ) -> ::std::result::Result<::std::vec::Vec<d::SecretField>, d::PolicyError> {
                    $crate::wasm::discover(&super::RULES, &connector_type, &config)
                }
            }
            $crate::wasm::bindings::export!(Plugin with_types_in $crate::wasm::bindings);
        }
    };
}
