//! Modules of the `om-secrets` binary only (the library never compiles them):
//! the document commands, in-process or through a running service.

pub mod documents;
