//! Compiles `rules/llm.rules` into static data for the plugin (see the guest
//! SDK's `rules::build`).

fn main() {
    om_secrets_guest::rules::build("rules/llm.rules");
}
