#!/usr/bin/env python3
"""Interactions leaving an agent other than by being done (issue #4, protocol.md §4 and §7,
the wire decisions), with invite-timeout = 1 and a rule of one chat and one email per agent:
- invite timeout: EventRevoked reason Timeout, cause Revoked, and the interaction goes back
  to the head of its queue and is offered to another agent before a newer one;
- reject: back to the head of the queue (offered again before a newer one), cause Revoked;
- transfer (RequestPlaceInQueue) to another chat queue: cause PartyRemoved, and it is served
  from the tail of that queue (after the one already waiting there);
- a media server stopping an interaction: Invited -> EventRevoked reason Stopped; Handling
  and AfterWork -> EventPartyRemoved reason Stopped; stopping it again -> 10;
- an agent's connection closing with an Invited and a Handling interaction: both back to
  the queue and offered to another agent;
- logout while holding Invited or Handling interactions -> 10; with AfterWork only it
  succeeds and the interaction ends."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check  # noqa: E402

T = "Resources"
A, B, C = "3001", "3002", "3003"
QUEUES = {T + "/chat-in": "chat", T + "/chat-vip": "chat", T + "/email-in": "email"}
RULES = 'rule "One" { chat = chat >= 1; email = email >= 1; }\nassign tenant "%s" "One";\n' % T


def state(obs, agent_id, what, cause=None):
    """The next EventPlaceAgentState of agent_id (with that cause when given)."""
    m = obs.next(lambda x: harness.is_state(x, agent_id), timeout=5,
                 what="EventPlaceAgentState of " + agent_id)
    if cause is not None:
        check(m.get("cause") == cause, "%s: cause %s (got %s)" % (what, cause, m.get("cause")))
    return m


def invite(desk, what, iid=None, timeout=5):
    m = desk.next(harness.is_invite(iid), timeout=timeout,
                  what="EventInvite%s" % ("" if iid is None else " of " + iid))
    if iid is not None:
        check(True, "%s: %s offered" % (what, iid))
    return m


def ack(desk, req, what):
    return harness.expect_ack(desk.request(req), what)


def waiting(ms, queue):
    return harness.queue_status(ms).get((T, queue), {}).get("waiting")


def main():
    args = harness.parse_args()
    with harness.Env(args.bin, timeout=120) as env:
        ixn = harness.start_ixn_queues(
            env, "ixn-a", agents={T + "/" + x: "pw" + x for x in (A, B, C)}, queues=QUEUES,
            after_work={"email": 30}, invite_timeout=1)
        obs = harness.reporter(ixn.port)
        harness.start_reporting(obs)
        env.start_stat("stat-1", [ixn], rules=RULES)
        ms = harness.media_server(ixn.port)

        # ---- invite timeout: Revoked, head of queue, offered to another agent ----
        b = harness.agent(ixn.port, T, B, "P" + B, "pw" + B, media={"chat": 1})
        state(obs, B, "B login", "AgentLogin")
        x2 = harness.submit_ok(ms, T, "chat", "chat-in")
        invite(b, "B alone", x2)
        ack(b, {"message": "RequestAccept", "interactionId": x2}, "B accepts x2")
        a = harness.agent(ixn.port, T, A, "P" + A, "pw" + A, media={"chat": 1, "email": 1})
        state(obs, A, "A login", "AgentLogin")
        x1 = harness.submit_ok(ms, T, "chat", "chat-in")
        inv = invite(a, "timeout", x1)
        invited_at = time.monotonic()
        check(inv.get("timeoutSec") == 1, "EventInvite timeoutSec 1 (got %r)"
              % inv.get("timeoutSec"))
        ack(a, {"message": "RequestNotReadyForMedia", "media": "chat"}, "A not ready for chat")
        x3 = harness.submit_ok(ms, T, "chat", "chat-in")
        state(obs, A, "x1 offered to A", "Invited")
        state(obs, A, "A not ready", "NotReadyForMedia")
        rev = a.next(harness.is_ixn_event("EventRevoked", x1), timeout=5,
                     what="EventRevoked of x1")
        took = time.monotonic() - invited_at
        check(rev.get("reason") == "Timeout", "x1 revoked with reason Timeout (got %r)"
              % rev.get("reason"))
        check(0.5 <= took <= 4.0, "revoked after %.1fs (invite-timeout 1)" % took)
        st = state(obs, A, "x1 timed out", "Revoked")
        check(harness.held(st) == {}, "A holds nothing after the timeout")
        check(waiting(ms, "chat-in") == 2, "chat-in: x1 back, x3 behind it (2 waiting)")
        ack(b, {"message": "RequestStopProcessing", "interactionId": x2}, "B done with x2")
        m = invite(b, "B free again")
        check(m.get("interactionId") == x1, "the timed-out x1 goes to B before the newer x3 "
              "(got %s)" % m.get("interactionId"))
        ack(b, {"message": "RequestAccept", "interactionId": x1}, "B accepts x1")

        # ---- reject: head of queue ----
        x4 = harness.submit_ok(ms, T, "chat", "chat-in")
        c = harness.agent(ixn.port, T, C, "P" + C, "pw" + C, media={"chat": 1})
        m = invite(c, "C logs in")
        check(m.get("interactionId") == x3, "C is offered x3, the oldest waiting (got %s)"
              % m.get("interactionId"))
        ack(c, {"message": "RequestReject", "interactionId": x3, "reason": "busy"},
            "C rejects x3")
        state(obs, C, "C login", "AgentLogin")
        state(obs, C, "x3 offered to C", "Invited")
        st = state(obs, C, "reject", "Revoked")
        check(harness.held(st) == {}, "C holds nothing after the reject")
        m = invite(c, "after the reject")
        check(m.get("interactionId") == x3, "the rejected x3 is offered again before x4 "
              "(got %s)" % m.get("interactionId"))
        ack(c, {"message": "RequestAccept", "interactionId": x3}, "C accepts x3")

        # ---- transfer to the tail of another chat queue ----
        v1 = harness.submit_ok(ms, T, "chat", "chat-vip")
        ack(b, {"message": "RequestNotReadyForMedia", "media": "chat"}, "B not ready for chat")
        obs.drain(0.2)
        ack(b, {"message": "RequestPlaceInQueue", "interactionId": x1, "queue": "chat-vip"},
            "B transfers x1 to chat-vip")
        st = state(obs, B, "transfer", "PartyRemoved")
        check(harness.held(st) == {}, "B holds nothing after the transfer")
        check(waiting(ms, "chat-vip") == 2 and waiting(ms, "chat-in") == 1,
              "chat-vip has v1 and x1 waiting, chat-in x4")
        ack(a, {"message": "RequestCancelNotReadyForMedia", "media": "chat"}, "A ready for chat")
        got = []
        for _ in range(3):
            m = invite(a, "A drains the chat queues")
            iid = m.get("interactionId")
            got.append(iid)
            ack(a, {"message": "RequestAccept", "interactionId": iid}, "A accepts " + iid)
            ack(a, {"message": "RequestStopProcessing", "interactionId": iid}, "A done " + iid)
        check(sorted(got) == sorted([x4, v1, x1]), "A got x4, v1 and x1 (got %s)" % got)
        check(got.index(v1) < got.index(x1), "x1 was served from the tail of chat-vip, after "
              "v1 (order %s)" % got)

        # ---- a media server stops what an agent holds ----
        obs.drain(0.2)
        s1 = harness.submit_ok(ms, T, "chat", "chat-in")
        invite(a, "stop while invited", s1)
        ack(ms, {"message": "RequestStopProcessing", "interactionId": s1,
                 "reason": "customer left"}, "media server stops invited s1")
        m = a.next(harness.is_ixn_event("EventRevoked", s1), what="EventRevoked of s1")
        check(m.get("reason") == "Stopped", "invited s1: EventRevoked reason Stopped (got %r)"
              % m.get("reason"))
        s2 = harness.submit_ok(ms, T, "chat", "chat-in")
        invite(a, "stop while handling", s2)
        ack(a, {"message": "RequestAccept", "interactionId": s2}, "A accepts s2")
        ack(ms, {"message": "RequestStopProcessing", "interactionId": s2},
            "media server stops handled s2")
        m = a.next(harness.is_ixn_event("EventPartyRemoved", s2), what="EventPartyRemoved of s2")
        check(m.get("reason") == "Stopped", "handled s2: EventPartyRemoved reason Stopped")
        e1 = harness.submit_ok(ms, T, "email", "email-in")
        invite(a, "stop in after-work", e1)
        ack(a, {"message": "RequestAccept", "interactionId": e1}, "A accepts e1")
        ans = ack(a, {"message": "RequestStopProcessing", "interactionId": e1}, "A done e1")
        check(ans.get("afterWorkSec") == 30, "e1 in after-work for 30 s")
        ack(ms, {"message": "RequestStopProcessing", "interactionId": e1},
            "media server stops e1 in after-work")
        m = a.next(harness.is_ixn_event("EventPartyRemoved", e1), what="EventPartyRemoved of e1")
        check(m.get("reason") == "Stopped", "after-work e1: EventPartyRemoved reason Stopped")
        harness.expect_error(ms.request({"message": "RequestStopProcessing",
                                         "interactionId": e1}), 10,
                             "media server stops ended e1 again", ref=True)
        last = None
        for st in obs.drain(0.3):
            if harness.is_state(st, A):
                last = st
        check(last is not None and harness.held(last) == {},
              "A holds nothing after the media server's stops")

        # ---- disconnect with an Invited and a Handling interaction ----
        d1 = harness.submit_ok(ms, T, "chat", "chat-in")
        invite(a, "before the disconnect", d1)
        a.close()
        c.close()               # C handles x3
        time.sleep(0.3)
        q = harness.queue_status(ms).get((T, "chat-in"), {})
        check(q.get("waiting") == 2 and q.get("invited") == 0 and q.get("handling") == 0,
              "after the disconnects d1 (invited) and x3 (handled) wait in chat-in (got %s)" % q)
        ack(b, {"message": "RequestCancelNotReadyForMedia", "media": "chat"}, "B ready for chat")
        got = []
        for _ in range(2):
            m = invite(b, "B takes over")
            got.append(m.get("interactionId"))
            ack(b, {"message": "RequestAccept", "interactionId": got[-1]}, "B accepts")
            if len(got) == 1:
                harness.expect_error(b.request({"message": "RequestAgentLogout"}), 10,
                                     "logout while handling", ref=True)
            ack(b, {"message": "RequestStopProcessing", "interactionId": got[-1]}, "B done")
        check(sorted(got) == sorted([d1, x3]), "B got d1 and x3 back (got %s)" % got)

        # ---- logout rules ----
        ack(b, {"message": "RequestAddMedia", "media": "email", "ready": 1}, "B adds email")
        l1 = harness.submit_ok(ms, T, "chat", "chat-in")
        invite(b, "before logout", l1)
        harness.expect_error(b.request({"message": "RequestAgentLogout"}), 10,
                             "logout while invited", ref=True)
        ack(b, {"message": "RequestAccept", "interactionId": l1}, "B accepts l1")
        ack(b, {"message": "RequestStopProcessing", "interactionId": l1}, "B done l1")
        e2 = harness.submit_ok(ms, T, "email", "email-in")
        invite(b, "email before logout", e2)
        ack(b, {"message": "RequestAccept", "interactionId": e2}, "B accepts e2")
        ack(b, {"message": "RequestStopProcessing", "interactionId": e2}, "B in after-work e2")
        obs.drain(0.2)
        ack(b, {"message": "RequestAgentLogout"}, "logout with only after-work")
        st = state(obs, B, "logout", "AgentLogout")
        check(st.get("loggedIn") is False, "B logged out")
        qs = harness.queue_status(ms)
        check(all(q.get("waiting") == 0 and q.get("invited") == 0 and q.get("handling") == 0
                  for q in qs.values()), "every queue empty at the end (%s)"
              % list(qs.values()))
        check(ixn.running(), "ixnserver still runs")


if __name__ == "__main__":
    main()
