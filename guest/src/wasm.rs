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

/// The plugin's allocator: a 256 KiB bump arena in the initial linear memory, then
/// the system allocator (dlmalloc, growing memory) once it is used up.
///
/// Every call runs in a fresh instance, so memory is never reused across
/// calls and an arena that (almost) never frees is enough: a call on an
/// ordinary config allocates a few tens of KiB. Taking them from memory the
/// instance already has saves `memory.grow` (each one an `mprotect` in the
/// host, and the next instance in the slot another to take it back) and
/// dlmalloc's bookkeeping. The arena is zero-initialised static data
/// (`.bss`): it costs no data segment and no copy at instantiation, and its
/// pages are touched only as they are used. A large config's allocations go
/// past it to dlmalloc, under the host's memory limit as before.
#[allow(unsafe_code)]
mod arena {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::{Cell, UnsafeCell};

    /// Bytes of the arena.
    const SIZE: usize = 256 << 10;

    #[repr(C, align(16))]
    struct Space(UnsafeCell<[u8; SIZE]>);

    struct Arena {
        space: Space,
        /// Bytes of the arena in use (its allocations are below).
        used: Cell<usize>,
    }

    // SAFETY: wasm32-unknown-unknown plugins are single-threaded: no two
    // threads ever reach the arena.
    unsafe impl Sync for Arena {}

    static ARENA: Arena = Arena {
        space: Space(UnsafeCell::new([0; SIZE])),
        used: Cell::new(0),
    };

    struct BumpThenSystem;

    #[global_allocator]
    static ALLOCATOR: BumpThenSystem = BumpThenSystem;

    impl Arena {
        fn base(&self) -> usize {
            self.space.0.get() as usize
        }

        fn owns(&self, p: *mut u8) -> bool {
            let a = p as usize;
            a >= self.base() && a < self.base() + SIZE
        }

        /// Room for `layout` at the top, if it fits.
        fn bump(&self, layout: Layout) -> Option<*mut u8> {
            let base = self.base();
            let start = (base + self.used.get()).checked_next_multiple_of(layout.align())?;
            let end = start.checked_add(layout.size())?;
            if end > base + SIZE {
                return None;
            }
            self.used.set(end - base);
            Some(start as *mut u8)
        }

        /// Whether `p` (of `size` bytes) is the topmost allocation.
        fn is_top(&self, p: *mut u8, size: usize) -> bool {
            p as usize + size == self.base() + self.used.get()
        }
    }

    // SAFETY: every pointer handed out is either a distinct, suitably aligned
    // range of the arena (below `used`, which only the topmost allocation may
    // lower or raise in place) or the system allocator's; each is given back
    // to the allocator that made it (`owns`).
    unsafe impl GlobalAlloc for BumpThenSystem {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            match ARENA.bump(layout) {
                Some(p) => p,
                // SAFETY: forwarded as received.
                None => unsafe { System.alloc(layout) },
            }
        }

        unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
            if ARENA.owns(p) {
                // Only the topmost allocation is taken back (a vector that
                // grew last, a temporary); the rest goes with the instance.
                if ARENA.is_top(p, layout.size()) {
                    ARENA.used.set(p as usize - ARENA.base());
                }
            } else {
                // SAFETY: `p` came from `System.alloc` with this layout.
                unsafe { System.dealloc(p, layout) }
            }
        }

        unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            if !ARENA.owns(p) {
                // SAFETY: `p` came from the system allocator with `layout`.
                return unsafe { System.realloc(p, layout, new_size) };
            }
            // The topmost allocation grows or shrinks in place when it fits.
            if ARENA.is_top(p, layout.size()) && p as usize + new_size <= ARENA.base() + SIZE {
                ARENA.used.set(p as usize + new_size - ARENA.base());
                return p;
            }
            if new_size <= layout.size() {
                return p;
            }
            // SAFETY: the caller guarantees `new_size`, rounded up to the
            // alignment, does not overflow `isize`.
            let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
            // SAFETY: a non-zero size, as `new_size > layout.size()`.
            let q = unsafe { self.alloc(new_layout) };
            if !q.is_null() {
                // SAFETY: both ranges are valid for `layout.size()` bytes and
                // distinct allocations.
                unsafe { std::ptr::copy_nonoverlapping(p, q, layout.size()) };
                // SAFETY: `p` is this allocator's, with `layout`.
                unsafe { self.dealloc(p, layout) };
            }
            q
        }
    }
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
