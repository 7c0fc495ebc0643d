#!/usr/bin/env python3
"""Priorities, aging and agent selection of routing.md sections 3 and 4, on two ixnservers
(ixn-a, ixn-b, one configuration) linked to one real statserver granting every offer's
reservation; an agent holds one chat at a time over both servers.

(a) Order on ixn-a, one agent taking the chats one by one: across three chat queues the
higher priority first (a newer priority-5 one before older priority-0 ones), the queue's
default priority from [queue-options] (4) for a submit without one and an explicit 0
overriding it, equal priorities oldest first across the queues (not in turn per queue).
(b) Aging on ixn-b (`aging 2`): an old priority-0 chat against newer priority-2 ones of a
queue without aging: about 2.3 s after its submit (effective priority 1) an agent made
ready gets the newer one; 4 s after it (effective 2, equal, and older) the next agent gets
the old one; explain's effectivePriority = priority + floor(waitedSec / 2) at both times.
(c) RequestPlaceInQueue keeps the priority: a priority-7 chat transferred to a queue
holding an older priority-3 one is offered first, explain shows priority 7 in the new
queue. (d) `priority` on RequestSubmit: -1, 1001, 1.5, "5", null and true get 3 naming
priority, also from a desktop (field checks before the client type; 5 with a valid one),
nothing queued by them; 0 and 1000 accepted and shown by explain. (e) `select sk` on
ixn-b: among the agents matching the target the highest sk level first, equal levels by
idle-longest (login order), an agent with a higher level that the target excludes never;
the one left explains NoCapacity for the three."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check  # noqa: E402
import routing_rig as rr  # noqa: E402

A, B = "ixn-a", "ixn-b"
SKILLS = {
    "1001": "sk:3", "1003": "sk:7", "1002": "sk:7", "1004": "sk:9, vip:1",
    "1101": "ord:1",
    "1201": "age:1", "1202": "age:1",
}
QUEUES = {q: "chat" for q in ("q1", "q2", "q3", "aged", "young", "sel", "hold")}
TARGETS = {"q1": "ord >= 1", "q2": "ord >= 1", "q3": "ord >= 1", "aged": "age >= 1",
           "young": "age >= 1", "sel": "sk >= 1 and not vip >= 1", "hold": "ghost >= 1"}
OPTIONS = {"q3": "priority 4", "aged": "aging 2", "sel": "select sk"}
AGING = 2


def ids_of(got):
    return [(k, m.get("interactionId")) for k, m, _ in got]


def order(rig):
    """(a) on ixn-a with agent 1101."""
    ms = rig.ms[A]
    desk = rig.desks[(A, "1101")]
    subs = [("A1", "q1", None), ("A2", "q1", None), ("B1", "q2", None), ("P5", "q1", 5),
            ("C1", "q3", None), ("B2", "q2", 4), ("Z0", "q3", 0)]
    ids = {}
    for name, q, prio in subs:
        ids[name] = rr.submit_ok(ms, q, priority=prio, what="order " + name)
    for name, prio in (("C1", 4), ("Z0", 0), ("P5", 5), ("A1", 0)):
        ans = rr.explain(ms, ids[name], "order: " + name)
        rr.expect_explain(ans, "order: " + name, priority=prio, effectivePriority=prio,
                          state="Queued")
    want = ["P5", "C1", "B2", "A1", "A2", "B1", "Z0"]
    for srv in (A, B):
        rr.set_ready(rig.desks[(srv, "1101")], True, "order: 1101 on " + srv)
    names = {v: k for k, v in ids.items()}
    seen = []
    for i, name in enumerate(want):
        try:
            m = desk.next(harness.is_invite(), timeout=5, what="invite %d" % (i + 1))
        except harness.Timeout as e:
            check(False, "order: invite %d (%s) came (%s)" % (i + 1, name, e))
            return
        seen.append(names.get(m["interactionId"], m["interactionId"]))
        check(seen[-1] == name, "order: invite %d is %s (got %s; order so far %s)"
              % (i + 1, name, seen[-1], seen))
        check(m.get("queue") == dict((n, q) for n, q, _ in subs)[name],
              "order: %s's invite names its queue" % name)
        rr.done(desk, m["interactionId"], "order " + name)
    check(seen == want, "order: %s" % " ".join(want))


def place_in_queue(rig):
    """(c) on ixn-a with agent 1101 (free after order())."""
    ms = rig.ms[A]
    desk = rig.desks[(A, "1101")]
    t7 = rr.submit_ok(ms, "q1", priority=7, what="transfer t7")
    m = desk.next(harness.is_invite(t7), timeout=5, what="invite of t7")
    k3 = rr.submit_ok(ms, "q2", priority=3, what="transfer k3")
    rr.accept(desk, t7, "transfer")
    harness.expect_ack(desk.request({"message": "RequestPlaceInQueue", "interactionId": t7,
                                     "queue": "q2"}), "transfer: t7 placed in q2")
    ans = rr.explain(ms, t7, "transfer: t7 in q2")
    rr.expect_explain(ans, "transfer: t7 in q2", queue="q2", priority=7, effectivePriority=7)
    check(ans.get("state") in ("Queued", "Invited") and ans.get("waitedSec") == 0,
          "transfer: t7 waits afresh in q2 (state %s, waitedSec %s)"
          % (ans.get("state"), ans.get("waitedSec")))
    m = desk.next(harness.is_invite(), timeout=5, what="invite after the transfer")
    check(m["interactionId"] == t7 and m.get("queue") == "q2",
          "transfer: t7 (priority 7, newer in q2) offered before k3 (priority 3) (got %s)"
          % m["interactionId"])
    rr.done(desk, m["interactionId"], "transfer")
    m = desk.next(harness.is_invite(), timeout=5, what="invite of k3")
    check(m["interactionId"] == k3, "transfer: then k3 (got %s)" % m["interactionId"])
    rr.done(desk, k3, "transfer")


def bad_priority(rig):
    """(d) on ixn-a."""
    ms = rig.ms[A]
    before = harness.queue_status(ms)[(rr.T, "hold")]["waiting"]
    for bad in (-1, 1001, 1.5, "5", None, True, 100000000000):
        req = {"message": "RequestSubmit", "tenant": rr.T, "media": "chat", "queue": "hold",
               "priority": bad}
        harness.expect_error(ms.request(req), 3, "submit priority %r" % (bad,),
                             field="priority")
    # Fields are checked before the client type: a desktop gets 3 too, and 5 with a valid one.
    desk = rig.desks[(A, "1101")]
    req = {"message": "RequestSubmit", "tenant": rr.T, "media": "chat", "queue": "hold"}
    harness.expect_error(desk.request(dict(req, priority=1001)), 3,
                         "submit priority 1001 from a desktop", field="priority")
    harness.expect_error(desk.request(dict(req, priority=5)), 5,
                         "submit priority 5 from a desktop")
    check(harness.queue_status(ms)[(rr.T, "hold")]["waiting"] == before,
          "refused submits queued nothing")
    for prio in (0, 1000):
        iid = rr.submit_ok(ms, "hold", priority=prio, what="priority %d" % prio)
        ans = rr.explain(ms, iid, "priority %d" % prio)
        rr.expect_explain(ans, "priority %d" % prio, priority=prio, effectivePriority=prio,
                          queue="hold")


def select_skill(rig):
    """(e) on ixn-b with 1001 (sk 3), 1003 and 1002 (sk 7, 1003 logged in first), 1004
    (sk 9, excluded by `not vip >= 1`)."""
    ms = rig.ms[B]
    desks = {a: rig.desks[(B, a)] for a in ("1001", "1002", "1003", "1004")}
    want = ["1003", "1002", "1001"]
    ids = []
    for i, agent in enumerate(want):
        iid = rr.submit_ok(ms, "sel", what="select %d" % (i + 1))
        ids.append(iid)
        got = rr.gather_invites(desks, 1, timeout=5, quiet=0.2)
        check(ids_of(got) == [(agent, iid)], "select sk: chat %d to %s (got %s)"
              % (i + 1, agent, ids_of(got)))
        rr.wait_avail(rig.desks_of(agent).values(), 0, "select sk: %s full" % agent)
    last = rr.submit_ok(ms, "sel", what="select 4")
    rr.no_invite(desks, 0.4, "select sk: the fourth to nobody (1004 does not match)")
    ans = rr.explain(ms, last, "select sk: the fourth")
    rr.expect_explain(ans, "select sk: the fourth", state="Queued", matching=3,
                      expression="sk >= 1 and not (vip >= 1)",
                      agents={(a, "NoCapacity") for a in want})
    for iid in [last] + ids:
        rr.ms_stop(ms, iid, "select sk")


def main():
    args = harness.parse_args()
    with harness.Env(args.bin, timeout=90) as env:
        rig = rr.Rig(env, (A, B), list(SKILLS), QUEUES, skills=SKILLS, targets=TARGETS,
                     options=OPTIONS)
        for agent in ("1001", "1003", "1002", "1004"):
            for srv in (A, B):
                rig.login(srv, agent)
        for srv in (A, B):
            rig.login(srv, "1101", media={"chat": 0})
        for agent in ("1201", "1202"):
            rig.login(B, agent, media={"chat": 0})
        rr.wait_avail([d for a in ("1001", "1002", "1003", "1004")
                       for d in rig.desks_of(a).values()], 1, "select agents routable")

        # (b) starts first: its chats age while (a) runs on the other server.
        msb = rig.ms[B]
        t0 = time.monotonic()
        o1 = rr.submit_ok(msb, "aged", priority=0, what="aging o1")
        t_o1 = time.monotonic()
        o2 = rr.submit_ok(msb, "aged", priority=0, what="aging o2")
        n1 = rr.submit_ok(msb, "young", priority=AGING, what="aging n1")
        n2 = rr.submit_ok(msb, "young", priority=AGING, what="aging n2")
        aging_desks = {a: rig.desks[(B, a)] for a in ("1201", "1202")}

        time.sleep(max(0.0, t0 + 2.3 - time.monotonic()))
        for iid, prio, what in ((o1, 0, "o1"), (n1, AGING, "n1")):
            ans = rr.explain(msb, iid, "aging before: " + what)
            w = ans.get("waitedSec")
            eff = prio + (w // AGING if what == "o1" and isinstance(w, int) else 0)
            rr.expect_explain(ans, "aging before: " + what, priority=prio, effectivePriority=eff)
            check(w in (2, 3), "aging before: %s waited 2..3 s (got %r)" % (what, w))
        rr.set_ready(aging_desks["1201"], True, "aging before: 1201")
        got = rr.gather_invites(aging_desks, 1, timeout=5, quiet=0.2)
        check(ids_of(got) == [("1201", n1)],
              "aging before the crossing: 1201 gets n1 (priority 2) before o1 (0 + 1) (got %s)"
              % ids_of(got))
        if got:
            at = got[0][2] - t0
            check(at < 2 * AGING - 0.05,
                  "aging before: decided %.2fs after o1's submit, before its %d s" % (at, 2 * AGING))

        order(rig)
        place_in_queue(rig)

        time.sleep(max(0.0, t_o1 + 2 * AGING + 0.05 - time.monotonic()))
        ans = rr.explain(msb, o1, "aging after: o1")
        w = ans.get("waitedSec")
        rr.expect_explain(ans, "aging after: o1", priority=0,
                          effectivePriority=(w // AGING) if isinstance(w, int) else -1)
        check(isinstance(w, int) and w >= 2 * AGING, "aging after: o1 waited %r >= %d s"
              % (w, 2 * AGING))
        ans = rr.explain(msb, n2, "aging after: n2")
        rr.expect_explain(ans, "aging after: n2", priority=AGING, effectivePriority=AGING)
        rr.set_ready(aging_desks["1202"], True, "aging after: 1202")
        got = rr.gather_invites(aging_desks, 1, timeout=5, quiet=0.2)
        check(ids_of(got) == [("1202", o1)],
              "aging after the crossing: 1202 gets o1 (0 + %d, older) before n2 (%d) (got %s)"
              % (w // AGING if isinstance(w, int) else -1, AGING, ids_of(got)))
        for iid in (o2, n2, n1, o1):
            rr.ms_stop(msb, iid, "aging")

        bad_priority(rig)
        select_skill(rig)
        harness.alive(*rig.ixn.values(), rig.stat)


if __name__ == "__main__":
    main()
