#!/usr/bin/env python3
"""Failover of an interaction server: an agent logged in to ixn-a and ixn-b; ixn-a is killed
with SIGKILL and within a second ixn-b's desktop gets the status without ixn-a's media; ixn-a
restarts on the same port, the agent logs in again and the statserver resyncs from a fresh
snapshot so both servers get the merged status again."""
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

T, A = "Resources", "1001"
ALL = V(voice="R 0 1 1", chat="R 0 3 3", email="R 0 2 2")


def agent_status(sc, tenant, agent_id):
    """Asks the statserver's StatClient port for one agent's status; returns it."""
    ans = sc.request({"message": "RequestAgentStatus", "tenant": tenant, "agentId": agent_id})
    ok(ans.get("message") == "EventAck",
       "StatClient: RequestAgentStatus %s/%s acked" % (tenant, agent_id))
    return sc.next(lambda m: is_status(m) and m.get("agentId") == agent_id, timeout=5)


def main():
    args = harness.parse_args()
    with harness.Env(args.bin, timeout=60) as env:
        agents = {"Resources/1001": "pw1001", "Resources/1002": "pw1002"}
        ixa = env.start_ixn("ixn-a", agents=agents)
        ixb = env.start_ixn("ixn-b", agents=agents)
        stat = env.start_stat("stat-1", ixns=[ixa, ixb], rules=RULES)
        obs_b = Observer(ixb.port, "observer on ixn-b")

        da = harness.agent(ixa.port, T, A, "P1001", "pw1001", media={"chat": 1})
        db = harness.agent(ixb.port, T, A, "P1001", "pw1001", media={"email": 1, "voice": 1})
        only_a = harness.agent(ixa.port, T, "1002", "P1002", "pw1002", media={"chat": 1})
        vb = obs_b.state(T, A, "AgentLogin")
        wait_status(da, ALL, "A: merged status before the crash")
        wait_status(db, ALL, "B: merged status before the crash", version=vb)
        wait_status(only_a, V(chat="R 0 3 3"), "A: 1002's status before the crash")
        obs_a0 = Observer(ixa.port, "observer on ixn-a")
        va_old = obs_a0.version.get((T, A))
        sc = harness.statclient(stat.port, "wallboard-secret")
        m = agent_status(sc, T, "1002")
        ok(m.get("loggedIn") is True, "StatClient: 1002 known while ixn-a is up")

        # kill -9 A: within a second B's desktop has the status without A's media.
        t0 = time.monotonic()
        ixa.kill(signal.SIGKILL)
        ixa.wait()
        m = wait_status(db, V(voice="R 0 1 1", email="R 0 2 2"),
                        "B: status without A's chat after A died", timeout=1.0, version=vb)
        took = time.monotonic() - t0
        ok(took <= 1.0, "B: status arrived %.3fs after the kill" % took)
        ok(m.get("loggedIn") is True, "B: agent still logged in on B")
        m = agent_status(sc, T, "1002")
        ok(m.get("loggedIn") is False and not m.get("media"),
           "StatClient: 1002 unknown once its only server is gone (got %s)" % m)
        ok(da.closed(timeout=2), "A's desktop connection was closed by the crash")

        # Restart A on the same port; the agent logs in again there. The statserver
        # reconnects (backoff 100 ms .. 5 s), resyncs from a fresh snapshot and both
        # servers get the merged status again.
        ixa.restart()
        deadline = time.monotonic() + 8
        da2 = None
        while da2 is None:
            try:
                da2 = harness.agent(ixa.port, T, A, "P1001", "pw1001", media={"chat": 1})
            except Exception as e:
                if time.monotonic() > deadline:
                    harness.check(False, "login again on restarted ixn-a (%s)" % e)
                    raise
                time.sleep(0.1)
        ok(True, "agent logged in again on the restarted ixn-a")
        obs_a = Observer(ixa.port, "observer on restarted ixn-a")
        va = obs_a.version.get((T, A))
        ok(isinstance(va, int), "restarted ixn-a reports the agent (version %s)" % va)
        ok(isinstance(va_old, int) and va > va_old,
           "a login after the restart starts above the old version (%s > %s)" % (va, va_old))
        wait_status(da2, ALL, "A: merged status after the restart", timeout=10, version=va)
        wait_status(db, ALL, "B: merged status after the restart", timeout=10, version=vb)

        # Statuses keep flowing both ways after the resync.
        act(da2, {"message": "RequestNotReadyForMedia", "media": "chat"}, "A: notready chat")
        va2 = obs_a.state(T, A, "NotReadyForMedia")
        want = V(voice="R 0 1 1", chat="NR 0 3 0", email="R 0 2 2")
        expect_status(da2, want, "A: status after notready chat", version=va2)
        expect_status(db, want, "B: status after notready chat on A", version=vb)
        act(db, {"message": "RequestNotReadyForMedia", "media": "email"}, "B: notready email")
        vb2 = obs_b.state(T, A, "NotReadyForMedia")
        want = V(voice="R 0 1 1", chat="NR 0 3 0", email="NR 0 2 0")
        expect_status(db, want, "B: status after notready email", version=vb2)
        expect_status(da2, want, "A: status after notready email on B", version=va2)
        ok(only_a.closed(timeout=1), "1002's desktop connection was closed by the crash")
        alive(ixa, ixb, stat)
    print("PASS test_ixn_failover")


if __name__ == "__main__":
    main()
