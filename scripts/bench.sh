#!/usr/bin/env bash
# The benchmark behind `make bench` (docs/bench.md). For each agent count it starts an
# ixnserver on 127.0.0.1 (port 0) with that many agents sharing one cheap hash, runs
# bench/ixbench against it (which logs in the desktops, spawns the statserver and drives
# readiness changes), prints ixbench's result line, and stops the ixnserver by its pid.
# At the agent counts in BENCH_IXN_AGENTS, ixbench then routes interactions end to end
# (submit → invite → accept → done) and prints
# `agents=N routed_per_s=... submit_to_invite_p50_us=... p99_us=...`.
#
# Environment: BUILD (default build), BENCH_AGENTS (default "1000 10000"),
# BENCH_CHANGES (default 20000), BENCH_SECONDS (default 20), BENCH_WINDOW (default 64),
# BENCH_DIR (default run/bench), BENCH_IXN_AGENTS (default "1000"; "" for none),
# BENCH_INTERACTIONS (default 20000), BENCH_IXN_WINDOW (unfinished interactions at most,
# default 64), BENCH_IXN_RATE (submits per second, default 0 = only the window limits).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-build}
case "$BUILD" in /*) BIN="$BUILD/bin" ;; *) BIN="$ROOT/$BUILD/bin" ;; esac
DIR=${BENCH_DIR:-$ROOT/run/bench}
AGENT_COUNTS=${BENCH_AGENTS:-"1000 10000"}
CHANGES=${BENCH_CHANGES:-20000}
SECS=${BENCH_SECONDS:-20}
WINDOW=${BENCH_WINDOW:-64}
IXN_AGENTS=${BENCH_IXN_AGENTS-1000}
INTERACTIONS=${BENCH_INTERACTIONS:-20000}
IXN_WINDOW=${BENCH_IXN_WINDOW:-64}
IXN_RATE=${BENCH_IXN_RATE:-0}
PASSWORD=bench-password
TENANT=Bench

for prog in ixnserver statserver ixbench; do
    if [[ ! -x "$BIN/$prog" ]]; then
        echo "bench: $BIN/$prog is missing: run 'make build' first" >&2
        exit 1
    fi
done

IXN_PID=
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [[ -n "$IXN_PID" ]] && kill -0 "$IXN_PID" 2>/dev/null; then
        kill -TERM "$IXN_PID" 2>/dev/null || true
        for _ in $(seq 50); do
            kill -0 "$IXN_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$IXN_PID" 2>/dev/null || true
        wait "$IXN_PID" 2>/dev/null || true
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Every desktop is one socket on each side; ixbench raises its own limit, and the
# ixnserver inherits this shell's.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
FDS=$(ulimit -n)

mkdir -p "$DIR"
printf '%s\n' "$PASSWORD" >"$DIR/password"
chmod 600 "$DIR/password"
HASH=$(printf '%s\n' "$PASSWORD" | "$BIN/ixnserver" --hash-password --rounds 1)

# Every bench agent gets ChatOnly, so a status carries one media and the rule is real.
cat >"$DIR/bench.rules" <<EOF
rule "ChatOnly" { chat = chat >= 4; }
assign tenant "$TENANT" "ChatOnly";
EOF

echo "bench: $(nproc) cpus, $(uname -sr), fd limit $FDS, changes<=$CHANGES, seconds<=$SECS, window=$WINDOW"
for N in $AGENT_COUNTS; do
    if ((N + 64 > FDS)); then
        echo "bench: agents=$N skipped: the fd limit $FDS is too low (raise ulimit -Hn)" >&2
        continue
    fi
    rm -f "$DIR/ixn.port" "$DIR/stat.port"
    # A fresh store per run, so that no interaction of an earlier run is queued again.
    rm -rf "$DIR/data-$N"
    mkdir -p "$DIR/data-$N"
    {
        echo "[server]"
        echo "name = ixn-bench"
        echo "listen = 127.0.0.1:0"
        echo "port-file = $DIR/ixn.port"
        echo "media = chat"
        echo "idle-timeout = 60"
        echo "max-connections = $((N + 100))"
        echo "max-agents = $((N + 100))"
        echo "data-dir = $DIR/data-$N"
        echo "[tokens]"
        echo "AgentApplication = desk-secret"
        echo "ReportingEngine = stat-secret"
        echo "MediaServer = media-secret"
        echo "[queues]"
        echo "$TENANT/bench-chat = chat"
        echo "[agents]"
        # awk writes 10,000 lines at once; a shell loop would dominate the setup time.
        awk -v n="$N" -v t="$TENANT" -v h="$HASH" 'BEGIN { for (i = 1; i <= n; i++) print t "/" i " = " h }'
    } >"$DIR/ixn.ini"
    "$BIN/ixnserver" -c "$DIR/ixn.ini" 2>"$DIR/ixn-$N.log" &
    IXN_PID=$!
    for _ in $(seq 100); do
        [[ -s "$DIR/ixn.port" ]] && break
        sleep 0.1
    done
    if [[ ! -s "$DIR/ixn.port" ]]; then
        echo "bench: the ixnserver did not start; see $DIR/ixn-$N.log" >&2
        exit 1
    fi
    PORT=$(sed -n 's/^tcp=//p' "$DIR/ixn.port")
    cat >"$DIR/stat.ini" <<EOF
[server]
name = stat-bench
listen = 127.0.0.1:0
port-file = $DIR/stat.port
token = wallboard-secret
rules = $DIR/bench.rules
[ixn:ixn-bench]
address = 127.0.0.1:$PORT
token = stat-secret
EOF
    IXN_ARGS=()
    for n in $IXN_AGENTS; do
        if ((n == N)); then
            IXN_ARGS=(--queue bench-chat --media-token media-secret --interactions "$INTERACTIONS"
                --ixn-window "$IXN_WINDOW" --ixn-rate "$IXN_RATE")
        fi
    done
    # ixbench bounds every phase in time and stops the statserver it spawned by its pid.
    "$BIN/ixbench" --ixn "127.0.0.1:$PORT" --token desk-secret --tenant "$TENANT" \
        --password-file "$DIR/password" --agents "$N" --media chat \
        --statserver "$BIN/statserver" --stat-config "$DIR/stat.ini" \
        --stat-log "$DIR/stat-$N.log" --changes "$CHANGES" --seconds "$SECS" --window "$WINDOW" \
        "${IXN_ARGS[@]}"
    kill -TERM "$IXN_PID" 2>/dev/null || true
    wait "$IXN_PID" 2>/dev/null || true
    IXN_PID=
done
