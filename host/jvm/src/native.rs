//! The JNI exports: the native methods of `org.openmetadata.secrets.wasm.Native`.
//!
//! Each one upgrades the JVM's environment with [`EnvUnowned::with_env`]
//! (which also catches panics), copies its `byte[]` arguments out, does its
//! work under [`guarded`] (a second `catch_unwind`, which
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

// ---------------------------------------------------------------- stack

/// The most a plugin's wasm code may use of the native stack (wasmtime's
/// default `max_wasm_stack`). Wasmtime checks that limit itself, but counted
/// from the stack pointer at entry: on a thread with less stack left than
/// this, a plugin that recurses deeply runs into the thread's guard page
/// first, and that is a crash of the JVM, not a trap.
const WASM_STACK: usize = 512 << 10;
/// The host's own frames around a call, and the JVM's guard zones at the
/// low end of a Java thread's stack.
const HOST_STACK: usize = 256 << 10;
/// The host's stack per level of a document's nesting (parsing, walking,
/// printing and dropping the JSON recurse; measured in a debug build with
/// room to spare).
const PER_LEVEL: usize = 4 << 10;
/// The deepest document the parser reads (serde_json's recursion limit).
const MAX_DEPTH: usize = 128;

/// The stack a call on documents nested `depth` deep may need.
fn stack_needed(depth: usize) -> usize {
    WASM_STACK + HOST_STACK + depth.min(MAX_DEPTH) * PER_LEVEL
}

/// How much of the calling thread's stack is left below this frame (`None`
/// when the thread's bounds are unknown). The bounds are read once per
/// thread (`pthread_getattr_np` also asks the kernel for the thread's CPU
/// affinity: a system call not worth making per call).
fn stack_left() -> Option<usize> {
    thread_local! {
        // The lowest address of this thread's stack (0: unknown). A plain
        // Cell: no destructor to register, nothing that pins the library.
        static LOW: std::cell::Cell<Option<usize>> = const { std::cell::Cell::new(None) };
    }
    let low = LOW.with(|l| {
        if l.get().is_none() {
            l.set(Some(stack_low().unwrap_or(0)));
        }
        l.get().unwrap_or(0)
    });
    let here = 0u8;
    (low != 0).then(|| (&raw const here as usize).saturating_sub(low))
}

/// The lowest address of the calling thread's stack.
#[allow(unsafe_code)]
fn stack_low() -> Option<usize> {
    // SAFETY: plain libc calls on a zeroed attribute object of the right
    // type, initialised by pthread_getattr_np and destroyed once read.
    unsafe {
        let mut attr: libc::pthread_attr_t = std::mem::zeroed();
        if libc::pthread_getattr_np(libc::pthread_self(), &mut attr) != 0 {
            return None;
        }
        let mut low: *mut libc::c_void = std::ptr::null_mut();
        let mut size: libc::size_t = 0;
        let got = libc::pthread_attr_getstack(&attr, &mut low, &mut size);
        libc::pthread_attr_destroy(&mut attr);
        (got == 0).then_some(low as usize)
    }
}

/// How deep a JSON text nests (brackets outside strings), up to one past
/// the parser's limit: a linear scan, no allocation.
fn nesting(json: &[u8]) -> usize {
    let (mut depth, mut deepest, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for &b in json {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
                if deepest > MAX_DEPTH {
                    return deepest;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// Run `f` (a guarded call: it does not panic) on this thread if its stack
/// has room for `need` bytes, else on a helper thread with a stack that
/// has. A JVM thread's stack is the JVM's choice (`-Xss256k` is not rare);
/// a native stack overflow on it would crash the JVM, the helper costs one
/// thread start, only for those threads or for deeply nested documents.
fn on_enough_stack(need: usize, f: impl FnOnce() -> Answer + Send) -> Answer {
    if stack_left().is_some_and(|left| left >= need) {
        return f();
    }
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .name("om-secrets-stack".into())
            .stack_size(need + (2 << 20))
            .spawn_scoped(s, f)
            .map_err(|e| {
                Thrown::new(
                    "internal",
                    format!("starting a thread with a larger stack: {e}"),
                )
            })
            .and_then(|h| {
                h.join()
                    .map_err(|_| Thrown::new("internal", "a call on a helper thread panicked"))
            })
            .unwrap_or_else(|t| guarded("a call", || Err(t)))
    })
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
        // Opening compiles or loads plugins: as much stack as the deepest call.
        let answer: Answer = on_enough_stack(stack_needed(MAX_DEPTH), || {
            guarded("open", || {
                let instance = match (source, arg.as_deref()) {
                    (0, _) => Instance::open(Source::Environment),
                    (1, Some(path)) => {
                        let path = std::str::from_utf8(path).map_err(|_| {
                            Thrown::config("the configuration path is not valid UTF-8")
                        })?;
                        Instance::open(Source::File(std::path::Path::new(path)))
                    }
                    (2, Some(json)) => Instance::open(Source::Map(json)),
                    _ => Err(Thrown::config("no configuration given")),
                }?;
                let max = instance.max_document_bytes() as u64;
                let mut out = crate::register(instance).to_be_bytes().to_vec();
                out.extend_from_slice(&max.to_be_bytes());
                Ok(out)
            })
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
        let depth = [&document, &second]
            .iter()
            .filter_map(|d| d.as_deref().map(nesting))
            .max()
            .unwrap_or(0);
        let answer = on_enough_stack(stack_needed(depth), || {
            guarded("a call", || {
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
            })
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
        // Items are not scanned one by one: a batch gets the deepest's stack.
        let answer = on_enough_stack(stack_needed(MAX_DEPTH), || {
            guarded("a batch", || {
                let op = Op::from_code(op)?;
                let service_type = text(service_type, "the service type")?;
                let kind = subject_kind(kind, service_type.as_deref())?;
                let items = items.ok_or_else(|| Thrown::input("", "the batch is null"))?;
                lookup(handle)?.batch(op, &kind, &items, keep_references)
            })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_counts_brackets_outside_strings() {
        assert_eq!(nesting(b"{}"), 1);
        assert_eq!(nesting(br#"{"a":[1,{"b":[]}]}"#), 4);
        assert_eq!(nesting(br#"{"a":"[[[[\"[[{{"}"#), 1);
        assert_eq!(nesting(br#"["\\",[["]]]"]]]"#), 3);
        assert_eq!(nesting(&[b'['; 100_000]), MAX_DEPTH + 1);
        assert_eq!(nesting(b"not json"), 0);
    }

    #[test]
    fn stack_left_is_known_and_a_small_thread_goes_to_a_helper() {
        let left = stack_left().expect("this thread's stack bounds");
        assert!(left > 16 << 10 && left < 1 << 30, "{left}");
        // A thread with 128 KiB cannot hold a call; the helper thread can.
        let answer = std::thread::Builder::new()
            .stack_size(128 << 10)
            .spawn(|| {
                assert!(stack_left().unwrap() < stack_needed(0));
                on_enough_stack(stack_needed(MAX_DEPTH), || {
                    let left = stack_left().unwrap();
                    let name = std::thread::current().name().map(str::to_owned);
                    crate::guarded("a test", move || {
                        assert!(left >= stack_needed(MAX_DEPTH), "{left}");
                        Ok(name.unwrap_or_default().into_bytes())
                    })
                })
            })
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(answer, b"Oom-secrets-stack");
    }
}
