#!/usr/bin/env python3
"""Bad interaction requests (issue #4, protocol.md §2 and §7 with the wire decisions): each
gets its documented error, in the documented check order, and changes nothing. Agent X
handles c1, agent Y is invited to c2, c3 waits in chat-in; then: unknown queue, a queue of
another tenant and a queue of another media (3 naming queue), unknown media (8, checked
before the queue), userData not an object or over max-user-data (3 naming userData), an
externalId over 128 bytes (3), a line over the maximum (11 and close), RequestSubmit from a
desktop and RequestAccept from a media server (5), unknown, foreign-server and malformed
interaction ids (9), accept of an interaction offered to someone else or not offered at
all (10), accept twice (10), done of an invited one (10), transfer to an unknown or
other-media queue (3 naming queue), requests before login (6), logout and RemoveMedia
while holding interactions (10). Afterwards the queue status is unchanged, no agent state
changed, and both agents still hold their interactions."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check  # noqa: E402

T = "Resources"
X, Y = "4001", "4002"
QUEUES = {T + "/chat-in": "chat", T + "/email-in": "email", "Other/chat-in": "chat"}
RULES = 'rule "Chat1" { chat = chat >= 1; email = email >= 1; }\n' \
        'assign tenant "Resources" "Chat1";\nassign tenant "Other" "Chat1";\n'
UNKNOWN = "ixn-a:999999999"
FOREIGN = "ixn-b:000000001"


def err(ans, code, what, field=None):
    harness.expect_error(ans, code, what, field=field, ref=True)


def main():
    args = harness.parse_args()
    with harness.Env(args.bin, timeout=90) as env:
        ixn = harness.start_ixn_queues(env, "ixn-a",
                                       agents={T + "/" + X: "pw" + X, T + "/" + Y: "pw" + Y},
                                       queues=QUEUES, invite_timeout=60)
        obs = harness.reporter(ixn.port)
        harness.start_reporting(obs)
        env.start_stat("stat-1", [ixn], rules=RULES)
        ms = harness.media_server(ixn.port)

        x = harness.agent(ixn.port, T, X, "P" + X, "pw" + X, media={"chat": 1, "email": 1})
        harness.wait_routable(x, "chat")
        c1 = harness.submit_ok(ms, T, "chat", "chat-in")
        x.next(harness.is_invite(c1), what="invite of c1 to X")
        harness.expect_ack(x.request({"message": "RequestAccept", "interactionId": c1}),
                           "X accepts c1")
        y = harness.agent(ixn.port, T, Y, "P" + Y, "pw" + Y, media={"chat": 1, "email": 1})
        harness.wait_routable(y, "chat")
        c2 = harness.submit_ok(ms, T, "chat", "chat-in")
        y.next(harness.is_invite(c2), what="invite of c2 to Y")
        c3 = harness.submit_ok(ms, T, "chat", "chat-in")
        x.expect_none(harness.is_invite(), wait=0.5)
        y.expect_none(harness.is_invite(), wait=0.1)
        before = harness.queue_status(ms)
        q = before.get((T, "chat-in"), {})
        check(q.get("waiting") == 1 and q.get("invited") == 1 and q.get("handling") == 1,
              "setup: chat-in has 1 waiting, 1 invited, 1 handling (got %s)" % q)
        obs.drain(0.3)

        # ---- media server ----
        err(harness.submit(ms, T, "chat", "nope"), 3, "submit to an unknown queue", "queue")
        err(harness.submit(ms, "Other", "email", "email-in"), 3,
            "submit to a queue of another tenant", "queue")
        err(harness.submit(ms, T, "email", "chat-in"), 3,
            "submit of email to a chat queue", "queue")
        err(harness.submit(ms, T, "sms", "chat-in"), 8, "submit of an unknown media")
        err(harness.submit(ms, T, "sms", "nope"), 8,
            "unknown media is checked before the queue")
        err(ms.request({"message": "RequestSubmit", "tenant": T, "media": "chat"}), 3,
            "submit without queue", "queue")
        err(ms.request({"message": "RequestSubmit", "tenant": T, "media": "chat",
                        "queue": "chat-in", "userData": ["not", "an", "object"]}), 3,
            "submit with userData not an object", "userData")
        err(harness.submit(ms, T, "chat", "chat-in", user_data={"blob": "x" * 20000}), 3,
            "submit with 20,000 bytes of userData (max-user-data 16384)", "userData")
        err(harness.submit(ms, T, "chat", "nope", user_data={"blob": "x" * 20000}), 3,
            "huge userData is checked before the queue", "userData")
        err(harness.submit(ms, T, "chat", "chat-in", external_id="e" * 129), 3,
            "submit with an externalId of 129 bytes", "externalId")
        err(ms.request({"message": "RequestAccept", "interactionId": c2}), 5,
            "RequestAccept from a media server")
        err(ms.request({"message": "RequestStopProcessing", "interactionId": UNKNOWN}), 9,
            "media server stops an unknown interaction")
        err(ms.request({"message": "RequestStopProcessing", "interactionId": FOREIGN}), 9,
            "media server stops an interaction of another server")
        err(ms.request({"message": "RequestStopProcessing", "interactionId": "garbage"}), 9,
            "media server stops a malformed interaction id")

        big = harness.media_server(ixn.port)
        ref = big.next_ref()
        big.send_raw(json.dumps({"message": "RequestSubmit", "referenceId": ref, "tenant": T,
                                 "media": "chat", "queue": "chat-in",
                                 "userData": {"blob": "y" * 70000}}) + "\n")
        ans = big.next(lambda m: m.get("message") == "EventError", what="error 11")
        harness.expect_error(ans, 11, "submit line over 65,536 bytes")
        check(big.closed(), "the connection of the over-long line is closed")

        # ---- desktops ----
        err(x.request({"message": "RequestSubmit", "tenant": T, "media": "chat",
                       "queue": "chat-in"}), 5, "RequestSubmit from a desktop")
        err(y.request({"message": "RequestAccept", "interactionId": c1}), 10,
            "Y accepts c1, held by X")
        err(y.request({"message": "RequestAccept", "interactionId": c3}), 10,
            "Y accepts c3, waiting in its queue")
        err(y.request({"message": "RequestAccept", "interactionId": UNKNOWN}), 9,
            "accept of an unknown interaction")
        err(y.request({"message": "RequestAccept", "interactionId": FOREIGN}), 9,
            "accept of another server's interaction")
        err(y.request({"message": "RequestAccept"}), 3, "accept without interactionId",
            "interactionId")
        err(y.request({"message": "RequestAccept", "interactionId": 17}), 3,
            "accept with a numeric interactionId", "interactionId")
        err(x.request({"message": "RequestAccept", "interactionId": c1}), 10,
            "X accepts c1 a second time")
        err(x.request({"message": "RequestReject", "interactionId": c1}), 10,
            "X rejects c1 it already handles")
        err(y.request({"message": "RequestStopProcessing", "interactionId": c2}), 10,
            "Y stops processing c2 it has not accepted")
        err(y.request({"message": "RequestCompleteAfterWork", "interactionId": c2}), 10,
            "Y completes after-work of c2 it has not accepted")
        err(x.request({"message": "RequestCompleteAfterWork", "interactionId": c1}), 10,
            "X completes after-work of c1 it still handles")
        err(x.request({"message": "RequestStopProcessing", "interactionId": c2}), 10,
            "X stops processing c2 offered to Y")
        err(x.request({"message": "RequestPlaceInQueue", "interactionId": c1, "queue": "nope"}),
            3, "transfer to an unknown queue", "queue")
        err(x.request({"message": "RequestPlaceInQueue", "interactionId": c1,
                       "queue": "email-in"}), 3, "transfer to a queue of another media",
            "queue")
        err(x.request({"message": "RequestPlaceInQueue", "interactionId": UNKNOWN,
                       "queue": "nope"}), 3, "the queue is checked before the interaction",
            "queue")
        err(x.request({"message": "RequestPlaceInQueue", "interactionId": c2,
                       "queue": "chat-in"}), 10, "X transfers c2 offered to Y")
        err(x.request({"message": "RequestAgentLogout"}), 10, "X logs out handling c1")
        err(y.request({"message": "RequestAgentLogout"}), 10, "Y logs out invited to c2")
        err(x.request({"message": "RequestRemoveMedia", "media": "chat"}), 10,
            "X removes chat while handling c1")

        z = harness.Client(ixn.port)
        harness.expect_ack(z.register("AgentApplication", harness.DESK_TOKEN), "Z registers")
        err(z.request({"message": "RequestAccept", "interactionId": c2}), 6,
            "accept before login")
        err(z.request({"message": "RequestStopProcessing", "interactionId": c1}), 6,
            "stop processing before login")

        # ---- nothing changed ----
        after = harness.queue_status(ms)
        for qs in (before, after):
            for entry in qs.values():
                entry.pop("oldestWaitMs", None)     # grows with time by itself
        check(after == before, "queue status unchanged (before %s, after %s)"
              % (before.get((T, "chat-in")), after.get((T, "chat-in"))))
        obs.expect_none(harness.is_state, wait=0.3)
        check(True, "no agent state changed")
        for c in (x, y):
            c.expect_none(lambda m: m.get("message") in ("EventInvite", "EventRevoked",
                                                         "EventPartyRemoved"), wait=0.1)
        check(True, "no invite, revoke or removal reached the agents")

        # Accept twice on a real invitation: the first one works, the second gets 10.
        harness.expect_ack(y.request({"message": "RequestAccept", "interactionId": c2}),
                           "Y accepts c2")
        err(y.request({"message": "RequestAccept", "interactionId": c2}), 10,
            "Y accepts c2 a second time")
        harness.expect_ack(x.request({"message": "RequestStopProcessing", "interactionId": c1}),
                           "X still holds c1 and stops processing it")
        x.next(harness.is_invite(c3), what="invite of c3 to X")
        check(True, "c3 goes to X once X has room")
        check(ixn.running(), "ixnserver still runs")


if __name__ == "__main__":
    main()
