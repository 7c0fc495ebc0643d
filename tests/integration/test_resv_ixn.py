#!/usr/bin/env python3
"""Reservations seen from the reporting engine's side of an interaction server (protocol.md
v1.1, sections 5, 6, 7 and 7a). The test is the ixnserver's only reporting engine that sends
statuses: it reads the agents' states, sends EventCurrentAgentStatus itself and answers every
EventReserveAgent. Checked: (a) a ready agent with a queued chat and a status of its current
version gets an EventReserveAgent (reservationId > 0, tenant, agentId, media, the current
version) and nothing is offered before the answer; (b) after a refusal nothing is offered and
the agent is not asked again until a status arrives after the refusal, then it is; (c) after
a grant the desk gets its EventInvite and every reporting engine an Invited state with that
reservationId; (d) a grant that comes after the agent turned not ready (or DND) for the media
is released with EventReservationReleased, nothing offered, the interaction still queued;
(e) at most one reservation per agent is outstanding, with many interactions of two media
queued; (f) reservations of several agents are asked before any is answered; (g) loginTime is
on every state of a login, unchanged by changes, a snapshot or a grace-period takeover, until
the logout, and a new login gets a new one; (h) bad EventAgentReserved messages are dropped
and the link stays up; (i) the reservation goes to the engine whose status is the newest, and
one lost with it unanswered strands nothing; (j) an engine that leaves a reservation
unanswered for 10 s is cut, and the agent is routed under another engine. Each scenario has its own tenant, so that
interactions left queued by one are never offered to the agents of another."""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, expect_ack, is_state  # noqa: E402

PW = "pw-resv"
# Scenario -> (tenant, agent ids).
AGENTS = {
    "a": ("Ra", ["3101"]),
    "b": ("Rb", ["3201"]),
    "d": ("Rd", ["3401"]),
    "e": ("Re", ["3501"]),
    "f": ("Rf", ["3601", "3602", "3603"]),
    "g": ("Rg", ["3701"]),
    "h": ("Rh", ["3801"]),
    "i": ("Ri", ["3901"]),
    "j": ("Rj", ["3951"]),
}


def now_ms():
    return int(time.time() * 1000)


def take(c, pred, what, timeout=5):
    """The next message on c matching pred; a FAIL line (not a traceback) when none comes."""
    try:
        return c.next(pred, timeout=timeout, what=what)
    except harness.Timeout as e:
        check(False, str(e))
        raise harness.Failure(what)  # also under CC_IT_SOFT: nothing to go on


def none(c, pred, what, wait=1.0):
    """Nothing matching pred is queued on c or arrives within wait seconds."""
    try:
        c.expect_none(pred, wait=wait)
    except harness.Failure as e:
        check(False, "%s (%s)" % (what, e))
        return
    check(True, what)


def is_reserve(agent_id=None):
    return lambda m: (m.get("message") == "EventReserveAgent" and
                      (agent_id is None or m.get("agentId") == agent_id))


def is_released(rid=None):
    return lambda m: (m.get("message") == "EventReservationReleased" and
                      (rid is None or m.get("reservationId") == rid))


class Rig:
    """One ixnserver with a chat and an email queue per scenario tenant, the test's reporting
    engine (rep, the one that sends statuses), an observer reporting engine that only reads,
    and a media server."""

    def __init__(self, env):
        agents = {}
        queues = {}
        self.tenant = {}
        for tenant, ids in AGENTS.values():
            queues[tenant + "/chat-in"] = "chat"
            queues[tenant + "/email-in"] = "email"
            for a in ids:
                agents["%s/%s" % (tenant, a)] = PW
                self.tenant[a] = tenant
        # idle-timeout: the test's connections stay quiet for long stretches;
        # grace-period: the takeover of (g).
        self.ixn = harness.start_ixn_queues(env, "ixn-r", agents=agents, queues=queues,
                                            invite_timeout=60,
                                            extra_server="idle-timeout = 120\ngrace-period = 3")
        self.rep = harness.reporter(self.ixn.port)
        harness.start_reporting(self.rep)
        self.obs = harness.reporter(self.ixn.port)
        harness.start_reporting(self.obs)
        self.ms = harness.media_server(self.ixn.port)
        self.version = {}       # agentId -> newest version seen in its states
        self.login_time = {}    # agentId -> loginTime of its current login
        self.rids = {}          # reservationId -> agentId, every one seen

    def login(self, agent_id, media, what):
        desk = harness.agent(self.ixn.port, self.tenant[agent_id], agent_id, "P" + agent_id,
                             PW, media=media)
        self.state(agent_id, "AgentLogin", "%s: login of %s" % (what, agent_id))
        return desk

    def state(self, agent_id, cause, what, skip=False):
        """The agent's next state on rep (with skip: the next one with that cause, others
        passed over); checks its cause and records its version."""
        while True:
            m = take(self.rep, lambda x: is_state(x, agent_id),
                     "%s: EventPlaceAgentState %s of %s" % (what, cause, agent_id))
            self.version[agent_id] = m.get("version")
            if m.get("cause") == cause or not skip:
                break
        check(m.get("cause") == cause, "%s: cause %s (got %s)" % (what, cause, m.get("cause")))
        return m

    def status(self, agent_id, avail, version=None, via=None):
        """Sends the agent's status as a statserver would (on rep, or the client via): every
        media of avail ready, with that many available, at the agent's current version
        unless told otherwise."""
        media = {m: {"ready": True, "current": 0, "max": n, "available": n}
                 for m, n in avail.items()}
        (via or self.rep).send({
            "message": "EventCurrentAgentStatus", "tenant": self.tenant[agent_id],
            "agentId": agent_id, "placeId": "P" + agent_id,
            "version": self.version[agent_id] if version is None else version,
            "rule": "Test", "loggedIn": True, "dnd": False, "media": media})

    def reserve(self, agent_id, what, media=None):
        """The next EventReserveAgent for the agent; checks its fields against the agent's
        current version and that its reservationId was never used before."""
        m = take(self.rep, is_reserve(agent_id), "%s: EventReserveAgent for %s" % (what, agent_id))
        rid = m.get("reservationId")
        check(isinstance(rid, int) and not isinstance(rid, bool) and rid > 0,
              "%s: reservationId is a positive integer (got %r)" % (what, rid))
        check(rid not in self.rids, "%s: reservationId %s not used before" % (what, rid))
        self.rids[rid] = agent_id
        check(m.get("tenant") == self.tenant[agent_id],
              "%s: tenant %s (got %r)" % (what, self.tenant[agent_id], m.get("tenant")))
        if media is not None:
            check(m.get("media") == media, "%s: media %s (got %r)" % (what, media, m.get("media")))
        check(m.get("version") == self.version[agent_id],
              "%s: version is the agent's current %s (got %r)"
              % (what, self.version[agent_id], m.get("version")))
        return m

    def answer(self, rid, granted):
        self.rep.send({"message": "EventAgentReserved", "reservationId": rid, "granted": granted})

    def waiting(self, agent_id, queue):
        q = harness.queue_status(self.ms).get((self.tenant[agent_id], queue), {})
        return q.get("waiting")


def grant_and_offer(rig):
    """(a) nothing offered before the answer; (c) the grant leads to the offer."""
    a = AGENTS["a"][1][0]
    tenant = rig.tenant[a]
    desk = rig.login(a, {"chat": 1}, "(a)")
    iid = harness.submit_ok(rig.ms, tenant, "chat", "chat-in")
    none(rig.rep, is_reserve(a), "(a) no EventReserveAgent while the agent has no status", 0.5)
    rig.status(a, {"chat": 3})
    r = rig.reserve(a, "(a) ready agent, a chat queued", media="chat")
    check(r.get("agentId") == a, "(a) EventReserveAgent names agent %s" % a)
    rid = r.get("reservationId")
    none(desk, harness.is_invite(), "(a) nothing offered while the reservation is unanswered",
         1.0)
    none(rig.rep, lambda m: is_state(m, a, "Invited"),
         "(a) no Invited state while the reservation is unanswered", 0)
    check(rig.waiting(a, "chat-in") == 1, "(a) the chat still waits in chat-in")

    rig.answer(rid, True)
    inv = take(desk, harness.is_invite(iid), "(c) EventInvite of %s after the grant" % iid)
    check(inv.get("media") == "chat", "(c) the invite is a chat")
    st = rig.state(a, "Invited", "(c) after the grant")
    check(st.get("reservationId") == rid, "(c) the Invited state carries reservationId %s (got %r)"
          % (rid, st.get("reservationId")))
    check(harness.held(st).get(iid) == ("chat", "Invited"),
          "(c) the Invited state holds %s as an Invited chat (got %s)" % (iid, harness.held(st)))
    ost = take(rig.obs, lambda m: is_state(m, a, "Invited"),
               "(c) the other reporting engine gets the Invited state")
    check(ost.get("reservationId") == rid,
          "(c) the other reporting engine's Invited state carries reservationId %s (got %r)"
          % (rid, ost.get("reservationId")))
    none(rig.obs, is_reserve(), "(c) the reservation went to the status sender only", 0)
    none(rig.rep, is_released(rid), "(c) a used grant is not released", 0.3)
    expect_ack(desk.request({"message": "RequestAccept", "interactionId": iid}),
               "(c) %s accepts %s" % (a, iid))
    rig.state(a, "PartyAdded", "(c) accepted")


def refusal(rig):
    """(b) after a refusal: no offer, no new question until a status arrives after it."""
    a = AGENTS["b"][1][0]
    tenant = rig.tenant[a]
    desk = rig.login(a, {"chat": 1}, "(b)")
    iid = harness.submit_ok(rig.ms, tenant, "chat", "chat-in")
    rig.status(a, {"chat": 3})
    r1 = rig.reserve(a, "(b) first", media="chat")
    rig.answer(r1["reservationId"], False)
    none(rig.rep, is_reserve(a), "(b) not asked again after the refusal without a new status",
         1.5)
    none(desk, harness.is_invite(), "(b) nothing offered after the refusal", 0)
    none(rig.rep, lambda m: is_state(m, a, "Invited"), "(b) no Invited state after the refusal",
         0)
    check(rig.waiting(a, "chat-in") == 1, "(b) the chat still waits in chat-in")
    rig.status(a, {"chat": 3})
    r2 = rig.reserve(a, "(b) after a status that came after the refusal", media="chat")
    check(r2.get("reservationId") != r1.get("reservationId"),
          "(b) the new reservation has a new reservationId")
    none(rig.rep, is_reserve(a), "(b) one question per status", 0.5)
    rig.answer(r2["reservationId"], True)
    take(desk, harness.is_invite(iid), "(b) EventInvite of %s after the second answer, a grant"
         % iid)
    st = rig.state(a, "Invited", "(b) granted")
    check(st.get("reservationId") == r2["reservationId"],
          "(b) the Invited state carries the granted reservationId")


def released(rig):
    """(d) a grant that comes after the agent turned not ready for the media, turned DND,
    removed the media or logged out, or after the interaction left the queue, is released
    (section 7a: only a grant not used is), nothing is offered, and the interaction (when
    still there) waits for the next grant."""
    a = AGENTS["d"][1][0]
    tenant = rig.tenant[a]
    cur = {"desk": rig.login(a, {"chat": 1}, "(d)"),
           "iid": harness.submit_ok(rig.ms, tenant, "chat", "chat-in")}

    def agent_step(req, cause):
        def run(what):
            expect_ack(cur["desk"].request(req), "%s: %s" % (what, req["message"]))
            rig.state(a, cause, what)
        return run

    def logout(what):
        agent_step({"message": "RequestAgentLogout"}, "AgentLogout")(what)
        cur["desk"].close()

    def login(what):
        cur["desk"] = rig.login(a, {"chat": 1}, what)

    def stop_ixn(what):
        expect_ack(rig.ms.request({"message": "RequestStopProcessing",
                                   "interactionId": cur["iid"]}),
                   "%s: the media server stops %s" % (what, cur["iid"]))

    def new_ixn(what):
        cur["iid"] = harness.submit_ok(rig.ms, tenant, "chat", "chat-in")

    for how, change, undo in (
            ("not ready", agent_step({"message": "RequestNotReadyForMedia", "media": "chat"},
                                     "NotReadyForMedia"),
             agent_step({"message": "RequestCancelNotReadyForMedia", "media": "chat"},
                        "ReadyForMedia")),
            ("DND", agent_step({"message": "RequestDoNotDisturbOn"}, "DoNotDisturbOn"),
             agent_step({"message": "RequestDoNotDisturbOff"}, "DoNotDisturbOff")),
            ("media removed", agent_step({"message": "RequestRemoveMedia", "media": "chat"},
                                         "MediaRemoved"),
             agent_step({"message": "RequestAddMedia", "media": "chat", "ready": 1},
                        "MediaAdded")),
            ("logged out", logout, login),
            ("interaction gone", stop_ixn, new_ixn)):
        what = "(d) %s" % how
        rig.status(a, {"chat": 3})
        r = rig.reserve(a, what, media="chat")
        rid = r["reservationId"]
        change(what)
        rig.answer(rid, True)
        rel = take(rig.rep, is_released(rid),
                   "%s: EventReservationReleased %s for the grant that came too late" % (what, rid))
        check(isinstance(rel.get("seq"), int), "%s: the release carries a seq" % what)
        # A desk closed at the logout is only looked at for what it had read.
        none(cur["desk"], harness.is_invite(), "%s: nothing offered" % what,
             0 if cur["desk"].sock is None else 0.7)
        none(rig.rep, lambda m: is_state(m, a, "Invited"), "%s: no Invited state" % what, 0.3)
        none(rig.rep, is_released(rid), "%s: released once" % what, 0)
        want = 0 if how == "interaction gone" else 1
        check(rig.waiting(a, "chat-in") == want, "%s: %d chat waits in chat-in" % (what, want))
        undo(what)
    rig.status(a, {"chat": 3})
    r = rig.reserve(a, "(d) ready again", media="chat")
    rig.answer(r["reservationId"], True)
    take(cur["desk"], harness.is_invite(cur["iid"]), "(d) the chat is offered under the next grant")
    rig.state(a, "Invited", "(d) offered")
    none(rig.rep, is_released(r["reservationId"]), "(d) a used grant is not released", 0.2)


def one_per_agent(rig):
    """(e) at most one outstanding reservation per agent, with five interactions of two
    media queued."""
    a = AGENTS["e"][1][0]
    tenant = rig.tenant[a]
    desk = rig.login(a, {"chat": 1, "email": 1}, "(e)")
    for _ in range(3):
        harness.submit_ok(rig.ms, tenant, "chat", "chat-in")
    for _ in range(2):
        harness.submit_ok(rig.ms, tenant, "email", "email-in")
    rig.status(a, {"chat": 3, "email": 2})
    r1 = rig.reserve(a, "(e) first")
    check(r1.get("media") in ("chat", "email"), "(e) for chat or email (got %r)" % r1.get("media"))
    none(rig.rep, is_reserve(a), "(e) no second reservation while the first is unanswered", 1.0)
    rig.status(a, {"chat": 3, "email": 2})
    none(rig.rep, is_reserve(a),
         "(e) none either after another status of the current version", 0.7)
    none(desk, harness.is_invite(), "(e) nothing offered meanwhile", 0)
    rig.answer(r1["reservationId"], True)
    inv = take(desk, harness.is_invite(), "(e) one invite after the grant")
    check(inv.get("media") == r1.get("media"), "(e) the invite is of the reserved media")
    st = rig.state(a, "Invited", "(e) granted")
    check(st.get("reservationId") == r1["reservationId"],
          "(e) the Invited state carries the reservationId")
    none(desk, harness.is_invite(), "(e) one invite per grant", 0.5)
    none(rig.rep, is_reserve(a),
         "(e) no new reservation while the newest status is of an older version", 0)
    rig.status(a, {"chat": 2, "email": 1})
    r2 = rig.reserve(a, "(e) after a status of the new version")
    none(rig.rep, is_reserve(a), "(e) again one at a time", 0.7)
    rig.answer(r2["reservationId"], False)
    none(rig.rep, is_reserve(a), "(e) after the refusal, nothing until a status", 0.5)


def pipelining(rig):
    """(f) several agents ready, several chats queued: every reservation asked before any
    answer."""
    tenant, ids = AGENTS["f"]
    desks = {a: rig.login(a, {"chat": 1}, "(f)") for a in ids}
    for _ in ids:
        harness.submit_ok(rig.ms, tenant, "chat", "chat-in")
    for a in ids:
        rig.status(a, {"chat": 3})
    got = {}
    deadline = time.monotonic() + 3
    while len(got) < len(ids) and time.monotonic() < deadline:
        try:
            m = rig.rep.next(lambda x: is_reserve()(x) and x.get("agentId") in ids,
                             timeout=max(0.0, deadline - time.monotonic()))
        except harness.Timeout:
            break
        check(m.get("agentId") not in got, "(f) one reservation for %s" % m.get("agentId"))
        got[m.get("agentId")] = m
    check(sorted(got) == sorted(ids), "(f) %d reservations asked before any answer (for %s)"
          % (len(ids), sorted(got)))
    rids = [m.get("reservationId") for m in got.values()]
    check(len(set(rids)) == len(rids), "(f) distinct reservationIds (%s)" % rids)
    for a, m in got.items():
        rig.answer(m["reservationId"], True)
    for a in got:
        take(desks[a], harness.is_invite(), "(f) %s offered a chat after its grant" % a)
    for a in got:
        none(desks[a], harness.is_invite(), "(f) %s offered one chat" % a, 0.2)


def login_time(rig):
    """(g) loginTime on every state of a login, constant until the logout."""
    a = AGENTS["g"][1][0]
    tenant = rig.tenant[a]
    t0 = now_ms()
    desk = rig.login(a, {"chat": 1}, "(g)")
    t1 = now_ms()
    first = [m for m in rig.rep.log if is_state(m, a, "AgentLogin")][-1]
    lt = first.get("loginTime")
    check(isinstance(lt, int) and not isinstance(lt, bool),
          "(g) the AgentLogin state carries loginTime (got %r)" % lt)
    check(t0 - 2000 <= lt <= t1 + 2000,
          "(g) loginTime %s is the login's Unix time in ms (between %d and %d)" % (lt, t0, t1))
    start_seq = first["seq"]
    for req, cause in (
            ({"message": "RequestNotReadyForMedia", "media": "chat",
              "reason": {"code": 2, "description": "Lunch"}}, "NotReadyForMedia"),
            ({"message": "RequestCancelNotReadyForMedia", "media": "chat"}, "ReadyForMedia"),
            ({"message": "RequestDoNotDisturbOn"}, "DoNotDisturbOn"),
            ({"message": "RequestDoNotDisturbOff"}, "DoNotDisturbOff"),
            ({"message": "RequestAddMedia", "media": "email", "ready": 1}, "MediaAdded")):
        expect_ack(desk.request(req), "(g) %s" % req["message"])
        st = rig.state(a, cause, "(g) %s" % cause)
        check(st.get("loginTime") == lt, "(g) %s state: loginTime %s (got %r)"
              % (cause, lt, st.get("loginTime")))
    iid = harness.submit_ok(rig.ms, tenant, "chat", "chat-in")
    rig.status(a, {"chat": 3, "email": 2})
    r = rig.reserve(a, "(g)")
    rig.answer(r["reservationId"], True)
    take(desk, harness.is_invite(iid), "(g) invite")
    st = rig.state(a, "Invited", "(g) Invited")
    check(st.get("loginTime") == lt, "(g) Invited state: loginTime unchanged")
    expect_ack(desk.request({"message": "RequestAccept", "interactionId": iid}), "(g) accept")
    st = rig.state(a, "PartyAdded", "(g) PartyAdded")
    check(st.get("loginTime") == lt, "(g) PartyAdded state: loginTime unchanged")
    expect_ack(desk.request({"message": "RequestStopProcessing", "interactionId": iid}),
               "(g) stop processing")
    st = rig.state(a, "PartyRemoved", "(g) PartyRemoved")
    check(st.get("loginTime") == lt, "(g) PartyRemoved state: loginTime unchanged")

    late = harness.reporter(rig.ixn.port)
    snap = [m for m in harness.start_reporting(late) if m.get("agentId") == a]
    check(len(snap) == 1 and snap[0].get("loginTime") == lt,
          "(g) a later reporting engine's snapshot: loginTime %s (got %s)"
          % (lt, [m.get("loginTime") for m in snap]))
    late.close()

    # A grace-period takeover keeps the login, and its loginTime.
    desk.close()
    time.sleep(0.3)
    desk = harness.agent(rig.ixn.port, tenant, a, "P" + a, PW, media={"chat": 1})
    expect_ack(desk.request({"message": "RequestDoNotDisturbOn"}), "(g) DND from the new desk")
    st = rig.state(a, "DoNotDisturbOn", "(g) after the takeover", skip=True)
    check(st.get("loginTime") == lt, "(g) after a grace-period takeover: loginTime unchanged "
          "(got %r)" % st.get("loginTime"))

    expect_ack(desk.request({"message": "RequestAgentLogout"}), "(g) logout")
    out = rig.state(a, "AgentLogout", "(g) logout")
    check(out.get("loggedIn") is False, "(g) the logout state says loggedIn false")
    if "loginTime" in out:
        check(out.get("loginTime") == lt, "(g) the logout state's loginTime is the login's")
    during = [m for m in rig.rep.log if is_state(m, a) and start_seq <= m["seq"] < out["seq"]]
    bad = [(m.get("cause"), m.get("loginTime")) for m in during if m.get("loginTime") != lt]
    check(not bad, "(g) all %d states of the login carry loginTime %s (others: %s)"
          % (len(during), lt, bad))

    time.sleep(0.05)
    t2 = now_ms()
    desk2 = harness.agent(rig.ixn.port, tenant, a, "P" + a, PW, media={"chat": 1})
    t3 = now_ms()
    st = rig.state(a, "AgentLogin", "(g) new login")
    lt2 = st.get("loginTime")
    check(isinstance(lt2, int) and lt2 > lt and t2 - 2000 <= lt2 <= t3 + 2000,
          "(g) a new login gets a new loginTime (%s after %s, between %d and %d)"
          % (lt2, lt, t2, t3))
    expect_ack(desk2.request({"message": "RequestNotReadyForMedia", "media": "chat"}),
               "(g) not ready after the new login")
    st = rig.state(a, "NotReadyForMedia", "(g) new login")
    check(st.get("loginTime") == lt2, "(g) the new login's loginTime stays")
    desk2.close()


def bad_answers(rig):
    """(h) malformed or unknown EventAgentReserved: dropped, the link stays up, the
    reservation still waits for its real answer."""
    a = AGENTS["h"][1][0]
    tenant = rig.tenant[a]
    desk = rig.login(a, {"chat": 1}, "(h)")
    iid = harness.submit_ok(rig.ms, tenant, "chat", "chat-in")
    rig.status(a, {"chat": 3})
    r = rig.reserve(a, "(h)", media="chat")
    rid = r["reservationId"]
    errors_before = len([m for m in rig.rep.log if m.get("message") == "EventError"])
    for bad in ({"message": "EventAgentReserved", "granted": True},
                {"message": "EventAgentReserved", "reservationId": "%d" % rid, "granted": True},
                {"message": "EventAgentReserved", "reservationId": rid, "granted": "true"},
                {"message": "EventAgentReserved", "reservationId": rid, "granted": 1},
                {"message": "EventAgentReserved", "reservationId": rid},
                {"message": "EventAgentReserved", "reservationId": rid + 100000, "granted": True},
                {"message": "EventAgentReserved", "reservationId": -1, "granted": True}):
        rig.rep.send(bad)
    none(desk, harness.is_invite(), "(h) nothing offered on bad or unknown answers", 1.0)
    none(rig.rep, lambda m: is_state(m, a, "Invited"), "(h) no Invited state", 0)
    ans = rig.rep.request({"message": "RequestPing"})
    check(ans.get("message") == "EventAck" and not rig.rep.eof,
          "(h) the reporting link stays up (ping acknowledged)")
    errors = [m for m in rig.rep.log if m.get("message") == "EventError"][errors_before:]
    check(not errors, "(h) the bad answers were dropped, not answered (got %s)"
          % [json.dumps(m)[:200] for m in errors])
    rig.answer(rid, True)
    take(desk, harness.is_invite(iid), "(h) the real grant still leads to the offer")
    st = rig.state(a, "Invited", "(h) granted")
    check(st.get("reservationId") == rid, "(h) the Invited state carries reservationId %s" % rid)


def engines(rig):
    """(i) section 7a: the reservation goes to the reporting engine whose status is the
    agent's newest; when that engine goes away with the reservation unanswered, nothing is
    offered, the interaction keeps waiting, and the next status's engine is asked."""
    a = AGENTS["i"][1][0]
    tenant = rig.tenant[a]
    desk = rig.login(a, {"chat": 1}, "(i)")
    other = harness.reporter(rig.ixn.port)
    harness.start_reporting(other)
    iid = harness.submit_ok(rig.ms, tenant, "chat", "chat-in")
    rig.status(a, {"chat": 3}, via=other)
    m = take(other, is_reserve(a), "(i) the engine that sent the newest status is asked")
    check(m.get("version") == rig.version[a], "(i) at the agent's current version")
    none(rig.rep, is_reserve(a), "(i) the engine whose status is older is not asked", 0.3)
    other.close()
    none(desk, harness.is_invite(), "(i) its engine gone with the question: nothing offered",
         0.7)
    check(rig.waiting(a, "chat-in") == 1, "(i) the chat still waits in chat-in")
    rig.status(a, {"chat": 3})
    r = rig.reserve(a, "(i) after a status from the remaining engine", media="chat")
    check(r.get("reservationId") != m.get("reservationId"), "(i) with a new reservationId")
    rig.answer(r["reservationId"], True)
    take(desk, harness.is_invite(iid), "(i) offered under the remaining engine's grant")
    st = rig.state(a, "Invited", "(i) offered")
    check(st.get("reservationId") == r["reservationId"],
          "(i) the Invited state carries that grant's reservationId")


def overdue(rig):
    """(j) an engine that is connected but leaves a reservation unanswered (stuck, or its
    answers lost) is cut after 10 s: the agent is freed, and the next status's engine is
    asked and routes it."""
    a = AGENTS["j"][1][0]
    tenant = rig.tenant[a]
    desk = rig.login(a, {"chat": 1}, "(j)")
    stuck = harness.reporter(rig.ixn.port)
    harness.start_reporting(stuck)
    iid = harness.submit_ok(rig.ms, tenant, "chat", "chat-in")
    rig.status(a, {"chat": 3}, via=stuck)
    take(stuck, is_reserve(a), "(j) the stuck engine is asked")
    t0 = time.monotonic()
    # Pings keep it registered and active: only the unanswered reservation counts.
    closed = False
    while not closed and time.monotonic() - t0 < 14:
        stuck.send({"message": "RequestPing", "referenceId": 1})
        closed = stuck.closed(timeout=1)
    waited = time.monotonic() - t0
    check(closed and 9.5 <= waited <= 13.5,
          "(j) the engine is cut about 10 s after the question (after %.1f s)" % waited)
    none(desk, harness.is_invite(), "(j) nothing offered under the lost question", 0.3)
    rig.status(a, {"chat": 3})
    r = rig.reserve(a, "(j) after a status from the remaining engine", media="chat")
    rig.answer(r["reservationId"], True)
    take(desk, harness.is_invite(iid), "(j) offered under the remaining engine's grant")


def main():
    args = harness.parse_args()
    with harness.Env(args.bin, timeout=90) as env:
        rig = Rig(env)
        grant_and_offer(rig)
        refusal(rig)
        released(rig)
        one_per_agent(rig)
        pipelining(rig)
        login_time(rig)
        bad_answers(rig)
        engines(rig)
        overdue(rig)
        harness.alive(rig.ixn)
    print("PASS test_resv_ixn")


if __name__ == "__main__":
    main()
