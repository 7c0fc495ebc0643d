#!/usr/bin/env python3
"""RequestExplainRouting (protocol.md "Routing additions", routing.md section 4) on two
ixnservers linked to one real statserver (reservations granted by it), and on a third
ixnserver whose reporting engine is the test, for the reasons only a reporting engine
decides.

(a) A chat waiting in `es` (`es >= 3 for 60; any`) on ixn-a: every field (interactionId,
tenant, media, queue, state Queued, priority, effectivePriority, waitedSec, step 1 of 2,
expression, nextStepSec 60 or 59, matching = 19 agents of the directory with es >= 3, no
agentId) and the 10 agents listed: the logged-in ones first, each with its reason
(NotReady, DoNotDisturb, MediaNotAdded, NoCapacity because it holds a chat on ixn-b), then
the others by agentId as NotLoggedIn; an agent without the skill is neither counted nor
listed. (b) Once offered: state Invited, agentId, the same answer from the media server
and from the holding agent; a newly logged-in eligible agent is Busy; Handling and
AfterWork asked by the holder; Ended asked by the media server, and the former holder
then gets 5. (c) Errors in the spec's order: no interactionId or a number (3, also from a
ReportingEngine), a ReportingEngine (5), a desktop without a login (6, also for an unknown
id), an unknown id, another server's id and a malformed one (9, also from a logged-in
agent), an agent asking about an interaction offered to another or still queued (5); the
server keeps serving. (d) On ixn-c, the test being the reporting engine: NoStatus (no
status yet), VersionInFlight (a status of an older version), ReservationPending (asked,
not answered), ReservationRefused (refused), and after a grant the invite."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, expect_error  # noqa: E402
import routing_rig as rr  # noqa: E402

A, B = "ixn-a", "ixn-b"
T = rr.T
HOLDER = "2001"
SKILLS = {a: "es:5" for a in ("2001", "2002", "2003", "2004", "2005", "2006", "2008")}
SKILLS.update({str(2100 + i): "es:4" for i in range(1, 13)})
AGENTS = sorted(list(SKILLS) + ["2007"])
QUEUES = {"es": "chat"}
TARGETS = {"es": "es >= 3 for 60; any"}


def same_answer(a, b, what):
    """Two explain answers equal but for seq, referenceId and the waiting time."""
    skip = ("seq", "referenceId", "waitedSec", "nextStepSec", "effectivePriority")
    ka = {k: v for k, v in a.items() if k not in skip}
    kb = {k: v for k, v in b.items() if k not in skip}
    harness.ok(ka == kb, "%s: the same answer (got %s vs %s)" % (what, ka, kb))


def scenario_real(rig):
    msa, msb = rig.ms[A], rig.ms[B]
    # 2005 holds a chat on ixn-b: full on both servers.
    d5b = rig.login(B, "2005")
    rr.wait_avail([d5b], 1, "2005 routable on ixn-b")
    y = rr.submit_ok(msb, "es", what="y on ixn-b")
    d5b.next(harness.is_invite(y), what="invite of y to 2005 on ixn-b")
    rr.accept(d5b, y, "y")
    rig.login(A, "2002", media={"chat": 0})
    d3 = rig.login(A, "2003")
    harness.expect_ack(d3.request({"message": "RequestDoNotDisturbOn"}), "2003 DND on")
    rig.login(A, "2004", media={"email": 1})
    d5a = rig.login(A, "2005")
    d7 = rig.login(A, "2007")
    rr.wait_avail([d7], 1, "2007 (no skill) routable on ixn-a")
    rr.wait_avail([d5a, d5b], 0, "2005 full on both servers")

    x = rr.submit_ok(msa, "es", priority=3, what="x on ixn-a")
    rr.no_invite({k: d for k, d in rig.desks.items() if k[0] == A}, 0.4,
                 "x: offered to nobody (2007 lacks es)")
    ans = rr.explain(msa, x, "x queued")
    listed = [("2002", "NotReady"), ("2003", "DoNotDisturb"), ("2004", "MediaNotAdded"),
              ("2005", "NoCapacity"), ("2001", "NotLoggedIn"), ("2006", "NotLoggedIn"),
              ("2008", "NotLoggedIn"), ("2101", "NotLoggedIn"), ("2102", "NotLoggedIn"),
              ("2103", "NotLoggedIn")]
    rr.expect_explain(ans, "x queued", interactionId=x, tenant=T, media="chat", queue="es",
                      state="Queued", priority=3, effectivePriority=3, waitedSec=0, step=1,
                      steps=2, expression="es >= 3", matching=19, agentId=None, agents=listed)
    check(ans.get("nextStepSec") in (59, 60), "x queued: nextStepSec 59 or 60 (got %r)"
          % ans.get("nextStepSec"))
    want_keys = ["message", "referenceId", "interactionId", "tenant", "media", "queue", "state",
                 "priority", "effectivePriority", "waitedSec", "step", "steps", "expression",
                 "nextStepSec", "matching", "agents", "seq"]
    check(list(ans) == want_keys, "x queued: the fields in the table's order (got %s)"
          % list(ans))

    d1 = rig.login(A, HOLDER)
    d1.next(harness.is_invite(x), what="invite of x to 2001")
    ans = rr.explain(msa, x, "x invited, media server")
    after = [p for p in listed if p[0] != HOLDER] + [("2104", "NotLoggedIn")]
    rr.expect_explain(ans, "x invited, media server", state="Invited", agentId=HOLDER,
                      matching=19, step=1, agents=after)
    mine = rr.explain(d1, x, "x invited, holder")
    same_answer(ans, mine, "x invited: holder and media server")

    d8 = rig.login(A, "2008")
    rr.wait_avail([d8], 1, "2008 routable")
    ans = rr.explain(msa, x, "x invited, 2008 eligible")
    busy = [p for p in after if p[0] != "2008"]
    busy.insert(4, ("2008", "Busy"))
    rr.expect_explain(ans, "x invited, 2008 eligible", agents=busy[:10])

    rr.accept(d1, x, "x")
    ans = rr.explain(d1, x, "x handled, holder")
    rr.expect_explain(ans, "x handled, holder", state="Handling", agentId=HOLDER)
    stop = d1.request({"message": "RequestStopProcessing", "interactionId": x})
    check(stop.get("afterWorkSec") == 30, "x: after-work 30 s (got %s)" % harness._short([stop]))
    ans = rr.explain(d1, x, "x in after-work, holder")
    rr.expect_explain(ans, "x in after-work, holder", state="AfterWork", agentId=HOLDER)
    harness.expect_ack(d1.request({"message": "RequestCompleteAfterWork", "interactionId": x}),
                       "x: after-work completed")
    ans = rr.explain(msa, x, "x ended, media server")
    rr.expect_explain(ans, "x ended, media server", state="Ended", interactionId=x)
    expect_error(d1.request({"message": "RequestExplainRouting", "interactionId": x}), 5,
                 "x ended, asked by its former holder")

    # y on ixn-b, from ixn-b's media server: 2005 holds it.
    ans = rr.explain(msb, y, "y on ixn-b")
    rr.expect_explain(ans, "y on ixn-b", state="Handling", agentId="2005", matching=19)
    return d7, y


def errors(rig, d7, y):
    msa = rig.ms[A]
    port = rig.ixn[A].port
    # 2001 and 2008 are free now: not ready, so that q and z stay queued.
    for a in ("2001", "2008"):
        rr.set_ready(rig.desks[(A, a)], False, "errors: " + a)
    rr.wait_avail([rig.desks[(A, a)] for a in ("2001", "2008")], 0, "errors: 2001, 2008 held")
    q = rr.submit_ok(msa, "es", what="q")
    z = rr.submit_ok(msa, "es", what="z")
    ex = {"message": "RequestExplainRouting"}
    expect_error(msa.request(dict(ex)), 3, "no interactionId", field="interactionId", ref=True)
    expect_error(msa.request(dict(ex, interactionId=5)), 3, "interactionId a number",
                 field="interactionId")
    expect_error(msa.request(dict(ex, interactionId="")), 3, "interactionId empty",
                 field="interactionId")
    rep = harness.reporter(port)
    expect_error(rep.request(dict(ex)), 3, "ReportingEngine without interactionId",
                 field="interactionId")
    expect_error(rep.request(dict(ex, interactionId=q)), 5, "ReportingEngine")
    anon = harness.Client(port)
    harness.expect_ack(anon.register("AgentApplication", harness.DESK_TOKEN),
                       "a desktop without login registered")
    expect_error(anon.request(dict(ex, interactionId=q)), 6, "desktop without a login")
    expect_error(anon.request(dict(ex, interactionId="ixn-a:000999999")), 6,
                 "desktop without a login, unknown id")
    for bad in ("ixn-a:000999999", y, "nonsense"):
        expect_error(msa.request(dict(ex, interactionId=bad)), 9, "media server: id %s" % bad)
        expect_error(d7.request(dict(ex, interactionId=bad)), 9, "agent 2007: id %s" % bad)
    expect_error(d7.request(dict(ex, interactionId=q)), 5, "agent 2007 about queued q")
    for a in ("2001", "2008"):
        rr.set_ready(rig.desks[(A, a)], True, "errors: " + a)
    # q and z go to 2001 and 2008; each asks about the other's.
    got = rr.gather_invites({a: rig.desks[(A, a)] for a in ("2001", "2008")}, 2, timeout=5,
                            quiet=0.2)
    held = {a: m["interactionId"] for a, m, _ in got}
    check(sorted(held.values()) == sorted([q, z]), "q and z offered to 2001 and 2008 (got %s)"
          % held)
    if len(held) == 2:
        expect_error(rig.desks[(A, "2001")].request(dict(ex, interactionId=held["2008"])), 5,
                     "2001 about the chat offered to 2008")
        expect_error(d7.request(dict(ex, interactionId=held["2001"])), 5,
                     "2007 about the chat offered to 2001")
    rr.ping_all([msa, rep, anon, d7] + list(rig.desks.values()), "after the errors")


def fake_status(agent_id, version, available):
    return {"message": "EventCurrentAgentStatus", "tenant": T, "agentId": agent_id,
            "placeId": "P" + agent_id, "version": version, "rule": "Fake", "loggedIn": True,
            "dnd": False, "media": {"chat": {"ready": True, "current": 1 - available, "max": 1,
                                             "available": available}}}


def scenario_fake(env):
    """(d): ixn-c with the test as its reporting engine."""
    agents = ["3001", "3002", "3004"]
    skills = "\n".join(["[skills]"] + ["%s/%s = es:5" % (T, a) for a in agents] +
                       ["[targets]", "%s/es = es >= 3" % T])
    ixn = harness.start_ixn_queues(env, "ixn-c", agents={"%s/%s" % (T, a): "pw" + a
                                                         for a in agents},
                                   queues={T + "/es": "chat"}, extra=skills)
    rep = harness.reporter(ixn.port)
    harness.start_reporting(rep)
    ms = harness.media_server(ixn.port)
    x = rr.submit_ok(ms, "es", what="c: x")
    version = {}
    desks = {}
    for a in agents:
        desks[a] = harness.agent(ixn.port, T, a, "P" + a, "pw" + a, media={"chat": 1})
        st = rep.next(lambda m: harness.is_state(m, a, "AgentLogin"), what="login of " + a)
        version[a] = st["version"]
    rep.send(fake_status("3002", version["3002"] - 1, 1))
    rep.send(fake_status("3004", version["3004"], 1))
    r = harness.next_reservation(rep, "3004", what="c: reservation for 3004")
    check(not rep.drain(0.3), "c: no other reservation asked (3001 has no status, 3002 an "
          "old one)")
    ans = rr.explain(ms, x, "c: x pending")
    rr.expect_explain(ans, "c: x pending", state="Queued", matching=3,
                      agents=[("3001", "NoStatus"), ("3002", "VersionInFlight"),
                              ("3004", "ReservationPending")])
    harness.answer_reservation(rep, r, False)
    desks["3004"].expect_none(harness.is_invite(), wait=0.3)
    ans = rr.explain(ms, x, "c: x refused")
    rr.expect_explain(ans, "c: x refused", state="Queued",
                      agents=[("3001", "NoStatus"), ("3002", "VersionInFlight"),
                              ("3004", "ReservationRefused")])
    rep.send(fake_status("3002", version["3002"], 1))
    r = harness.next_reservation(rep, "3002", what="c: reservation for 3002")
    harness.answer_reservation(rep, r, True)
    desks["3002"].next(harness.is_invite(x), what="c: invite of x to 3002")
    ans = rr.explain(desks["3002"], x, "c: x granted to 3002")
    rr.expect_explain(ans, "c: x granted to 3002", state="Invited", agentId="3002",
                      agents=[("3001", "NoStatus"), ("3004", "ReservationRefused")])
    return ixn


def main():
    args = harness.parse_args()
    with harness.Env(args.bin, timeout=60) as env:
        rig = rr.Rig(env, (A, B), AGENTS, QUEUES,
                     skills={a: s for a, s in SKILLS.items()}, targets=TARGETS,
                     after_work={"chat": 30})
        d7, y = scenario_real(rig)
        errors(rig, d7, y)
        ixn_c = scenario_fake(env)
        harness.alive(*rig.ixn.values(), rig.stat, ixn_c)


if __name__ == "__main__":
    main()
