#!/usr/bin/env bash
# Starts throwaway database servers for the migration tests and the README's
# walk-through: PostgreSQL 15 and MariaDB, each on a free 127.0.0.1 port, in a
# fresh temporary directory (data, unix socket, log), with a database
# `openmetadata_db` and a user `om` with a random password. Nothing listens on
# another interface; nothing outside the temporary directory is touched.
#
# Usage:
#   databases.sh start postgres|mariadb
#       Start the server (installing it with apt-get if missing), wait
#       until it accepts connections, then print ONE line on stdout (values
#       shell-quoted with printf %q):
#         PID=<pid> URL=<postgres://om:pw@127.0.0.1:port/openmetadata_db | mysql://…>
#           PORT=<port> DIR=<temp dir> LOG=<path>
#       Every server gets a watchdog that stops it after OM_TEST_SERVER_TTL s.
#       PostgreSQL's initdb refuses root: as root, the server runs as the
#       `postgres` user (MariaDB as `mysql`).
#   databases.sh stop PID   TERM the server's process group, wait up to 10 s,
#                           KILL; remove its directory.
#   databases.sh stop-all   Stop every server this script recorded.
#
# Environment:
#   OM_TEST_SERVER_TTL     maximum server lifetime in seconds (default 1800; 0 = none)
#   OM_TEST_START_TIMEOUT  readiness timeout in seconds (default 30)

set -euo pipefail

SCRIPT=$(readlink -f -- "${BASH_SOURCE[0]}")
REPO=$(cd -- "$(dirname -- "$SCRIPT")/../.." && pwd -P)
STATE="$REPO/target/test-servers"
TTL="${OM_TEST_SERVER_TTL:-1800}"
START_TIMEOUT="${OM_TEST_START_TIMEOUT:-30}"

log() { printf 'databases.sh: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }
usage() {
    sed -n '/^# Usage:/,/^# Environment:/p' "$SCRIPT" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

# A free port on 127.0.0.1 below the ephemeral range (never handed out
# implicitly, so it stays free until the server binds it).
pick_port() {
    python3 - <<'PYEOF'
import random, socket
try:
    lo = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
except Exception:
    lo = 32768
for _ in range(500):
    p = random.randrange(10000, max(lo - 1, 10001))
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
    except OSError:
        continue
    finally:
        s.close()
    print(p)
    break
else:
    raise SystemExit("databases.sh: no free port found")
PYEOF
}

# Run a command as USER when we are root (initdb refuses root), else as is.
as_user() { # USER CMD...
    local user=$1
    shift
    if ((EUID == 0)); then runuser -u "$user" -- "$@"; else "$@"; fi
}

# Launch a command in its own session, output to LOG; prints its PID.
launch() { # LOG CMD...
    local logf=$1
    shift
    setsid "$@" </dev/null >>"$logf" 2>&1 &
    echo $!
}

proc_start() { awk '{print $22}' "/proc/$1/stat" 2>/dev/null; }
alive() { [[ -e /proc/$1 ]] && [[ "$(proc_start "$1")" == "$2" ]]; }

record() { # PID KEY=VALUE...
    local pf="$STATE/db-$1.pid"
    shift
    printf '%s\n' "$@" >"$pf.tmp"
    mv -f -- "$pf.tmp" "$pf"
}

password() { od -An -N12 -tx1 /dev/urandom | tr -d ' \n'; }

start_postgres() {
    local dir=$1 port=$2 pw=$3 logf=$4 pid i
    # Debian's packages keep the server binaries off PATH.
    if ! command -v initdb >/dev/null; then
        local bin
        bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
        if [[ -z $bin ]] && command -v apt-get >/dev/null; then
            log "installing postgresql with apt-get"
            DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >>"$logf" 2>&1 ||
                die "apt-get install postgresql failed; see $logf"
            bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
        fi
        [[ -n $bin ]] && PATH="$bin:$PATH"
    fi
    command -v initdb >/dev/null || die "initdb not found (Debian: apt-get install postgresql)"
    printf '%s\n' "$pw" >"$dir/pw"
    mkdir -p "$dir/data" "$dir/sock"
    if ((EUID == 0)); then chown -R postgres: "$dir"; fi
    as_user postgres initdb -D "$dir/data" -U om --pwfile="$dir/pw" --auth=scram-sha-256 \
        -E UTF8 --locale=C.UTF-8 >>"$logf" 2>&1 || die "initdb failed; see $logf"
    rm -f "$dir/pw"
    local -a as=()
    # setpriv execs (runuser would stay as the parent): PID is the server's.
    if ((EUID == 0)); then as=(setpriv --reuid=postgres --regid=postgres --init-groups --); fi
    pid=$(launch "$logf" "${as[@]}" postgres -D "$dir/data" -p "$port" \
        -k "$dir/sock" -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=60)
    for ((i = 0; i < START_TIMEOUT * 10; i++)); do
        [[ -e /proc/$pid ]] || { tail -n 30 "$logf" >&2; die "postgres exited during start-up"; }
        pg_isready -q -h "$dir/sock" -p "$port" && break
        sleep 0.1
    done
    pg_isready -q -h "$dir/sock" -p "$port" || die "postgres not ready after ${START_TIMEOUT} s; see $logf"
    PGPASSWORD=$pw psql -q -h 127.0.0.1 -p "$port" -U om -d postgres \
        -c 'CREATE DATABASE openmetadata_db' >>"$logf" 2>&1 || die "CREATE DATABASE failed; see $logf"
    START_PID=$pid
    START_URL="postgres://om:$pw@127.0.0.1:$port/openmetadata_db"
}

start_mariadb() {
    local dir=$1 port=$2 pw=$3 logf=$4 pid i user=()
    if ! command -v mariadbd >/dev/null && [[ ! -x /usr/sbin/mariadbd ]]; then
        log "installing mariadb-server with apt-get"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q mariadb-server >>"$logf" 2>&1 ||
            die "apt-get install mariadb-server failed; see $logf"
    fi
    local mariadbd
    mariadbd=$(command -v mariadbd || echo /usr/sbin/mariadbd)
    mkdir -p "$dir/data"
    if ((EUID == 0)); then chown -R mysql: "$dir"; user=(--user=mysql); fi
    mariadb-install-db --no-defaults "${user[@]}" --datadir="$dir/data" \
        --auth-root-authentication-method=socket --skip-test-db >>"$logf" 2>&1 ||
        die "mariadb-install-db failed; see $logf"
    pid=$(launch "$logf" "$mariadbd" --no-defaults "${user[@]}" --datadir="$dir/data" \
        --port="$port" --bind-address=127.0.0.1 --socket="$dir/mysqld.sock" \
        --pid-file="$dir/mysqld.pid" --skip-name-resolve --innodb-flush-log-at-trx-commit=2 \
        --log-error="$dir/error.log")
    for ((i = 0; i < START_TIMEOUT * 10; i++)); do
        [[ -e /proc/$pid ]] || { tail -n 30 "$dir/error.log" >&2; die "mariadbd exited during start-up"; }
        mariadb-admin --no-defaults --socket="$dir/mysqld.sock" -uroot ping >/dev/null 2>&1 && break
        sleep 0.1
    done
    mariadb-admin --no-defaults --socket="$dir/mysqld.sock" -uroot ping >/dev/null 2>&1 ||
        die "mariadbd not ready after ${START_TIMEOUT} s; see $dir/error.log"
    mariadb --no-defaults --socket="$dir/mysqld.sock" -uroot <<SQL >>"$logf" 2>&1 || die "creating the database failed; see $logf"
CREATE DATABASE openmetadata_db CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE USER 'om'@'127.0.0.1' IDENTIFIED BY '$pw';
GRANT ALL PRIVILEGES ON *.* TO 'om'@'127.0.0.1' WITH GRANT OPTION;
SQL
    START_PID=$pid
    START_URL="mysql://om:$pw@127.0.0.1:$port/openmetadata_db"
}

cmd_start() {
    local kind=${1:-} dir port pw logf start wd
    [[ $kind == postgres || $kind == mariadb ]] || usage
    [[ $TTL =~ ^[0-9]+$ ]] || die "OM_TEST_SERVER_TTL must be a number of seconds"
    mkdir -p -- "$STATE"
    # /tmp, not target/: the server's user (postgres, mysql) must reach it.
    dir=$(mktemp -d "${TMPDIR:-/tmp}/om-$kind-XXXXXX")
    chmod 755 "$dir"
    logf="$dir/server.log"
    : >"$logf"
    port=$(pick_port)
    pw=$(password)
    if [[ $kind == postgres ]]; then
        start_postgres "$dir" "$port" "$pw" "$logf"
    else
        start_mariadb "$dir" "$port" "$pw" "$logf"
    fi
    start=$(proc_start "$START_PID")
    record "$START_PID" "KIND=$kind" "START=$start" "DIR=$dir"
    if ((TTL > 0)); then
        wd=$(launch /dev/null "$BASH" "$SCRIPT" _watchdog "$START_PID" "$TTL")
        record "$START_PID" "KIND=$kind" "START=$start" "DIR=$dir" "WATCHDOG=$wd"
    fi
    printf 'PID=%s URL=%q PORT=%s DIR=%q LOG=%q\n' "$START_PID" "$START_URL" "$port" "$dir" "$logf"
}

stop_one() { # PID
    local pid=$1 pf="$STATE/db-$1.pid" k v kind='' start='' dir='' wd='' i
    [[ -f $pf ]] || { log "no database server with PID $pid recorded (already stopped?)"; return 0; }
    while IFS='=' read -r k v; do
        case $k in
        KIND) kind=$v ;; START) start=$v ;; DIR) dir=$v ;; WATCHDOG) wd=$v ;;
        esac
    done <"$pf"
    if [[ -n $start ]] && alive "$pid" "$start"; then
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 100; i++)); do
            alive "$pid" "$start" || break
            sleep 0.1
        done
        kill -KILL -- "-$pid" 2>/dev/null || true
    fi
    if [[ -n $wd && $wd != "$$" && $wd != "$PPID" ]]; then kill -TERM -- "-$wd" 2>/dev/null || true; fi
    # Only ever a directory this script made.
    if [[ $dir == "${TMPDIR:-/tmp}"/om-"$kind"-* && -d $dir ]]; then rm -rf -- "$dir"; fi
    rm -f -- "$pf"
}

cmd_watchdog() {
    local pid=$1 ttl=$2
    timeout --foreground "$ttl" tail --pid="$pid" -f /dev/null || true
    stop_one "$pid" 2>/dev/null
}

cmd_stop_all() {
    local pf pid
    [[ -d $STATE ]] || return 0
    for pf in "$STATE"/db-*.pid; do
        [[ -e $pf ]] || continue
        pid=${pf##*/db-}
        stop_one "${pid%.pid}"
    done
}

main() {
    local cmd=${1:-}
    (($#)) && shift
    case $cmd in
    start) cmd_start "$@" ;;
    stop)
        (($# == 1)) && [[ $1 =~ ^[0-9]+$ ]] || usage
        stop_one "$1"
        ;;
    stop-all) cmd_stop_all ;;
    _watchdog) cmd_watchdog "$@" ;;
    *) usage ;;
    esac
}

main "$@"
