#!/usr/bin/env python3
"""The full life of one interaction for each media (issue #4): a MediaServer submits, the
agent gets EventInvite, accepts, stops processing, goes through after-work (chat: ended by
the after-work timer with EventInteractionEnded; email: by RequestCompleteAfterWork; voice
has none) and the interaction ends. At every step the desktop's status (at the version of
the change) and the statserver's answer to RequestAgentStatus show the counts of
capacity-rules.md §2 (Invited and Handling count, AfterWork only with count-after-work =
yes, so the whole flow runs once with each setting), and a reporting engine sees the causes
Invited, PartyAdded, AfterWork, PartyRemoved with the whole interactions array."""
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import V, check  # noqa: E402

T = "Resources"
AGENT = "1001"
QUEUES = {T + "/voice-in": "voice", T + "/chat-in": "chat", T + "/email-in": "email"}
AFTER_WORK = {"chat": 2, "email": 2}
INVITE_TIMEOUT = 30

# The Blended rule's vectors (capacity-rules.md §4) for what the agent holds.
IDLE = V(voice="R 0 1 1", chat="R 0 3 3", email="R 0 2 2")
HOLDING = {
    "voice": V(voice="R 1 1 0", chat="R 0 0 0", email="R 0 0 0"),
    "chat": V(voice="R 0 0 0", chat="R 1 3 2", email="R 0 1 1"),
    "email": V(voice="R 0 0 0", chat="R 0 2 2", email="R 1 2 1"),
}


def next_state(obs, cause, what):
    """The next EventPlaceAgentState of the agent with that cause on the observer."""
    m = obs.next(lambda x: harness.is_state(x, AGENT), timeout=5,
                 what="EventPlaceAgentState of %s" % AGENT)
    check(m.get("cause") == cause, "%s: reporting cause %s (got %s)" % (what, cause,
                                                                       m.get("cause")))
    return m


def step_status(desk, wall, state, want, what):
    """The desktop's status for the state's version and the statserver's both show want."""
    harness.wait_vec(desk, want, what + ", desktop", version=state.get("version"))
    harness.stat_vec(wall, T, AGENT, want, what)


def flow(ixn, ms, desk, obs, wall, media, count_aw):
    ud = {"customer": "c-" + media, "priority": 2, "tags": ["a", "b"]}
    iid = harness.submit_ok(ms, T, media, media + "-in", user_data=ud,
                            external_id="flow-" + media)
    check(re.match(harness.IXN_ID_RE % "ixn-a", iid) is not None,
          "%s: interactionId %r has the form ixn-a:NNNNNNNNN" % (media, iid))

    inv = desk.next(harness.is_invite(iid), what="EventInvite of " + iid)
    check(inv.get("media") == media and inv.get("queue") == media + "-in" and
          inv.get("tenant") == T, "%s: EventInvite names media, queue and tenant" % media)
    check(inv.get("userData") == ud, "%s: EventInvite carries the userData (got %r)"
          % (media, inv.get("userData")))
    check(inv.get("timeoutSec") == INVITE_TIMEOUT, "%s: EventInvite timeoutSec %d (got %r)"
          % (media, INVITE_TIMEOUT, inv.get("timeoutSec")))

    st = next_state(obs, "Invited", media + " invited")
    check(harness.held(st) == {iid: (media, "Invited")},
          "%s invited: interactions array [%s Invited] (got %s)" % (media, iid,
                                                                  st.get("interactions")))
    step_status(desk, wall, st, HOLDING[media], media + " invited")

    harness.expect_ack(desk.request({"message": "RequestAccept", "interactionId": iid}),
                       media + " accept")
    st = next_state(obs, "PartyAdded", media + " accepted")
    check(harness.held(st) == {iid: (media, "Handling")},
          "%s accepted: interactions array [%s Handling] (got %s)"
          % (media, iid, st.get("interactions")))
    step_status(desk, wall, st, HOLDING[media], media + " handling")

    ans = harness.expect_ack(desk.request({"message": "RequestStopProcessing",
                                           "interactionId": iid}), media + " stop processing")
    aw = AFTER_WORK.get(media, 0)
    check(ans.get("afterWorkSec") == aw, "%s stop processing: afterWorkSec %d (got %r)"
          % (media, aw, ans.get("afterWorkSec")))
    stopped_at = time.monotonic()
    if aw == 0:
        st = next_state(obs, "PartyRemoved", media + " ended")
        check(harness.held(st) == {}, "%s ended: interactions array empty" % media)
        step_status(desk, wall, st, IDLE, media + " ended")
        return iid

    st = next_state(obs, "AfterWork", media + " after work")
    check(harness.held(st) == {iid: (media, "AfterWork")},
          "%s after work: interactions array [%s AfterWork] (got %s)"
          % (media, iid, st.get("interactions")))
    step_status(desk, wall, st, HOLDING[media] if count_aw else IDLE,
                "%s after work (count-after-work %s)" % (media, "yes" if count_aw else "no"))

    if media == "chat":
        end = desk.next(harness.is_ixn_event("EventInteractionEnded", iid), timeout=aw + 3,
                        what="EventInteractionEnded of " + iid)
        took = time.monotonic() - stopped_at
        check(end.get("reason") == "AfterWorkEnded",
              "chat: EventInteractionEnded reason AfterWorkEnded (got %r)" % end.get("reason"))
        check(took >= aw - 0.5, "chat: after work ended by its timer after %.1fs (>= %ds)"
              % (took, aw - 0.5))
    else:
        harness.expect_ack(desk.request({"message": "RequestCompleteAfterWork",
                                         "interactionId": iid}), media + " complete after work")
    st = next_state(obs, "PartyRemoved", media + " ended")
    check(harness.held(st) == {}, "%s ended: interactions array empty" % media)
    step_status(desk, wall, st, IDLE, media + " ended")
    if media == "email":
        desk.expect_none(harness.is_ixn_event("EventInteractionEnded"), wait=0.1)
        check(True, "email: no EventInteractionEnded after RequestCompleteAfterWork")
    return iid


def run(bin_dir, count_aw):
    print("---- count-after-work = %s ----" % ("yes" if count_aw else "no"), flush=True)
    with harness.Env(bin_dir, timeout=90) as env:
        ixn = harness.start_ixn_queues(env, "ixn-a", agents={T + "/" + AGENT: "pw1001"},
                                       queues=QUEUES, after_work=AFTER_WORK,
                                       invite_timeout=INVITE_TIMEOUT)
        obs = harness.reporter(ixn.port)
        harness.start_reporting(obs)
        stat = env.start_stat("stat-1", [ixn],
                              rules=harness.BLENDED_RULES + 'assign tenant "%s" "Blended";\n' % T,
                              extra_server="count-after-work = %s" % ("yes" if count_aw else "no"))
        wall = harness.statclient(stat.port)
        desk = harness.agent(ixn.port, T, AGENT, "P" + AGENT, "pw1001",
                             media={"voice": 1, "chat": 1, "email": 1})
        login = next_state(obs, "AgentLogin", "login")
        step_status(desk, wall, login, IDLE, "logged in, idle")
        ms = harness.media_server(ixn.port)

        ids = {}
        for media in ("voice", "chat", "email"):
            ids[media] = flow(ixn, ms, desk, obs, wall, media, count_aw)
        check(len(set(ids.values())) == 3, "three different interactionIds %s" % ids)

        qs = harness.queue_status(ms)
        for key, media in QUEUES.items():
            tenant, queue = key.split("/")
            q = qs.get((tenant, queue))
            check(q is not None and q.get("media") == media and q.get("waiting") == 0 and
                  q.get("invited") == 0 and q.get("handling") == 0,
                  "queue status of %s: media %s, nothing waiting, invited or handled (got %s)"
                  % (queue, media, q))

        # The externalId is kept after the end: the same id back, marked duplicate, no invite.
        ans = harness.expect_ack(harness.submit(ms, T, "chat", "chat-in",
                                                external_id="flow-chat"), "chat re-submit")
        check(ans.get("interactionId") == ids["chat"] and ans.get("duplicate") is True,
              "re-submit of an ended externalId returns %s with duplicate:true (got %s)"
              % (ids["chat"], ans))
        desk.expect_none(harness.is_invite(), wait=0.5)
        check(True, "no invite for the duplicate submit")
        check(ixn.running() and stat.running(), "ixnserver and statserver still run")


def main():
    args = harness.parse_args()
    run(args.bin, count_aw=False)
    run(args.bin, count_aw=True)


if __name__ == "__main__":
    main()
