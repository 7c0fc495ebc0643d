#!/usr/bin/env bash
# The benchmark behind `make bench` (docs/bench.md). For each agent count it measures the
# floor of this machine with bench/relay (the same path with no logic in it, the same
# connection count and window), starts an ixnserver on 127.0.0.1 (port 0) with that many
# agents sharing one cheap hash, runs bench/ixbench against it (which logs in the
# desktops, spawns the statserver and drives readiness changes), stops the ixnserver by
# its pid, measures the floor once more, and prints ixbench's result lines with each
# state-change figure set against the mean of the two floors (`ratio_to_floor=`). At the
# agent counts in BENCH_IXN_AGENTS, ixbench then routes interactions end to end (submit →
# invite → accept → done) and prints
# `agents=N servers=1 routed_per_s=... submit_to_invite_p50_us=... p99_us=...`.
# Right after each of those, the two-server phase: two ixnservers and one statserver
# linked to both, every agent logged in to both, media connections submitting on both
# (every invite under a reservation of the statserver), printed as `servers=2` next to the
# one-server figures, with their ratio (`two_to_one=`).
#
# Environment: BUILD (default build), BENCH_AGENTS (default "1000 10000"),
# BENCH_CHANGES (default 20000), BENCH_SECONDS (default 20), BENCH_WINDOW (default 64),
# BENCH_DIR (default run/bench), BENCH_IXN_AGENTS (default "1000"; "" for none),
# BENCH_INTERACTIONS (default 20000), BENCH_IXN_WINDOW (unfinished interactions at most,
# default 64), BENCH_IXN_RATE (submits per second, default 0 = only the window limits),
# BENCH_TWO_SERVERS (default 1; 0 leaves the two-server phase out), BENCH_FLOOR (default 1;
# 0 leaves the floor and the ratios out).
#
# Last, the routing phase of issue 10 (docs/bench.md, "Routing with skills"): the same
# agents, queues and interactions routed twice, first with every queue's target "any" and
# no skills ("plain"), then with skills and two-step targets ("skills"): a backlog submitted
# before the statserver starts (so it all waits), drained end to end, then interactions
# flowing end to end. Each run prints routed/s and the ixnserver's own decision times (its
# `event=routing_stopped` line); a last line gives skills/plain and the targets of issue
# 10. Environment: BENCH_ROUTING (1 default, 0 none, "only" for nothing else),
# BENCH_ROUTE_AGENTS (10000), BENCH_ROUTE_QUEUES (200), BENCH_ROUTE_SKILL_NAMES (30),
# BENCH_ROUTE_SKILLS (skills per agent, 5), BENCH_ROUTE_BACKLOG (10000),
# BENCH_ROUTE_INTERACTIONS (40000), BENCH_ROUTE_WIDEN (the first step's seconds, 10),
# BENCH_ROUTE_ROUNDS (plain/skills pairs, 1), BENCH_ROUTE_SEED (1); BENCH_IXN_WINDOW and
# BENCH_SECONDS apply to its flow.
#
# Then the TLS cost of issue 12 (docs/bench.md, "TLS cost (issue 12)"): ixbench's two
# state-change passes (the window's throughput, and one change at a time) at
# BENCH_TLS_AGENTS agents, first in plaintext, then with TLS on the ixnserver's protocol
# port, every desktop and the statserver's link to it over TLS (certificates made with the
# openssl command in $BENCH_DIR/tls), BENCH_TLS_ROUNDS pairs; a last line gives tls/plain
# for changes/s and the latencies, and the target (at least 0.7 of plaintext throughput).
# Environment: BENCH_TLS (1 default, 0 none, "only" for nothing else), BENCH_TLS_AGENTS
# (1000), BENCH_TLS_ROUNDS (1).
#
# After it, the statistics phase of issue 11 (docs/bench.md, "Statistics (issue 11)"):
# bench/statbench logs in BENCH_STATS_AGENTS agents over BENCH_STATS_QUEUES queues, spawns a
# statserver that writes its history, drives readiness toggles and interactions at fixed
# rates, and measures the statserver's CPU per state change with no statistic open, with
# BENCH_STATS_STATISTICS open over BENCH_STATS_CLIENTS StatClient connections, and with
# none again; the push latency; the history's rows per second. bench/relay --rate measures
# the floor at the same change rate before and after. Environment: BENCH_STATS (1 default,
# 0 none), BENCH_ONLY=stats (this phase alone), BENCH_STATS_SHORT=1 (a quick run: 2,000
# agents, 50 queues, 4,000 statistics, 4 s phases, half the rates), BENCH_STATS_AGENTS
# (10000), BENCH_STATS_QUEUES (200), BENCH_STATS_STATISTICS (20000), BENCH_STATS_CLIENTS
# (50), BENCH_STATS_SECONDS (10, per measured phase), BENCH_STATS_CHANGE_RATE (2000
# toggles/s), BENCH_STATS_IXN_RATE (200 interactions/s), BENCH_STATS_SPREAD (blocks: each
# connection a block of the statistics, as a wallboard; round-robin: statistic i on
# connection i mod C), BENCH_STATS_ROUNDS (2: stats phases, each between two base phases).
#
# Last, the failover phase of issue 13 (docs/bench.md, "Failover (issue 13)"): a
# nats-server on 127.0.0.1, one ixnserver with BENCH_FO_AGENTS agents, a statserver pair on
# a NATS KV lease of BENCH_FO_LEASE_MS; ixbench logs the agents in, spawns both members,
# submits interactions at BENCH_FO_RATE per second, and BENCH_FO_ROUNDS times kills the
# primary with SIGKILL and measures the time to the first invite after it (`failover_ms`,
# with its parts from the logs). Its floor is bench/leasefloor on the same nats-server: the
# takeover of a bare lease with the same timings and nothing else. Environment:
# BENCH_FAILOVER (1 default, 0 none), BENCH_ONLY=failover (this phase alone),
# BENCH_FO_AGENTS (10000), BENCH_FO_ROUNDS (3), BENCH_FO_RATE (500), BENCH_FO_LEASE_MS
# (1000).
#
# Then the status stream of issue 13 (docs/bench.md, "Status stream on NATS"): a
# nats-server with JetStream on 127.0.0.1 (port chosen by it, store in $BENCH_DIR/nats), an
# ixnserver with BENCH_NATS_AGENTS agents, and ixbench's throughput pass (the bench's
# highest change rate: the window's, BENCH_NATS_CHANGES changes at most, BENCH_SECONDS
# bounding it) with the statserver a one-member pair on that NATS, so that it mirrors every
# status into the bucket cc_status. Prints the changes/s next to the statserver's
# `event=stream_stats` figures: publishes acknowledged per second and the change → ack lag
# p50/p99 over the pass's last five seconds, the same in the second with the most acks, and
# the lag over the whole run. Before it the
# same pass without NATS, and a line setting the two side by side (changes/s, the
# statserver's CPU per change, the status latency). Environment: BENCH_NATS (1 default, 0
# none, "only" for nothing else), BENCH_NATS_AGENTS (10000), BENCH_NATS_CHANGES (200000),
# BENCH_NATS_PLAIN (1; 0 leaves the pass without NATS out). Skipped (with a line on
# stderr) when nats-server is not installed.
#
# Last, the store phase of issue 13 (docs/bench.md, "PostgreSQL store"): interactions
# routed end to end at BENCH_STORE_AGENTS agents with the SQLite store and with the
# PostgreSQL store (a throwaway PostgreSQL cluster on 127.0.0.1, started for the phase by
# tests/integration/pgtmp.py, fsync on), BENCH_STORE_ROUNDS rounds in one run, each
# SQLite, then PostgreSQL with synchronous_commit = on (its default: every commit flushed
# to its WAL) and = off (the guarantee of SQLite's synchronous=NORMAL); a last line prints
# `routed_per_s=` (SQLite) next to `routed_per_s_pg=` (on), `routed_per_s_pg_sync_off=`
# and their ratios to SQLite, and the target (PostgreSQL at least 0.5 of SQLite).
# Environment: BENCH_STORE (1 default, 0 none, "only" for nothing else),
# BENCH_STORE_AGENTS (1000), BENCH_STORE_ROUNDS (1), BENCH_STORE_PG_SYNC ("on off": the
# synchronous_commit settings run). Skipped without the PostgreSQL binaries.
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
TWO_SERVERS=${BENCH_TWO_SERVERS:-1}
FLOOR=${BENCH_FLOOR:-1}
ROUTING=${BENCH_ROUTING:-1}
R_AGENTS=${BENCH_ROUTE_AGENTS:-10000}
R_QUEUES=${BENCH_ROUTE_QUEUES:-200}
R_NAMES=${BENCH_ROUTE_SKILL_NAMES:-30}
R_SKILLS=${BENCH_ROUTE_SKILLS:-5}
R_BACKLOG=${BENCH_ROUTE_BACKLOG:-10000}
R_INTERACTIONS=${BENCH_ROUTE_INTERACTIONS:-40000}
R_WIDEN=${BENCH_ROUTE_WIDEN:-10}
R_ROUNDS=${BENCH_ROUTE_ROUNDS:-1}
R_SEED=${BENCH_ROUTE_SEED:-1}
ONLY=${BENCH_ONLY:-}
STATS=${BENCH_STATS:-1}
if [[ "${BENCH_STATS_SHORT:-0}" == 1 ]]; then
    S_DEF=(2000 50 4000 50 4 1000 100)
else
    S_DEF=(10000 200 20000 50 10 2000 200)
fi
S_AGENTS=${BENCH_STATS_AGENTS:-${S_DEF[0]}}
S_QUEUES=${BENCH_STATS_QUEUES:-${S_DEF[1]}}
S_STATISTICS=${BENCH_STATS_STATISTICS:-${S_DEF[2]}}
S_CLIENTS=${BENCH_STATS_CLIENTS:-${S_DEF[3]}}
S_SECS=${BENCH_STATS_SECONDS:-${S_DEF[4]}}
S_CHANGE_RATE=${BENCH_STATS_CHANGE_RATE:-${S_DEF[5]}}
S_IXN_RATE=${BENCH_STATS_IXN_RATE:-${S_DEF[6]}}
S_SPREAD=${BENCH_STATS_SPREAD:-blocks}
S_ROUNDS=${BENCH_STATS_ROUNDS:-2}
# statbench keeps at most this many toggles in flight; the floor gets the same window.
S_WINDOW=2000
FAILOVER=${BENCH_FAILOVER:-1}
FO_AGENTS=${BENCH_FO_AGENTS:-10000}
FO_ROUNDS=${BENCH_FO_ROUNDS:-3}
FO_RATE=${BENCH_FO_RATE:-500}
FO_LEASE=${BENCH_FO_LEASE_MS:-1000}
STORE_PHASE=${BENCH_STORE:-1}
STORE_AGENTS=${BENCH_STORE_AGENTS:-1000}
STORE_ROUNDS=${BENCH_STORE_ROUNDS:-1}
STORE_PG_SYNC=${BENCH_STORE_PG_SYNC:-"on off"}
TLS_PHASE=${BENCH_TLS:-1}
NATS_PHASE=${BENCH_NATS:-1}
NATS_AGENTS=${BENCH_NATS_AGENTS:-10000}
NATS_CHANGES=${BENCH_NATS_CHANGES:-200000}
NATS_PLAIN=${BENCH_NATS_PLAIN:-1}
NATS_URL=""
RUN_LINE=""
TLS_AGENTS=${BENCH_TLS_AGENTS:-1000}
TLS_ROUNDS=${BENCH_TLS_ROUNDS:-1}
# Extra lines for the ixnserver's [server] and for each [ixn:NAME] of the statserver: the
# TLS phase sets them.
IXN_EXTRA=""
LINK_EXTRA=""
# The latency pass (one change at a time) of ixbench and of the floor.
LAT_CHANGES=2000
PASSWORD=bench-password
TENANT=Bench

for prog in ixnserver statserver ixbench relay statbench leasefloor; do
    if [[ ! -x "$BIN/$prog" ]]; then
        echo "bench: $BIN/$prog is missing: run 'make build' first" >&2
        exit 1
    fi
done

PIDS=()
# Stops the ixnservers this script started, by their pids: SIGTERM, then SIGKILL after 5 s.
stop_daemons() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    PIDS=()
}
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop_daemons
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Every desktop is one socket on each side; ixbench and relay raise their own limits, and
# the ixnservers inherit this shell's.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
FDS=$(ulimit -n)

mkdir -p "$DIR"
printf '%s\n' "$PASSWORD" >"$DIR/password"
chmod 600 "$DIR/password"
HASH=$(printf '%s\n' "$PASSWORD" | "$BIN/ixnserver" --hash-password --rounds 1)

# Every bench agent gets ChatOnly, so a status carries one media and the rule is real.
cat >"$DIR/bench.rules" <<RULES
rule "ChatOnly" { chat = chat >= 4; }
assign tenant "$TENANT" "ChatOnly";
RULES

# route_dir N MODE: the [queues], [agents] and, in MODE skills, [skills] and [targets]
# sections of the routing phase, on stdout. Everything is drawn from a Park-Miller
# generator seeded with R_SEED, so that every run (and every machine) gets the same
# configuration: each agent R_SKILLS distinct skills of R_NAMES names (sk01 ...), levels
# 1..10; each queue route-Q a target "skA >= L1 and skB >= L2 for R_WIDEN; skA >= 1" with
# A != B and L1, L2 in 1..5, drawn again (up to 100 times) while no agent matches its
# first step. Statistics of the draw go to $DIR/route-N.stats.
route_dir() {
    awk -v n="$1" -v mode="$2" -v t="$TENANT" -v h="$HASH" -v k="$R_QUEUES" -v names="$R_NAMES" \
        -v per="$R_SKILLS" -v widen="$R_WIDEN" -v seed="$R_SEED" -v stats="$DIR/route-$1.stats" '
        function rnd(m) { seed = (seed * 16807) % 2147483647; return seed % m }
        function name(i) { return sprintf("sk%02d", i + 1) }
        BEGIN {
            if (seed < 1) seed = 1
            if (per > names) per = names
            print "[queues]"
            for (q = 1; q <= k; q++) print t "/route-" q " = chat"
            print "[agents]"
            for (i = 1; i <= n; i++) print t "/" i " = " h
            # The skills are drawn in both modes, so that the targets below are the same.
            for (i = 1; i <= n; i++) {
                line = ""
                split("", has)
                for (j = 0; j < per; j++) {
                    do s = rnd(names); while (s in has)
                    has[s] = 1
                    lv = 1 + rnd(10)
                    level[i, s] = lv
                    holders[s] = holders[s] " " i
                    line = line (j ? ", " : "") name(s) ":" lv
                }
                skills[i] = line
            }
            min1 = -1; sum1 = 0; sum2 = 0
            for (q = 1; q <= k; q++) {
                for (try = 0; try < 100; try++) {
                    a = rnd(names); do b = rnd(names); while (b == a && names > 1)
                    l1 = 1 + rnd(5); l2 = 1 + rnd(5)
                    split(holders[a], ha, " ")
                    c = 0
                    for (x in ha) if (level[ha[x], a] >= l1 && level[ha[x], b] >= l2) c++
                    if (c > 0) break
                }
                target[q] = name(a) " >= " l1 " and " name(b) " >= " l2 " for " widen "; " name(a) " >= 1"
                m2 = split(holders[a], ha, " ")
                sum1 += c; sum2 += m2
                if (min1 < 0 || c < min1) min1 = c
            }
            if (mode == "skills") {
                print "[skills]"
                for (i = 1; i <= n; i++) print t "/" i " = " skills[i]
                print "[targets]"
                for (q = 1; q <= k; q++) print t "/route-" q " = " target[q]
            }
            printf "step1_matching_min=%d step1_matching_mean=%.0f step2_matching_mean=%.0f\n", \
                min1, sum1 / k, sum2 / k > stats
        }'
}

# start_ixn NAME N [MODE]: starts an ixnserver named NAME with N agents and a fresh store on
# 127.0.0.1 port 0, adds its pid to PIDS and sets PORT. With MODE (plain or skills) the
# queues, agents, skills and targets are those of the routing phase (route_dir); with
# MODE stats, the queues stat-1 .. stat-S_QUEUES of the statistics phase.
start_ixn() {
    local name=$1 n=$2 mode=${3:-}
    local portfile="$DIR/$name.port" data="$DIR/data-$name-$n"
    rm -f "$portfile"
    # A fresh store per run, so that no interaction of an earlier run is queued again.
    rm -rf "$data"
    mkdir -p "$data"
    {
        echo "[server]"
        echo "name = $name"
        echo "listen = 127.0.0.1:0"
        echo "port-file = $portfile"
        echo "media = chat"
        echo "idle-timeout = 60"
        echo "max-connections = $((n + 100))"
        echo "max-agents = $((n + 100))"
        echo "data-dir = $data"
        if [[ -n "$IXN_EXTRA" ]]; then echo "$IXN_EXTRA"; fi
        echo "[tokens]"
        echo "AgentApplication = desk-secret"
        echo "ReportingEngine = stat-secret"
        echo "MediaServer = media-secret"
        if [[ "$mode" == stats ]]; then
            echo "[queues]"
            awk -v k="$S_QUEUES" -v t="$TENANT" 'BEGIN { for (q = 1; q <= k; q++) print t "/stat-" q " = chat" }'
            echo "[agents]"
            awk -v n="$n" -v t="$TENANT" -v h="$HASH" 'BEGIN { for (i = 1; i <= n; i++) print t "/" i " = " h }'
        elif [[ -n "$mode" ]]; then
            route_dir "$n" "$mode"
        else
            echo "[queues]"
            echo "$TENANT/bench-chat = chat"
            echo "[agents]"
            # awk writes 10,000 lines at once; a shell loop would dominate the setup time.
            awk -v n="$n" -v t="$TENANT" -v h="$HASH" 'BEGIN { for (i = 1; i <= n; i++) print t "/" i " = " h }'
        fi
    } >"$DIR/$name.ini"
    "$BIN/ixnserver" -c "$DIR/$name.ini" 2>"$DIR/$name-$n.log" &
    PIDS+=($!)
    for _ in $(seq 100); do
        [[ -s "$portfile" ]] && break
        sleep 0.1
    done
    if [[ ! -s "$portfile" ]]; then
        echo "bench: the ixnserver $name did not start; see $DIR/$name-$n.log" >&2
        exit 1
    fi
    PORT=$(sed -n 's/^tcp=//p' "$portfile")
}

# stat_ini NAME:PORT...: writes the statserver's configuration, linked to every server
# given (ixbench spawns the statserver).
stat_ini() {
    local s
    {
        echo "[server]"
        echo "name = stat-bench"
        echo "listen = 127.0.0.1:0"
        echo "port-file = $DIR/stat.port"
        echo "token = wallboard-secret"
        echo "rules = $DIR/bench.rules"
        for s in "$@"; do
            echo "[ixn:${s%%:*}]"
            echo "address = 127.0.0.1:${s#*:}"
            echo "token = stat-secret"
            if [[ -n "$LINK_EXTRA" ]]; then echo "$LINK_EXTRA"; fi
        done
    } >"$DIR/stat.ini"
}

# floor N: the floor with N connections and the same window and bounds as ixbench's
# state-change passes, before and after ixbench; its lines go to floor-N.out too.
floor() {
    [[ "$FLOOR" != 0 ]] || return 0
    local rc=0
    "$BIN/relay" --connections "$1" --window "$WINDOW" --changes "$CHANGES" \
        --latency-changes "$LAT_CHANGES" --seconds "$SECS" >"$DIR/floor-run.out" || rc=$?
    tee -a "$DIR/floor-$1.out" <"$DIR/floor-run.out"
    check relay "$rc"
}

# check PROG RC: ends the benchmark when PROG failed (its lines are printed already).
check() {
    if (($2 != 0)); then
        echo "bench: $1 failed (exit $2); the daemons' logs are in $DIR" >&2
        exit "$2"
    fi
}

# val KEY LINE: the value of KEY= in a line of key=value pairs (empty when absent).
val() {
    awk -v k="$1" '{ for (i = 1; i <= NF; i++) if (index($i, k "=") == 1) { print substr($i, length(k) + 2); exit } }' <<<"$2"
}

# resv_fields LOG...: the reservation counters of the ixnservers' last `event=stopped`
# lines, summed over the logs given, as " resv_asked=.. resv_granted=.. resv_refused=..
# resv_released=.."; nothing for a server that does not count them.
resv_fields() {
    awk '
        /event=stopped/ && / reservations=/ {
            for (i = 1; i <= NF; i++) {
                split($i, kv, "=")
                if (kv[1] == "reservations") a[FILENAME] = kv[2]
                else if (kv[1] == "granted") g[FILENAME] = kv[2]
                else if (kv[1] == "refused") r[FILENAME] = kv[2]
                else if (kv[1] == "released") l[FILENAME] = kv[2]
            }
            seen[FILENAME] = 1
        }
        END {
            for (f in seen) { A += a[f]; G += g[f]; R += r[f]; L += l[f]; n++ }
            if (n) printf " resv_asked=%d resv_granted=%d resv_refused=%d resv_released=%d", A, G, R, L
        }
    ' "$@" 2>/dev/null || true
}

# annotate FLOOR_FILE RESV: copies ixbench's lines from stdin, adds to each state-change
# line the floor's figures of the same pass (the mean of the floor's runs in FLOOR_FILE)
# and the ratios to them, and RESV (the reservation counters) to the interaction line.
# Every ratio says how close to the floor: throughput is figure / floor, latency floor /
# figure, so 1 is as fast as the floor, and a slower machine lowers the floor as much as
# the figures. floor_spread is (largest - smallest) / mean of the floor's main figure
# (changes/s, or p50 for the latency pass) over its runs: the machine's own drift during
# the run, beyond which a ratio means nothing.
annotate() {
    awk -v floor="$1" -v resv="$2" '
        function val(line, k,   n, a, i) {
            n = split(line, a, " ")
            for (i = 1; i <= n; i++)
                if (index(a[i], k "=") == 1)
                    return substr(a[i], length(k) + 2)
            return ""
        }
        function ratio(x, y) { return (x > 0 && y > 0) ? sprintf("%.2f", x / y) : "na" }
        function spread(lo, hi, mean) { return mean > 0 ? sprintf("%.2f", (hi - lo) / mean) : "na" }
        BEGIN {
            while ((getline l < floor) > 0) {
                p = val(l, "pass")
                c = val(l, "changes_per_s") + 0; m = val(l, "p50_us") + 0
                n[p]++; cps[p] += c; p50[p] += m; p99[p] += val(l, "p99_us")
                if (n[p] == 1 || c < clo[p]) clo[p] = c
                if (n[p] == 1 || c > chi[p]) chi[p] = c
                if (n[p] == 1 || m < mlo[p]) mlo[p] = m
                if (n[p] == 1 || m > mhi[p]) mhi[p] = m
            }
            for (p in n) {
                cps[p] = sprintf("%.0f", cps[p] / n[p]); p50[p] = sprintf("%.0f", p50[p] / n[p])
                p99[p] = sprintf("%.0f", p99[p] / n[p])
            }
        }
        / pass=latency / && ("latency" in p50) {
            print $0 " floor_p50_us=" p50["latency"] " floor_p99_us=" p99["latency"] \
                " floor_spread=" spread(mlo["latency"], mhi["latency"], p50["latency"]) \
                " ratio_to_floor=" ratio(p50["latency"], val($0, "p50_us")) \
                " ratio_to_floor_p99=" ratio(p99["latency"], val($0, "p99_us"))
            next
        }
        / pass=throughput / && ("throughput" in cps) {
            print $0 " floor_changes_per_s=" cps["throughput"] " floor_p50_us=" p50["throughput"] \
                " floor_p99_us=" p99["throughput"] \
                " floor_spread=" spread(clo["throughput"], chi["throughput"], cps["throughput"]) \
                " ratio_to_floor=" ratio(val($0, "changes_per_s"), cps["throughput"]) \
                " ratio_to_floor_p50=" ratio(p50["throughput"], val($0, "p50_us")) \
                " ratio_to_floor_p99=" ratio(p99["throughput"], val($0, "p99_us"))
            next
        }
        / servers=/ { print $0 resv; next }
        { print }
    '
}

# two_servers N: the two-server phase, every agent logged in to both servers and
# interactions submitted on both; ixbench runs only its interaction phase then. Its line
# is printed next to the one-server figures of the same agent count.
two_servers() {
    local N=$1 RC=0 TWO ONE R1 R2 RATIO PORT_A PORT_B
    if ((2 * N + 64 > FDS)); then
        echo "bench: two servers, agents=$N skipped: the fd limit $FDS is too low" >&2
        return 0
    fi
    start_ixn ixn-a "$N"
    PORT_A=$PORT
    start_ixn ixn-b "$N"
    PORT_B=$PORT
    stat_ini "ixn-a:$PORT_A" "ixn-b:$PORT_B"
    "$BIN/ixbench" --ixn "127.0.0.1:$PORT_A" --ixn2 "127.0.0.1:$PORT_B" \
        --token desk-secret --tenant "$TENANT" --password-file "$DIR/password" \
        --agents "$N" --media chat --statserver "$BIN/statserver" \
        --stat-config "$DIR/stat.ini" --stat-log "$DIR/stat-2s-$N.log" --seconds "$SECS" \
        --queue bench-chat --media-token media-secret --interactions "$INTERACTIONS" \
        --ixn-window "$IXN_WINDOW" --ixn-rate "$IXN_RATE" >"$DIR/ixbench-2s-$N.out" || RC=$?
    stop_daemons
    TWO=$(grep ' servers=2 ' "$DIR/ixbench-2s-$N.out" || true)
    ONE=${ONE_SERVER[$N]:-}
    if [[ -n "$TWO" && -n "$ONE" ]]; then
        R1=$(val routed_per_s "$ONE")
        R2=$(val routed_per_s "$TWO")
        RATIO=$(awk -v a="$R2" -v b="$R1" 'BEGIN { print (b > 0 ? sprintf("%.2f", a / b) : "na") }')
        echo "$TWO$(resv_fields "$DIR/ixn-a-$N.log" "$DIR/ixn-b-$N.log")" \
            "one_server_routed_per_s=$R1" \
            "one_server_p50_us=$(val submit_to_invite_p50_us "$ONE")" \
            "one_server_p99_us=$(val p99_us "$ONE") two_to_one=$RATIO"
    else
        cat "$DIR/ixbench-2s-$N.out"
    fi
    check ixbench "$RC"
}

# route_log_fields LOG: the decision counters of the ixnserver's `event=routing_stopped`
# line, " decisions=.. widenings=.. decision_p50_ns=.. decision_p99_ns=.. decision_max_ns=..
# decisions_over_20us=..".
route_log_fields() {
    awk '
        /event=routing_stopped/ {
            out = ""
            for (i = 1; i <= NF; i++)
                if ($i ~ /^(decisions|widenings|decision_p50_ns|decision_p99_ns|decision_max_ns|decisions_over_20us)=/)
                    out = out " " $i
        }
        END { printf "%s", out }
    ' "$1" 2>/dev/null || true
}

# route_run MODE ROUND: one run of the routing phase (route_dir), its line on stdout and in
# $DIR/route-MODE.out; sets ROUTE_LINE.
route_run() {
    local mode=$1 round=$2 N=$R_AGENTS RC=0 LINE
    start_ixn "ixn-route-$mode" "$N" "$mode"
    stat_ini "ixn-route-$mode:$PORT"
    "$BIN/ixbench" --ixn "127.0.0.1:$PORT" --token desk-secret --tenant "$TENANT" \
        --password-file "$DIR/password" --agents "$N" --media chat \
        --statserver "$BIN/statserver" --stat-config "$DIR/stat.ini" \
        --stat-log "$DIR/stat-route-$mode.log" --changes 0 --latency-changes 0 \
        --seconds "$SECS" --queue route --queues "$R_QUEUES" --backlog "$R_BACKLOG" \
        --media-token media-secret --interactions "$R_INTERACTIONS" --ixn-window "$IXN_WINDOW" \
        --ixn-pid "${PIDS[0]}" >"$DIR/ixbench-route-$mode.out" || RC=$?
    stop_daemons
    LINE=$(grep ' servers=1 ' "$DIR/ixbench-route-$mode.out" || true)
    if [[ -z "$LINE" ]]; then
        cat "$DIR/ixbench-route-$mode.out"
        check ixbench "$RC"
        check ixbench 1
    fi
    local LOG="$DIR/ixn-route-$mode-$N.log"
    ROUTE_LINE="routing: mode=$mode round=$round $LINE$(resv_fields "$LOG")$(route_log_fields "$LOG")"
    echo "$ROUTE_LINE" | tee -a "$DIR/route-$mode.out"
    check ixbench "$RC"
}

# routing: the routing phase, R_ROUNDS pairs of runs (plain, then skills), each pair
# followed by its ratios and the targets of issue 10: a decision under 20 us at p99 and
# at least 0.7 of the plain routed/s (the interaction phase's, and the backlog's).
routing() {
    local round PLAIN SKILLS RF RB CPU P99 SLOW T1 T2
    if ((R_AGENTS + 64 > FDS)); then
        echo "bench: routing skipped: the fd limit $FDS is too low for $R_AGENTS agents" >&2
        return 0
    fi
    : >"$DIR/route-plain.out"
    : >"$DIR/route-skills.out"
    for round in $(seq "$R_ROUNDS"); do
        route_run plain "$round"
        PLAIN=$ROUTE_LINE
        route_run skills "$round"
        SKILLS=$ROUTE_LINE
        RF=$(awk -v a="$(val routed_per_s "$SKILLS")" -v b="$(val routed_per_s "$PLAIN")" \
            'BEGIN { print (a > 0 && b > 0) ? sprintf("%.2f", a / b) : "na" }')
        RB=$(awk -v a="$(val backlog_routed_per_s "$SKILLS")" -v b="$(val backlog_routed_per_s "$PLAIN")" \
            'BEGIN { print (a > 0 && b > 0) ? sprintf("%.2f", a / b) : "na" }')
        CPU=$(awk -v a="$(val ixn_cpu_us_per_routed "$SKILLS")" -v b="$(val ixn_cpu_us_per_routed "$PLAIN")" \
            'BEGIN { print (a > 0 && b > 0) ? sprintf("%.2f", a / b) : "na" }')
        P99=$(val decision_p99_ns "$SKILLS")
        # p99 under 20 us: at most 1 % of the decisions slower than that, counted exactly by
        # the server (its histogram's bucket around 20 us spans 16.4 to 20.5 us); a server
        # without the count is judged by the bucket's upper edge.
        SLOW=$(awk -v n="$(val decisions_over_20us "$SKILLS")" -v d="$(val decisions "$SKILLS")" \
            'BEGIN { print (n != "" && d > 0) ? sprintf("%.4f", n / d) : "na" }')
        T1=$(awk -v s="$SLOW" -v p="$P99" 'BEGIN {
            if (s != "na") print (s + 0 <= 0.01) ? "yes" : "no"
            else print (p != "" && p + 0 < 20000) ? "yes" : "no" }')
        # Both the flow's and the backlog's rate (the flow's alone when there is no backlog).
        T2=$(awk -v a="$RF" -v b="$RB" -v n="$R_BACKLOG" 'BEGIN {
            print (a != "na" && a + 0 >= 0.7 && (n == 0 || (b != "na" && b + 0 >= 0.7))) ? "yes" : "no" }')
        echo "routing: round=$round skills_to_plain routed_per_s=$RF backlog_routed_per_s=$RB" \
            "ixn_cpu_us_per_routed=$CPU" \
            "plain_decision_p99_ns=$(val decision_p99_ns "$PLAIN") skills_decision_p99_ns=$P99" \
            "skills_share_over_20us=$SLOW" \
            "$(cat "$DIR/route-$R_AGENTS.stats" 2>/dev/null || true)"
        echo "routing: round=$round targets decision_p99_under_20us=$T1 routed_at_least_0.7_of_plain=$T2"
    done
}

# tls_certs: a CA and a server certificate for 127.0.0.1 in $DIR/tls (made once per run).
tls_certs() {
    local d="$DIR/tls"
    rm -rf "$d"
    mkdir -p "$d"
    (
        cd "$d"
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key \
            -out ca.pem -days 2 -subj "/CN=bench CA" \
            -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout server.key \
            -out server.csr -subj "/CN=bench server"
        printf 'basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n' >server.ext
        openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -set_serial 1 -days 2 \
            -out server.pem -extfile server.ext
    ) >"$DIR/tls/openssl.log" 2>&1 || {
        echo "bench: openssl could not make the TLS phase's certificates; see $DIR/tls/openssl.log" >&2
        exit 1
    }
}

# tls_run MODE ROUND: one ixbench run of the TLS phase (MODE plain or tls); its two pass
# lines go to stdout prefixed "tls: mode=MODE round=ROUND", and to $DIR/tls-MODE.out.
tls_run() {
    local mode=$1 round=$2 N=$TLS_AGENTS RC=0 TLS_ARGS=()
    if [[ "$mode" == tls ]]; then
        IXN_EXTRA="tls-cert = $DIR/tls/server.pem"$'\n'"tls-key = $DIR/tls/server.key"
        LINK_EXTRA="tls-ca = $DIR/tls/ca.pem"
        TLS_ARGS=(--tls-ca "$DIR/tls/ca.pem")
    fi
    start_ixn "ixn-$mode" "$N"
    stat_ini "ixn-$mode:$PORT"
    IXN_EXTRA=""
    LINK_EXTRA=""
    "$BIN/ixbench" --ixn "127.0.0.1:$PORT" --token desk-secret --tenant "$TENANT" \
        --password-file "$DIR/password" --agents "$N" --media chat \
        --statserver "$BIN/statserver" --stat-config "$DIR/stat.ini" \
        --stat-log "$DIR/stat-$mode-$N.log" --changes "$CHANGES" --seconds "$SECS" \
        --window "$WINDOW" --latency-changes "$LAT_CHANGES" --ixn-pid "${PIDS[0]}" \
        "${TLS_ARGS[@]}" >"$DIR/ixbench-$mode-$round.out" || RC=$?
    stop_daemons
    sed "s/^/tls: mode=$mode round=$round /" "$DIR/ixbench-$mode-$round.out" | tee -a "$DIR/tls-$mode.out"
    check ixbench "$RC"
}

# tls_cost: the TLS phase: TLS_ROUNDS pairs of runs (plaintext, then TLS, back to back so
# that the machine changes little between them), then the means of each mode and their
# ratios: changes/s tls/plain (the target: at least 0.7), latencies plain/tls.
tls_cost() {
    local round
    if ((TLS_AGENTS + 64 > FDS)); then
        echo "bench: TLS phase skipped: the fd limit $FDS is too low for $TLS_AGENTS agents" >&2
        return 0
    fi
    tls_certs
    : >"$DIR/tls-plain.out"
    : >"$DIR/tls-tls.out"
    for round in $(seq "$TLS_ROUNDS"); do
        tls_run plain "$round"
        tls_run tls "$round"
    done
    awk -v n="$TLS_AGENTS" '
        function val(line, k,   c, a, i) {
            c = split(line, a, " ")
            for (i = 1; i <= c; i++)
                if (index(a[i], k "=") == 1)
                    return substr(a[i], length(k) + 2)
            return ""
        }
        / pass=throughput / { m = val($0, "mode"); tc[m] += val($0, "changes_per_s"); tn[m]++
                              t50[m] += val($0, "p50_us"); t99[m] += val($0, "p99_us")
                              cpu[m] += val($0, "ixn_cpu_us_per_change") + val($0, "stat_cpu_us_per_change") \
                                        + val($0, "desk_cpu_us_per_change")
                              icpu[m] += val($0, "ixn_cpu_us_per_change") }
        / pass=latency / { m = val($0, "mode"); l50[m] += val($0, "p50_us"); l99[m] += val($0, "p99_us"); ln[m]++ }
        function mean(s, c) { return c ? s / c : 0 }
        function r(a, b) { return (a > 0 && b > 0) ? sprintf("%.2f", a / b) : "na" }
        END {
            pc = mean(tc["plain"], tn["plain"]); sc = mean(tc["tls"], tn["tls"])
            printf "tls: agents=%d cost changes_per_s plain=%.0f tls=%.0f tls_to_plain=%s", n, pc, sc, r(sc, pc)
            printf " throughput_p50_us plain=%.0f tls=%.0f p99_us plain=%.0f tls=%.0f", \
                mean(t50["plain"], tn["plain"]), mean(t50["tls"], tn["tls"]), \
                mean(t99["plain"], tn["plain"]), mean(t99["tls"], tn["tls"])
            lp = mean(l50["plain"], ln["plain"]); lt = mean(l50["tls"], ln["tls"])
            printf " one_at_a_time_p50_us plain=%.0f tls=%.0f plain_to_tls=%s", lp, lt, r(lp, lt)
            printf " one_at_a_time_p99_us plain=%.0f tls=%.0f", \
                mean(l99["plain"], ln["plain"]), mean(l99["tls"], ln["tls"])
            # CPU per change of the three processes, and of the ixnserver alone: plain/tls
            # is the throughput ratio a machine that is not shared would show.
            cp = mean(cpu["plain"], tn["plain"]); ct = mean(cpu["tls"], tn["tls"])
            ip = mean(icpu["plain"], tn["plain"]); it = mean(icpu["tls"], tn["tls"])
            printf " cpu_us_per_change plain=%.1f tls=%.1f plain_to_tls=%s", cp, ct, r(cp, ct)
            printf " ixn_cpu_us_per_change plain=%.1f tls=%.1f plain_to_tls=%s\n", ip, it, r(ip, it)
            printf "tls: target throughput_at_least_0.7_of_plain measured=%s by_cpu=%s\n", \
                (pc > 0 && sc / pc >= 0.7) ? "yes" : "no", (cp > 0 && ct > 0 && cp / ct >= 0.7) ? "yes" : "no"
        }' "$DIR/tls-plain.out" "$DIR/tls-tls.out"
}

# stats_floor N: the floor of the statistics phase, bench/relay with N connections paced
# at the phase's change rate for as long as one measured phase; its lines go to
# floor-stats.out too.
stats_floor() {
    [[ "$FLOOR" != 0 ]] || return 0
    local rc=0
    "$BIN/relay" --connections "$1" --window "$S_WINDOW" --latency-changes 0 \
        --changes "$((S_CHANGE_RATE * S_SECS))" --rate "$S_CHANGE_RATE" --seconds "$S_SECS" \
        >"$DIR/floor-run.out" || rc=$?
    tee -a "$DIR/floor-stats.out" <"$DIR/floor-run.out"
    check relay "$rc"
}

# stats_annotate FLOOR_FILE: copies statbench's lines from stdin and adds to its summary
# line the floor's figures (the mean of the runs in FLOOR_FILE) and the ratios to them, as
# annotate does (1 = as fast or as cheap as the floor), then prints the targets of issue 11.
stats_annotate() {
    awk -v floor="$1" '
        function val(line, k,   n, a, i) {
            n = split(line, a, " ")
            for (i = 1; i <= n; i++)
                if (index(a[i], k "=") == 1)
                    return substr(a[i], length(k) + 2)
            return ""
        }
        function ratio(x, y) { return (x > 0 && y > 0) ? sprintf("%.2f", x / y) : "na" }
        BEGIN {
            n = 0
            while ((getline l < floor) > 0) {
                if (val(l, "pass") != "rate") continue
                n++; p50 += val(l, "p50_us"); p99 += val(l, "p99_us")
                cpu += val(l, "stat_hop_cpu_us_per_change")
                c = val(l, "changes_per_s") + 0
                if (n == 1 || c < lo) lo = c
                if (n == 1 || c > hi) hi = c
                cps += c
            }
            if (n) { p50 /= n; p99 /= n; cpu /= n; cps /= n }
        }
        / statistics=/ {
            line = $0
            if (n) {
                line = line sprintf(" floor_p50_us=%.0f floor_p99_us=%.0f floor_stat_cpu_us_per_change=%.1f floor_spread=%s", \
                    p50, p99, cpu, cps > 0 ? sprintf("%.2f", (hi - lo) / cps) : "na") \
                    " ratio_to_floor_p50=" ratio(p50, val($0, "push_p50_us")) \
                    " ratio_to_floor_p99=" ratio(p99, val($0, "push_p99_us")) \
                    " cpu_ratio_to_floor=" ratio(cpu, val($0, "cpu_us_per_change_with"))
            }
            print line
            r = val($0, "stats_cost_ratio"); q = val($0, "push_p99_us"); s = val($0, "push_samples")
            printf "stats: targets stats_add_at_most_30pct_cpu=%s push_p99_under_5ms=%s\n", \
                (r != "" && r != "na" && r + 0 <= 1.30) ? "yes" : "no", \
                (q != "" && s + 0 > 0 && q + 0 < 5000) ? "yes" : "no"
            next
        }
        { print }
    '
}

# stats_phase: the statistics phase of issue 11 (see the top of this file).
stats_phase() {
    local N=$S_AGENTS RC=0 HDIR="$DIR/stat-history"
    if ((N + S_CLIENTS + 64 > FDS)); then
        echo "bench: statistics skipped: the fd limit $FDS is too low for $N agents" >&2
        return 0
    fi
    : >"$DIR/floor-stats.out"
    stats_floor "$N"
    start_ixn ixn-stats "$N" stats
    # A fresh history per run: the day profile replays what is there at the start.
    rm -rf "$HDIR"
    {
        echo "[server]"
        echo "name = stat-bench"
        echo "listen = 127.0.0.1:0"
        echo "port-file = $DIR/stat-stats.port"
        echo "token = wallboard-secret"
        echo "rules = $DIR/bench.rules"
        echo "data-dir = $HDIR"
        echo "[ixn:ixn-stats]"
        echo "address = 127.0.0.1:$PORT"
        echo "token = stat-secret"
    } >"$DIR/stat-stats.ini"
    "$BIN/statbench" --ixn "127.0.0.1:$PORT" --token desk-secret --tenant "$TENANT" \
        --password-file "$DIR/password" --agents "$N" --media chat \
        --statserver "$BIN/statserver" --stat-config "$DIR/stat-stats.ini" \
        --stat-log "$DIR/stat-stats.log" --stat-port-file "$DIR/stat-stats.port" \
        --stat-token wallboard-secret --server ixn-stats --queue stat --queues "$S_QUEUES" \
        --media-token media-secret --history "$HDIR/history.db" \
        --statistics "$S_STATISTICS" --stat-clients "$S_CLIENTS" \
        --change-rate "$S_CHANGE_RATE" --ixn-rate "$S_IXN_RATE" --seconds "$S_SECS" \
        --spread "$S_SPREAD" --rounds "$S_ROUNDS" \
        --ixn-pid "${PIDS[0]}" >"$DIR/statbench.out" || RC=$?
    stop_daemons
    stats_floor "$N"
    stats_annotate "$DIR/floor-stats.out" <"$DIR/statbench.out"
    # The statserver's own history counters, from its last lines (it stopped with ixbench's
    # SIGTERM).
    awk '/event=history_stats/ { sub(/^.*event=history_stats /, ""); print "stats: history " $0 }' \
        "$DIR/stat-stats.log" 2>/dev/null || true
    check statbench "$RC"
}

# fo_ini MEMBER PORT NATS_URL: the configuration of a member of the failover phase's pair,
# linked to the ixnserver at PORT, its lease in NATS at NATS_URL.
fo_ini() {
    {
        echo "[server]"
        echo "name = $1"
        echo "listen = 127.0.0.1:0"
        echo "port-file = $DIR/$1.port"
        echo "token = wallboard-secret"
        echo "rules = $DIR/bench.rules"
        echo "[nats]"
        echo "url = $3"
        echo "bucket = bench_leases"
        echo "key = stat"
        echo "member = $1"
        echo "lease-ms = $FO_LEASE"
        echo "[ixn:ixn-fo]"
        echo "address = 127.0.0.1:$2"
        echo "token = stat-secret"
    } >"$DIR/$1.ini"
}

# start_nats: a nats-server with JetStream on 127.0.0.1 (a free port), its store in
# $DIR/nats (fresh per run), its pid added to PIDS; sets NATS_URL.
start_nats() {
    local d="$DIR/nats" pid f
    rm -rf "$d"
    mkdir -p "$d"
    nats-server -a 127.0.0.1 -p -1 -js -sd "$d/js" --ports_file_dir "$d" -l "$d/nats.log" &
    pid=$!
    PIDS+=("$pid")
    f="$d/nats-server_$pid.ports"
    for _ in $(seq 100); do
        [[ -s "$f" ]] && break
        sleep 0.1
    done
    NATS_URL=$(sed -n 's/.*"nats": *\[ *"\([^"]*\)".*/\1/p' "$f" 2>/dev/null | head -1)
    if [[ -z "$NATS_URL" ]]; then
        echo "bench: nats-server did not start; see $d/nats.log" >&2
        exit 1
    fi
}

# failover_phase: the failover phase of issue 13 (see the top of this file): the floor
# (leasefloor), then ixbench --failover; prints the rounds, the floor and the summary with
# the floor, the ratio and the target (every round under 2 s).
failover_phase() {
    local N=$FO_AGENTS RC=0 FLINE SUM
    if ((N + 64 > FDS)); then
        echo "bench: failover skipped: the fd limit $FDS is too low for $N agents" >&2
        return 0
    fi
    if ! command -v nats-server >/dev/null; then
        echo "bench: failover skipped: no nats-server (scripts/deps.sh installs it)" >&2
        return 0
    fi
    start_nats
    "$BIN/leasefloor" --url "$NATS_URL" --lease-ms "$FO_LEASE" --rounds "$FO_ROUNDS" \
        >"$DIR/failover-floor.out" || RC=$?
    cat "$DIR/failover-floor.out"
    check leasefloor "$RC"
    start_ixn ixn-fo "$N"
    fo_ini stat-fo-a "$PORT" "$NATS_URL"
    fo_ini stat-fo-b "$PORT" "$NATS_URL"
    "$BIN/ixbench" --ixn "127.0.0.1:$PORT" --token desk-secret --tenant "$TENANT" \
        --password-file "$DIR/password" --agents "$N" --media chat \
        --statserver "$BIN/statserver" --stat-config "$DIR/stat-fo-a.ini" \
        --stat-log "$DIR/stat-fo-a.log" --stat-config2 "$DIR/stat-fo-b.ini" \
        --stat-log2 "$DIR/stat-fo-b.log" --failover "$FO_ROUNDS" \
        --ixn-log "$DIR/ixn-fo-$N.log" --changes 0 --latency-changes 0 \
        --queue bench-chat --media-token media-secret --interactions 1000000 \
        --ixn-window 2000 --ixn-rate "$FO_RATE" --ixn-pid "${PIDS[1]}" \
        >"$DIR/ixbench-failover.out" || RC=$?
    stop_daemons
    FLINE=$(grep 'lease_floor: lease_ms=' "$DIR/failover-floor.out" || true)
    SUM=$(grep 'failover: agents=' "$DIR/ixbench-failover.out" || true)
    grep 'failover: round=' "$DIR/ixbench-failover.out" || true
    if [[ -n "$SUM" ]]; then
        # The floor's median against the failover's: 1 would be a failover as fast as the
        # bare lease takeover.
        echo "$SUM floor_takeover_ms=$(val takeover_ms "$FLINE")" \
            "floor_takeover_ms_min=$(val takeover_ms_min "$FLINE")" \
            "floor_takeover_ms_max=$(val takeover_ms_max "$FLINE")" \
            "floor_exit_ms=$(val exit_ms_median "$FLINE")" \
            "ratio_to_floor=$(awk -v a="$(val takeover_ms "$FLINE")" -v b="$(val failover_ms "$SUM")" \
                'BEGIN { print (a > 0 && b > 0) ? sprintf("%.2f", a / b) : "na" }')" \
            "over_floor_ms=$(awk -v a="$(val takeover_ms "$FLINE")" -v b="$(val failover_ms "$SUM")" \
                'BEGIN { print (a > 0 && b > 0) ? sprintf("%.0f", b - a) : "na" }')"
        echo "failover: target under_2s=$(awk -v m="$(val failover_ms_max "$SUM")" \
            'BEGIN { print (m != "" && m != "na" && m + 0 < 2000) ? "yes" : "no" }')" \
            "after_new_primary=$(val rounds_after_new_primary "$SUM")/$FO_ROUNDS"
    else
        cat "$DIR/ixbench-failover.out"
    fi
    check ixbench "$RC"
}

# nats_run MODE: one ixbench throughput pass at NATS_AGENTS agents, the statserver a
# lone statserver (MODE plain) or a one-member pair on the phase's nats-server (MODE
# nats, URL in NATS_URL); sets RUN_LINE to ixbench's throughput line.
nats_run() {
    local mode=$1 N=$NATS_AGENTS RC=0
    start_ixn "ixn-$mode" "$N"
    stat_ini "ixn-$mode:$PORT"
    if [[ "$mode" == nats ]]; then
        printf '[nats]\nurl = %s\nmember = stat-bench\n' "$NATS_URL" >>"$DIR/stat.ini"
    fi
    "$BIN/ixbench" --ixn "127.0.0.1:$PORT" --token desk-secret --tenant "$TENANT" \
        --password-file "$DIR/password" --agents "$N" --media chat \
        --statserver "$BIN/statserver" --stat-config "$DIR/stat.ini" \
        --stat-log "$DIR/stat-$mode-$N.log" --changes "$NATS_CHANGES" --seconds "$SECS" \
        --window "$WINDOW" --latency-changes 0 >"$DIR/ixbench-$mode-$N.out" || RC=$?
    # Stops the ixnserver only: the nats-server (the first pid) stays for the next run.
    local keep=("${PIDS[0]}")
    PIDS=("${PIDS[@]:1}")
    stop_daemons
    PIDS=("${keep[@]}")
    RUN_LINE=$(grep ' pass=throughput ' "$DIR/ixbench-$mode-$N.out" || true)
    if [[ -z "$RUN_LINE" ]]; then
        cat "$DIR/ixbench-$mode-$N.out"
        check ixbench "$RC"
        check ixbench 1
    fi
    check ixbench "$RC"
}

# nats_phase: the status stream phase of issue 13 (see the top of this file): the pass
# without NATS (BENCH_NATS_PLAIN=1, the default; 0 leaves it out), then with it.
nats_phase() {
    local N=$NATS_AGENTS D="$DIR/nats" NPID PLAIN="" LINE SLINE
    if ! command -v nats-server >/dev/null 2>&1; then
        echo "bench: NATS phase skipped: nats-server is not installed" >&2
        return 0
    fi
    if ((N + 64 > FDS)); then
        echo "bench: NATS phase skipped: the fd limit $FDS is too low for $N agents" >&2
        return 0
    fi
    stop_daemons
    rm -rf "$D"
    mkdir -p "$D"
    nats-server -a 127.0.0.1 -p -1 -js -sd "$D/js" --ports_file_dir "$D" -l "$D/nats.log" &
    NPID=$!
    PIDS=("$NPID")
    NATS_URL=""
    for _ in $(seq 100); do
        if [[ -s "$D/nats-server_$NPID.ports" ]]; then
            NATS_URL=$(grep -o 'nats://[^"]*' "$D/nats-server_$NPID.ports" | head -1)
            [[ -n "$NATS_URL" ]] && break
        fi
        sleep 0.1
    done
    if [[ -z "$NATS_URL" ]]; then
        echo "bench: nats-server did not start; see $D/nats.log" >&2
        exit 1
    fi
    if [[ "$NATS_PLAIN" != 0 ]]; then
        nats_run plain
        PLAIN=$RUN_LINE
    fi
    nats_run nats
    LINE=$RUN_LINE
    stop_daemons
    SLINE=$(grep 'event=stream_stats' "$DIR/stat-nats-$N.log" | tail -1 || true)
    if [[ -z "$SLINE" ]]; then
        echo "bench: NATS phase: no stream_stats line in $DIR/stat-nats-$N.log" >&2
        exit 1
    fi
    # nats_published_per_s and nats_lag_*: the last five complete seconds of publishing,
    # at the end of the throughput pass (the statserver stops right after it); peak_*: the
    # second with the most acks (may be the snapshot's burst at the start); run_lag_*:
    # every publish of the run.
    echo "nats: agents=$N changes=$(val changes "$LINE") changes_per_s=$(val changes_per_s "$LINE")" \
        "nats_published=$(val published "$SLINE") nats_published_per_s=$(val last5_per_s "$SLINE")" \
        "nats_lag_p50_ms=$(val last5_lag_p50_ms "$SLINE") nats_lag_p99_ms=$(val last5_lag_p99_ms "$SLINE")" \
        "peak_published_per_s=$(val peak_per_s "$SLINE") peak_lag_p50_ms=$(val peak_lag_p50_ms "$SLINE")" \
        "peak_lag_p99_ms=$(val peak_lag_p99_ms "$SLINE")" \
        "run_lag_p50_ms=$(val lag_p50_ms "$SLINE") run_lag_p99_ms=$(val lag_p99_ms "$SLINE")" \
        "run_lag_max_ms=$(val lag_max_ms "$SLINE") nats_errors=$(val errors "$SLINE")" \
        "nats_dropped=$(val dropped "$SLINE")" \
        "stat_cpu_us_per_change=$(val stat_cpu_us_per_change "$LINE")" | tee "$DIR/nats.out"
    if [[ -n "$PLAIN" ]]; then
        echo "nats: agents=$N without_nats changes_per_s=$(val changes_per_s "$PLAIN")" \
            "stat_cpu_us_per_change=$(val stat_cpu_us_per_change "$PLAIN")" \
            "p50_us=$(val p50_us "$PLAIN") p99_us=$(val p99_us "$PLAIN")" \
            "with_nats changes_per_s=$(val changes_per_s "$LINE")" \
            "stat_cpu_us_per_change=$(val stat_cpu_us_per_change "$LINE")" \
            "p50_us=$(val p50_us "$LINE") p99_us=$(val p99_us "$LINE")" | tee -a "$DIR/nats.out"
    fi
}

# store_run KIND ROUND [SYNC]: one run of the store phase with the store KIND (sqlite or
# postgres, with synchronous_commit = SYNC); its line goes to stdout and
# $DIR/store-KIND[-SYNC].out.
store_run() {
    local kind=$1 round=$2 sync=${3:-} N=$STORE_AGENTS RC=0 LINE tag=$1
    if [[ "$kind" == postgres ]]; then
        tag="postgres-$sync"
        # A fresh database each run: the tables of the last run are dropped.
        "$PG_BIN/psql" -q -d "$BENCH_PG_DSN" -v ON_ERROR_STOP=1 \
            -c "SET client_min_messages = warning" \
            -c "DROP TABLE IF EXISTS ixn_interactions, ixn_meta, ixn_owner" \
            -c "ALTER SYSTEM SET synchronous_commit = $sync" \
            -c "SELECT pg_reload_conf()" >/dev/null
        IXN_EXTRA="store-kind = postgres
store-dsn = $BENCH_PG_DSN"
    fi
    start_ixn "ixn-store-$tag" "$N"
    IXN_EXTRA=""
    stat_ini "ixn-store-$tag:$PORT"
    "$BIN/ixbench" --ixn "127.0.0.1:$PORT" --token desk-secret --tenant "$TENANT" \
        --password-file "$DIR/password" --agents "$N" --media chat \
        --statserver "$BIN/statserver" --stat-config "$DIR/stat.ini" \
        --stat-log "$DIR/stat-store-$tag.log" --changes 0 --latency-changes 0 \
        --seconds "$SECS" --queue bench-chat --media-token media-secret \
        --interactions "$INTERACTIONS" --ixn-window "$IXN_WINDOW" --ixn-rate "$IXN_RATE" \
        --ixn-pid "${PIDS[0]}" >"$DIR/ixbench-store-$tag.out" || RC=$?
    stop_daemons
    LINE=$(grep ' servers=1 ' "$DIR/ixbench-store-$tag.out" || true)
    if [[ -z "$LINE" ]]; then
        cat "$DIR/ixbench-store-$tag.out"
        check ixbench "$RC"
        check ixbench 1
    fi
    echo "store: kind=$kind${sync:+ synchronous_commit=$sync} round=$round $LINE" | tee -a "$DIR/store-$tag.out"
    check ixbench "$RC"
}

# store_phase: the store phase of issue 13 (see the top of this file). Without a cluster
# yet, the script runs itself for this phase alone under pgtmp.py, which starts one and
# sets BENCH_PG_DSN.
store_phase() {
    if [[ -z "${BENCH_PG_DSN:-}" ]]; then
        BENCH_ONLY=store python3 "$ROOT/tests/integration/pgtmp.py" --env BENCH_PG_DSN -- \
            "$ROOT/scripts/bench.sh"
        return
    fi
    PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | head -1)
    local round sync
    rm -f "$DIR"/store-*.out
    for round in $(seq "$STORE_ROUNDS"); do
        store_run sqlite "$round"
        for sync in $STORE_PG_SYNC; do
            store_run postgres "$round" "$sync"
        done
    done
    # routed_per_s_pg is PostgreSQL with its default durability (synchronous_commit = on:
    # every commit flushed to its WAL); routed_per_s_pg_sync_off the same database with
    # synchronous_commit = off, the guarantee SQLite's synchronous=NORMAL gives.
    awk -v agents="$STORE_AGENTS" '
        function val(line, k,   n, a, i) {
            n = split(line, a, " ")
            for (i = 1; i <= n; i++)
                if (index(a[i], k "=") == 1)
                    return substr(a[i], length(k) + 2)
            return ""
        }
        function ratio(a, b) { return (b > 0 && a != "") ? sprintf("%.2f", a / b) : "na" }
        {
            k = FILENAME; sub(/^.*store-/, "", k); sub(/\.out$/, "", k)
            r[k] += val($0, "routed_per_s"); p99[k] += val($0, "p99_us"); n[k]++
        }
        END {
            if (!n["sqlite"]) { print "store: no figures"; exit }
            s = r["sqlite"] / n["sqlite"]
            line = sprintf("store: agents=%s routed_per_s=%.0f p99_us=%.0f", agents, s, p99["sqlite"] / n["sqlite"])
            if (n["postgres-on"]) {
                on = r["postgres-on"] / n["postgres-on"]
                line = line sprintf(" routed_per_s_pg=%.0f p99_us_pg=%.0f pg_to_sqlite=%s", on, p99["postgres-on"] / n["postgres-on"], ratio(on, s))
            }
            if (n["postgres-off"]) {
                off = r["postgres-off"] / n["postgres-off"]
                line = line sprintf(" routed_per_s_pg_sync_off=%.0f p99_us_pg_sync_off=%.0f pg_sync_off_to_sqlite=%s", off, p99["postgres-off"] / n["postgres-off"], ratio(off, s))
            }
            print line
            printf "store: target pg_at_least_0.5_of_sqlite=%s pg_sync_off_at_least_0.5_of_sqlite=%s\n", \
                (n["postgres-on"] ? (on / s >= 0.5 ? "yes" : "no") : "na"), \
                (n["postgres-off"] ? (off / s >= 0.5 ? "yes" : "no") : "na")
        }' "$DIR"/store-*.out
}

if [[ "$ONLY" == store ]]; then
    if [[ -n "${BENCH_PG_DSN:-}" ]]; then
        store_phase
    fi
    exit 0
fi

echo "bench: $(nproc) cpus, $(uname -sr), fd limit $FDS, changes<=$CHANGES, seconds<=$SECS, window=$WINDOW"
# One phase alone: BENCH_ONLY=stats or failover, or BENCH_<PHASE>=only; everything else
# is left out then, also the state-change passes of AGENT_COUNTS.
ONLY_PHASE=""
case "$ONLY" in stats | failover) ONLY_PHASE=$ONLY ;; esac
[[ "$ROUTING" == only ]] && ONLY_PHASE=routing
[[ "$TLS_PHASE" == only ]] && ONLY_PHASE=tls
[[ "$NATS_PHASE" == only ]] && ONLY_PHASE=nats
[[ "$STORE_PHASE" == only ]] && ONLY_PHASE=store
if [[ -n "$ONLY_PHASE" ]]; then
    AGENT_COUNTS=""
    TLS_PHASE=0 ROUTING=0 STATS=0 FAILOVER=0 NATS_PHASE=0 STORE_PHASE=0
    case "$ONLY_PHASE" in
    stats) STATS=1 ;;
    failover) FAILOVER=1 ;;
    routing) ROUTING=1 ;;
    tls) TLS_PHASE=1 ;;
    nats) NATS_PHASE=1 ;;
    store) STORE_PHASE=1 ;;
    esac
fi
declare -A ONE_SERVER=()
for N in $AGENT_COUNTS; do
    if ((N + 64 > FDS)); then
        echo "bench: agents=$N skipped: the fd limit $FDS is too low (raise ulimit -Hn)" >&2
        continue
    fi
    : >"$DIR/floor-$N.out"
    floor "$N"
    start_ixn ixn-bench "$N"
    stat_ini "ixn-bench:$PORT"
    IXN_ARGS=()
    for n in $IXN_AGENTS; do
        if ((n == N)); then
            IXN_ARGS=(--queue bench-chat --media-token media-secret --interactions "$INTERACTIONS"
                --ixn-window "$IXN_WINDOW" --ixn-rate "$IXN_RATE")
        fi
    done
    # ixbench bounds every phase in time and stops the statserver it spawned by its pid.
    RC=0
    "$BIN/ixbench" --ixn "127.0.0.1:$PORT" --token desk-secret --tenant "$TENANT" \
        --password-file "$DIR/password" --agents "$N" --media chat \
        --statserver "$BIN/statserver" --stat-config "$DIR/stat.ini" \
        --stat-log "$DIR/stat-$N.log" --changes "$CHANGES" --seconds "$SECS" --window "$WINDOW" \
        --latency-changes "$LAT_CHANGES" "${IXN_ARGS[@]}" >"$DIR/ixbench-$N.out" || RC=$?
    stop_daemons
    floor "$N"
    annotate "$DIR/floor-$N.out" "$(resv_fields "$DIR/ixn-bench-$N.log")" <"$DIR/ixbench-$N.out"
    check ixbench "$RC"
    ONE_SERVER[$N]=$(grep ' servers=1 ' "$DIR/ixbench-$N.out" || true)
    # Right after the one-server run of the same agent count, so that the machine has had
    # little time to change between the two.
    if [[ -n "${IXN_ARGS[*]}" && "$TWO_SERVERS" != 0 ]]; then
        two_servers "$N"
    fi
done
if [[ "$TLS_PHASE" != 0 ]]; then
    tls_cost
fi
if [[ "$ROUTING" != 0 ]]; then
    routing
fi
if [[ "$STATS" != 0 ]]; then
    stats_phase
fi
if [[ "$FAILOVER" != 0 ]]; then
    failover_phase
fi
if [[ "$NATS_PHASE" != 0 ]]; then
    nats_phase
fi
if [[ "$STORE_PHASE" != 0 ]]; then
    store_phase
fi
