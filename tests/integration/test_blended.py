#!/usr/bin/env python3
"""Routing by capacity across media with the spec's Blended rule (issue #4,
capacity-rules.md §1 and §4, protocol.md §7): an agent on a call is offered no chat (the
chat waits in its queue until the call ends, then routes to that agent); an agent with two
chats and an email is offered no third chat, and with a second agent logged in the chat
goes to the one with room; an agent holding a chat is offered no call; between agents with
equal room the one idle longest on the media (since last offered it) gets the next one.
Then the preconditions of routing on a second ixnserver whose only reporting engine is the
test itself: no invite on a status of an older version, nor on
one with available 0; once the status of the current version says available > 0 the
ixnserver asks for a reservation (protocol.md §7a): refused, no invite and no new request
until the next status; granted after the agent became not ready, released and not used;
granted, the invite, whose Invited state names the reservation; and nothing routed while
no reporting engine is connected, although the agent's newest status has room."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import V, check  # noqa: E402

T = "Resources"
A, B = "2001", "2002"
QUEUES = {T + "/voice-in": "voice", T + "/chat-in": "chat", T + "/email-in": "email"}
ALL = {"voice": 1, "chat": 1, "email": 1}
IDLE = V(voice="R 0 1 1", chat="R 0 3 3", email="R 0 2 2")


class Agent:
    """A desktop plus the reporting observer's view of its versions."""

    def __init__(self, ixn, obs, agent_id):
        self.id = agent_id
        self.obs = obs
        self.desk = harness.agent(ixn.port, T, agent_id, "P" + agent_id, "pw" + agent_id,
                                  media=ALL)
        st = self.state("AgentLogin", "login of " + agent_id)
        harness.wait_vec(self.desk, IDLE, agent_id + " logged in, idle",
                         version=st["version"])

    def state(self, cause, what):
        m = self.obs.next(lambda x: harness.is_state(x, self.id), timeout=5,
                          what="EventPlaceAgentState of " + self.id)
        check(m.get("cause") == cause, "%s: cause %s (got %s)" % (what, cause, m.get("cause")))
        return m

    def invited(self, iid, want, what):
        """The invite of iid arrives; the status at the Invited version shows want."""
        inv = self.desk.next(harness.is_invite(iid), timeout=5, what="EventInvite of " + iid)
        check(True, "%s: %s offered to %s" % (what, iid, self.id))
        st = self.state("Invited", what)
        harness.wait_vec(self.desk, want, "%s: %s status" % (what, self.id),
                         version=st["version"])
        return inv

    def accept(self, iid, want, what):
        harness.expect_ack(self.desk.request({"message": "RequestAccept", "interactionId": iid}),
                           "%s: %s accepts %s" % (what, self.id, iid))
        st = self.state("PartyAdded", what)
        harness.wait_vec(self.desk, want, "%s: %s status" % (what, self.id),
                         version=st["version"])

    def done(self, iid, want, what):
        harness.expect_ack(self.desk.request({"message": "RequestStopProcessing",
                                              "interactionId": iid}),
                           "%s: %s stops processing %s" % (what, self.id, iid))
        st = self.state("PartyRemoved", what)
        harness.wait_vec(self.desk, want, "%s: %s status" % (what, self.id),
                         version=st["version"])

    def no_invite(self, what, wait=1.0):
        self.desk.expect_none(harness.is_invite(), wait=wait)
        check(True, "%s: nothing offered to %s" % (what, self.id))


def waiting(ms, queue):
    return harness.queue_status(ms).get((T, queue), {}).get("waiting")


def fake_status(agent_id, version, available, current=0):
    """A status as a statserver sends it, for chat only."""
    return {"message": "EventCurrentAgentStatus", "tenant": T, "agentId": agent_id,
            "placeId": "P" + agent_id, "version": version, "rule": "Fake", "loggedIn": True,
            "dnd": False, "media": {"chat": {"ready": True, "current": current, "max": 3,
                                             "available": available}}}


def routing_preconditions(env):
    """§7 and §7a: a status counts for routing only at the agent's current version and with
    available > 0, only while a reporting engine is connected, and an interaction is
    offered only under a reservation that reporting engine granted."""
    agent_id = "2003"
    ixn = harness.start_ixn_queues(env, "ixn-b", agents={T + "/" + agent_id: "pw" + agent_id},
                                   queues={T + "/chat-in": "chat"}, invite_timeout=60)
    rep = harness.reporter(ixn.port)
    harness.start_reporting(rep)
    ms = harness.media_server(ixn.port)
    desk = harness.agent(ixn.port, T, agent_id, "P" + agent_id, "pw" + agent_id,
                         media={"chat": 1})
    st = rep.next(lambda m: harness.is_state(m, agent_id, "AgentLogin"), what="login state")
    v = st["version"]
    used = set()

    def send_status(version, available, current=0, to=None):
        (to or rep).send(fake_status(agent_id, version, available, current))
        desk.next(lambda m: harness.is_status(m) and m.get("version") == version and
                  m["media"]["chat"]["available"] == available,
                  what="forwarded status version %d" % version)

    def reservation(version, what):
        """The next EventReserveAgent for the agent's chat, its fields checked."""
        r = harness.next_reservation(rep, agent_id, what=what)
        bad = harness.reserve_problems(r, used)
        check(not bad and r.get("tenant") == T and r.get("media") == "chat" and
              r.get("version") == version,
              "%s: EventReserveAgent %s/%s chat version %d, a fresh reservationId (got %s%s)"
              % (what, T, agent_id, version, harness._short([r]),
                 "; " + "; ".join(bad) if bad else ""))
        used.add(r.get("reservationId"))
        desk.expect_none(harness.is_invite(), wait=0.3)
        check(True, "%s: no invite before the reporting engine's answer" % what)
        return r

    send_status(v - 1, 3)
    c1 = harness.submit_ok(ms, T, "chat", "chat-in")
    desk.expect_none(harness.is_invite(), wait=0.7)
    check(True, "no invite while the newest status is of an older version")
    send_status(v, 0)
    desk.expect_none(harness.is_invite(), wait=0.7)
    check(True, "no invite on a status of the current version with available 0")
    # The grant, not the status, is what keeps the offer within the rule: a reservation
    # asked here is allowed by §7a, though useless. Refuse it so the next one is fresh.
    for m in [x for x in rep.drain(0.05) if harness.is_reserve(x)]:
        print("info: reservation asked on an older or full status: %s" % harness._short([m]))
        used.add(m.get("reservationId"))
        harness.answer_reservation(rep, m, False)

    # A refused reservation: no invite, and no new request until a status arrives.
    send_status(v, 3)
    r1 = reservation(v, "room at the current version")
    harness.answer_reservation(rep, r1, False)
    desk.expect_none(harness.is_invite(), wait=0.7)
    check(True, "no invite after the reporting engine refused the reservation")
    rep.expect_none(harness.is_reserve, wait=0.3)
    check(True, "no new reservation asked after a refusal before a new status")

    # A grant that comes after the agent became not ready for chat: the grant is not used
    # (released, not offered).
    send_status(v, 3)
    r2 = reservation(v, "a status after the refusal")
    harness.expect_ack(desk.request({"message": "RequestNotReadyForMedia", "media": "chat"}),
                       "agent not ready for chat while the reservation is pending")
    st = rep.next(lambda m: harness.is_state(m, agent_id, "NotReadyForMedia"),
                  what="NotReadyForMedia state")
    check(st.get("version") == v + 1, "not ready: version %d (got %s)" % (v + 1, st.get("version")))
    harness.answer_reservation(rep, r2, True)
    rel = rep.next(lambda m: harness.is_released(m, r2["reservationId"]), timeout=3,
                   what="EventReservationReleased of %s" % r2["reservationId"])
    check(True, "a grant for an agent no longer ready is released (%s)" % harness._short([rel]))
    desk.expect_none(harness.is_invite(), wait=0.5)
    check(True, "nothing offered under the released grant")
    harness.expect_ack(desk.request({"message": "RequestCancelNotReadyForMedia",
                                     "media": "chat"}), "agent ready for chat again")
    st = rep.next(lambda m: harness.is_state(m, agent_id, "ReadyForMedia"),
                  what="ReadyForMedia state")
    v = st["version"]

    # A grant: the invite, and the Invited state names the reservation.
    send_status(v, 3)
    r3 = reservation(v, "ready again")
    harness.answer_reservation(rep, r3, True)
    desk.next(harness.is_invite(c1), what="invite of c1")
    check(True, "invite once the reporting engine granted the reservation")
    st = rep.next(lambda m: harness.is_state(m, agent_id, "Invited"), what="Invited state")
    check(st.get("reservationId") == r3["reservationId"],
          "the Invited state carries the granted reservationId %s (got %s)"
          % (r3["reservationId"], st.get("reservationId")))
    harness.expect_ack(desk.request({"message": "RequestAccept", "interactionId": c1}),
                       "accept c1")
    st = rep.next(lambda m: harness.is_state(m, agent_id, "PartyAdded"), what="PartyAdded")
    v = st["version"]
    send_status(v, 2, current=1)
    rep.close()
    time.sleep(0.3)
    c2 = harness.submit_ok(ms, T, "chat", "chat-in")
    desk.expect_none(harness.is_invite(), wait=1.0)
    check(True, "no invite while no reporting engine is connected")
    check(waiting(ms, "chat-in") == 1, "c2 waits in chat-in")
    # A new reporting engine that grants every reservation: c2 routes once it sent a status.
    rep2, _ = harness.granting_reporter(ixn.port)
    send_status(v, 2, current=1, to=rep2)
    desk.next(harness.is_invite(c2), what="invite of c2")
    check(True, "c2 routed once a reporting engine is back, sent the status and granted")
    check(len(rep2.reservations) == 1 and rep2.reservations[0][0].get("agentId") == agent_id,
          "one reservation asked of the new reporting engine (got %s)"
          % [harness._short([m]) for m, _ in rep2.reservations])


def main():
    args = harness.parse_args()
    with harness.Env(args.bin, timeout=90) as env:
        ixn = harness.start_ixn_queues(env, "ixn-a",
                                       agents={T + "/" + A: "pw" + A, T + "/" + B: "pw" + B},
                                       queues=QUEUES, invite_timeout=60)
        obs = harness.reporter(ixn.port)
        harness.start_reporting(obs)
        env.start_stat("stat-1", [ixn],
                       rules=harness.BLENDED_RULES + 'assign tenant "%s" "Blended";\n' % T)
        ms = harness.media_server(ixn.port)
        a = Agent(ixn, obs, A)

        # An agent on a call is offered no chat; the chat routes when the call ends.
        v1 = harness.submit_ok(ms, T, "voice", "voice-in")
        on_call = V(voice="R 1 1 0", chat="R 0 0 0", email="R 0 0 0")
        a.invited(v1, on_call, "call")
        a.accept(v1, on_call, "call")
        c1 = harness.submit_ok(ms, T, "chat", "chat-in")
        a.no_invite("chat while on a call")
        check(waiting(ms, "chat-in") == 1, "the chat waits in chat-in while the agent is on a call")
        harness.expect_ack(a.desk.request({"message": "RequestStopProcessing",
                                           "interactionId": v1}), "call ends")
        a.state("PartyRemoved", "call ends")
        one_chat = V(voice="R 0 0 0", chat="R 1 3 2", email="R 0 1 1")
        a.invited(c1, one_chat, "chat after the call")
        a.accept(c1, one_chat, "chat after the call")

        # Two chats and an email: no third chat.
        c2 = harness.submit_ok(ms, T, "chat", "chat-in")
        two_chats = V(voice="R 0 0 0", chat="R 2 3 1", email="R 0 1 1")
        a.invited(c2, two_chats, "second chat")
        a.accept(c2, two_chats, "second chat")
        e1 = harness.submit_ok(ms, T, "email", "email-in")
        full = V(voice="R 0 0 0", chat="R 2 2 0", email="R 1 1 0")
        a.invited(e1, full, "email with two chats")
        a.accept(e1, full, "email with two chats")
        c3 = harness.submit_ok(ms, T, "chat", "chat-in")
        a.no_invite("third chat with two chats and an email")
        check(waiting(ms, "chat-in") == 1, "the third chat waits in chat-in")

        # A second agent with room gets it; the full one still gets nothing.
        b = Agent(ixn, obs, B)
        b.invited(c3, one_chat, "third chat with a second agent")
        a.no_invite("the full agent while the other has room", wait=0.3)
        b.accept(c3, one_chat, "third chat with a second agent")

        # A call is offered to nobody: one agent holds chats and an email, the other a chat.
        v2 = harness.submit_ok(ms, T, "voice", "voice-in")
        a.no_invite("call while holding chats", wait=0.5)
        b.no_invite("call while holding a chat", wait=0.3)
        check(waiting(ms, "voice-in") == 1, "the call waits in voice-in")
        harness.expect_ack(ms.request({"message": "RequestStopProcessing", "interactionId": v2,
                                       "reason": "caller hung up"}),
                           "media server stops the waiting call")
        check(waiting(ms, "voice-in") == 0, "the stopped call left voice-in")

        # Everyone back to idle.
        a.done(c1, V(voice="R 0 0 0", chat="R 1 2 1", email="R 1 1 0"), "cleanup")
        a.done(c2, V(voice="R 0 0 0", chat="R 0 2 2", email="R 1 2 1"), "cleanup")
        a.done(e1, IDLE, "cleanup")
        b.done(c3, IDLE, "cleanup")

        # Equal room: idle longest on chat first. A was last offered a chat (c2) before B (c3).
        order = []
        counts = {A: 0, B: 0}
        for n in range(4):
            iid = harness.submit_ok(ms, T, "chat", "chat-in")
            want = A if n % 2 == 0 else B
            other = b if want == A else a
            who = a if want == A else b
            counts[want] += 1
            cur = counts[want]
            who.invited(iid, V(voice="R 0 0 0", chat="R %d 3 %d" % (cur, 3 - cur),
                               email="R 0 1 1"),
                        "chat %d with equal room" % (n + 1))
            other.no_invite("chat %d goes to one agent only" % (n + 1), wait=0.2)
            order.append(who.id)
        check(order == [A, B, A, B], "idle-longest order A, B, A, B (got %s)" % order)
        qs = harness.queue_status(ms)
        check(all(q.get("waiting") == 0 for q in qs.values()), "no queue has anything waiting")
        check(qs.get((T, "chat-in"), {}).get("invited") == 4,
              "chat-in counts 4 invited (got %s)" % qs.get((T, "chat-in")))
        check(ixn.running(), "ixnserver still runs")
        routing_preconditions(env)


if __name__ == "__main__":
    main()
