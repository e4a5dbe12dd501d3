#!/usr/bin/env bash
# Runs the built test binary with a bound on the whole run: make test's two test steps.
#
#   scripts/run_tests.sh LIMIT_SECONDS [swift-testing arguments, e.g. --skip 'A|B' or --filter 'A|B']
#
# The binary is run directly, not through `swift test`, because `swift test` holds the tests'
# output until it exits when its own output is a pipe (as under CI): a run that never ends would
# show nothing of where it stopped. Here every test's start and end is printed as it happens.
# The exit status is the binary's; unlike `swift test`, a filter that matches no test fails (69).
# The test models are made first, and at most 24 tests run at a time (see below).
#
# Past LIMIT_SECONDS the run is stopped, and before it is, this prints what it was doing: the
# process tree, each test and service process's threads (gdb, else the toolchain's lldb) and the
# tail of each service log the tests wrote. It then fails (exit 124), naming the limit.
# Whatever the tests leave running when the binary exits is listed and stopped.
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

# The run's own temporary folder: what the tests write (data folders, logs, PostgreSQL clusters)
# is found there, and not mistaken for another run's. Removed after a run that passed.
run_tmp=$(mktemp -d "${TMPDIR:-/tmp}/geoinfer-run-XXXXXX")
chmod 755 "$run_tmp" # the PostgreSQL clusters in it run as the postgres user
export TMPDIR=$run_tmp
pid=

# The test binary's session (it leads one; its children, each in a process group of its own,
# stay in it), and the PostgreSQL servers this run started: pg_ctl starts them in a session of
# their own, and a killed binary no longer stops them at its exit.
stop_all() {
    [ -n "$pid" ] || return 0
    pkill -KILL -s "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    local bin=/usr/lib/postgresql/15/bin
    [ -x "$bin/pg_ctl" ] || bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
    local owner=()
    [ "$(id -u)" != 0 ] || owner=(runuser -u postgres --)
    for data in $(find "$run_tmp" -maxdepth 2 -path '*/geoinfer-pg-*/data' 2>/dev/null); do
        [ -f "$data/postmaster.pid" ] || continue
        timeout -k 5 60 ${owner[@]+"${owner[@]}"} "$bin/pg_ctl" -D "$data" -m immediate stop >/dev/null 2>&1 </dev/null
    done
}
trap 'stop_all; exit 130' INT
trap 'stop_all; exit 143' TERM HUP

# The test models, made before the tests start: made by the first test that needs one, they held
# every other such test, and with them the threads the tests' services run on, for seconds.
export GEOINFER_TEST_MODELS=$run_tmp/models
if ! timeout -k 10 600 .venv/bin/python scripts/testing/make_test_models.py "$GEOINFER_TEST_MODELS" >"$run_tmp/make_test_models.log" 2>&1; then
    echo "run_tests.sh: scripts/testing/make_test_models.py failed:" >&2
    cat "$run_tmp/make_test_models.log" >&2
    exit 2
fi

# As `swift test` runs it (it sets NO_COLOR when its output is not a terminal).
{ [ -t 1 ] && [ -t 2 ]; } || export NO_COLOR=1
# Its own session, so that what it started can be told apart and stopped with it. A background
# command of a script starts with SIGINT and SIGQUIT ignored: the tests get them back.
set +m
# At most 24 tests at a time: started all at once, a few hundred tests queue on the cooperative
# pool (as many threads as cores), and a service or store running in the test process waited
# 10 s and more behind the CPU work of the others, past its own deadlines.
setsid env --default-signal=INT,QUIT "$binary" --testing-library swift-testing \
    --experimental-maximum-parallelization-width 24 "$@" </dev/null &
pid=$!
if [ "$(ps -o sid= -p "$pid" 2>/dev/null | tr -d ' ')" != "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    sleep 0.2 # setsid may not have run yet
    if [ "$(ps -o sid= -p "$pid" 2>/dev/null | tr -d ' ')" != "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        echo "run_tests.sh: the test binary ($pid) does not lead its own session; run this with bash, not interactively" >&2
        stop_all
        exit 2
    fi
fi

# Each process's threads, with a bound: gdb where installed, else the toolchain's lldb.
stacks() {
    if command -v gdb >/dev/null; then
        timeout -k 10 120 gdb -p "$1" -batch -nx -iex 'set debuginfod enabled off' -ex 'set pagination off' \
            -ex 'thread apply all bt 40' </dev/null 2>/dev/null | grep -E '^(Thread|#)' | head -1500
    elif command -v lldb >/dev/null; then
        timeout -k 10 120 lldb --batch -p "$1" -o 'thread backtrace all -c 40' </dev/null 2>/dev/null | head -1500
    else
        echo "(neither gdb nor lldb is installed: no thread stacks)"
    fi
}

report() {
    echo
    echo "=== run_tests.sh: the run passed its limit of ${limit} s; what it was doing ==="
    # Frozen first: what is printed is one moment, and the run cannot end while it is read.
    pkill -STOP -s "$pid" 2>/dev/null
    ps -o pid,ppid,stat,etimes,args --forest -s "$pid" | cut -c1-220 | head -100
    ps -o pid,ppid,stat,etimes,args -C postgres | cut -c1-220 | head -40
    local report_deadline=$((SECONDS + 600))
    for p in $pid $(pgrep -s "$pid" -f 'geoinfer (serve|worker)'); do
        [ "$SECONDS" -lt "$report_deadline" ] || { echo "(no more stacks: the report's 600 s are spent)"; break; }
        echo
        echo "=== threads of $p: $(tr '\0' ' ' < /proc/$p/cmdline 2>/dev/null | cut -c1-160) ==="
        stacks "$p"
    done
    for log in $(find "$run_tmp" -maxdepth 3 \( -name 'server.log' -o -name 'worker-*.log' \) 2>/dev/null | head -20); do
        echo
        echo "=== the last lines of $log ==="
        tail -n 40 "$log"
    done
}

deadline=$((SECONDS + limit))
while kill -0 "$pid" 2>/dev/null; do
    if [ "$SECONDS" -ge "$deadline" ]; then
        report
        stop_all
        echo "run_tests.sh: stopped after ${limit} s: the tests did not finish within their limit (their files: $run_tmp)" >&2
        exit 124
    fi
    sleep 1
done
wait "$pid"
status=$?

# A process the tests left behind would keep this step's output open, and whoever reads it
# waiting: listed, then stopped.
left=$(pgrep -s "$pid" | grep -v -x "$pid" || true)
if [ -n "$left" ]; then
    echo "run_tests.sh: the tests left these running; stopping them:"
    ps -o pid,etimes,args -p "$(echo $left | tr ' ' ',')" | cut -c1-200
fi
stop_all
if [ "$status" = 0 ]; then rm -rf "$run_tmp"; else echo "run_tests.sh: the tests' files are kept in $run_tmp"; fi
exit "$status"
