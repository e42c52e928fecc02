//! The `om-secrets` command: JSON on stdin, JSON on stdout, errors on stderr.
fn main() {}
