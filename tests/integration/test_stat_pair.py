#!/usr/bin/env python3
"""A statserver hot-standby pair (docs/ha.md) with a real nats-server: two statservers with
the same [ixn:] list and a [nats] lease of 1 s, one ixnserver with a chat queue, one agent.
Checked, in order:
(a) one member becomes primary, the other stays standby; the desktop gets one status per
change (the standby's are never sent) and an interaction is invited;
(b) SIGTERM of the primary: the standby takes over at once (the key is deleted on stop);
the time from the signal to the ixnserver taking the new primary (its log line's time) is
printed (handover_ms, target < 300 ms); the desktop gets no second copy of its unchanged
status from the new primary, and an interaction is invited;
(c) kill -9 of the primary: the standby promotes with a higher epoch when the lease ages
out, statuses flow again and an interaction submitted at the kill is invited within 2 s
(failover_ms printed);
(d) SIGSTOP of the primary until the standby promoted, then SIGCONT: the old primary's
statuses for the changes it saw while stopped are fenced (the ixnserver counts them at
stop) and the desktop gets exactly one status per change;
(e) nats-server killed: the primary keeps its role beyond the lease, statuses follow
changes and interactions are still invited;
(f) nats-server restarted on its port: the key aged out meanwhile, a member wins a new
term with a higher epoch, and routing goes on;
and the members stop cleanly on SIGTERM with NATS away."""
import datetime
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
from harness import V, ok, act, check  # noqa: E402

T = "Resources"
AGENT = "1001"
RULES = 'rule "Chat2" { chat = chat >= 2; }\nassign tenant "%s" "Chat2";\n' % T
IDLE = V(chat="R 0 2 2")
LEASE_MS = 1000


def free_port():
    """A loopback port free a moment ago (nats-server is restarted on the same one)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def start_nats(env, port):
    """nats-server with JetStream on the loopback port, its store and log in the temp dir;
    returns (Popen, url). Ended by pid (Env kills it at exit too)."""
    store = env.path("nats-js")
    log = env.path("nats.log")
    p = subprocess.Popen(["nats-server", "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", store,
                          "--ports_file_dir", env.dir, "-l", log],
                         cwd=env.dir, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    env._others.append((p.pid, p))
    env._other_logs.append(("nats-server", log))
    deadline = time.monotonic() + 10
    path = os.path.join(env.dir, "nats-server_%d.ports" % p.pid)
    while True:
        try:
            with open(path) as f:
                urls = json.load(f).get("nats") or []
            if urls:
                return p, urls[0]
        except (OSError, ValueError):
            pass
        if p.poll() is not None:
            raise harness.Failure("nats-server exited with %s" % p.returncode)
        if time.monotonic() > deadline:
            raise harness.Timeout("nats-server wrote no ports file within 10 s")
        time.sleep(0.02)


def start_member(env, name, ixn, url):
    extra = "\n".join(["[nats]", "url = %s" % url, "member = %s" % name,
                       "lease-ms = %d" % LEASE_MS])
    return env.start_stat(name, ixns=[ixn], rules=RULES, extra=extra,
                          extra_server="http = 127.0.0.1:0")


def metrics(proc):
    """{'name{labels}': value} of the daemon's GET /metrics."""
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


def wait_log(proc, pattern, what, since=0, timeout=5.0):
    """Waits for a line matching pattern in proc's stderr after offset since; returns the
    match."""
    rx = re.compile(pattern)
    deadline = time.monotonic() + timeout
    while True:
        m = rx.search(proc.stderr()[since:])
        if m:
            check(True, what)
            return m
        if time.monotonic() > deadline:
            check(False, "%s: no line /%s/ within %.1fs" % (what, pattern, timeout))
            raise harness.Failure(what)
        time.sleep(0.02)


def mark(proc):
    return len(proc.stderr())


def serve(desk, ms, what, timeout=5.0):
    """Submits a chat interaction and has the agent take and end it; returns the seconds
    from the submit to the invite."""
    t0 = time.monotonic()
    iid = harness.submit_ok(ms, T, "chat", "chat-in")
    desk.next(harness.is_invite(iid), timeout=timeout, what="%s: invite of %s" % (what, iid))
    took = time.monotonic() - t0
    check(True, "%s: %s invited after %.0f ms" % (what, iid, took * 1000))
    harness.expect_ack(desk.request({"message": "RequestAccept", "interactionId": iid}),
                       "%s: accept" % what)
    harness.expect_ack(desk.request({"message": "RequestStopProcessing", "interactionId": iid}),
                       "%s: done" % what)
    harness.wait_status(desk, IDLE, "%s: idle again" % what)
    return took


def statuses_until_quiet(desk, quiet=0.5, limit=5.0):
    """Every status that arrives until none came for quiet seconds."""
    got = []
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            got.append(desk.next(harness.is_status, timeout=quiet))
        except Exception:
            break
    return got


def log_time(ts):
    """Unix seconds of a log line's ts=2026-12-07T05:33:05.764Z."""
    return datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


def epoch_of(m):
    return int(m.group(1))


def check_config(env):
    """[nats] is checked at start: url required, names and lease-ms within their limits."""
    bad = env.write("bad-nats.ini", "[server]\nname = s\n[nats]\nbucket = a.b\n"
                                    "key = .k\nlease-ms = 10\n")
    rc, out, err = env.run(["statserver", "-c", bad, "--check-config"])
    ok(rc == 1, "[nats] errors: --check-config exits 1 (got %s)" % rc)
    for what in ("[nats] url: missing", "[nats] bucket", "[nats] key", "[nats] lease-ms"):
        ok(what in err, "[nats] errors: %s reported (got %s)" % (what, err))
    good = env.write("good-nats.ini", "[server]\nname = s\n[nats]\nurl = nats://127.0.0.1:4222\n"
                                      "key = pair.a/b=c\nlease-ms = 200\n")
    rc, out, err = env.run(["statserver", "-c", good, "--check-config"])
    ok(rc == 0, "a valid [nats] section passes --check-config (got %s: %s)" % (rc, err))


def main():
    args = harness.parse_args()
    with harness.Env(args.bin, timeout=90) as env:
        check_config(env)
        nats_port = free_port()
        nats, url = start_nats(env, nats_port)
        ok(True, "nats-server at %s" % url)
        ixn = harness.start_ixn_queues(env, "ixn-a", agents={T + "/" + AGENT: "pw" + AGENT},
                                       queues={T + "/chat-in": "chat"}, invite_timeout=60,
                                       extra_server="http = 127.0.0.1:0")
        s1 = start_member(env, "stat-1", ixn, url)
        m = wait_log(s1, r"event=role role=primary epoch=(\d+)", "stat-1 becomes primary")
        e1 = epoch_of(m)
        s2 = start_member(env, "stat-2", ixn, url)
        wait_log(s2, r"event=snapshot_done link=ixn-a", "stat-2 linked to ixn-a")

        # (a) one status per change, from the primary only.
        desk = harness.agent(ixn.port, T, AGENT, "P" + AGENT, "pw" + AGENT, media={"chat": 1})
        harness.expect_status(desk, IDLE, "(a) status after login")
        harness.no_status(desk, "(a) no second status for the login (the standby sends none)")
        act(desk, {"message": "RequestNotReadyForMedia", "media": "chat"}, "(a) not ready")
        harness.expect_status(desk, V(chat="NR 0 2 0"), "(a) status after not ready")
        act(desk, {"message": "RequestCancelNotReadyForMedia", "media": "chat"}, "(a) ready")
        harness.expect_status(desk, IDLE, "(a) status after ready")
        harness.no_status(desk, "(a) one status per change", wait=0.3)
        ok("role=primary" not in s2.stderr(), "(a) stat-2 stays standby")
        ms = harness.media_server(ixn.port)
        serve(desk, ms, "(a)")
        mt = metrics(ixn)
        ok(mt.get("contactcore_ixn_reporting_epoch") == e1,
           "(a) ixnserver metrics: reporting epoch %d (got %s)"
           % (e1, mt.get("contactcore_ixn_reporting_epoch")))
        m1, m2 = metrics(s1), metrics(s2)
        ok(m1.get("contactcore_stat_pair_primary") == 1 and
           m2.get("contactcore_stat_pair_primary") == 0,
           "(a) statserver metrics: stat-1 primary, stat-2 standby (got %s, %s)"
           % (m1.get("contactcore_stat_pair_primary"), m2.get("contactcore_stat_pair_primary")))
        ok(m2.get("contactcore_stat_statuses_withheld_total", 0) >= 3,
           "(a) the standby withheld its statuses (got %s)"
           % m2.get("contactcore_stat_statuses_withheld_total"))

        # (b) SIGTERM of the primary: handover through the deleted key.
        desk.drain(0.2)
        since2 = mark(s2)
        since_ixn = mark(ixn)
        t_signal = time.time()
        s1.expected_exit = True
        os.kill(s1.pid, signal.SIGTERM)
        m = wait_log(ixn, r"ts=(\S+) [^\n]*event=reporting_mode [^\n]*name=stat-2 primary=yes "
                     r"epoch=\d+ taken=yes", "(b) the ixnserver takes stat-2 as primary",
                     since=since_ixn)
        handover = log_time(m.group(1)) - t_signal
        ok(s1.wait() == 0, "(b) stat-1 exits 0 on SIGTERM")
        extra = statuses_until_quiet(desk, quiet=0.5)
        ok(not extra, "(b) the desktop gets no second copy of its status from the new primary "
           "(got %s)" % [harness.fmt_vec(harness.vec(x)) for x in extra])
        m = wait_log(s2, r"event=role role=primary epoch=(\d+)", "(b) stat-2 becomes primary",
                     since=since2)
        e2 = epoch_of(m)
        ok(e2 > e1, "(b) epoch %d above %d" % (e2, e1))
        print("handover_ms=%.0f" % (handover * 1000), flush=True)
        ok(handover < 1.0, "(b) handover on SIGTERM within 1 s (got %.0f ms; target 300 ms)"
           % (handover * 1000))
        serve(desk, ms, "(b)")

        # (c) kill -9 of the primary: the lease ages out, stat-1 (restarted) promotes.
        since1 = mark(s1)
        s1.start()
        wait_log(s1, r"event=snapshot_done link=ixn-a", "(c) stat-1 back, linked",
                 since=since1)
        ok("role=primary" not in s1.stderr()[since1:], "(c) stat-1 comes back as standby")
        desk.drain(0.2)
        t0 = time.monotonic()
        s2.kill(signal.SIGKILL)
        iid = harness.submit_ok(ms, T, "chat", "chat-in")
        desk.next(harness.is_invite(iid), timeout=5, what="(c) invite after the kill")
        failover = time.monotonic() - t0
        m = wait_log(s1, r"event=role role=primary epoch=(\d+)", "(c) stat-1 promotes",
                     since=since1)
        e3 = epoch_of(m)
        ok(e3 > e2, "(c) epoch %d above %d" % (e3, e2))
        print("failover_ms=%.0f" % (failover * 1000), flush=True)
        ok(failover < 2.0, "(c) invited within 2 s of the kill (got %.0f ms)" % (failover * 1000))
        harness.expect_ack(desk.request({"message": "RequestAccept", "interactionId": iid}),
                           "(c) accept")
        harness.expect_ack(desk.request({"message": "RequestStopProcessing",
                                         "interactionId": iid}), "(c) done")
        harness.wait_status(desk, IDLE, "(c) idle again")

        # (d) SIGSTOP of the primary until the other promotes, then SIGCONT: fenced.
        since2 = mark(s2)
        s2.start()
        wait_log(s2, r"event=snapshot_done link=ixn-a", "(d) stat-2 back, linked",
                 since=since2)
        desk.drain(0.3)
        os.kill(s1.pid, signal.SIGSTOP)
        try:
            m = wait_log(s2, r"event=role role=primary epoch=(\d+)",
                         "(d) stat-2 promotes while stat-1 is stopped", since=since2)
            e4 = epoch_of(m)
            ok(e4 > e3, "(d) epoch %d above %d" % (e4, e3))
            # The promotion's resend, then changes that the stopped member will also see.
            statuses_until_quiet(desk, quiet=0.3)
            act(desk, {"message": "RequestNotReadyForMedia", "media": "chat"}, "(d) not ready")
            harness.expect_status(desk, V(chat="NR 0 2 0"), "(d) status after not ready")
            act(desk, {"message": "RequestCancelNotReadyForMedia", "media": "chat"},
                "(d) ready")
            harness.expect_status(desk, IDLE, "(d) status after ready")
            since1 = mark(s1)
        finally:
            os.kill(s1.pid, signal.SIGCONT)
        wait_log(s1, r"event=role role=standby", "(d) stat-1 learns it lost the lease",
                 since=since1)
        extra = statuses_until_quiet(desk, quiet=0.5)
        ok(not extra, "(d) the desktop sees none of the old primary's statuses (got %s)"
           % [harness.fmt_vec(harness.vec(x)) for x in extra])
        serve(desk, ms, "(d)")
        mt = metrics(ixn)
        fenced_metric = mt.get('contactcore_ixn_statuses_received_total{outcome="fenced"}', 0)
        ok(fenced_metric >= 1, "(d) ixnserver metrics count the fenced statuses (got %s)"
           % fenced_metric)
        ok(mt.get("contactcore_ixn_reporting_epoch") == e4,
           "(d) ixnserver metrics: reporting epoch %d (got %s)"
           % (e4, mt.get("contactcore_ixn_reporting_epoch")))

        # (e) nats-server killed: the primary keeps its role, routing goes on.
        since2 = mark(s2)
        os.kill(nats.pid, signal.SIGKILL)
        nats.wait(timeout=5)
        time.sleep(2.5 * LEASE_MS / 1000.0)
        wait_log(s2, r"event=lease_unconfirmed", "(e) stat-2 notices the lease is unconfirmed",
                 since=since2)
        ok("role=standby" not in s2.stderr()[since2:], "(e) stat-2 stays primary without NATS")
        act(desk, {"message": "RequestNotReadyForMedia", "media": "chat"}, "(e) not ready")
        harness.expect_status(desk, V(chat="NR 0 2 0"), "(e) status after not ready")
        act(desk, {"message": "RequestCancelNotReadyForMedia", "media": "chat"}, "(e) ready")
        harness.expect_status(desk, IDLE, "(e) status after ready")
        serve(desk, ms, "(e)")

        # (f) nats-server back (same port, same store): the key aged out meanwhile, so the
        # primary's renewal is refused and a member wins a new term with a higher epoch.
        since1, since2 = mark(s1), mark(s2)
        nats, _ = start_nats(env, nats_port)
        rx = re.compile(r"event=role role=primary epoch=(\d+)")
        deadline = time.monotonic() + 10
        e5 = None
        while e5 is None and time.monotonic() < deadline:
            for s, since in ((s1, since1), (s2, since2)):
                m = rx.search(s.stderr()[since:])
                if m:
                    e5 = epoch_of(m)
            time.sleep(0.05)
        ok(e5 is not None and e5 > e4,
           "(f) after NATS is back a member is primary with an epoch above %d (got %s)"
           % (e4, e5))
        statuses_until_quiet(desk, quiet=0.3)
        act(desk, {"message": "RequestNotReadyForMedia", "media": "chat"}, "(f) not ready")
        harness.expect_status(desk, V(chat="NR 0 2 0"), "(f) status after not ready")
        act(desk, {"message": "RequestCancelNotReadyForMedia", "media": "chat"}, "(f) ready")
        harness.expect_status(desk, IDLE, "(f) status after ready")
        serve(desk, ms, "(f)")
        harness.alive(ixn, s1, s2)

        # The ixnserver's count of fenced statuses, logged at stop.
        desk.close()
        ms.close()
        ixn.kill(signal.SIGTERM)
        m = re.search(r"event=fence_stats statuses_fenced=(\d+)", ixn.stderr())
        ok(m is not None, "ixnserver logs its fence counters at stop")
        fenced = int(m.group(1)) if m else 0
        print("statuses_fenced=%d" % fenced, flush=True)
        ok(fenced >= 1, "(d) the old primary's statuses were fenced and counted (got %d)"
           % fenced)
        m = re.search(r"event=fence_stats .*statuses_repeated=(\d+)", ixn.stderr())
        repeated = int(m.group(1)) if m else 0
        ok(repeated >= 1, "the promotions' copies of unchanged statuses were not forwarded "
           "(statuses_repeated %d)" % repeated)
        # Without NATS the members still stop cleanly and promptly.
        os.kill(nats.pid, signal.SIGKILL)
        nats.wait(timeout=5)
        for s in (s1, s2):
            t0 = time.monotonic()
            rc = s.kill(signal.SIGTERM)
            ok(rc == 0, "%s exits 0 on SIGTERM without NATS (got %s)" % (s.name, rc))
            ok(time.monotonic() - t0 < 3.0, "%s stops within 3 s" % s.name)


if __name__ == "__main__":
    main()
