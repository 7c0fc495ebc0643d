#!/usr/bin/env python3
"""Routing by capacity across media with the spec's Blended rule (issue #4,
capacity-rules.md §1 and §4, protocol.md §7): an agent on a call is offered no chat (the
chat waits in its queue until the call ends, then routes to that agent); an agent with two
chats and an email is offered no third chat, and with a second agent logged in the chat
goes to the one with room; an agent holding a chat is offered no call; between agents with
equal room the one idle longest on the media (since last offered it) gets the next one.
Then the preconditions of routing on a second ixnserver whose only reporting engine is the
test itself: no invite on a status of an older version, nor on one with available 0, an
invite once the status of the current version says available > 0, and nothing routed
while no reporting engine is connected, although the agent's newest status has room."""
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
    """§7: a status counts for routing only at the agent's current version and with
    available > 0, and only while a reporting engine is connected."""
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

    def send_status(version, available, current=0):
        rep.send(fake_status(agent_id, version, available, current))
        desk.next(lambda m: harness.is_status(m) and m.get("version") == version and
                  m["media"]["chat"]["available"] == available,
                  what="forwarded status version %d" % version)

    send_status(v - 1, 3)
    c1 = harness.submit_ok(ms, T, "chat", "chat-in")
    desk.expect_none(harness.is_invite(), wait=0.7)
    check(True, "no invite while the newest status is of an older version")
    send_status(v, 0)
    desk.expect_none(harness.is_invite(), wait=0.7)
    check(True, "no invite on a status of the current version with available 0")
    def grant():
        """Protocol 7a: the offer waits for the reporting engine's grant."""
        r = rep.next(lambda m: m.get("message") == "EventReserveAgent", what="reservation")
        check(r["agentId"] == agent_id and r["media"] == "chat" and r["version"] == v,
              "reservation asked for the agent's current version")
        desk.expect_none(harness.is_invite(), wait=0.3)
        check(True, "no invite before the grant")
        rep.send({"message": "EventAgentReserved", "reservationId": r["reservationId"],
                  "granted": True})
        return r["reservationId"]

    send_status(v, 3)
    rid = grant()
    desk.next(harness.is_invite(c1), what="invite of c1")
    check(True, "invite once the current version's status says available 3 and it is granted")
    st = rep.next(lambda m: harness.is_state(m, agent_id, "Invited"), what="Invited state")
    check(st.get("reservationId") == rid, "the Invited state carries the reservationId")
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
    rep = harness.reporter(ixn.port)
    harness.start_reporting(rep)
    send_status(v, 2, current=1)
    grant()
    desk.next(harness.is_invite(c2), what="invite of c2")
    check(True, "c2 routed once a reporting engine is back and sent the status")


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
