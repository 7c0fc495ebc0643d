#!/usr/bin/env bash
# The demo behind `make demo` (docs/demo.md): two interaction servers, a statserver with
# demo/demo.rules, ~36 simulated agents and a wallboard in the foreground, all on
# 127.0.0.1. Ctrl-C (or DEMO_SECONDS=N) stops everything this script started, by pid.
#
# Environment: BUILD (build dir, default build), DEMO_SECONDS (stop after N seconds; 20
# by default when CI is set), DEMO_DIR (default run/demo).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-build}
case "$BUILD" in /*) BIN="$BUILD/bin" ;; *) BIN="$ROOT/$BUILD/bin" ;; esac
DIR=${DEMO_DIR:-$ROOT/run/demo}
PASSWORD=demo-password # shared by every demo agent; printed below, it is a demo
DESK_TOKEN=desk-secret
STAT_TOKEN=stat-secret
WALL_TOKEN=wallboard-secret
TENANT=Resources

for prog in ixnserver statserver agentsim wallboard; do
    if [[ ! -x "$BIN/$prog" ]]; then
        echo "demo: $BIN/$prog is missing: run 'make build' first" >&2
        exit 1
    fi
done

PIDS=()
NAMES=()

stop_pids() { # stop_pids PID...: SIGTERM, up to 5 s to exit, then SIGKILL
    (($#)) || return 0
    local pid alive deadline=$((SECONDS + 5))
    kill -TERM "$@" 2>/dev/null || true
    while :; do
        alive=0
        for pid in "$@"; do
            kill -0 "$pid" 2>/dev/null && alive=1
        done
        ((alive == 0 || SECONDS >= deadline)) && break
        sleep 0.1
    done
    for pid in "$@"; do
        if kill -0 "$pid" 2>/dev/null; then
            echo "demo: pid $pid did not stop, killing it"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    done
}

cleanup() {
    local rc=$? i first=() rest=()
    trap - EXIT INT TERM
    if ((${#PIDS[@]})); then
        echo "demo: stopping ${PIDS[*]}"
        # Simulators and the wallboard first, so the agents log out while their servers
        # are still up; then the statserver and the interaction servers.
        for ((i = 0; i < ${#PIDS[@]}; i++)); do
            case "${NAMES[i]}" in
            agentsim* | wallboard) first+=("${PIDS[i]}") ;;
            *) rest+=("${PIDS[i]}") ;;
            esac
        done
        stop_pids "${first[@]}"
        stop_pids "${rest[@]}"
        wait 2>/dev/null || true
    fi
    echo "demo: logs are in $DIR"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

start() { # start NAME LOGFILE CMD...: runs CMD in the background and remembers its pid
    local name=$1 log=$2
    shift 2
    "$@" >"$log" 2>&1 &
    PIDS+=($!)
    NAMES+=("$name")
}

# A port is free when nothing accepts a connection on it.
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
pick() { if port_free "$1"; then echo "$1"; else echo 0; fi; }

wait_port_file() { # wait_port_file FILE NAME: prints the tcp port once the file exists
    local f=$1 name=$2 i
    for ((i = 0; i < 100; i++)); do
        if [[ -s "$f" ]]; then
            sed -n 's/^tcp=//p' "$f"
            return 0
        fi
        sleep 0.1
    done
    echo "demo: $name did not start; its log:" >&2
    tail -n 20 "$DIR/$name.log" >&2 || true
    return 1
}

mkdir -p "$DIR"
rm -f "$DIR"/*.port
cp "$ROOT/demo/demo.rules" "$DIR/demo.rules"
"$BIN/statserver" --check-rules "$DIR/demo.rules" >/dev/null

# One hash for every agent, with a cheap cost: this is a demo.
HASH=$(printf '%s\n' "$PASSWORD" | "$BIN/ixnserver" --hash-password --rounds 1)
printf '%s\n' "$PASSWORD" >"$DIR/password"
chmod 600 "$DIR/password"

write_ixn() { # write_ixn NAME PORT MEDIA
    {
        echo "; written by scripts/demo.sh"
        echo "[server]"
        echo "name = $1"
        echo "listen = 127.0.0.1:$2"
        echo "port-file = $DIR/$1.port"
        echo "media = $3"
        echo "idle-timeout = 30"
        echo "[tokens]"
        echo "AgentApplication = $DESK_TOKEN"
        echo "ReportingEngine = $STAT_TOKEN"
        echo "[agents]"
        for id in $(seq 1001 1040); do
            echo "$TENANT/$id = $HASH"
        done
    } >"$DIR/$1.ini"
}

write_ixn ixn-a "$(pick 7001)" "voice, chat, email"
write_ixn ixn-b "$(pick 7002)" "chat, email"
start ixn-a "$DIR/ixn-a.log" "$BIN/ixnserver" -c "$DIR/ixn-a.ini"
start ixn-b "$DIR/ixn-b.log" "$BIN/ixnserver" -c "$DIR/ixn-b.ini"
PORT_A=$(wait_port_file "$DIR/ixn-a.port" ixn-a)
PORT_B=$(wait_port_file "$DIR/ixn-b.port" ixn-b)

cat >"$DIR/stat.ini" <<EOF
; written by scripts/demo.sh
[server]
name = stat-1
listen = 127.0.0.1:$(pick 7100)
port-file = $DIR/stat-1.port
token = $WALL_TOKEN
rules = $DIR/demo.rules
count-after-work = no
[ixn:ixn-a]
address = 127.0.0.1:$PORT_A
token = $STAT_TOKEN
[ixn:ixn-b]
address = 127.0.0.1:$PORT_B
token = $STAT_TOKEN
EOF
start statserver "$DIR/statserver.log" "$BIN/statserver" -c "$DIR/stat.ini"
PORT_S=$(wait_port_file "$DIR/stat-1.port" statserver)

SIM=("$BIN/agentsim" --token "$DESK_TOKEN" --tenant "$TENANT" --password-file "$DIR/password")
# 1001..1012 on both servers (voice, chat, email on ixn-a; chat, email on ixn-b), so the
# statserver's merged view counts their chats and emails over both.
start agentsim-both "$DIR/agentsim-both.log" "${SIM[@]}" --agents 1001-1012 \
    --server "127.0.0.1:$PORT_A,127.0.0.1:$PORT_B" --media "voice,chat,email/chat,email" --rate 4
# 1013..1030 on ixn-a only, 1031..1036 on ixn-b only.
start agentsim-a "$DIR/agentsim-a.log" "${SIM[@]}" --agents 1013-1030 \
    --server "127.0.0.1:$PORT_A" --media "voice,chat,email" --rate 6
start agentsim-b "$DIR/agentsim-b.log" "${SIM[@]}" --agents 1031-1036 \
    --server "127.0.0.1:$PORT_B" --media "chat,email" --rate 2

cat <<EOF
demo: running in $DIR
  ixn-a      127.0.0.1:$PORT_A  (voice, chat, email)   pid ${PIDS[0]}
  ixn-b      127.0.0.1:$PORT_B  (chat, email)          pid ${PIDS[1]}
  statserver 127.0.0.1:$PORT_S  (StatClient token $WALL_TOKEN)   pid ${PIDS[2]}
  agentsim   36 agents: 1001-1012 on both servers, 1013-1030 on ixn-a, 1031-1036 on ixn-b
Attach another agent from a second terminal (password: $PASSWORD):
  $BIN/agentdesk --server 127.0.0.1:$PORT_A --token $DESK_TOKEN --tenant $TENANT --agent 1040 --place P1040
Press Ctrl-C to stop everything.
EOF

# Under CI nobody presses Ctrl-C: stop by ourselves unless told how long to run.
if [[ -z "${DEMO_SECONDS:-}" && -n "${CI:-}" ]]; then
    DEMO_SECONDS=20
    echo "demo: CI is set, stopping after $DEMO_SECONDS s (DEMO_SECONDS=N to change)"
fi
WALL=("$BIN/wallboard" --server "127.0.0.1:$PORT_S" --token "$WALL_TOKEN" --interval 2)
if [[ -n "${DEMO_SECONDS:-}" ]]; then
    # Non-interactive: the wallboard prints plain lines for DEMO_SECONDS, then all stops.
    "${WALL[@]}" &
    PIDS+=($!)
    NAMES+=(wallboard)
    sleep "$DEMO_SECONDS"
    # A last one-shot summary proves the whole chain answered.
    "$BIN/wallboard" --server "127.0.0.1:$PORT_S" --token "$WALL_TOKEN" --once
else
    "${WALL[@]}" || true
fi
