#!/usr/bin/env python3
"""The status stream on NATS (docs/ha.md, "Status stream on NATS"): a statserver pair on a
real nats-server, one ixnserver, agents of two tenants (one with `.`, `_` and a space in
its id, so that its key is escaped). Checked, in order:
(a) --check-config takes the status-* keys and refuses bad ones;
(b) once primary, the bucket holds every agent the StatClient snapshot holds, byte for
byte (`ccwatch --once` against RequestSubscribeAgentStatus, the seq left out), with
escaped keys; `ccwatch --tenant` keeps one tenant's agents;
(c) a running `ccwatch` (no --once) prints the snapshot, then each change;
(d) nats-server killed, states changed and an agent logged out, nats-server started again
on the same port and store: the bucket converges to the StatClient view again (the
logged-out agent's key deleted) within 10 s;
(e) the standby member never publishes: nothing before the restart, and after it (when either
member may hold the new term) the standby's count stays put over a change while the
primary's grows; the primary's stream_stats line at its stop;
(f) the primary stopped, the standby promotes, publishes every agent, and the bucket
follows its view."""
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import ok, act, check  # noqa: E402

RULES = 'rule "Chat2" { chat = chat >= 2; }\nassign tenant "Resources" "Chat2";\n'
AGENTS = {"Resources/1001": "pw1", "Resources/1002": "pw2", "Resources/j.doe_1 x": "pw3",
          "Sales/2001": "pw4"}
BUCKET = "cc_status"


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def start_nats(env, port):
    """nats-server with JetStream on the loopback port, its store in the temp dir (the same
    one on every start); returns the Popen. Ended by pid (Env kills it at exit too)."""
    store = env.path("nats-js")
    log = env.path("nats.log")
    ports = os.path.join(env.dir, "nats-ports")
    os.makedirs(ports, exist_ok=True)
    p = subprocess.Popen(["nats-server", "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", store,
                          "--ports_file_dir", ports, "-l", log],
                         cwd=env.dir, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    env._others.append((p.pid, p))
    env._other_logs.append(("nats-server", log))
    path = os.path.join(ports, "nats-server_%d.ports" % p.pid)
    deadline = time.monotonic() + 10
    while not os.path.exists(path):
        if p.poll() is not None:
            raise harness.Failure("nats-server exited with %s" % p.returncode)
        if time.monotonic() > deadline:
            raise harness.Timeout("nats-server wrote no ports file within 10 s")
        time.sleep(0.02)
    return p


def start_member(env, name, ixn, url):
    extra = "\n".join(["[nats]", "url = %s" % url, "member = %s" % name, "lease-ms = 1000",
                       "status-in-flight = 64"])
    return env.start_stat(name, ixns=[ixn], rules=RULES, extra=extra,
                          extra_server="http = 127.0.0.1:0")


def metrics(proc):
    c = http.client.HTTPConnection("127.0.0.1", proc.ports["http"], timeout=10)
    try:
        c.request("GET", "/metrics")
        body = c.getresponse().read().decode("utf-8")
    finally:
        c.close()
    out = {}
    for line in body.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            out[key] = float(value)
    return out


def wait_log(proc, pattern, what, timeout=5.0):
    rx = re.compile(pattern)
    deadline = time.monotonic() + timeout
    while True:
        m = rx.search(proc.stderr())
        if m:
            check(True, what)
            return m
        if time.monotonic() > deadline:
            check(False, "%s: no line /%s/ within %.1fs" % (what, pattern, timeout))
            raise harness.Failure(what)
        time.sleep(0.05)


def ccwatch(env, url, *extra):
    """{(tenant, agentId): status} of `ccwatch --once`, and its raw lines."""
    rc, out, err = env.run(["ccwatch", "--nats", url, "--bucket", BUCKET, "--once"] + list(extra),
                           timeout=20)
    ok(rc == 0, "ccwatch --once exits 0 (got %s: %s)" % (rc, err.strip()))
    got = {}
    lines = [x for x in out.splitlines() if x]
    for line in lines:
        m = json.loads(line)
        got[(m.get("tenant"), m.get("agentId"))] = m
    ok(len(got) == len(lines), "ccwatch: one line per agent (%d lines)" % len(lines))
    return got


def stat_snapshot(port):
    """{(tenant, agentId): status} of a StatClient subscription's snapshot, seq left out."""
    sc = harness.statclient(port)
    ans = sc.request({"message": "RequestSubscribeAgentStatus"})
    ok(ans.get("message") == "EventAck", "subscribe acked (got %s)" % ans)
    got = {}
    while True:
        m = sc.next(lambda x: harness.is_status(x) or
                    x.get("message") == "EventAgentStatusSnapshotDone", timeout=5)
        if m["message"] == "EventAgentStatusSnapshotDone":
            break
        m.pop("seq", None)
        got[(m.get("tenant"), m.get("agentId"))] = m
    sc.close()
    return got


def converge(env, url, stat, what, timeout=10.0, expect=None):
    """Waits until the bucket's snapshot equals the StatClient snapshot of stat (or of one
    of the statservers of a list: the member that publishes, when the test cannot know
    which one holds the term; the two members' `since` may differ by their clocks'
    reading of a change, docs/ha.md); returns it."""
    stats = stat if isinstance(stat, list) else [stat]
    deadline = time.monotonic() + timeout
    while True:
        got = ccwatch(env, url)
        snaps = [stat_snapshot(s.port) for s in stats]
        want = next((w for w in snaps if w == got), snaps[0])
        if got == want and (expect is None or expect(want)):
            check(True, "%s: the bucket equals the StatClient snapshot (%d agents)"
                  % (what, len(got)))
            return got
        if time.monotonic() > deadline:
            diff = [k for k in set(got) | set(want) if got.get(k) != want.get(k)]
            check(False, "%s: the bucket differs from the StatClient snapshot after %.0f s: "
                  "agents %s; bucket %s; statclient %s"
                  % (what, timeout, diff, [got.get(k) for k in diff], [want.get(k) for k in diff]))
            raise harness.Failure(what)
        time.sleep(0.3)


def check_config(env):
    bad = env.write("bad.ini", "[server]\nname = s\n[nats]\nurl = nats://127.0.0.1:1\n"
                               "status-bucket = a.b\nstatus-in-flight = 0\n"
                               "status-ack-ms = 5\nstatus-stream = maybe\n")
    rc, out, err = env.run(["statserver", "-c", bad, "--check-config"])
    ok(rc == 1, "(a) bad status-* keys: --check-config exits 1 (got %s)" % rc)
    for key in ("status-bucket", "status-in-flight", "status-ack-ms", "status-stream"):
        ok("[nats] %s" % key in err, "(a) %s reported (got %s)" % (key, err))
    same = env.write("same.ini", "[server]\nname = s\n[nats]\nurl = nats://127.0.0.1:1\n"
                                 "status-bucket = cc_leases\n")
    rc, out, err = env.run(["statserver", "-c", same, "--check-config"])
    ok(rc == 1 and "must differ" in err, "(a) the lease bucket is refused for statuses")
    good = env.write("good.ini", "[server]\nname = s\n[nats]\nurl = nats://127.0.0.1:1\n"
                                 "status-bucket = st-1\nstatus-in-flight = 10\n"
                                 "status-ack-ms = 500\nstatus-stream = no\n")
    rc, out, err = env.run(["statserver", "-c", good, "--check-config"])
    ok(rc == 0, "(a) valid status-* keys pass (got %s: %s)" % (rc, err))


def main():
    args = harness.parse_args()
    with harness.Env(args.bin, timeout=120) as env:
        check_config(env)
        nats_port = free_port()
        url = "nats://127.0.0.1:%d" % nats_port
        nats = start_nats(env, nats_port)
        ixn = env.start_ixn("ixn-a", agents=AGENTS)
        s1 = start_member(env, "stat-1", ixn, url)
        wait_log(s1, r"event=role role=primary", "stat-1 becomes primary")
        s2 = start_member(env, "stat-2", ixn, url)
        wait_log(s2, r"event=snapshot_done link=ixn-a", "stat-2 linked to ixn-a")

        desks = {}
        for key, pw in AGENTS.items():
            tenant, agent_id = key.split("/", 1)
            desks[key] = harness.agent(ixn.port, tenant, agent_id, "P-" + agent_id, pw,
                                       media={"chat": 1})
        act(desks["Resources/1002"], {"message": "RequestNotReadyForMedia", "media": "chat",
                                      "reason": {"code": 7, "description": "lunch"}},
            "(b) 1002 not ready")

        # (b) the bucket equals the StatClient snapshot; keys escaped.
        snap = converge(env, url, s1, "(b)", expect=lambda w: len(w) == 4)
        ok(snap[("Resources", "1002")]["media"]["chat"]["ready"] in (0, False),
           "(b) 1002 is not ready in the bucket")
        sales = ccwatch(env, url, "--tenant", "Sales")
        ok(set(sales) == {("Sales", "2001")}, "(b) --tenant Sales keeps Sales only (got %s)"
           % sorted(sales))
        odd = ccwatch(env, url, "--tenant", "Resources")
        ok(("Resources", "j.doe_1 x") in odd and len(odd) == 3,
           "(b) --tenant Resources: three agents, the escaped one included (got %s)"
           % sorted(odd))

        # (c) a running watcher: snapshot, then a change.
        out_path = env.path("ccwatch-live.out")
        with open(out_path, "wb") as out:
            live = subprocess.Popen([env.bin("ccwatch"), "--nats", url, "--tenant", "Sales"],
                                    stdout=out, stderr=subprocess.DEVNULL, cwd=env.dir)
        env._others.append((live.pid, live))
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and open(out_path).read().count("\n") < 1:
            time.sleep(0.05)
        act(desks["Sales/2001"], {"message": "RequestNotReadyForMedia", "media": "chat"},
            "(c) 2001 not ready")
        deadline = time.monotonic() + 5
        lines = []
        while time.monotonic() < deadline:
            lines = [json.loads(x) for x in open(out_path).read().splitlines() if x]
            if len(lines) >= 2:
                break
            time.sleep(0.05)
        ok(len(lines) >= 2 and lines[0]["media"]["chat"]["ready"] in (1, True) and
           lines[-1]["media"]["chat"]["ready"] in (0, False),
           "(c) ccwatch prints the snapshot then the change (got %s)" % lines)
        harness.expect_ack(desks["Sales/2001"].request({"message": "RequestAgentLogout"}),
                           "(c) 2001 logs out")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            lines = [json.loads(x) for x in open(out_path).read().splitlines() if x]
            if lines and lines[-1].get("loggedIn") in (0, False):
                break
            time.sleep(0.05)
        ok(lines and lines[-1].get("agentId") == "2001" and
           lines[-1].get("loggedIn") in (0, False),
           "(c) the deleted key is printed as 2001 logged out (got %s)" % lines[-1:])
        os.kill(live.pid, signal.SIGTERM)
        live.wait(timeout=5)
        converge(env, url, s1, "(c) after the logout", expect=lambda w: len(w) == 3)
        m2 = metrics(s2)
        ok(m2.get("contactcore_stat_pair_primary") == 0 and
           m2.get("contactcore_stat_stream_published_total") == 0,
           "(c) the standby published nothing (got %s)"
           % m2.get("contactcore_stat_stream_published_total"))

        # (d) NATS away: changes kept, published again once it is back.
        epoch_before = max(metrics(p).get("contactcore_stat_pair_epoch", 0) for p in (s1, s2))
        nats.kill()
        nats.wait(timeout=5)
        wait_log(s1, r"event=status_stream_down", "(d) stat-1 sees NATS go")
        act(desks["Resources/1002"], {"message": "RequestCancelNotReadyForMedia",
                                      "media": "chat"}, "(d) 1002 ready")
        act(desks["Resources/1001"], {"message": "RequestNotReadyForMedia", "media": "chat"},
            "(d) 1001 not ready")
        harness.expect_ack(desks["Resources/j.doe_1 x"].request(
            {"message": "RequestAgentLogout"}), "(d) j.doe_1 x logs out")
        time.sleep(0.5)
        nats = start_nats(env, nats_port)
        snap = converge(env, url, [s1, s2], "(d) after the restart", timeout=15,
                        expect=lambda w: len(w) == 2)
        ok(set(snap) == {("Resources", "1001"), ("Resources", "1002")},
           "(d) the logged-out agent's key is gone (got %s)" % sorted(snap))

        # (e) after the restart either member may hold the new term (the lease aged out
        # while NATS was away): the standby's count stays put over a change, the
        # primary's grows.
        def published(proc):
            return metrics(proc).get("contactcore_stat_stream_published_total", 0)
        # The lease aged out while NATS was away, so the primary of after the restart holds
        # a new term: until one does, the old primary still counts itself primary (its
        # renewals unanswered, docs/ha.md) while the other may win the key.
        deadline = time.monotonic() + 10
        while True:
            prim = [p for p in (s1, s2) if metrics(p).get("contactcore_stat_pair_primary") == 1]
            if len(prim) == 1 and \
                    metrics(prim[0]).get("contactcore_stat_pair_epoch", 0) > epoch_before:
                break
            if time.monotonic() > deadline:
                break
            time.sleep(0.1)
        ok(len(prim) == 1, "(e) one primary in a new term after the restart (got %s)"
           % [p.name for p in prim])
        pri = prim[0]
        sby = s2 if pri is s1 else s1
        before_p, before_s = published(pri), published(sby)
        act(desks["Resources/1001"], {"message": "RequestCancelNotReadyForMedia",
                                      "media": "chat"}, "(e) 1001 ready")
        converge(env, url, pri, "(e) after a change", expect=lambda w: len(w) == 2 and
                 w[("Resources", "1001")]["media"]["chat"]["ready"] in (1, True))
        ok(published(pri) > before_p, "(e) the primary %s published the change" % pri.name)
        ok(published(sby) == before_s, "(e) the standby %s published nothing (%s then %s)"
           % (sby.name, before_s, published(sby)))
        ok(metrics(pri).get('contactcore_stat_stream_pending{state="dirty"}') == 0,
           "(e) nothing left dirty")
        # The primary's own figures, at its stop: SIGTERM hands the lease over at once.
        since = len(sby.stderr())
        ok(pri.kill(signal.SIGTERM) == 0, "%s exits 0 on SIGTERM" % pri.name)
        m = re.search(r"event=stream_stats [^\n]*published=(\d+)[^\n]* lag_p50_ms=([\d.]+)"
                      r"[^\n]* lag_p99_ms=([\d.]+)", pri.stderr())
        ok(m and int(m.group(1)) >= 1, "(e) %s's stream_stats line (got %s)"
           % (pri.name, m.group(0) if m else None))
        if m and pri is s1:
            print("nats_lag_p50_ms=%s nats_lag_p99_ms=%s (over the test, outage included)"
                  % (m.group(2), m.group(3)), flush=True)

        # (f) the standby promotes: it publishes every agent, and the bucket follows it.
        deadline = time.monotonic() + 5
        while "event=role role=primary" not in sby.stderr()[since:] and \
                time.monotonic() < deadline:
            time.sleep(0.05)
        ok("event=role role=primary" in sby.stderr()[since:], "(f) %s promotes" % sby.name)
        act(desks["Resources/1002"], {"message": "RequestNotReadyForMedia", "media": "chat"},
            "(f) 1002 not ready")
        snap = converge(env, url, sby, "(f) after the failover", expect=lambda w: len(w) == 2 and
                        w[("Resources", "1002")]["media"]["chat"]["ready"] in (0, False))
        ok(published(sby) > before_s, "(f) %s publishes once primary" % sby.name)
        ok(sby.kill(signal.SIGTERM) == 0, "%s exits 0 on SIGTERM" % sby.name)
        ok(re.search(r"event=status_stream_resync agents=2", sby.stderr()[since:]),
           "(f) %s published every agent on promotion" % sby.name)
    print("PASS test_nats_status")


if __name__ == "__main__":
    main()
