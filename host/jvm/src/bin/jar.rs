//! `cargo run -p om-secrets-jvm --bin om-secrets-jvm-jar`: assemble
//! `target/<profile>/om-secrets-jvm.jar` (the Java classes and this build's
//! native library) and print its path.

fn main() {
    let profile = om_secrets_jvm::packaging::profile_dir();
    match om_secrets_jvm::packaging::build_jar(&profile) {
        Ok(jar) => println!("{}", jar.display()),
        Err(e) => {
            eprintln!("om-secrets-jvm-jar: {e}");
            std::process::exit(1);
        }
    }
}
