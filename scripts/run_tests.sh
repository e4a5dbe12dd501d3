#!/usr/bin/env bash
# Runs the built test binary with a bound on the whole run: make test's two test steps.
#
#   scripts/run_tests.sh LIMIT_SECONDS [swift-testing arguments, e.g. --skip 'A|B' or --filter 'A|B']
#
# The binary is run directly, not through `swift test`, because `swift test` holds the tests'
# output until it exits when its own output is a pipe (as under CI): a run that never ends would
# show nothing of where it stopped. Here every test's start and end is printed as it happens.
#
# Past LIMIT_SECONDS the run is stopped, and before it is, this prints what it was doing: the
# process tree, each test and service process's threads (with gdb, where installed) and the tail
# of each service log the tests wrote. It then fails (exit 124), naming the limit.
set -uo pipefail
cd "$(dirname "$0")/.."

limit=${1:?usage: scripts/run_tests.sh LIMIT_SECONDS [swift-testing arguments]}
shift
case $limit in '' | *[!0-9]*) echo "run_tests.sh: the limit must be a number of seconds, not '$limit'" >&2; exit 2 ;; esac

binary=$(ls -d .build/debug/*PackageTests.xctest 2>/dev/null | head -1)
if [ -z "$binary" ] || [ ! -x "$binary" ]; then
    echo "run_tests.sh: no test binary under .build/debug; run 'swift build --build-tests' first" >&2
    exit 2
fi

# What the tests write from here on is newer than this file (the report looks for their logs).
stamp=$(mktemp)
trap 'rm -f "$stamp"' EXIT

# As `swift test` runs it (it also sets NO_COLOR when its output is not a terminal).
[ -t 1 ] || export NO_COLOR=1
# Its own session, so that what it started can be told apart and stopped with it; an
# interrupted or terminated make stops the session too.
set +m
setsid "$binary" --testing-library swift-testing "$@" &
pid=$!
trap 'stop_all; exit 130' INT
trap 'stop_all; exit 143' TERM HUP

# The tests' own processes (services, workers, emulators) are children of the binary; PostgreSQL
# servers are started through pg_ctl and are not, but they are found by their data folder.
report() {
    echo
    echo "=== run_tests.sh: the run passed its limit of ${limit} s; what it was doing ==="
    # Frozen first: what is printed is one moment, and the run cannot end while it is read.
    pkill -STOP -s "$pid" 2>/dev/null
    ps -o pid,ppid,stat,etimes,args --forest -s "$pid" | cut -c1-220 | head -100
    ps -o pid,ppid,stat,etimes,args -C postgres | cut -c1-220 | head -40
    if command -v gdb >/dev/null; then
        for p in $pid $(pgrep -s "$pid" -f 'geoinfer (serve|worker)'); do
            echo
            echo "=== threads of $p: $(tr '\0' ' ' < /proc/$p/cmdline 2>/dev/null | cut -c1-160) ==="
            timeout 120 gdb -p "$p" -batch -nx -ex 'set debuginfod enabled off' -ex 'set pagination off' -ex 'thread apply all bt 40' 2>/dev/null |
                grep -E '^(Thread|#)' | head -1500
        done
    else
        echo "(gdb is not installed: no thread stacks)"
    fi
    for log in $(find "${TMPDIR:-/tmp}" -maxdepth 3 \( -name 'server.log' -o -name 'worker-*.log' \) -newer "$stamp" 2>/dev/null | head -20); do
        echo
        echo "=== the last lines of $log ==="
        tail -n 40 "$log"
    done
}

# The test binary's session, and the PostgreSQL servers this run started: pg_ctl starts them in a
# session of their own, and a killed binary no longer stops them at its exit.
stop_all() {
    # The binary leads its own session, and its children (each in a process group of its own) stay in it.
    pkill -KILL -s "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    for data in $(find "${TMPDIR:-/tmp}" -maxdepth 2 -path '*/geoinfer-pg-*/data' -newer "$stamp" 2>/dev/null); do
        [ -f "$data/postmaster.pid" ] || continue
        bin=/usr/lib/postgresql/15/bin
        [ -x "$bin/pg_ctl" ] || bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
        if [ "$(id -u)" = 0 ]; then owner=(runuser -u postgres --); else owner=(); fi
        timeout 60 "${owner[@]}" "$bin/pg_ctl" -D "$data" -m immediate stop >/dev/null 2>&1
    done
}

deadline=$((SECONDS + limit))
while kill -0 "$pid" 2>/dev/null; do
    if [ "$SECONDS" -ge "$deadline" ]; then
        report
        stop_all
        echo "run_tests.sh: stopped after ${limit} s: the tests did not finish within their limit" >&2
        exit 124
    fi
    sleep 1
done
wait "$pid"
