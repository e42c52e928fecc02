#!/usr/bin/env bash
# Bounded coverage-guided fuzzing of every target, for CI and by hand.
#
#   fuzz/run.sh [SECONDS] [TARGET...]     # default: 30 s per target, all targets
#
# Works on the stable toolchain: cargo-fuzz's coverage instrumentation
# (-Cpasses=sancov-module, -Cllvm-args=…) is stable; only AddressSanitizer
# (-Zsanitizer=address, cargo-fuzz's default) needs nightly, so targets are
# built with `--sanitizer none`. Safe Rust does not need ASan to catch memory
# errors; the unsafe code we run (wasmtime's) is fuzzed upstream with it.
# With a nightly toolchain, or RUSTC_BOOTSTRAP=1 on stable (unsupported; it
# does build here), FUZZ_SANITIZER=address turns it on.
#
# A crash stops the run (exit 1) and leaves the input under
# fuzz/artifacts/<target>/: fix the bug, then check the input in under
# fuzz/regressions/<target>/ so the test suite replays it for ever
# (tests/all/sandbox_fuzz.rs).
#
# Cost: the first build compiles om-secrets and wasmtime with coverage
# instrumentation, ~10 min on 2 cores (later runs reuse fuzz/target).
set -euo pipefail
secs="${1:-30}"
shift || true
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
cd "$here"

if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked --version 0.13.2
fi
# The host's build script builds the wasm plugins: share the main build's.
export OM_SECRETS_PLUGIN_TARGET_DIR="$root/target/plugins"
sanitizer="${FUZZ_SANITIZER:-none}"
# FUZZ_PROFILE=dev builds unoptimised: about half the build time, fewer
# executions per second. CI uses it for its short runs; long runs by hand
# should keep the default (release).
profile=()
[ "${FUZZ_PROFILE:-release}" = dev ] && profile=(--dev)

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo fuzz list)
fi

for t in "${targets[@]}"; do
    cargo fuzz build "${profile[@]}" --sanitizer "$sanitizer" "$t"
    mkdir -p "corpus/$t"
    echo "== fuzz $t for ${secs}s"
    # corpus/<t> grows (gitignored); seeds/<t> and regressions/<t> are read only.
    for d in "seeds/$t" "regressions/$t"; do
        if [ ! -d "$d" ] || [ -z "$(ls -A "$d")" ]; then
            echo "fuzz target $t: $d is missing or empty (every target has seeds and regressions)" >&2
            exit 1
        fi
    done
    dirs=("corpus/$t" "seeds/$t" "regressions/$t")
    # -timeout is per input, and the first one pays the target's start-up
    # (compiling a plugin, slow in unoptimised builds on a busy machine): 90 s
    # leaves room for that and still stops a real hang.
    log="$(mktemp)"
    status=0
    cargo fuzz run "${profile[@]}" --sanitizer "$sanitizer" "$t" "${dirs[@]}" -- \
        -max_total_time="$secs" -timeout=90 -rss_limit_mb=4096 -max_len=65536 -print_final_stats=1 \
        >"$log" 2>&1 || status=$?
    grep -E "DONE|stat::number_of_executed_units|stat::new_units_added|panicked|SUMMARY|Test unit written" "$log" || true
    if [ "$status" -ne 0 ]; then
        tail -n 40 "$log" >&2
        echo "fuzz target $t failed (exit $status): the input is under fuzz/artifacts/$t/" >&2
        exit 1
    fi
    rm -f "$log"
done
echo "fuzzing: ${#targets[@]} targets, ${secs}s each, no crash"
