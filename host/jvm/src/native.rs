//! The JNI exports: the native methods of `org.openmetadata.secrets.wasm.Native`.
//!
//! Each one upgrades the JVM's environment with [`EnvUnowned::with_env`]
//! (which also catches panics), copies its `byte[]` arguments out, does its
//! work under [`guarded`](crate::guarded) (a second `catch_unwind`, which
//! turns a panic into an `internal` error answer), and returns a new
//! `byte[]`. The only Java exceptions raised here are JNI's own (an
//! `OutOfMemoryError` while copying); everything else is an [`Answer`].
//!
//! `unsafe_code` is allowed in this module only, for `#[unsafe(no_mangle)]`:
//! the JVM finds native methods (and `JNI_OnLoad`) by their exported names.
//! No raw pointer is dereferenced here.

#![allow(unsafe_code)]

use jni::Env;
use jni::EnvUnowned;
use jni::errors::ThrowRuntimeExAndDefault;
use jni::objects::{JByteArray, JClass};
use jni::sys::{jboolean, jint, jlong};

use crate::{
    Answer, Instance, Op, Source, Thrown, guarded, lookup, subject_kind, too_large, unregister,
};

/// `JNI_OnLoad`: run by `System.load`, before any native method. Replaces
/// Rust's default panic hook (this library's own: a `cdylib` has its own
/// standard library), which printed a panic's message to the JVM's stderr,
/// the server's log, though the message could quote a value and the
/// exception deliberately leaves it out. A panic is now reported by place
/// only.
#[unsafe(no_mangle)]
pub extern "system" fn JNI_OnLoad(
    _vm: *mut jni::sys::JavaVM,
    _reserved: *mut std::ffi::c_void,
) -> jint {
    std::panic::set_hook(Box::new(|info| {
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!(
            "om-secrets: a native panic{at}, caught at the JVM boundary (its message is not shown: it could quote a value)"
        );
    }));
    jni::sys::JNI_VERSION_1_8
}

/// The bytes of a Java `byte[]` (`None` for null).
fn bytes(env: &Env<'_>, array: &JByteArray<'_>) -> jni::errors::Result<Option<Vec<u8>>> {
    if array.is_null() {
        return Ok(None);
    }
    env.convert_byte_array(array).map(Some)
}

/// The refusal of the first of `arrays` longer than the instance of
/// `handle` accepts, found from its length alone: a 100 MB document is not
/// copied out of the JVM only to be refused. `None` when all fit (or the
/// handle is unknown: the call then reports the instance closed).
fn oversized(
    env: &Env<'_>,
    handle: jlong,
    arrays: &[(&JByteArray<'_>, &str)],
) -> jni::errors::Result<Option<Thrown>> {
    let Ok(instance) = lookup(handle) else {
        return Ok(None);
    };
    let max = instance.max_document_bytes();
    for (array, what) in arrays {
        if array.is_null() {
            continue;
        }
        let len = array.len(env)?;
        if len > max {
            return Ok(Some(too_large(what, len, max)));
        }
    }
    Ok(None)
}

/// A UTF-8 string argument (the Java side encodes strictly; this checks again).
fn text(b: Option<Vec<u8>>, what: &str) -> Result<Option<String>, Thrown> {
    b.map(|b| {
        String::from_utf8(b).map_err(|_| Thrown::input("", format!("{what} is not valid UTF-8")))
    })
    .transpose()
}

/// `static native byte[] open(int source, byte[] arg)`: source 0 the
/// environment, 1 a file path (`arg`), 2 a JSON object of the file's keys
/// (`arg`). Answer: `O` + the handle and the largest document the instance
/// accepts (8 bytes each, big-endian), or `E` + error.
#[unsafe(no_mangle)]
pub extern "system" fn Java_org_openmetadata_secrets_wasm_Native_open<'local>(
    mut env: EnvUnowned<'local>,
    _class: JClass<'local>,
    source: jint,
    arg: JByteArray<'local>,
) -> JByteArray<'local> {
    env.with_env(|env| -> jni::errors::Result<JByteArray<'local>> {
        let arg = bytes(env, &arg)?;
        let answer: Answer = guarded("open", || {
            let instance = match (source, arg.as_deref()) {
                (0, _) => Instance::open(Source::Environment),
                (1, Some(path)) => {
                    let path = std::str::from_utf8(path)
                        .map_err(|_| Thrown::config("the configuration path is not valid UTF-8"))?;
                    Instance::open(Source::File(std::path::Path::new(path)))
                }
                (2, Some(json)) => Instance::open(Source::Map(json)),
                _ => Err(Thrown::config("no configuration given")),
            }?;
            let max = instance.max_document_bytes() as u64;
            let mut out = crate::register(instance).to_be_bytes().to_vec();
            out.extend_from_slice(&max.to_be_bytes());
            Ok(out)
        });
        env.byte_array_from_slice(&answer)
    })
    .resolve::<ThrowRuntimeExAndDefault>()
}

/// `static native void close(long handle)`: drop the instance (its runtime
/// shuts down once no call uses it). Unknown handles are ignored.
#[unsafe(no_mangle)]
pub extern "system" fn Java_org_openmetadata_secrets_wasm_Native_close<'local>(
    mut env: EnvUnowned<'local>,
    _class: JClass<'local>,
    handle: jlong,
) {
    env.with_env(|_env| -> jni::errors::Result<()> {
        // A panic while dropping is caught by with_env; nothing to answer.
        unregister(handle);
        Ok(())
    })
    .resolve::<ThrowRuntimeExAndDefault>()
}

/// `static native byte[] call(long handle, int op, int kind, byte[]
/// serviceType, byte[] name, byte[] document, byte[] second, boolean
/// keepReferences)`: one document (see [`Instance::call`]).
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub extern "system" fn Java_org_openmetadata_secrets_wasm_Native_call<'local>(
    mut env: EnvUnowned<'local>,
    _class: JClass<'local>,
    handle: jlong,
    op: jint,
    kind: jint,
    service_type: JByteArray<'local>,
    name: JByteArray<'local>,
    document: JByteArray<'local>,
    second: JByteArray<'local>,
    keep_references: jboolean,
) -> JByteArray<'local> {
    env.with_env(|env| -> jni::errors::Result<JByteArray<'local>> {
        let second_name = if op == 3 {
            "the stored document"
        } else {
            "the previous document"
        };
        let too_big = oversized(
            env,
            handle,
            &[(&document, "the document"), (&second, second_name)],
        )?;
        if let Some(t) = too_big {
            return env.byte_array_from_slice(&guarded("a call", || Err(t)));
        }
        let service_type = bytes(env, &service_type)?;
        let name = bytes(env, &name)?;
        let document = bytes(env, &document)?;
        let second = bytes(env, &second)?;
        let answer = guarded("a call", || {
            let op = Op::from_code(op)?;
            let service_type = text(service_type, "the service type")?;
            let name = text(name, "the name")?;
            let kind = subject_kind(kind, service_type.as_deref())?;
            let document = document.ok_or_else(|| Thrown::input("", "the document is null"))?;
            let instance = lookup(handle)?;
            instance.call(
                op,
                &kind,
                name.as_deref(),
                &document,
                second.as_deref(),
                keep_references,
            )
        });
        env.byte_array_from_slice(&answer)
    })
    .resolve::<ThrowRuntimeExAndDefault>()
}

/// `static native byte[] batch(long handle, int op, int kind, byte[]
/// serviceType, byte[] items, boolean keepReferences)`: many documents (see
/// [`Instance::batch`]).
#[unsafe(no_mangle)]
pub extern "system" fn Java_org_openmetadata_secrets_wasm_Native_batch<'local>(
    mut env: EnvUnowned<'local>,
    _class: JClass<'local>,
    handle: jlong,
    op: jint,
    kind: jint,
    service_type: JByteArray<'local>,
    items: JByteArray<'local>,
    keep_references: jboolean,
) -> JByteArray<'local> {
    env.with_env(|env| -> jni::errors::Result<JByteArray<'local>> {
        let service_type = bytes(env, &service_type)?;
        let items = bytes(env, &items)?;
        let answer = guarded("a batch", || {
            let op = Op::from_code(op)?;
            let service_type = text(service_type, "the service type")?;
            let kind = subject_kind(kind, service_type.as_deref())?;
            let items = items.ok_or_else(|| Thrown::input("", "the batch is null"))?;
            lookup(handle)?.batch(op, &kind, &items, keep_references)
        });
        env.byte_array_from_slice(&answer)
    })
    .resolve::<ThrowRuntimeExAndDefault>()
}

/// `static native void panicForTest()`: a deliberate panic inside a guarded
/// call, so the tests can prove a panic becomes an exception. Answers like a
/// failed call.
#[unsafe(no_mangle)]
pub extern "system" fn Java_org_openmetadata_secrets_wasm_Native_panicForTest<'local>(
    mut env: EnvUnowned<'local>,
    _class: JClass<'local>,
    unguarded: jboolean,
) -> JByteArray<'local> {
    env.with_env(|env| -> jni::errors::Result<JByteArray<'local>> {
        if unguarded {
            // Only the outer catch (jni's with_env) stands between this and the JVM.
            panic!("deliberate test panic (unguarded)");
        }
        let answer = guarded("a test", || panic!("deliberate test panic"));
        env.byte_array_from_slice(&answer)
    })
    .resolve::<ThrowRuntimeExAndDefault>()
}
