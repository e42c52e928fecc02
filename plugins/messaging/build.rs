//! Compiles `rules/messaging.rules` into static data for the plugin (see the guest
//! SDK's `rules::build`). The SDK's rules module is included by path rather
//! than as a build-dependency: a crate that is both a dependency and a
//! build-dependency is compiled twice for the host, and a native user of
//! several plugins (the benches) would see two `om_secrets_guest` crates.

#[path = "../../guest/src/rules.rs"]
#[allow(dead_code)]
mod rules;

fn main() {
    rules::build("rules/messaging.rules");
}
