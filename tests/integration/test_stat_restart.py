#!/usr/bin/env python3
"""Statserver restart: agents logged in; the statserver is killed, agent states change
meanwhile, and after its restart every desktop gets a status rebuilt from fresh snapshots
that matches the current state."""
import os
import re
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

# ---- local helpers (this file's own; the shared harness lacks vector helpers) ----


def is_status(m):
    """True for an EventCurrentAgentStatus."""
    return m.get("message") == "EventCurrentAgentStatus"


def V(**media):
    """Expected vector: V(chat="R 0 3 3", email="NR 0 2 0") -> {media: (S, N1, N2, N3)}."""
    out = {}
    for name, text in media.items():
        s, n1, n2, n3 = text.split()
        out[name] = (s, int(n1), int(n2), int(n3))
    return out


def vec(msg):
    """The capacity vector of an EventCurrentAgentStatus in the form V() builds."""
    out = {}
    for name, v in (msg.get("media") or {}).items():
        out[name] = ("R" if v.get("ready") is True else "NR", v.get("current"), v.get("max"),
                     v.get("available"))
    return out


def fmt(v):
    """A vector as text for check lines: "chat R 0 3 3, email NR 0 2 0"."""
    return ", ".join("%s %s %d %d %d" % ((m,) + tuple(v[m])) for m in sorted(v)) or "(none)"


def ok(cond, what):
    """harness.check; the "(got ...)" part of what is printed only when the check fails."""
    if cond:
        what = re.sub(r" \(got .*\)$", "", what, flags=re.S)
    harness.check(bool(cond), what)


def act(desk, req, what):
    """Sends an agent request and asserts it is acknowledged."""
    ans = desk.request(dict(req))
    ok(ans.get("message") == "EventAck", "%s acknowledged (got %s)" % (what, ans))
    return ans


def next_status(c, what, timeout=5):
    """The next status on c; fails the check (not a traceback from inside the client) on timeout."""
    try:
        return c.next(is_status, timeout=timeout)
    except Exception as e:  # the client raises its own timeout type
        what = "%s: no EventCurrentAgentStatus within %.1fs (%s)" % (what, timeout, e)
        harness.check(False, what)
        raise harness.Failure(what)  # also under CC_IT_SOFT: there is no status to check


def wait_status(c, want, what, timeout=5, version=None, dnd=None):
    """Reads statuses on c until one has vector want (and version, dnd when given)."""
    deadline = time.monotonic() + timeout
    seen = []
    while True:
        try:
            m = c.next(is_status, timeout=max(0.0, deadline - time.monotonic()))
        except Exception as e:  # timeout or connection closed: report what was seen
            what = "%s: want [%s]%s, saw %s (%s)" % (
                what, fmt(want), "" if version is None else " version %s" % version,
                ["[%s] v=%s" % (fmt(vec(x)), x.get("version")) for x in seen] or "nothing", e)
            harness.check(False, what)
            raise harness.Failure(what)  # also under CC_IT_SOFT: nothing more will come
        seen.append(m)
        if vec(m) == want and (version is None or m.get("version") == version) and \
                (dnd is None or m.get("dnd") is dnd):
            harness.check(True, "%s: [%s]%s" % (what, fmt(want),
                                                "" if version is None else " version %s" % version))
            return m


def expect_status(c, want, what, timeout=5, version=None, dnd=None, rule=None):
    """The very next status on c must have vector want (strict: no intermediate statuses)."""
    m = next_status(c, what, timeout)
    ok(vec(m) == want, "%s: vector [%s] (got [%s])" % (what, fmt(want), fmt(vec(m))))
    if version is not None:
        ok(m.get("version") == version,
           "%s: version %s (got %s)" % (what, version, m.get("version")))
    if dnd is not None:
        ok(m.get("dnd") is dnd, "%s: dnd %s (got %s)" % (what, dnd, m.get("dnd")))
    if rule is not None:
        ok(m.get("rule") == rule, "%s: rule %s (got %s)" % (what, rule, m.get("rule")))
    return m


def no_status(c, what, wait=0.5):
    """No status arrives on c for wait seconds (and none is queued)."""
    try:
        c.expect_none(is_status, wait=wait)
    except Exception as e:
        harness.check(False, "%s: unexpected status (%s)" % (what, e))
    harness.check(True, what)


def alive(*procs):
    """Every daemon the test still expects to run has not crashed (an ASan build aborts)."""
    for p in procs:
        ok(p.running(), "%s still running (pid %s)" % (p.name, p.pid))


class Observer:
    """A second ReportingEngine on an ixnserver that reads the agents' states, so a test
    knows the version each change got (the desktop never sees EventPlaceAgentState)."""

    def __init__(self, port, what):
        self.c = harness.reporter(port)
        ans = self.c.request({"message": "RequestStartPlaceAgentStateReportingAll"})
        ok(ans.get("message") == "EventAck", "%s: reporting started" % what)
        self.version = {}
        self.snapshot = {}
        while True:
            m = self.c.next(lambda x: x.get("message") in (
                "EventPlaceAgentState", "EventPlaceAgentStateSnapshotDone"), timeout=5)
            if m["message"] == "EventPlaceAgentStateSnapshotDone":
                self.count = m.get("count")
                break
            ok(m.get("cause") == "Snapshot", "%s: snapshot event has cause Snapshot" % what)
            key = (m.get("tenant"), m.get("agentId"))
            self.snapshot[key] = m
            self.version[key] = m.get("version")

    def state(self, tenant, agent_id, cause, timeout=5):
        """The next state event of that agent with that cause; returns its version."""
        try:
            m = self.c.next(lambda x: x.get("message") == "EventPlaceAgentState" and
                            x.get("tenant") == tenant and x.get("agentId") == agent_id and
                            x.get("cause") == cause, timeout=timeout)
        except Exception as e:
            what = "state %s/%s %s not reported (%s)" % (tenant, agent_id, cause, e)
            harness.check(False, what)
            raise harness.Failure(what)  # also under CC_IT_SOFT: no version to go on
        self.version[(tenant, agent_id)] = m.get("version")
        return m.get("version")

# ---- end of local helpers ----


RULES = """
rule "Blended" {
    voice = any >= 1;
    chat  = chat >= 3 or voice >= 1 or (chat >= 2 and email >= 1);
    email = email >= 2 or voice >= 1 or (email >= 1 and chat >= 1);
}
assign tenant "Resources" "Blended";
"""

T = "Resources"


def main():
    args = harness.parse_args()
    with harness.Env(args.bin, timeout=60) as env:
        agents = {"Resources/%s" % a: "pw%s" % a for a in ("1001", "1002", "1003", "1004")}
        ixa = env.start_ixn("ixn-a", agents=agents)
        ixb = env.start_ixn("ixn-b", agents=agents)
        stat = env.start_stat("stat-1", ixns=[ixa, ixb], rules=RULES)

        d1 = harness.agent(ixa.port, T, "1001", "P1001", "pw1001", media={"chat": 1, "email": 1})
        d2 = harness.agent(ixa.port, T, "1002", "P1002", "pw1002", media={"voice": 1, "chat": 1})
        d4a = harness.agent(ixa.port, T, "1004", "P1004", "pw1004", media={"chat": 1})
        d4b = harness.agent(ixb.port, T, "1004", "P1004", "pw1004", media={"email": 1})
        wait_status(d1, V(chat="R 0 3 3", email="R 0 2 2"), "1001: status before the kill")
        wait_status(d2, V(voice="R 0 1 1", chat="R 0 3 3"), "1002: status before the kill")
        wait_status(d4a, V(chat="R 0 3 3", email="R 0 2 2"), "1004 on A: merged status")
        wait_status(d4b, V(chat="R 0 3 3", email="R 0 2 2"), "1004 on B: merged status")

        stat.kill(signal.SIGKILL)
        stat.wait()
        ok(True, "statserver killed")

        # Changes while no statserver runs: nobody gets a status.
        act(d1, {"message": "RequestNotReadyForMedia", "media": "chat",
                 "reason": {"code": 2, "description": "Lunch"}}, "1001 notready chat")
        act(d2, {"message": "RequestDoNotDisturbOn"}, "1002 DND on")
        d3 = harness.agent(ixa.port, T, "1003", "P1003", "pw1003", media={"email": 1})
        act(d4b, {"message": "RequestAgentLogout"}, "1004 logout on B")
        act(d4a, {"message": "RequestAddMedia", "media": "voice", "ready": 1},
            "1004 add voice on A")
        for d, who in ((d1, "1001"), (d2, "1002"), (d3, "1003"), (d4a, "1004 on A")):
            no_status(d, "%s: no status while no statserver runs" % who, wait=0.1)

        obs_a = Observer(ixa.port, "observer on ixn-a")
        stat.restart()
        ok(True, "statserver restarted")

        # Every desktop gets one status rebuilt from the fresh snapshots.
        expect_status(d1, V(chat="NR 0 3 0", email="R 0 2 2"), "1001 after restart",
                      version=obs_a.version[(T, "1001")])
        expect_status(d2, V(voice="NR 0 1 0", chat="NR 0 3 0"), "1002 after restart",
                      version=obs_a.version[(T, "1002")], dnd=True)
        expect_status(d3, V(email="R 0 2 2"), "1003 after restart",
                      version=obs_a.version[(T, "1003")])
        expect_status(d4a, V(voice="R 0 1 1", chat="R 0 3 3"), "1004 on A after restart",
                      version=obs_a.version[(T, "1004")])
        no_status(d4b, "1004's B desktop (logged out) gets nothing", wait=0.3)

        # And the restarted statserver follows live changes.
        act(d2, {"message": "RequestDoNotDisturbOff"}, "1002 DND off")
        v = obs_a.state(T, "1002", "DoNotDisturbOff")
        expect_status(d2, V(voice="R 0 1 1", chat="R 0 3 3"), "1002 after DND off", version=v,
                      dnd=False)
        sc = harness.statclient(stat.port, "wallboard-secret")
        ans = sc.request({"message": "RequestServerList"})
        ok(ans.get("message") == "EventAck", "StatClient: server list acked")
        servers = {s.get("name"): s for s in ans.get("servers") or []}
        ok(servers.get("ixn-a", {}).get("agents") == 4, "server list: ixn-a has 4 agents (got %s)"
           % servers.get("ixn-a"))
        ok(servers.get("ixn-b", {}).get("agents") == 0, "server list: ixn-b has 0 agents (got %s)"
           % servers.get("ixn-b"))
        alive(ixa, ixb, stat)
    print("PASS test_stat_restart")


if __name__ == "__main__":
    main()
