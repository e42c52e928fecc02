#!/usr/bin/env bash
# The Python of arm 3 of `cargo bench -p om-secrets --bench corpus`: creates
# (or refreshes, when tools/bench/requirements.txt changed) a virtualenv with
# OpenMetadata 2.0.7's ingestion wheel installed WITHOUT its dependencies plus
# pydantic, and prints its interpreter's path on stdout. Idempotent.
#
#   OM_BENCH_VENV    venv directory (default <repo>/target/bench-venv)
#   OM_BENCH_PYTHON  interpreter that creates it (default python3, >= 3.10)
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
VENV=${OM_BENCH_VENV:-$REPO/target/bench-venv}
REQS=$REPO/tools/bench/requirements.txt
PY=$VENV/bin/python
STAMP=$VENV/.om-bench-requirements.sha256
want=$(sha256sum "$REQS" | cut -d' ' -f1)
if [[ -x $PY && -f $STAMP && $(cat "$STAMP") == "$want" ]]; then
    echo "$PY"
    exit 0
fi
{
    echo "bench: installing $REQS into $VENV"
    if [[ ! -x $PY ]]; then
        "${OM_BENCH_PYTHON:-python3}" -m venv "$VENV"
    fi
    "$PY" -m pip install --disable-pip-version-check --no-input -q --no-deps -r "$REQS"
} >&2
echo "$want" >"$STAMP"
echo "$PY"
