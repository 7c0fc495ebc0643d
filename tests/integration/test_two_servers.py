#!/usr/bin/env python3
"""One agent logged in to two ixnservers with different media on each: the statserver merges
the state (media union, rule on summed counts), sends the status to both servers with each
server's own version, and only re-sends to the other server when the vector changed."""
import os
import re
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
rule "ChatOnly" { chat = chat >= 4; }
assign tenant "Resources" "Blended";
assign place  "Resources" "P1001-B" "ChatOnly";
"""

T, A = "Resources", "1001"
ALL = V(voice="R 0 1 1", chat="R 0 3 3", email="R 0 2 2")


def main():
    args = harness.parse_args()
    with harness.Env(args.bin, timeout=60) as env:
        agents = {"Resources/1001": "pw1001"}
        ixa = env.start_ixn("ixn-a", agents=agents)
        ixb = env.start_ixn("ixn-b", agents=agents)
        stat = env.start_stat("stat-1", ixns=[ixa, ixb], rules=RULES)
        obs_a = Observer(ixa.port, "observer on ixn-a")
        obs_b = Observer(ixb.port, "observer on ixn-b")
        time.sleep(0.3)  # let the statserver finish both (empty) snapshots

        # Chat on A alone.
        da = harness.agent(ixa.port, T, A, "P1001", "pw1001", media={"chat": 1})
        va = obs_a.state(T, A, "AgentLogin")
        wait_status(da, V(chat="R 0 3 3"), "A: status after login on A", version=va)

        # Email and voice on B: the status is merged over both servers and sent to both,
        # each carrying the version of the receiving server. B's login names another
        # place: the place of the earliest current login (A's) wins, for the status and
        # for the place assignment (P1001-B would give ChatOnly).
        db = harness.agent(ixb.port, T, A, "P1001-B", "pw1001", media={"email": 1, "voice": 1})
        vb = obs_b.state(T, A, "AgentLogin")
        m = wait_status(db, ALL, "B: merged status after login on B", version=vb)
        ok(m.get("rule") == "Blended", "B: rule Blended, not the rule of B's place (got %s)"
           % m.get("rule"))
        ok(m.get("placeId") == "P1001", "B: placeId of the earliest login, P1001 (got %s)"
           % m.get("placeId"))
        m = wait_status(da, ALL, "A: merged status after login on B", version=va)
        ok(m.get("placeId") == "P1001", "A: placeId P1001 (got %s)" % m.get("placeId"))

        # A change on A that leaves the vector as it was: A gets a status with its new
        # version (routing waits for it), B gets none.
        act(da, {"message": "RequestChangeMediaStateReason", "media": "chat",
                 "reason": {"code": 7, "description": "Coaching"}}, "A: change chat reason")
        va2 = obs_a.state(T, A, "MediaStateReasonChanged")
        ok(va2 > va, "A: version grew (%s > %s)" % (va2, va))
        expect_status(da, ALL, "A: status after reason change (vector unchanged)", version=va2)
        no_status(db, "B: no status when the vector did not change")

        # A change on A that changes the vector reaches both, B keeping B's version.
        act(da, {"message": "RequestNotReadyForMedia", "media": "chat",
                 "reason": {"code": 2, "description": "Lunch"}}, "A: notready chat")
        va3 = obs_a.state(T, A, "NotReadyForMedia")
        want = V(voice="R 0 1 1", chat="NR 0 3 0", email="R 0 2 2")
        expect_status(da, want, "A: status after notready chat", version=va3)
        expect_status(db, want, "B: status after notready chat on A", version=vb)
        act(da, {"message": "RequestCancelNotReadyForMedia", "media": "chat"}, "A: ready chat")
        va4 = obs_a.state(T, A, "ReadyForMedia")
        expect_status(da, ALL, "A: status after ready chat", version=va4)
        expect_status(db, ALL, "B: status after ready chat on A", version=vb)

        # DND on B makes every media not ready, on both servers.
        act(db, {"message": "RequestDoNotDisturbOn"}, "B: DND on")
        vb2 = obs_b.state(T, A, "DoNotDisturbOn")
        dnd = V(voice="NR 0 1 0", chat="NR 0 3 0", email="NR 0 2 0")
        expect_status(db, dnd, "B: status after DND on B", version=vb2, dnd=True)
        expect_status(da, dnd, "A: status after DND on B", version=va4, dnd=True)
        act(db, {"message": "RequestDoNotDisturbOff"}, "B: DND off")
        vb3 = obs_b.state(T, A, "DoNotDisturbOff")
        expect_status(db, ALL, "B: status after DND off", version=vb3, dnd=False)
        expect_status(da, ALL, "A: status after DND off on B", version=va4, dnd=False)

        # Removing voice on B removes it from the status on both servers.
        act(db, {"message": "RequestRemoveMedia", "media": "voice"}, "B: remove voice")
        vb4 = obs_b.state(T, A, "MediaRemoved")
        want = V(chat="R 0 3 3", email="R 0 2 2")
        expect_status(db, want, "B: status after removing voice", version=vb4)
        expect_status(da, want, "A: status after voice removed on B", version=va4)

        # Logout on B: A's desktop gets the reduced media.
        act(db, {"message": "RequestAgentLogout"}, "B: logout")
        obs_b.state(T, A, "AgentLogout")
        m = expect_status(da, V(chat="R 0 3 3"), "A: status after logout on B", version=va4)
        ok(m.get("loggedIn") is True, "A: still logged in")
        no_status(db, "B: no status for an agent logged out there", wait=0.3)

        # A media added on A alone is not sent to B any more.
        act(da, {"message": "RequestAddMedia", "media": "email", "ready": 1}, "A: add email")
        va5 = obs_a.state(T, A, "MediaAdded")
        expect_status(da, V(chat="R 0 3 3", email="R 0 2 2"), "A: status after add email",
                      version=va5)
        alive(ixa, ixb, stat)
    print("PASS test_two_servers")


if __name__ == "__main__":
    main()
