#!/usr/bin/env python3
"""Idle-longest order and loginTime (protocol.md v1.1: §7 "idle longest", §5 loginTime, §6
placeId of the earliest login).

On ixn-a, with a rule that leaves room for several chats and emails: agent A logs in with
email only, then B with chat, then A adds chat: the first chat goes to A (idle on chat
since its login, not since it added chat), the second to B, then an email to A (the only
agent with email) does not change the chat order (the third chat goes to A, the fourth to
B), and neither do readiness changes (A not ready and ready again for chat, B DND on and
off: the fifth goes to A, the sixth to B).

A reporting observer sees loginTime on every EventPlaceAgentState of A: an integer near the
wall clock of the login, the same from login to logout, a new larger one after a re-login.

Agent C logs in on ixn-b (listed second in the statserver's configuration) with place
P-early, then on ixn-a with P-late, whose place assignment names another rule: the status
on both desktops and at the statserver carries P-early and the tenant's rule (no status
with P-late comes before), also after the statserver is killed with SIGKILL and restarted
(there, once both snapshots are in: until then it knows one login only); after C's
logout on ixn-b, P-late (and its rule) wins."""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, Observer  # noqa: E402

T = "Resources"
A, B, C = "3001", "3002", "3003"
RULES = '''rule "Multi" { chat = chat >= 6; email = email >= 3; }
rule "Late" { chat = chat >= 1; email = email >= 1; }
assign tenant "Resources" "Multi";
assign place "Resources" "P-late" "Late";
'''
QUEUES = {T + "/chat-in": "chat", T + "/email-in": "email"}
GAP = 0.06   # seconds between steps whose order the server must tell apart by time


class Agent:
    """A desktop on ixn-a plus the observer's view of its versions."""

    def __init__(self, ixn, obs, agent_id, media):
        self.id = agent_id
        self.obs = obs
        self.ixn = ixn
        self.login_ms = (int(time.time() * 1000), None)
        self.desk = harness.agent(ixn.port, T, agent_id, "P" + agent_id, "pw" + agent_id,
                                  media=media)
        self.login_ms = (self.login_ms[0], int(time.time() * 1000))
        self.synced(self.obs.state(T, agent_id, "AgentLogin"), "%s logs in" % agent_id)

    def synced(self, version, what):
        """Waits for the status of that version on the desktop (the ixnserver routes to the
        agent only once it has it)."""
        try:
            self.desk.next(lambda m: harness.is_status(m) and m.get("version") == version,
                           timeout=5, what="status version %s" % version)
        except harness.Timeout as e:
            check(False, "%s: status of version %s on %s's desktop (%s)"
                  % (what, version, self.id, e))
        return version

    def act(self, req, cause, what):
        harness.expect_ack(self.desk.request(req), what)
        return self.synced(self.obs.state(T, self.id, cause), what)


def offer(ms, media, want, other, what):
    """Submits one interaction of media; it must be offered to want, not to other. Whoever
    got it accepts it (so that under CC_IT_SOFT=1 the rest still runs); returns (id, that
    agent)."""
    iid = harness.submit_ok(ms, T, media, media + "-in")
    got = None
    deadline = time.monotonic() + 5
    while got is None and time.monotonic() < deadline:
        for x in (want, other):
            try:
                x.desk.next(harness.is_invite(iid), timeout=0.05)
                got = x
                break
            except harness.Timeout:
                pass
    try:
        (other if got is want else want).desk.expect_none(harness.is_invite(), wait=0.2)
        twice = None
    except harness.Failure as e:
        twice = e
    check(got is want and twice is None, "%s: %s %s offered to %s (went to %s%s)"
          % (what, media, iid, want.id, got.id if got else "nobody",
             "; and more: %s" % twice if twice else ""))
    if got is None:
        raise harness.Failure("%s: %s offered to nobody" % (what, iid))
    got.obs.state(T, got.id, "Invited")
    got.act({"message": "RequestAccept", "interactionId": iid}, "PartyAdded",
            "%s: %s accepts %s" % (what, got.id, iid))
    time.sleep(GAP)
    return iid, got


def idle_order(ixn, obs):
    ms = harness.media_server(ixn.port)
    a = Agent(ixn, obs, A, {"email": 1})
    time.sleep(GAP)
    b = Agent(ixn, obs, B, {"chat": 1})
    time.sleep(GAP)
    a.act({"message": "RequestAddMedia", "media": "chat", "ready": 1}, "MediaAdded",
          "A adds chat after B's login")
    time.sleep(GAP)

    held = {A: [], B: []}

    def give(media, want, other, what):
        iid, got = offer(ms, media, want, other, what)
        held[got.id].append(iid)

    give("chat", a, b, "chat 1 (A idle on chat since its login)")
    give("chat", b, a, "chat 2 (B never offered a chat)")
    give("email", a, b, "an email to A, the only agent with email")
    give("chat", a, b, "chat 3 (the email did not change the chat order)")
    give("chat", b, a, "chat 4")

    # Readiness changes move nobody in the order.
    a.act({"message": "RequestNotReadyForMedia", "media": "chat"}, "NotReadyForMedia",
          "A not ready for chat")
    a.act({"message": "RequestCancelNotReadyForMedia", "media": "chat"}, "ReadyForMedia",
          "A ready for chat again")
    time.sleep(GAP)
    give("chat", a, b, "chat 5 (A's readiness change kept its place)")
    b.act({"message": "RequestDoNotDisturbOn"}, "DoNotDisturbOn", "B DND on")
    b.act({"message": "RequestDoNotDisturbOff"}, "DoNotDisturbOff", "B DND off")
    time.sleep(GAP)
    give("chat", b, a, "chat 6 (B's DND on and off kept its place)")

    # A ends its work and logs out, then logs in again: loginTime.
    for iid in held[A]:
        a.act({"message": "RequestStopProcessing", "interactionId": iid}, "PartyRemoved",
              "A ends " + iid)
    harness.expect_ack(a.desk.request({"message": "RequestAgentLogout"}), "A logs out")
    obs.state(T, A, "AgentLogout")
    first = [m for m in obs.c.log if harness.is_state(m, A) and m.get("loggedIn") is True]
    times = {m.get("loginTime") for m in first}
    lt = first[0].get("loginTime") if first else None
    check(len(first) >= 10 and len(times) == 1 and isinstance(lt, int),
          "loginTime of A the same on all its %d state events from login to logout (got %s)"
          % (len(first), sorted(times, key=str)))
    check(isinstance(lt, int) and a.login_ms[0] - 1000 <= lt <= a.login_ms[1] + 1000,
          "loginTime %s is the wall clock of A's login in ms (%d..%d)"
          % (lt, a.login_ms[0], a.login_ms[1]))
    seen = len(obs.c.log)
    time.sleep(GAP)
    before = int(time.time() * 1000)
    harness.expect_ack(a.desk.request({"message": "RequestAgentLogin", "tenant": T, "agentId": A,
                                       "placeId": "P" + A, "password": "pw" + A,
                                       "mediaList": {"chat": 1}}), "A logs in again")
    obs.state(T, A, "AgentLogin")
    harness.expect_ack(a.desk.request({"message": "RequestNotReadyForMedia", "media": "chat"}),
                       "A not ready after the re-login")
    obs.state(T, A, "NotReadyForMedia")
    again = [m for m in obs.c.log[seen:] if harness.is_state(m, A) and m.get("loggedIn") is True]
    times2 = {m.get("loginTime") for m in again}
    lt2 = again[0].get("loginTime") if again else None
    check(len(again) == 2 and len(times2) == 1 and isinstance(lt2, int) and
          isinstance(lt, int) and lt2 > lt and lt2 >= before - 1000,
          "a new loginTime after the re-login, later than the first (%s after %s), the same on "
          "its state events" % (sorted(times2, key=str), lt))
    # A snapshot carries the current loginTime too.
    late = harness.reporter(ixn.port)
    snap = {m.get("agentId"): m for m in harness.start_reporting(late)}
    check(isinstance(lt2, int) and snap.get(A, {}).get("loginTime") == lt2 and
          isinstance(first_login_time(obs, B), int) and
          snap.get(B, {}).get("loginTime") == first_login_time(obs, B),
          "a new reporter's snapshot carries each agent's loginTime (A %s, B %s)"
          % (snap.get(A, {}).get("loginTime"), snap.get(B, {}).get("loginTime")))
    late.close()
    for iid in held[B]:
        b.act({"message": "RequestStopProcessing", "interactionId": iid}, "PartyRemoved",
              "B ends " + iid)
    harness.expect_ack(b.desk.request({"message": "RequestAgentLogout"}), "B logs out")
    harness.expect_ack(a.desk.request({"message": "RequestAgentLogout"}), "A logs out")
    ms.close()


def first_login_time(obs, agent_id):
    for m in obs.c.log:
        if harness.is_state(m, agent_id) and m.get("loggedIn") is True:
            return m.get("loginTime")
    return None


def place_status(c, what, place, rule, timeout=5, strict=True):
    """Reads statuses of C on c until one shows that place; checks its rule, and when
    strict that no status before it showed another place."""
    deadline = time.monotonic() + timeout
    seen = []
    while True:
        try:
            m = c.next(lambda x: harness.is_status(x, C),
                       timeout=max(0.0, deadline - time.monotonic()))
        except harness.Timeout as e:
            check(False, "%s: placeId %s (saw %s; %s)" % (what, place, seen, e))
            return None
        seen.append((m.get("placeId"), m.get("rule")))
        if m.get("placeId") == place:
            check(m.get("rule") == rule, "%s: placeId %s, rule %s (got %s)"
                  % (what, place, rule, m.get("rule")))
            if len(seen) > 1:
                print("info: %s: statuses before it: %s" % (what, seen[:-1]))
            if strict:
                check(len(seen) == 1, "%s: no status with another place (and its rule) "
                      "before it: the winner never changes (saw %s)" % (what, seen[:-1]))
            return m


def stat_place(stat, what, place, rule):
    """The statserver's own status of C (StatClient) carries place and rule."""
    wall = harness.statclient(stat.port)
    harness.expect_ack(wall.request({"message": "RequestAgentStatus", "tenant": T,
                                     "agentId": C}), "%s: RequestAgentStatus" % what)
    m = wall.next(lambda x: harness.is_status(x, C), what="status of " + C)
    check(m.get("placeId") == place and m.get("rule") == rule,
          "%s: the statserver says placeId %s, rule %s (got %s, %s)"
          % (what, place, rule, m.get("placeId"), m.get("rule")))
    wall.close()


def earliest_place(ixa, ixb, stat):
    obs_b = Observer(ixb.port, "observer on ixn-b")
    obs_a = Observer(ixa.port, "observer on ixn-a")
    db = harness.agent(ixb.port, T, C, "P-early", "pw" + C, media={"email": 1})
    lb = obs_b.c.next(lambda m: harness.is_state(m, C, "AgentLogin"), what="C login on B")
    place_status(db, "C logged in on ixn-b only", "P-early", "Multi")
    time.sleep(GAP)
    da = harness.agent(ixa.port, T, C, "P-late", "pw" + C, media={"chat": 1})
    la = obs_a.c.next(lambda m: harness.is_state(m, C, "AgentLogin"), what="C login on A")
    check(isinstance(lb.get("loginTime"), int) and isinstance(la.get("loginTime"), int) and
          lb["loginTime"] < la["loginTime"],
          "C's login on ixn-b is the earlier one (loginTime %s < %s)"
          % (lb.get("loginTime"), la.get("loginTime")))
    place_status(da, "C on ixn-a (P-late) after the login there", "P-early", "Multi")
    place_status(db, "C on ixn-b after the login on ixn-a", "P-early", "Multi")
    stat_place(stat, "C on both servers", "P-early", "Multi")

    stat.kill(signal.SIGKILL)
    check(True, "statserver killed (SIGKILL)")
    stat.restart()
    check(True, "statserver restarted")
    # Until both snapshots are in, the statserver knows one login only (a server whose
    # snapshot is not in counts as one the agent is logged out of, §6): a status with
    # P-late may come first. Once both are in, the earliest login wins again.
    place_status(da, "C on ixn-a after the statserver's restart", "P-early", "Multi",
                 strict=False)
    place_status(db, "C on ixn-b after the statserver's restart", "P-early", "Multi",
                 strict=False)
    stat_place(stat, "after the statserver's restart", "P-early", "Multi")
    # A change on ixn-a after the restart still carries the earliest place.
    harness.expect_ack(da.request({"message": "RequestNotReadyForMedia", "media": "chat"}),
                       "C not ready for chat on ixn-a")
    m = place_status(da, "C on ixn-a after a change", "P-early", "Multi")
    check(m is not None and (m.get("media") or {}).get("chat", {}).get("ready") is False,
          "that status shows chat not ready")

    harness.expect_ack(db.request({"message": "RequestAgentLogout"}), "C logs out of ixn-b")
    place_status(da, "C on ixn-a after the logout on ixn-b", "P-late", "Late")
    stat_place(stat, "after the logout on ixn-b", "P-late", "Late")


def main():
    args = harness.parse_args()
    with harness.Env(args.bin, timeout=90) as env:
        agents = {"%s/%s" % (T, x): "pw" + x for x in (A, B, C)}
        ixa = harness.start_ixn_queues(env, "ixn-a", agents=agents, queues=QUEUES,
                                       invite_timeout=60)
        ixb = harness.start_ixn_queues(env, "ixn-b", agents=agents, queues=QUEUES,
                                       invite_timeout=60)
        stat = env.start_stat("stat-1", [ixa, ixb], rules=RULES)
        obs = Observer(ixa.port, "observer on ixn-a")
        idle_order(ixa, obs)
        earliest_place(ixa, ixb, stat)
        harness.alive(ixa, ixb, stat)
    print("PASS test_idle_order")


if __name__ == "__main__":
    main()
