#!/usr/bin/env bash
# The demo behind `make demo` (docs/demo.md): two interaction servers (each with its
# queues and its store under run/demo/data; agents with skills, queues with targets and
# priorities, docs/routing.md), a statserver with demo/demo.rules, ~36 simulated agents
# that work interactions, a media server simulator feeding each interaction server, and a
# wallboard in the foreground, all on 127.0.0.1. Ctrl-C (or DEMO_SECONDS=N) stops
# everything this script started, by pid.
#
# Environment: BUILD (build dir, default build), DEMO_SECONDS (stop after N seconds; 20
# by default when CI is set), DEMO_DIR (default run/demo), DEMO_KEEP_DATA (set: keep the
# interaction stores of the last run, whose unfinished interactions are queued again),
# DEMO_STRICT (set: exit 1 when an agentsim counted an invite above an agent's capacity
# rule, over_capacity in the last lines, which must be 0), DEMO_ANY_PORT (set: free ports
# picked by the system instead of 7001, 7002, 7100, ...; tests/integration/test_demo.py).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-build}
case "$BUILD" in /*) BIN="$BUILD/bin" ;; *) BIN="$ROOT/$BUILD/bin" ;; esac
DIR=${DEMO_DIR:-$ROOT/run/demo}
PASSWORD=demo-password # shared by every demo agent; printed below, it is a demo
DESK_TOKEN=desk-secret
STAT_TOKEN=stat-secret
MEDIA_TOKEN=media-secret
WALL_TOKEN=wallboard-secret
TENANT=Resources

for prog in ixnserver statserver agentsim mediasim wallboard; do
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

# over_capacity_report: once the simulators stopped, the over_capacity counts of the last
# summary line of every agentsim this run started (the final one when it got to print
# it), their sum, and whether it is 0 as it must be: an invite that put an agent above its
# capacity rule is a routing bug (docs/capacity-rules.md). Returns 1 when it is not 0.
over_capacity_report() {
    local i f line n sum=0 parts=()
    for ((i = 0; i < ${#NAMES[@]}; i++)); do
        case "${NAMES[i]}" in agentsim*) ;; *) continue ;; esac
        f="$DIR/${NAMES[i]}.log"
        line=$(grep -h '^agentsim [a-z]* ' "$f" 2>/dev/null | tail -n 1) || true
        n=$(sed -n 's/.* over_capacity=\([0-9][0-9]*\).*/\1/p' <<<"$line")
        [[ -n "$n" ]] || continue
        parts+=("${NAMES[i]}=$n")
        sum=$((sum + n))
    done
    ((${#parts[@]})) || return 0
    if ((sum == 0)); then
        echo "demo: over_capacity=0 (${parts[*]}): no invite put an agent above its rule, as it must be"
        return 0
    fi
    echo "demo: over_capacity=$sum (${parts[*]}): must be 0; invites above an agent's rule are logged as event=over_capacity in $DIR/agentsim-*.log"
    return 1
}

# widened_report: once the interaction servers stopped, how many interactions moved to a
# wider step of their queue's target (chat-billing-es after 20 s, voice-vip after 15 s),
# from the `widenings` of each server's `event=routing_stopped` line at exit. A server
# that did not get to write it (killed) is shown as unknown.
widened_report() {
    local i f line n sum=0 parts=()
    for ((i = 0; i < ${#NAMES[@]}; i++)); do
        case "${NAMES[i]}" in ixn-*) ;; *) continue ;; esac
        f="$DIR/${NAMES[i]}.log"
        line=$(grep -h 'event=routing_stopped ' "$f" 2>/dev/null | tail -n 1) || true
        n=$(sed -n 's/.* widenings=\([0-9][0-9]*\).*/\1/p' <<<"$line")
        if [[ -z "$n" ]]; then
            parts+=("${NAMES[i]}=unknown")
            continue
        fi
        parts+=("${NAMES[i]}=$n")
        sum=$((sum + n))
    done
    ((${#parts[@]})) || return 0
    echo "demo: widened=$sum (${parts[*]}): interactions that waited past a target step and were offered to more agents (docs/routing.md)"
}

cleanup() {
    local rc=$? i first=() rest=()
    trap - EXIT INT TERM HUP
    # Output may go to a pipe that is gone (`make demo | head`): stop everything anyway.
    trap '' PIPE
    if ((${#PIDS[@]})); then
        echo "demo: stopping ${PIDS[*]}"
        # Simulators and the wallboard first, so the agents log out while their servers
        # are still up; then the statserver and the interaction servers.
        for ((i = 0; i < ${#PIDS[@]}; i++)); do
            case "${NAMES[i]}" in
            agentsim* | mediasim* | wallboard) first+=("${PIDS[i]}") ;;
            *) rest+=("${PIDS[i]}") ;;
            esac
        done
        stop_pids "${first[@]}"
        stop_pids "${rest[@]}"
        wait 2>/dev/null || true
        # The last word of the demo: no agent was offered more than its rule allows.
        if ! over_capacity_report && [[ -n "${DEMO_STRICT:-}" ]] && ((rc == 0)); then
            rc=1
        fi
        # And how often routing widened a target (docs/routing.md, "Targets").
        widened_report
    fi
    echo "demo: logs are in $DIR"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
trap 'exit 141' PIPE

start() { # start NAME LOGFILE CMD...: runs CMD in the background and remembers its pid
    local name=$1 log=$2
    shift 2
    "$@" >"$log" 2>&1 &
    PIDS+=($!)
    NAMES+=("$name")
}

# A port is free when nothing accepts a connection on it.
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
pick() { if [[ -z "${DEMO_ANY_PORT:-}" ]] && port_free "$1"; then echo "$1"; else echo 0; fi; }

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
# Each run starts with empty queues unless told to show what the last run left behind.
if [[ -z "${DEMO_KEEP_DATA:-}" ]]; then
    rm -rf "$DIR/data"
fi
cp "$ROOT/demo/demo.rules" "$DIR/demo.rules"
"$BIN/statserver" --check-rules "$DIR/demo.rules" >/dev/null

# One hash for every agent, with a cheap cost: this is a demo.
HASH=$(printf '%s\n' "$PASSWORD" | "$BIN/ixnserver" --hash-password --rounds 1)
printf '%s\n' "$PASSWORD" >"$DIR/password"
chmod 600 "$DIR/password"

# The demo's queues, QUEUE:MEDIA, in mediasim's --queues form; a server gets those of
# its media. chat-billing-es (Spanish billing chats) and voice-vip (VIP calls) are
# ixn-a's only.
QUEUES_A="chat-sales:chat,chat-support:chat,chat-billing-es:chat,email-support:email,voice-in:voice,voice-vip:voice"
QUEUES_B="chat-sales:chat,chat-support:chat,email-support:email"

# Who may get what (docs/routing.md). Skills of the agents, TENANT/ID = name:level,...:
# the supervisors and seniors know billing and VIP customers, 1003-1005 and 1013 speak
# Spanish well enough to take a Spanish billing chat at once, the other Spanish speakers
# and the back office know billing a little. 1039 (the web desktop) and 1040 (free for
# agentdesk) are not simulated: log in 1040 and it matches every first step.
skills_of() { # skills_of ID: the [skills] value of agent ID, empty for none
    case "$1" in
    1001 | 1002) echo "vip:9, billing:6, sales:5" ;;
    1003 | 1004 | 1005) echo "vip:6, billing:8, spanish:4" ;;
    100[6-9] | 1010) echo "sales:6, billing:3" ;;
    1011 | 1012) echo "spanish:7, sales:4, billing:2" ;;
    1013) echo "spanish:6, billing:5" ;;
    1014 | 1015) echo "spanish:3, billing:4" ;;
    101[6-9] | 1020) echo "billing:4" ;;
    102[1-4]) echo "vip:3, sales:5, support:5" ;;
    102[5-9] | 1030) echo "sales:5, support:5" ;;
    103[1-6]) echo "support:6, spanish:3" ;;
    1039) echo "spanish:5, billing:5, vip:2" ;;
    1040) echo "spanish:8, billing:9, vip:5" ;;
    esac
}

write_ixn() { # write_ixn NAME PORT MEDIA QUEUES HTTPPORT
    local q id sk
    mkdir -p "$DIR/data/$1"
    {
        echo "; written by scripts/demo.sh"
        echo "[server]"
        echo "name = $1"
        echo "listen = 127.0.0.1:$2"
        echo "http = 127.0.0.1:$5"
        echo "port-file = $DIR/$1.port"
        echo "media = $3"
        echo "idle-timeout = 30"
        echo "data-dir = $DIR/data/$1"
        echo "invite-timeout = 15"
        echo "[tokens]"
        echo "AgentApplication = $DESK_TOKEN"
        echo "ReportingEngine = $STAT_TOKEN"
        echo "MediaServer = $MEDIA_TOKEN"
        echo "[queues]"
        for q in ${4//,/ }; do
            echo "$TENANT/${q%%:*} = ${q##*:}"
        done
        echo "[after-work]"
        case "$3" in *voice*) echo "voice = 4" ;; esac
        echo "chat = 3"
        echo "email = 5"
        echo "[agents]"
        for id in $(seq 1001 1040); do
            echo "$TENANT/$id = $HASH"
        done
        echo "[skills]"
        for id in $(seq 1001 1040); do
            sk=$(skills_of "$id")
            [[ -z "$sk" ]] || echo "$TENANT/$id = $sk"
        done
        # A Spanish billing chat goes first to an agent with Spanish 3+ and billing 5+;
        # after 20 s of waiting to anyone who knows billing at all. A VIP call waits 15 s
        # for an agent with the vip skill, then goes to anyone.
        echo "[targets]"
        case "$4" in *chat-billing-es*) echo "$TENANT/chat-billing-es = spanish >= 3 and billing >= 5 for 20; billing >= 1" ;; esac
        case "$4" in *voice-vip*) echo "$TENANT/voice-vip = vip >= 1 for 15; any" ;; esac
        # VIP calls have priority 100 unless the submit says otherwise, and go to the
        # agent with the highest vip level; Spanish billing chats to the best at billing.
        # The other queues age: one priority point per 4 s (chats, emails) or 5 s (calls)
        # waited, so a low priority does not wait for ever behind newer higher ones.
        echo "[queue-options]"
        case "$4" in *voice-vip*) echo "$TENANT/voice-vip = priority 100, select vip" ;; esac
        case "$4" in *chat-billing-es*) echo "$TENANT/chat-billing-es = select billing, aging 4" ;; esac
        for q in chat-sales chat-support email-support; do
            echo "$TENANT/$q = aging 4"
        done
        case "$4" in *voice-in*) echo "$TENANT/voice-in = aging 5" ;; esac
    } >"$DIR/$1.ini"
}

write_ixn ixn-a "$(pick 7001)" "voice, chat, email" "$QUEUES_A" "$(pick 8001)"
write_ixn ixn-b "$(pick 7002)" "chat, email" "$QUEUES_B" "$(pick 8002)"
start ixn-a "$DIR/ixn-a.log" "$BIN/ixnserver" -c "$DIR/ixn-a.ini"
start ixn-b "$DIR/ixn-b.log" "$BIN/ixnserver" -c "$DIR/ixn-b.ini"
PORT_A=$(wait_port_file "$DIR/ixn-a.port" ixn-a)
PORT_B=$(wait_port_file "$DIR/ixn-b.port" ixn-b)

cat >"$DIR/stat.ini" <<EOF
; written by scripts/demo.sh
[server]
name = stat-1
listen = 127.0.0.1:$(pick 7100)
http = 127.0.0.1:$(pick 8100)
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

# The web pages: the wallboard on the statserver's HTTP port, the agent desktop on
# ixn-a's (docs/web-wallboard.md). A build whose daemon serves no HTTP has no http= line.
web_url() { # web_url PORTFILE PATH: http://127.0.0.1:PORT/PATH, or a note
    local port
    port=$(sed -n 's/^http=//p' "$1")
    if [[ -n "$port" ]]; then echo "http://127.0.0.1:$port/$2"; else echo "(not served by this build)"; fi
}
WALL_URL=$(web_url "$DIR/stat-1.port" "?tenants=$TENANT#token=$WALL_TOKEN")
DESK_URL=$(web_url "$DIR/ixn-a.port" "?tenant=$TENANT&agent=1039&place=P1039")

# Agents stay mostly ready (--ready) so that they fill up to their capacity; they accept
# an invite within 1.5 s, reject 5% of them, and handle a call ~12 s, a chat ~8 s and an
# email ~15 s, then do some after-work.
# --count-after-work no: the statserver's setting above, so that the judge of each invite
# also counts an offer made while nothing was available to an agent in after-work.
SIM=("$BIN/agentsim" --token "$DESK_TOKEN" --tenant "$TENANT" --password-file "$DIR/password"
    --ready 0.9 --handle "voice=12,chat=8,email=15" --reject 0.05 --accept-ms 1500
    --count-after-work no)
# 1001..1012 on both servers (voice, chat, email on ixn-a; chat, email on ixn-b), so the
# statserver's merged view counts their chats and emails over both.
start agentsim-both "$DIR/agentsim-both.log" "${SIM[@]}" --agents 1001-1012 \
    --server "127.0.0.1:$PORT_A,127.0.0.1:$PORT_B" --media "voice,chat,email/chat,email" --rate 1
# 1013..1030 on ixn-a only, 1031..1036 on ixn-b only.
start agentsim-a "$DIR/agentsim-a.log" "${SIM[@]}" --agents 1013-1030 \
    --server "127.0.0.1:$PORT_A" --media "voice,chat,email" --rate 1.5
start agentsim-b "$DIR/agentsim-b.log" "${SIM[@]}" --agents 1031-1036 \
    --server "127.0.0.1:$PORT_B" --media "chat,email" --rate 0.5

# One media server simulator per interaction server: interactions arrive a bit faster
# than the agents can take them, so queues build up, and 10% of the customers give up
# after ~20 s of waiting (or talking). Calls are a tenth of ixn-a's traffic (the weights
# after the media), half of them VIP, since an agent takes a call only when idle. Every
# submit carries a priority: VIP calls 100-200, everything else 0-5 (aging evens that
# out, see [queue-options] above).
MEDIA=("$BIN/mediasim" --token "$MEDIA_TOKEN" --tenant "$TENANT" --abandon 0.1 --patience 20)
start mediasim-a "$DIR/mediasim-a.log" "${MEDIA[@]}" --server "127.0.0.1:$PORT_A" \
    --queues "chat-sales:chat:5,chat-support:chat:5,chat-billing-es:chat:3,email-support:email:5,voice-in:voice:1,voice-vip:voice:1" \
    --priority "voice-vip=100-200,0-5" --rate 8 --name mediasim-a
start mediasim-b "$DIR/mediasim-b.log" "${MEDIA[@]}" --server "127.0.0.1:$PORT_B" \
    --queues "$QUEUES_B" --priority "0-5" --rate 4 --name mediasim-b

cat <<EOF
demo: running in $DIR
  ixn-a      127.0.0.1:$PORT_A  (voice, chat, email)   pid ${PIDS[0]}
  ixn-b      127.0.0.1:$PORT_B  (chat, email)          pid ${PIDS[1]}
  statserver 127.0.0.1:$PORT_S  (StatClient token $WALL_TOKEN)   pid ${PIDS[2]}
  agentsim   36 agents: 1001-1012 on both servers, 1013-1030 on ixn-a, 1031-1036 on ixn-b
  mediasim   8/s to ixn-a ($QUEUES_A; calls 1 in 10, half VIP)
             4/s to ixn-b ($QUEUES_B)
  routing    chat-billing-es: spanish >= 3 and billing >= 5, after 20 s billing >= 1;
             voice-vip: priority 100-200, vip >= 1, after 15 s anyone (docs/routing.md)
  stores     $DIR/data/ixn-a, $DIR/data/ixn-b (interactions survive a restart)
Open in a browser:
  wallboard  $WALL_URL
  desktop    $DESK_URL  (agent 1039, password: $PASSWORD, token: $DESK_TOKEN)
Attach another agent from a second terminal (password: $PASSWORD):
  $BIN/agentdesk --server 127.0.0.1:$PORT_A --token $DESK_TOKEN --tenant $TENANT --agent 1040 --place P1040
Press Ctrl-C to stop everything.
EOF

# Under CI nobody presses Ctrl-C: stop by ourselves unless told how long to run.
if [[ -z "${DEMO_SECONDS:-}" && -n "${CI:-}" ]]; then
    DEMO_SECONDS=20
    echo "demo: CI is set, stopping after $DEMO_SECONDS s (DEMO_SECONDS=N to change)"
fi
# The wallboard also shows both servers' queues, registered there as a MediaServer.
WALL=("$BIN/wallboard" --server "127.0.0.1:$PORT_S" --token "$WALL_TOKEN" --interval 2
    --ixn "127.0.0.1:$PORT_A" --ixn "127.0.0.1:$PORT_B" --ixn-token "$MEDIA_TOKEN")
if [[ -n "${DEMO_SECONDS:-}" ]]; then
    # Non-interactive: the wallboard prints plain lines for DEMO_SECONDS, then all stops.
    "${WALL[@]}" &
    PIDS+=($!)
    NAMES+=(wallboard)
    sleep "$DEMO_SECONDS"
    # A last one-shot summary proves the whole chain answered, and the simulators' last
    # summary lines show the interactions that flowed.
    "${WALL[@]}" --once
    for f in mediasim-a mediasim-b agentsim-both agentsim-a agentsim-b; do
        grep -h '^[a-z]* summary' "$DIR/$f.log" | tail -n 1 || true
    done
else
    "${WALL[@]}" || true
fi
