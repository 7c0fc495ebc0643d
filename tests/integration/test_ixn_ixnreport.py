#!/usr/bin/env python3
"""Interaction reporting (issue 11 item 1, docs/statistics.md "Interaction reporting"): a
fake reporting engine sends RequestStartInteractionReporting to an ixnserver and checks
what it reports. The test also plays the agent-state reporting engine: it sends the agent's
statuses and grants every reservation, so that an offer is made exactly when it wants one.

Checked: (a) the snapshot holds the unfinished interactions present before the start (one
queued, one handled), with their fields and times, and SnapshotDone counts them; (b) the
exact causes and fields of submit, invite, accept, stop by the agent with after-work and the
after-work timer; (c) invite, reject, invite again, invite timeout, invite, accept, stop,
RequestCompleteAfterWork; (d) stops by the media server while queued, invited and handled;
(e) RequestPlaceInQueue; (f) the tenant filter and RequestStopInteractionReporting; (g) bad
requests; (j) the agent's desktop closes while it holds interactions in after-work, handled
and invited; (h) with the data-dir's disk full, failed commits report nothing (submits, a
stop), a subscriber's snapshot shows the committed state, and a logout's kept change is
reported once it is written; (i) after kill -9 and a restart the snapshot shows the
interactions back in their queues, a handled one in the same visit. (h) and (i) need root
for a tmpfs; without it they print SKIP."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, expect_ack, expect_error, is_state  # noqa: E402
from test_ixn_store_full import BLOB, Disk, mount_tmpfs, umount  # noqa: E402

T = "Resources"
O = "Other"
A = "1001"
PW = "pw1001"
INVITE_TIMEOUT = 2
AFTER_WORK = 3
EV = "EventInteractionReported"
DONE = "EventInteractionSnapshotDone"
FIELDS = ("serverName", "cause", "interactionId", "tenant", "media", "queue", "state",
          "priority", "submittedAt", "queuedAt", "at")


def now_ms():
    return int(time.time() * 1000)


def is_step(iid=None):
    return lambda m: m.get("message") == EV and (iid is None or m.get("interactionId") == iid)


def start_ixr(port, tenants=None):
    """A ReportingEngine client with interaction reporting started: (client, snapshot events,
    SnapshotDone). The snapshot must come between the ack and SnapshotDone."""
    c = harness.reporter(port)
    req = {"message": "RequestStartInteractionReporting"}
    if tenants is not None:
        req["tenants"] = tenants
    ack = expect_ack(c.request(req), "interaction reporting started")
    done = c.next(lambda m: m.get("message") == DONE, what=DONE)
    snap = [m for m in c.log if m.get("message") == EV and m["seq"] < done["seq"]]
    check(all(m["seq"] > ack["seq"] and m.get("cause") == "Snapshot" for m in snap),
          "the snapshot comes after the EventAck, all of cause Snapshot")
    c.queue = [m for m in c.queue if m["seq"] > done["seq"]]
    return c, snap, done


class Rig:
    def __init__(self, env, data):
        self.ixn = harness.start_ixn_queues(
            env, "ixn-r", agents={T + "/" + A: PW},
            queues={T + "/chat-in": "chat", T + "/chat-out": "chat", O + "/chat-x": "chat"},
            data_dir=data, invite_timeout=INVITE_TIMEOUT, after_work={"chat": AFTER_WORK},
            extra_server="idle-timeout = 120")
        self.connect()

    def connect(self):
        self.rep = harness.reporter(self.ixn.port)
        harness.start_reporting(self.rep)
        self.rep.auto_grant()
        self.ms = harness.media_server(self.ixn.port)
        self.version = None

    def states(self, wait=0.2):
        for m in self.rep.drain(wait):
            if is_state(m, A):
                self.version = m.get("version")

    def status(self):
        """A status of the agent's newest version with room for one chat: routing may offer
        it one interaction."""
        self.states()
        self.rep.send({"message": "EventCurrentAgentStatus", "tenant": T, "agentId": A,
                       "placeId": "P" + A, "version": self.version, "rule": "Test",
                       "loggedIn": True, "dnd": False,
                       "media": {"chat": {"ready": True, "current": 0, "max": 1,
                                          "available": 1}}})

    def submit(self, queue="chat-in", tenant=T, priority=None, user_data=None):
        """Submits; returns (id, wall ms before, wall ms after)."""
        t0 = now_ms()
        req = {"message": "RequestSubmit", "tenant": tenant, "media": "chat", "queue": queue}
        if priority is not None:
            req["priority"] = priority
        if user_data is not None:
            req["userData"] = user_data
        ans = self.ms.request(req)
        expect_ack(ans, "submit to %s" % queue)
        return ans["interactionId"], t0, now_ms()

    def stop_by_media(self, iid):
        expect_ack(self.ms.request({"message": "RequestStopProcessing", "interactionId": iid}),
                   "media server stops %s" % iid)


def offered(rig, desk, iid, what):
    """Sends statuses until iid is offered to the desk; returns the EventInvite."""
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline:
        rig.status()
        try:
            return desk.next(harness.is_invite(iid), timeout=0.5)
        except harness.Timeout:
            pass
    check(False, "%s: %s is offered" % (what, iid))
    raise harness.Failure(what)


def act(desk, message, iid, what, **extra):
    req = {"message": message, "interactionId": iid}
    req.update(extra)
    return expect_ack(desk.request(req), what)


def steps(c, iid, n, what, timeout=8):
    """The next n steps of iid on c; then checks that no more came."""
    out = []
    for _ in range(n):
        out.append(c.next(is_step(iid), timeout=timeout, what="%s: step %d of %s"
                          % (what, len(out) + 1, iid)))
    c.expect_none(is_step(iid), wait=0.3)
    return out


def causes(evs):
    return [m.get("cause") + ("/" + (m.get("reason") or m.get("endReason"))
                              if m.get("reason") or m.get("endReason") else "") for m in evs]


def check_seq(evs, want, what):
    got = causes(evs)
    check(got == want, "%s: causes %s (got %s)" % (what, want, got))


def check_common(evs, iid, tenant, queue, what, t0, t1, priority=0):
    """Fields every step of one visit shares: ids, tenant, media, priority, submittedAt and
    queuedAt constant and in [t0, t1], at non-decreasing and not before queuedAt."""
    prev = None
    for m in evs:
        missing = [f for f in FIELDS if f not in m]
        check(not missing, "%s: %s has every field (missing %s)" % (what, m.get("cause"), missing))
        check(m.get("serverName") == "ixn-r" and m.get("interactionId") == iid and
              m.get("tenant") == tenant and m.get("media") == "chat" and
              m.get("queue") == queue and m.get("priority") == priority,
              "%s: %s names %s in %s/%s, chat, priority %d (got %s)"
              % (what, m.get("cause"), iid, tenant, queue, priority, m))
        check(t0 <= m.get("submittedAt", -1) <= t1 and t0 <= m.get("queuedAt", -1) <= t1,
              "%s: %s has submittedAt and queuedAt in [%d, %d] (got %s, %s)"
              % (what, m.get("cause"), t0, t1, m.get("submittedAt"), m.get("queuedAt")))
        check(m.get("at", 0) >= m.get("queuedAt", 0) and (prev is None or m["at"] >= prev),
              "%s: %s at %s is not before queuedAt nor the step before"
              % (what, m.get("cause"), m.get("at")))
        prev = m.get("at")


STATE_OF = {"Queued": "Queued", "Invited": "Invited", "Accepted": "Handling",
            "Rejected": "Queued", "Revoked": "Queued", "AfterWork": "AfterWork",
            "Ended": "Ended"}


def check_agent(evs, what):
    """agentId on every step but the submit's Queued; state as the cause says."""
    for m in evs:
        if m.get("cause") == "Queued" and "fromQueue" not in m:
            check("agentId" not in m, "%s: no agentId on the submit" % what)
        else:
            check(m.get("agentId") == A, "%s: %s names agent %s (got %s)"
                  % (what, m.get("cause"), A, m.get("agentId")))
        check(m.get("state") == STATE_OF.get(m.get("cause")), "%s: %s has state %s (got %s)"
              % (what, m.get("cause"), STATE_OF.get(m.get("cause")), m.get("state")))


def snapshot(rig, desk):
    """(a)."""
    iq, q0, q1 = rig.submit(priority=7)
    ih, h0, h1 = rig.submit()
    # ih was submitted after iq, but iq has the higher priority: it is offered first.
    offered(rig, desk, iq, "(a)")
    t_acc = now_ms()
    act(desk, "RequestAccept", iq, "(a) accept")
    t_acc1 = now_ms()
    rig.states()
    ir, snap, done = start_ixr(rig.ixn.port)
    by_id = {m.get("interactionId"): m for m in snap}
    check(done.get("count") == 2 and len(snap) == 2 and set(by_id) == {iq, ih},
          "(a) the snapshot holds the 2 unfinished interactions, SnapshotDone count 2 (got %s, %s)"
          % (done.get("count"), sorted(by_id)))
    check(done.get("serverName") == "ixn-r", "(a) SnapshotDone names the server")
    h = by_id.get(ih, {})
    check_common([h], ih, T, "chat-in", "(a) queued", h0, h1)
    check(h.get("state") == "Queued" and "agentId" not in h and h0 <= h.get("at", 0) <= h1,
          "(a) the queued one: state Queued, no agent, at = its submit (got %s)" % h)
    q = by_id.get(iq, {})
    check_common([q], iq, T, "chat-in", "(a) handled", q0, q1, priority=7)
    check(q.get("state") == "Handling" and q.get("agentId") == A and
          t_acc <= q.get("at", 0) <= t_acc1,
          "(a) the handled one: state Handling, agent %s, at = its accept (got %s)" % (A, q))
    # Finish both, and see their steps.
    act(desk, "RequestStopProcessing", iq, "(a) agent stops")
    act(desk, "RequestCompleteAfterWork", iq, "(a) after-work completed")
    check_seq(steps(ir, iq, 2, "(a)"), ["AfterWork", "Ended/Done"], "(a) the handled one")
    rig.stop_by_media(ih)
    check_seq(steps(ir, ih, 1, "(a)"), ["Ended/Stopped"], "(a) the queued one")
    rig.states()
    return ir


def after_work_timer(rig, desk, ir):
    """(b)."""
    iid, t0, t1 = rig.submit()
    offered(rig, desk, iid, "(b)")
    act(desk, "RequestAccept", iid, "(b) accept")
    ans = act(desk, "RequestStopProcessing", iid, "(b) agent stops")
    check(ans.get("afterWorkSec") == AFTER_WORK, "(b) after-work of %d s" % AFTER_WORK)
    t_aw = now_ms()
    evs = steps(ir, iid, 5, "(b)", timeout=AFTER_WORK + 5)
    check_seq(evs, ["Queued", "Invited", "Accepted", "AfterWork", "Ended/Done"],
              "(b) submit, invite, accept, stop with after-work, after-work end")
    check_common(evs, iid, T, "chat-in", "(b)", t0, t1)
    check_agent(evs, "(b)")
    check(evs[-1]["at"] - evs[3]["at"] >= AFTER_WORK * 1000 - 50 and
          evs[-1]["at"] >= t_aw + AFTER_WORK * 1000 - 1000,
          "(b) the after-work ended by its timer, %d s after it began (got %d ms)"
          % (AFTER_WORK, evs[-1]["at"] - evs[3]["at"]))
    rig.states()


def reject_timeout(rig, desk, ir):
    """(c)."""
    iid, t0, t1 = rig.submit()
    offered(rig, desk, iid, "(c) first")
    act(desk, "RequestReject", iid, "(c) reject")
    offered(rig, desk, iid, "(c) second")
    desk.next(lambda m: m.get("message") == "EventRevoked" and m.get("interactionId") == iid,
              timeout=INVITE_TIMEOUT + 4, what="(c) EventRevoked of the timeout")
    offered(rig, desk, iid, "(c) third")
    act(desk, "RequestAccept", iid, "(c) accept")
    act(desk, "RequestStopProcessing", iid, "(c) agent stops")
    act(desk, "RequestCompleteAfterWork", iid, "(c) after-work completed")
    evs = steps(ir, iid, 9, "(c)")
    check_seq(evs, ["Queued", "Invited", "Rejected", "Invited", "Revoked/Timeout", "Invited",
                    "Accepted", "AfterWork", "Ended/Done"],
              "(c) invite, reject, invite, timeout, invite, accept, after-work, complete")
    # A reject or a timeout does not end the visit: queuedAt stays the submit's.
    check_common(evs, iid, T, "chat-in", "(c)", t0, t1)
    check_agent(evs, "(c)")
    check(evs[4]["at"] - evs[3]["at"] >= INVITE_TIMEOUT * 1000 - 50,
          "(c) the timeout came %d s after the invite" % INVITE_TIMEOUT)
    rig.states()


def media_stops(rig, desk, ir):
    """(d)."""
    iid, t0, t1 = rig.submit()
    rig.stop_by_media(iid)
    evs = steps(ir, iid, 2, "(d) queued")
    check_seq(evs, ["Queued", "Ended/Stopped"], "(d) stopped while queued")
    check_common(evs, iid, T, "chat-in", "(d) queued", t0, t1)
    check("agentId" not in evs[1] and evs[1].get("state") == "Ended",
          "(d) stopped while queued: no agent")

    iid, t0, t1 = rig.submit()
    offered(rig, desk, iid, "(d) invited")
    rig.stop_by_media(iid)
    desk.next(lambda m: m.get("message") == "EventRevoked" and m.get("interactionId") == iid,
              what="(d) EventRevoked of the stop")
    evs = steps(ir, iid, 3, "(d) invited")
    check_seq(evs, ["Queued", "Invited", "Ended/Stopped"], "(d) stopped while invited")
    check_common(evs, iid, T, "chat-in", "(d) invited", t0, t1)
    check_agent(evs, "(d) invited")
    rig.states()

    iid, t0, t1 = rig.submit()
    offered(rig, desk, iid, "(d) handled")
    act(desk, "RequestAccept", iid, "(d) accept")
    rig.stop_by_media(iid)
    evs = steps(ir, iid, 4, "(d) handled")
    check_seq(evs, ["Queued", "Invited", "Accepted", "Ended/Stopped"],
              "(d) stopped while handled")
    check_common(evs, iid, T, "chat-in", "(d) handled", t0, t1)
    check_agent(evs, "(d) handled")
    rig.states()


def place_in_queue(rig, desk, ir):
    """(e)."""
    iid, t0, t1 = rig.submit()
    offered(rig, desk, iid, "(e)")
    act(desk, "RequestAccept", iid, "(e) accept")
    p0 = now_ms()
    act(desk, "RequestPlaceInQueue", iid, "(e) place in chat-out", queue="chat-out")
    p1 = now_ms()
    rig.stop_by_media(iid)
    evs = steps(ir, iid, 5, "(e)")
    check_seq(evs, ["Queued", "Invited", "Accepted", "Queued", "Ended/Stopped"],
              "(e) a transfer is Queued in the new queue")
    check_common(evs[:3], iid, T, "chat-in", "(e) before", t0, t1)
    tr = evs[3]
    check(tr.get("queue") == "chat-out" and tr.get("fromQueue") == "chat-in" and
          tr.get("agentId") == A and tr.get("state") == "Queued",
          "(e) the transfer names chat-out, fromQueue chat-in and the agent (got %s)" % tr)
    check(p0 <= tr.get("queuedAt", 0) <= p1 and p0 <= tr.get("at", 0) <= p1 and
          tr.get("submittedAt") == evs[0].get("submittedAt"),
          "(e) a new visit: queuedAt is the transfer's time, submittedAt unchanged (got %s)" % tr)
    end = evs[4]
    check(end.get("queue") == "chat-out" and end.get("queuedAt") == tr.get("queuedAt") and
          "agentId" not in end and "fromQueue" not in end,
          "(e) the stop in chat-out: its visit, no agent (got %s)" % end)
    rig.states()


def tenant_filter(rig, ir):
    """(f)."""
    other, snap, done = start_ixr(rig.ixn.port, tenants=[O])
    check(done.get("count") == 0 and not snap, "(f) nothing of Other unfinished yet")
    ix, t0, t1 = rig.submit(queue="chat-x", tenant=O)
    ir_t, _, _ = rig.submit()
    got = steps(other, ix, 1, "(f) Other")
    check_seq(got, ["Queued"], "(f) the Other subscriber gets Other's submit")
    check_common(got, ix, O, "chat-x", "(f)", t0, t1)
    other.expect_none(is_step(ir_t), wait=0.3)
    check_seq(steps(ir, ix, 1, "(f) all"), ["Queued"], "(f) the subscriber of all gets it too")
    check_seq(steps(ir, ir_t, 1, "(f) all"), ["Queued"], "(f) and Resources' submit")
    expect_ack(other.request({"message": "RequestStopInteractionReporting"}), "(f) stop")
    rig.stop_by_media(ix)
    rig.stop_by_media(ir_t)
    other.expect_none(is_step(), wait=0.5)
    check_seq(steps(ir, ix, 1, "(f) all"), ["Ended/Stopped"], "(f) the stop of Other's")
    check_seq(steps(ir, ir_t, 1, "(f) all"), ["Ended/Stopped"], "(f) the stop of Resources'")
    # A second start replaces the first: a fresh snapshot, then steps again.
    expect_ack(other.request({"message": "RequestStartInteractionReporting",
                              "tenants": [O, "Nobody"]}), "(f) start again")
    d = other.next(lambda m: m.get("message") == DONE, what="(f) second SnapshotDone")
    check(d.get("count") == 0, "(f) second snapshot empty")
    ix2, _, _ = rig.submit(queue="chat-x", tenant=O)
    check_seq(steps(other, ix2, 1, "(f) again"), ["Queued"], "(f) steps again after a restart")
    rig.stop_by_media(ix2)
    check_seq(steps(other, ix2, 1, "(f) again"), ["Ended/Stopped"], "(f) its stop")
    check_seq(steps(ir, ix2, 2, "(f) all"), ["Queued", "Ended/Stopped"], "(f) all sees both")
    other.close()


def bad_requests(rig):
    """(g)."""
    expect_error(rig.ms.request({"message": "RequestStartInteractionReporting"}), 5,
                 "(g) a MediaServer may not start interaction reporting")
    c = harness.reporter(rig.ixn.port)
    expect_error(c.request({"message": "RequestStartInteractionReporting", "tenants": "x"}), 3,
                 "(g) tenants not an array", field="tenants")
    expect_error(c.request({"message": "RequestStartInteractionReporting", "tenants": [""]}), 3,
                 "(g) an empty tenant", field="tenants")
    expect_error(c.request({"message": "RequestStartInteractionReporting",
                            "tenants": ["x" * 129]}), 3, "(g) a tenant of 129 bytes",
                 field="tenants")
    expect_ack(c.request({"message": "RequestStartInteractionReporting", "tenants": ["x" * 128]}),
               "(g) a tenant of 128 bytes")
    c.next(lambda m: m.get("message") == DONE, what="(g) SnapshotDone")
    expect_ack(c.request({"message": "RequestStopInteractionReporting"}), "(g) stop")
    expect_ack(c.request({"message": "RequestStopInteractionReporting"}),
               "(g) stop when not reporting")
    c.close()


def desk_gone(rig, desk, ir):
    """(j) the agent's desktop closes while it holds one interaction in after-work, one
    handled and one invited: the first ends (Done), the others go back to their queue
    (Revoked, LoggedOut) in the same visit. Returns a new desktop of the agent."""
    ih, h0, h1 = rig.submit()
    offered(rig, desk, ih, "(j) handled")
    act(desk, "RequestAccept", ih, "(j) accept")
    ia, a0, a1 = rig.submit()
    offered(rig, desk, ia, "(j) after-work")
    act(desk, "RequestAccept", ia, "(j) accept")
    act(desk, "RequestStopProcessing", ia, "(j) agent stops")
    ii, i0, i1 = rig.submit()
    offered(rig, desk, ii, "(j) invited")
    c0 = now_ms()
    desk.close()
    evs = steps(ir, ia, 5, "(j) after-work")
    check_seq(evs, ["Queued", "Invited", "Accepted", "AfterWork", "Ended/Done"],
              "(j) the after-work one ends with the logout")
    check_common(evs, ia, T, "chat-in", "(j) after-work", a0, a1)
    check_agent(evs, "(j) after-work")
    check(evs[-1]["at"] >= c0, "(j) it ended when the desktop closed")
    for iid, n, want, t0, t1 in ((ih, 4, ["Queued", "Invited", "Accepted", "Revoked/LoggedOut"],
                                  h0, h1),
                                 (ii, 3, ["Queued", "Invited", "Revoked/LoggedOut"], i0, i1)):
        evs = steps(ir, iid, n, "(j)")
        check_seq(evs, want, "(j) back to the queue with the logout")
        check_common(evs, iid, T, "chat-in", "(j)", t0, t1)
        check_agent(evs, "(j)")
        check(evs[-1]["at"] >= c0, "(j) back in the queue when the desktop closed")
        rig.stop_by_media(iid)
        end = steps(ir, iid, 1, "(j) stop")[0]
        check_seq([end], ["Ended/Stopped"], "(j) then stopped in the queue")
        check("agentId" not in end and end.get("queuedAt") == evs[0].get("queuedAt"),
              "(j) the stop names no agent, the same visit (got %s)" % end)
    rig.states()
    desk = harness.agent(rig.ixn.port, T, A, "P" + A, PW, media={"chat": 1})
    rig.states()
    return desk


def failed_commits(rig, desk, ir, disk):
    """(h)."""
    # One interaction invited to the agent, one queued, both committed.
    iv, _, _ = rig.submit()
    offered(rig, desk, iv, "(h)")
    iq, _, _ = rig.submit()
    check_seq(steps(ir, iv, 2, "(h)"), ["Queued", "Invited"], "(h) before the disk fills")
    check_seq(steps(ir, iq, 1, "(h)"), ["Queued"], "(h) before the disk fills")
    rig.states()
    disk.fill()
    items = [(T, "chat", "chat-in", BLOB, None) for _ in range(10)]
    answers = harness.pipeline_submits(rig.ms, items, window=10, timeout=30)
    acked = {a["interactionId"] for a in answers if a.get("message") == "EventAck"}
    failed = [a for a in answers if a.get("message") == "EventError"]
    check(len(failed) >= 1 and all(a.get("errorCode") == 14 for a in failed),
          "(h) submits on a full disk fail with 14 (%d of 10 did)" % len(failed))
    disk.fill()
    ans = rig.ms.request({"message": "RequestStopProcessing", "interactionId": iq})
    expect_error(ans, 14, "(h) a media server's stop on a full disk")
    # A subscriber that starts now sees what is committed: iq still queued, iv invited.
    late, snap, done = start_ixr(rig.ixn.port)
    by_id = {m["interactionId"]: m for m in snap}
    check(by_id.get(iq, {}).get("state") == "Queued" and
          by_id.get(iv, {}).get("state") == "Invited",
          "(h) a snapshot on a full disk: the stopped one still queued, the offer invited")
    check(set(by_id) == {iq, iv} | acked, "(h) the snapshot holds exactly the committed ones "
          "(got %d, want %d)" % (len(by_id), 2 + len(acked)))
    # The agent's desktop closes: its offer goes back to the queue whatever the commit does,
    # and is reported once that change is written.
    desk.close()
    time.sleep(1.5)
    reported = [m for m in ir.drain(0.2) if m.get("message") == EV]
    check(sorted(m["interactionId"] for m in reported) == sorted(acked),
          "(h) while the disk is full only acknowledged submits were reported (got %s)"
          % causes(reported))
    check(all(m.get("cause") == "Queued" for m in reported), "(h) ... as Queued")
    check(not late.drain(0.1), "(h) the late subscriber heard nothing yet")
    disk.free()
    got = ir.next(is_step(iv), timeout=5, what="(h) the kept change, once written")
    check_seq([got], ["Revoked/LoggedOut"], "(h) the logout's change is reported after its "
              "commit")
    check(got.get("queue") == "chat-in" and got.get("state") == "Queued" and
          got.get("agentId") == A, "(h) back in chat-in from the agent (got %s)" % got)
    got = late.next(is_step(iv), timeout=5, what="(h) the late subscriber's kept change")
    check_seq([got], ["Revoked/LoggedOut"], "(h) the late subscriber gets it too")
    rig.stop_by_media(iq)
    check_seq(steps(ir, iq, 1, "(h) retry"), ["Ended/Stopped"], "(h) the retried stop")
    check_seq(steps(late, iq, 1, "(h) retry"), ["Ended/Stopped"], "(h) ... on both")
    late.close()
    return acked | {iv}


def restart(rig, queued, ir):
    """(i) one more interaction is handled when the server is killed: after the restart it
    is queued again, in the same visit, since the restart."""
    desk = harness.agent(rig.ixn.port, T, A, "P" + A, PW, media={"chat": 1})
    ih, h0, h1 = rig.submit()
    offered(rig, desk, ih, "(i)")
    act(desk, "RequestAccept", ih, "(i) accept")
    before = steps(ir, ih, 3, "(i)")
    check_seq(before, ["Queued", "Invited", "Accepted"], "(i) handled when killed")
    rig.ixn.kill()
    k0 = now_ms()
    rig.ixn.restart()
    rig.connect()
    ir, snap, done = start_ixr(rig.ixn.port)
    by_id = {m["interactionId"]: m for m in snap}
    queued = queued | {ih}
    check(set(by_id) == queued and done.get("count") == len(queued),
          "(i) after kill -9 and a restart the snapshot holds the %d unfinished ones (got %d)"
          % (len(queued), len(by_id)))
    check(all(m.get("state") == "Queued" and "agentId" not in m for m in snap),
          "(i) ... queued, without an agent")
    h = by_id.get(ih, {})
    check(h.get("queuedAt") == before[0].get("queuedAt") and
          h.get("submittedAt") == before[0].get("submittedAt") and h.get("at", 0) >= k0,
          "(i) the handled one: the same visit, back in its queue since the restart (got %s)"
          % h)


def main():
    args = harness.parse_args()
    with harness.Env(args.bin, timeout=150) as env:
        data = env.path("data")
        os.makedirs(data)
        why = mount_tmpfs(data, "4m")
        rig = None
        try:
            rig = Rig(env, data)
            desk = harness.agent(rig.ixn.port, T, A, "P" + A, PW, media={"chat": 1})
            rig.states()
            ir = snapshot(rig, desk)
            after_work_timer(rig, desk, ir)
            reject_timeout(rig, desk, ir)
            media_stops(rig, desk, ir)
            place_in_queue(rig, desk, ir)
            tenant_filter(rig, ir)
            bad_requests(rig)
            desk = desk_gone(rig, desk, ir)
            if why:
                print("SKIP (h), (i): cannot mount a tmpfs for the data-dir (%s)" % why,
                      flush=True)
                return
            queued = failed_commits(rig, desk, ir, Disk(data))
            restart(rig, queued, ir)
            check(rig.ixn.running(), "the server is still running")
        finally:
            if rig is not None and rig.ixn.running():
                rig.ixn.kill()
                rig.ixn.wait()
            if not why:
                umount(data)


if __name__ == "__main__":
    main()
