#!/usr/bin/env python3
"""Targets of routing.md section 2 decided by who gets the interactions, on two ixnservers
(ixn-a, ixn-b, one configuration) linked to one real statserver that grants every offer's
reservation. Seven agents with skills log in to both servers; the statserver's rule lets
each hold one chat over both, so that an agent that got one is full everywhere.

(a) Operators and forms: for each queue's target (>=, >, =, <=, <, `any`, a skill the agent
lacks counting as level 0, `not`, `or`, `and` with and without parentheses, `not` binding
tighter than `and`) as many chats as agents match it plus one are submitted, alternately on
ixn-a and ixn-b: every matching agent gets exactly one, the oldest first, no other agent
any, though all are idle and ready; the one left stays queued and its explain gives the
step's canonical expression, `matching` = the number of matching agents and each of them
as NoCapacity (on the other server too: an invite on one server fills the agent on both).
(b) A step widening at its time: `ghost >= 1 for 2; wide >= 1` submitted on both servers
is offered to nobody before 2 s (idle agents that match no step-1 expression are ready all
along) and to the two `wide` agents right after 2 s; explain before and after (step,
steps, nextStepSec, expression, matching). (c) An interaction whose step matches nobody
does not block the next: in the same queue (`lang >= 5 for 2; ghost >= 1`, the older one
of higher priority narrowed to `ghost`) and across queues (a priority-100 one in a queue
nobody matches ahead of a priority-0 one of another queue)."""
import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check  # noqa: E402
import routing_rig as rr  # noqa: E402

SERVERS = ("ixn-a", "ixn-b")
SKILLS = {
    "1000": "",
    "1002": "lang:2, tech:9",
    "1005": "lang:5",
    "1008": "lang:8, tech:3",
    "1010": "lang:10, tech:10",
    "1020": "wide:1",
    "1021": "wide:3",
}
AGENTS = list(SKILLS)
LEVELS = {a: {kv.split(":")[0].strip(): int(kv.split(":")[1])
              for kv in text.split(",") if kv.strip()} for a, text in SKILLS.items()}


def lv(aid, skill):
    return LEVELS[aid].get(skill, 0)


# queue, target text, who matches (in Python). Explain gives the text back in its canonical
# form: CANON when it differs.
OPS = [
    ("ge", "lang >= 5", lambda a: lv(a, "lang") >= 5),
    ("gt", "lang > 5", lambda a: lv(a, "lang") > 5),
    ("eq", "lang = 5", lambda a: lv(a, "lang") == 5),
    ("le", "lang <= 2", lambda a: lv(a, "lang") <= 2),
    ("lt", "lang < 2", lambda a: lv(a, "lang") < 2),
    ("any", "any", lambda a: True),
    ("zero", "tech = 0", lambda a: lv(a, "tech") == 0),
    ("notq", "not lang >= 5", lambda a: not lv(a, "lang") >= 5),
    ("orq", "lang = 2 or tech >= 10", lambda a: lv(a, "lang") == 2 or lv(a, "tech") >= 10),
    ("paren", "(lang = 2 or lang = 10) and tech >= 10",
     lambda a: (lv(a, "lang") == 2 or lv(a, "lang") == 10) and lv(a, "tech") >= 10),
    ("prec", "lang = 2 or lang = 10 and tech >= 10",
     lambda a: lv(a, "lang") == 2 or (lv(a, "lang") == 10 and lv(a, "tech") >= 10)),
    ("notand", "not lang >= 5 and tech >= 3",
     lambda a: (not lv(a, "lang") >= 5) and lv(a, "tech") >= 3),
    ("notparen", "not (lang >= 5 and tech >= 3)",
     lambda a: not (lv(a, "lang") >= 5 and lv(a, "tech") >= 3)),
]

CANON = {
    "not lang >= 5": "not (lang >= 5)",
    "not lang >= 5 and tech >= 3": "not (lang >= 5) and tech >= 3",
}

WIDEN_S = 2
TARGETS = {q: text for q, text, _ in OPS}
TARGETS.update({
    "widen": "ghost >= 1 for %d; wide >= 1" % WIDEN_S,
    "narrow": "lang >= 5 for %d; ghost >= 1" % WIDEN_S,
    "nobody": "ghost >= 1",
})
QUEUES = {q: "chat" for q in TARGETS}


def operators(rig):
    """(a): each queue of OPS on one server, alternating."""
    sets = {}
    for i, (queue, text, pred) in enumerate(OPS):
        want = {a for a in AGENTS if pred(a)}
        sets[queue] = want
        # Every form must tell some agents apart, else it would prove nothing.
        assert want and (queue == "any" or len(want) < len(AGENTS)), queue
        srv = SERVERS[i % 2]
        what = "%s on %s [%s]" % (queue, srv, text)
        ms = rig.ms[srv]
        desks = {a: rig.desks[(srv, a)] for a in AGENTS}
        stale = rr.take_invites({(s, a): rig.desks[(s, a)] for s in SERVERS for a in AGENTS})
        check(not stale, "%s: no invite left from before (got %s)" % (what, stale))
        ids = [rr.submit_ok(ms, queue, what=what) for _ in range(len(want) + 1)]
        got = rr.gather_invites(desks, len(want), timeout=5, quiet=0.4)
        who = sorted(a for a, _, _ in got)
        check(who == sorted(want), "%s: invited exactly %s, once each (got %s)"
              % (what, sorted(want), who))
        invited = sorted(m.get("interactionId") for _, m, _ in got)
        check(invited == sorted(ids[:-1]), "%s: the %d oldest offered, the newest left (got %s)"
              % (what, len(want), invited))
        check(all(m.get("queue") == queue for _, m, _ in got), "%s: invites name the queue"
              % what)
        full = [d for a in want for d in rig.desks_of(a).values()]
        rr.wait_avail(full, 0, "%s: invited agents full on both servers" % what)
        ans = rr.explain(ms, ids[-1], what + ": the one left")
        rr.expect_explain(ans, what + ": the one left", state="Queued", queue=queue,
                          step=1, steps=1, expression=CANON.get(text, text),
                          matching=len(want),
                          nextStepSec=None, agentId=None,
                          agents={(a, "NoCapacity") for a in want})
        # The holder's view: the same step, itself as agentId, the others full.
        holder, inv, _ = got[0]
        ans = rr.explain(desks[holder], inv["interactionId"], what + ": asked by " + holder)
        rr.expect_explain(ans, what + ": asked by " + holder, state="Invited",
                          agentId=holder, expression=CANON.get(text, text),
                          matching=len(want),
                          agents={(a, "NoCapacity") for a in want - {holder}})
        # The one left first: else it would go to the first agent freed.
        for iid in reversed(ids):
            rr.ms_stop(ms, iid, what)
        for a, m, _ in got:
            desks[a].next(harness.is_ixn_event("EventRevoked", m["interactionId"]),
                          what="EventRevoked of " + m["interactionId"])
        rr.wait_avail(full, 1, "%s: free again on both servers" % what)
    return sets


def timing(rig):
    """(b) and (c)."""
    a, b = SERVERS
    everyone = {(s, x): rig.desks[(s, x)] for s in SERVERS for x in AGENTS}
    high = ["1005", "1008", "1010"]   # lang >= 5
    # Readiness merges over the servers (ready on one is ready): not ready on both.
    for x in high:
        for srv in SERVERS:
            rr.set_ready(rig.desks[(srv, x)], False, "timing: %s on %s" % (x, srv))
    rr.wait_avail([d for x in high for d in rig.desks_of(x).values()], 0,
                  "timing: lang >= 5 agents not ready")

    t0 = time.monotonic()
    wa = rr.submit_ok(rig.ms[a], "widen", what="widen on " + a)
    wb = rr.submit_ok(rig.ms[b], "widen", what="widen on " + b)
    x1 = rr.submit_ok(rig.ms[a], "narrow", priority=10, what="narrow on " + a)
    for srv, iid in ((a, wa), (b, wb)):
        ans = rr.explain(rig.ms[srv], iid, "widen on %s at step 1" % srv)
        e = time.monotonic() - t0
        rr.expect_explain(ans, "widen on %s at step 1" % srv, state="Queued", step=1, steps=2,
                          expression="ghost >= 1", matching=0, agents=[], agentId=None)
        lo = max(1, math.ceil(WIDEN_S - e))
        check(isinstance(ans.get("nextStepSec"), int) and lo <= ans["nextStepSec"] <= WIDEN_S,
              "widen on %s: nextStepSec in %d..%d after %.2fs (got %r)"
              % (srv, lo, WIDEN_S, e, ans.get("nextStepSec")))
        check(ans.get("waitedSec") in range(0, int(e) + 1),
              "widen on %s: waitedSec 0..%d (got %r)" % (srv, int(e), ans.get("waitedSec")))
    ans = rr.explain(rig.ms[a], x1, "narrow at step 1")
    rr.expect_explain(ans, "narrow at step 1", state="Queued", step=1, steps=2,
                      expression="lang >= 5", matching=3, priority=10,
                      agents={(x, "NotReady") for x in high})

    # Nothing before the step's 2 s: the agents matching no step-1 expression are idle.
    left = t0 + WIDEN_S - 0.15 - time.monotonic()
    rr.no_invite(everyone, left, "widen: during step 1 (until %.2fs)" % (WIDEN_S - 0.15))
    got = rr.gather_invites(everyone, 2, timeout=t0 + WIDEN_S + 2.0 - time.monotonic(),
                            quiet=0.3)
    placed = sorted((srv, x, m.get("interactionId")) for (srv, x), m, _ in got)
    check(len(got) == 2 and {x for (_, x), _, _ in got} == {"1020", "1021"} and
          {(srv, m.get("interactionId")) for (srv, _), m, _ in got} == {(a, wa), (b, wb)},
          "widen: both offered at step 2, one to each `wide` agent on its server (got %s)"
          % placed)
    for (srv, x), m, at in got:
        dt = at - t0
        check(WIDEN_S - 0.05 <= dt <= WIDEN_S + 1.5,
              "widen: %s invited %.2fs after the submit (in %.2f..%.2f)"
              % (m.get("interactionId"), dt, WIDEN_S - 0.05, WIDEN_S + 1.5))
    for (srv, x), m, _ in got:
        rr.wait_avail(list(rig.desks_of(x).values()), 0, "widen: %s full" % x)
    for (srv, x), m, _ in got:
        other = "1021" if x == "1020" else "1020"
        what = "widen on %s asked by %s" % (srv, x)
        ans = rr.explain(rig.desks[(srv, x)], m["interactionId"], what)
        rr.expect_explain(ans, what, state="Invited", step=2, steps=2, expression="wide >= 1",
                          nextStepSec=None, matching=2, agentId=x,
                          agents=[(other, "NoCapacity")])

    # (c) in one queue: x1 (priority 10) narrowed to `ghost`; 1010 ready again gets
    # nothing, then the newer x2 of the same queue.
    ans = rr.explain(rig.ms[a], x1, "narrow at step 2")
    rr.expect_explain(ans, "narrow at step 2", state="Queued", step=2, steps=2,
                      expression="ghost >= 1", matching=0, agents=[], nextStepSec=None)
    for srv in SERVERS:
        rr.set_ready(rig.desks[(srv, "1010")], True, "narrow: 1010 on " + srv)
    rr.wait_avail(rig.desks_of("1010").values(), 1, "narrow: 1010 ready")
    rr.no_invite(everyone, 0.5, "narrow: x1 (at the `ghost` step) offered to nobody")
    x2 = rr.submit_ok(rig.ms[a], "narrow", priority=0, what="narrow x2")
    got = rr.gather_invites(everyone, 1, timeout=5, quiet=0.3)
    check([(k, m.get("interactionId")) for k, m, _ in got] == [((a, "1010"), x2)],
          "narrow: x2 (priority 0) offered to 1010 past x1 (priority 10, nobody matches) "
          "(got %s)" % [(k, m.get("interactionId")) for k, m, _ in got])
    ans = rr.explain(rig.ms[a], x1, "narrow: x1 after x2 went")
    rr.expect_explain(ans, "narrow: x1 after x2 went", state="Queued", step=2, matching=0)

    # (c) across queues, on the other server.
    y1 = rr.submit_ok(rig.ms[b], "nobody", priority=100, what="nobody y1")
    for srv in SERVERS:
        rr.set_ready(rig.desks[(srv, "1008")], True, "across: 1008 on " + srv)
    rr.wait_avail(rig.desks_of("1008").values(), 1, "across: 1008 ready")
    rr.no_invite(everyone, 0.3, "across: y1 offered to nobody")
    y2 = rr.submit_ok(rig.ms[b], "ge", priority=0, what="ge y2")
    got = rr.gather_invites(everyone, 1, timeout=5, quiet=0.3)
    check([(k, m.get("interactionId")) for k, m, _ in got] == [((b, "1008"), y2)],
          "across: y2 of queue ge offered to 1008 past y1 (priority 100, queue nobody) "
          "(got %s)" % [(k, m.get("interactionId")) for k, m, _ in got])
    ans = rr.explain(rig.ms[b], y1, "across: y1 after y2 went")
    rr.expect_explain(ans, "across: y1 after y2 went", state="Queued", step=1, steps=1,
                      expression="ghost >= 1", matching=0, agents=[], priority=100)


def main():
    args = harness.parse_args()
    with harness.Env(args.bin, timeout=90) as env:
        rig = rr.Rig(env, SERVERS, AGENTS, QUEUES, skills={a: s for a, s in SKILLS.items()
                                                           if s},
                     targets=TARGETS)
        for x in AGENTS:
            for srv in SERVERS:
                d = rig.login(srv, x)
                ack = next((m for m in d.log if m.get("message") == "EventAck" and
                            m.get("referenceId") == 2), {})
                check(ack.get("skills") == LEVELS[x],
                      "login of %s on %s: ack skills %s (got %s)"
                      % (x, srv, LEVELS[x], ack.get("skills")))
        rr.wait_avail(rig.all_desks(), 1, "every agent routable on both servers")
        operators(rig)
        timing(rig)
        harness.alive(*rig.ixn.values(), rig.stat)


if __name__ == "__main__":
    main()
