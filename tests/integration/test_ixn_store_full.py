#!/usr/bin/env python3
"""Failed commits (issue 9, items 1-3): the ixnserver's data-dir is a small tmpfs that the
test fills up, so that the store's commits fail for real (SQLITE_FULL), then empties again.
The test is the only reporting engine: it sends the agent's statuses itself and grants every
reservation at once, so that any offer the server makes reaches the desktop.

Checked: (a) 20 pipelined submits with 16 KB of userData while an agent is ready and the
disk is full: the server stays up, every submit is answered (14 or an ack), no reservation is
asked and no EventInvite sent for an interaction that was not acknowledged, and the queue
holds exactly the acknowledged ones; (b) with room again, a submit is acknowledged and offered
without a restart; (c) a RequestAccept answered 14 leaves the interaction Invited (queue
status and the agent's newest reported state), and its retry with room is acknowledged;
(d) a media server's RequestStopProcessing answered 14 changes nothing (the agent is not told,
the interaction is still handled), its retry ends it; (e) an offer whose commit fails is
undone: no EventInvite, the agent's state reported again without it, the interaction waits
in its queue, and it is offered once there is room; (g) a RequestReject, (h) a
RequestPlaceInQueue, (i) the agent's RequestStopProcessing and RequestCompleteAfterWork
answered 14 each leave the interaction as it was (queue status and the agent's newest
reported state), and their retries succeed; (j) the agent's desktop closes while the disk is
full: its invited interaction goes back to the queue, the server stays up, writes that change
once there is room, and offers the interaction to the agent's next login; (f) after kill -9
and a restart, the queue holds exactly what was acknowledged and not ended.

Needs root (mount -t tmpfs); without it the test prints SKIP and passes."""
import errno
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, expect_ack, expect_error, is_state  # noqa: E402

T = "Resources"
A = "1001"
PW = "pw1001"
BLOB = {"blob": "x" * 16000}  # under max-user-data (16384) as compact JSON


def mount_tmpfs(path, size):
    """Mounts a tmpfs of size at path; returns an error text or None."""
    if os.geteuid() != 0:
        return "not root"
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s,mode=0700" % size, "tmpfs",
                        path], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=10)
    if r.returncode != 0:
        return r.stderr.decode("utf-8", "replace").strip() or "mount failed"
    return None


def umount(path):
    subprocess.run(["umount", "-l", path], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                   timeout=10)


class Disk:
    """Fills the file system of dir with one file, and empties it again."""

    def __init__(self, dir_):
        self.path = os.path.join(dir_, "filler")

    def fill(self):
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            for chunk in (1 << 20, 1 << 12, 1 << 9, 1):
                while True:
                    try:
                        if os.write(fd, b"\0" * chunk) < chunk:
                            break
                    except OSError as e:
                        if e.errno != errno.ENOSPC:
                            raise
                        break
        finally:
            os.close(fd)

    def leave(self, nbytes):
        """Frees nbytes of the filled file system again."""
        size = os.path.getsize(self.path)
        os.truncate(self.path, max(0, size - nbytes))

    def free(self):
        if os.path.exists(self.path):
            os.remove(self.path)


class Rig:
    def __init__(self, env, data):
        self.ixn = harness.start_ixn_queues(env, "ixn-f", agents={T + "/" + A: PW},
                                            queues={T + "/chat-in": "chat",
                                                    T + "/chat-out": "chat"},
                                            data_dir=data, invite_timeout=60,
                                            after_work={"chat": 60},
                                            extra_server="idle-timeout = 120")
        self.connect()

    def connect(self):
        self.rep = harness.reporter(self.ixn.port)
        harness.start_reporting(self.rep)
        self.rep.auto_grant()
        self.ms = harness.media_server(self.ixn.port)
        self.version = None
        self.last_state = None
        self.seen = []

    def states(self, wait=0.3):
        """Reads the agent's states that came (recorded in self.seen); keeps the newest and
        its version."""
        for m in self.rep.drain(wait):
            if not is_state(m, A):
                continue
            self.seen.append(m)
            self.version = m.get("version")
            self.last_state = m
        return self.last_state

    def status(self):
        """A status of the agent's newest version with room for one chat."""
        self.states()
        self.rep.send({"message": "EventCurrentAgentStatus", "tenant": T, "agentId": A,
                       "placeId": "P" + A, "version": self.version, "rule": "Test",
                       "loggedIn": True, "dnd": False,
                       "media": {"chat": {"ready": True, "current": 0, "max": 1,
                                          "available": 1}}})

    def queue(self, name="chat-in"):
        return harness.queue_status(self.ms).get((T, name), {})

    def reservations(self):
        return len(self.rep.reservations)


def invites(desk, wait):
    """The EventInvites that came within wait seconds; other messages stay queued."""
    got = desk.drain(wait)
    desk.queue = [m for m in got if m.get("message") != "EventInvite"]
    return [m for m in got if m.get("message") == "EventInvite"]


def pipelined_submits(rig, desk, disk):
    """(a) and (b)."""
    rig.status()
    time.sleep(0.3)
    check(rig.reservations() == 0, "(a) nothing queued: no reservation asked")
    disk.fill()
    items = [(T, "chat", "chat-in", BLOB, None) for _ in range(20)]
    answers = harness.pipeline_submits(rig.ms, items, window=20, timeout=30)
    acked = [a["interactionId"] for a in answers if a.get("message") == "EventAck"]
    failed = [a for a in answers if a.get("message") == "EventError"]
    check(all(a.get("errorCode") == 14 for a in failed),
          "(a) every refused submit got 14 (got %s)" % sorted({a.get("errorCode")
                                                              for a in failed}))
    check(len(acked) + len(failed) == 20, "(a) all 20 submits answered")
    check(len(failed) > 0, "(a) the full disk made commits fail (%d of 20 refused)" % len(failed))
    check(rig.ixn.running(), "(a) the ixnserver is still running")
    got = invites(desk, 1.0)
    check(all(m.get("interactionId") in acked for m in got),
          "(a) no EventInvite for an interaction that was not acknowledged (got %s, acked %s)"
          % ([m.get("interactionId") for m in got], acked))
    check(rig.reservations() <= len(acked),
          "(a) reservations asked only for acknowledged interactions (%d asked, %d acked)"
          % (rig.reservations(), len(acked)))
    q = rig.queue()
    check(q.get("waiting", 0) + q.get("invited", 0) == len(acked),
          "(a) the queue holds exactly the %d acknowledged submits (got %s)" % (len(acked), q))
    check(rig.ixn.running(), "(a) the ixnserver is still running after routing")

    disk.free()
    iid = harness.submit_ok(rig.ms, T, "chat", "chat-in", user_data={"n": 1})
    check(True, "(b) with room again a submit is acknowledged without a restart")
    if not any(m.get("interactionId") == iid for m in got):
        rig.status()
    inv = None
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and inv is None:
        for m in invites(desk, 0.2):
            if m.get("interactionId") == iid or m.get("interactionId") in acked:
                inv = m
        if inv is None:
            rig.status()
    check(inv is not None, "(b) an acknowledged interaction is offered once there is room")
    return acked, inv["interactionId"] if inv else iid


def failed_accept(rig, desk, disk, iid):
    """(c) RequestAccept answered 14 leaves it Invited."""
    rig.states()
    disk.fill()
    expect_error(desk.request({"message": "RequestAccept", "interactionId": iid}), 14,
                 "(c) RequestAccept while the disk is full")
    q = rig.queue()
    check(q.get("invited") == 1 and q.get("handling", 0) == 0,
          "(c) the interaction is still invited (got %s)" % q)
    st = rig.states(0.5)
    check(harness.held(st).get(iid) == ("chat", "Invited"),
          "(c) the agent's newest reported state holds it as Invited (got %s)"
          % harness.held(st))
    disk.free()
    expect_ack(desk.request({"message": "RequestAccept", "interactionId": iid}),
               "(c) the retry of RequestAccept with room")
    q = rig.queue()
    check(q.get("handling") == 1, "(c) now handled (got %s)" % q)


def failed_stop(rig, desk, disk, iid):
    """(d) a media server's stop answered 14 changes nothing."""
    rig.states()
    disk.fill()
    expect_error(rig.ms.request({"message": "RequestStopProcessing", "interactionId": iid}),
                 14, "(d) RequestStopProcessing while the disk is full")
    got = desk.drain(0.5)
    check(not any(m.get("message") in ("EventPartyRemoved", "EventRevoked") for m in got),
          "(d) the agent is not told of a stop that failed")
    q = rig.queue()
    check(q.get("handling") == 1, "(d) still handled (got %s)" % q)
    st = rig.states(0.3)
    check(harness.held(st).get(iid) == ("chat", "Handling"),
          "(d) the agent's newest reported state holds it as Handling (got %s)"
          % harness.held(st))
    disk.free()
    expect_ack(rig.ms.request({"message": "RequestStopProcessing", "interactionId": iid}),
               "(d) the retry of RequestStopProcessing with room")
    desk.next(harness.is_ixn_event("EventPartyRemoved", iid), what="(d) EventPartyRemoved")
    check(True, "(d) the agent is told of the stop that succeeded")


def failed_offer(rig, desk, disk):
    """(e) an offer whose commit fails is undone."""
    rig.states()
    iid = harness.submit_ok(rig.ms, T, "chat", "chat-in", user_data={"n": 2})
    time.sleep(0.3)
    asked = rig.reservations()
    disk.fill()
    rig.status()
    rig.seen = []
    deadline = time.monotonic() + 5
    while rig.reservations() == asked and time.monotonic() < deadline:
        rig.states(0.1)
    check(rig.reservations() == asked + 1, "(e) a reservation is asked for the committed one")
    got = invites(desk, 1.0)
    check(not got, "(e) no EventInvite for an offer whose commit failed (got %s)"
          % [m.get("interactionId") for m in got])
    st = rig.states(0.5)
    seen = rig.seen
    check(any(m.get("cause") == "Invited" for m in seen) and iid not in harness.held(st),
          "(e) the reporting engine saw the offer, then the agent's state without it (got %s)"
          % [(m.get("cause"), harness.held(m)) for m in seen])
    q = rig.queue()
    check(q.get("waiting") == 1 and q.get("invited", 0) == 0,
          "(e) the interaction waits in its queue again (got %s)" % q)
    disk.free()
    inv = None
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and inv is None:
        rig.status()
        for m in invites(desk, 0.3):
            if m.get("interactionId") == iid:
                inv = m
    check(inv is not None, "(e) offered once there is room")
    return iid


def failed_agent_requests(rig, desk, disk, iid):
    """(g), (h), (i) on iid, which is Invited to the agent."""
    def held_as(state, what):
        st = rig.states(0.3)
        check(harness.held(st).get(iid) == ("chat", state),
              "%s: the agent's newest reported state holds it as %s (got %s)"
              % (what, state, harness.held(st)))

    def fails(req, what):
        rig.states()
        disk.fill()
        req = dict(req, interactionId=iid)
        expect_error(desk.request(req), 14, what)

    fails({"message": "RequestReject"}, "(g) RequestReject while the disk is full")
    q = rig.queue()
    check(q.get("invited") == 1 and q.get("waiting", 0) == 0, "(g) still invited (got %s)" % q)
    check(not invites(desk, 0.3), "(g) nothing offered again")
    held_as("Invited", "(g)")
    disk.free()
    expect_ack(desk.request({"message": "RequestAccept", "interactionId": iid}),
               "(g) the interaction can be accepted with room")

    fails({"message": "RequestPlaceInQueue", "queue": "chat-out"},
          "(h) RequestPlaceInQueue while the disk is full")
    q, out = rig.queue(), rig.queue("chat-out")
    check(q.get("handling") == 1 and out.get("waiting", 0) == 0,
          "(h) still handled in chat-in, nothing in chat-out (got %s, %s)" % (q, out))
    held_as("Handling", "(h)")
    disk.free()

    fails({"message": "RequestStopProcessing"},
          "(i) the agent's RequestStopProcessing while the disk is full")
    q = rig.queue()
    check(q.get("handling") == 1 and q.get("afterWork", 0) == 0,
          "(i) still handled (got %s)" % q)
    held_as("Handling", "(i) after the failed stop")
    disk.free()
    ans = expect_ack(desk.request({"message": "RequestStopProcessing", "interactionId": iid}),
                     "(i) the retry of the stop with room")
    fails({"message": "RequestCompleteAfterWork"},
          "(i) RequestCompleteAfterWork while the disk is full")
    q = rig.queue()
    check(q.get("afterWork") == 1, "(i) still in after-work (got %s)" % q)
    held_as("AfterWork", "(i) after the failed completion")
    disk.free()
    expect_ack(desk.request({"message": "RequestCompleteAfterWork", "interactionId": iid}),
               "(i) the retry of the completion with room")
    q = rig.queue()
    check(q.get("afterWork", 0) == 0 and q.get("handling", 0) == 0,
          "(i) ended (got %s)" % q)
    return ans


def desk_gone(rig, desk, disk):
    """(j) the agent's desktop closes while the disk is full."""
    iid = harness.submit_ok(rig.ms, T, "chat", "chat-in", user_data={"n": 3})
    inv = None
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and inv is None:
        rig.status()
        for m in invites(desk, 0.3):
            if m.get("interactionId") == iid:
                inv = m
    check(inv is not None, "(j) a new interaction is offered")
    rig.states()
    disk.fill()
    desk.close()
    time.sleep(1.0)
    check(rig.ixn.running(), "(j) the server is still running")
    q = rig.queue()
    check(q.get("waiting") == 1 and q.get("invited", 0) == 0,
          "(j) the interaction of the agent gone is back in its queue (got %s)" % q)
    disk.free()
    time.sleep(1.5)
    check("store_commit_failed" in rig.ixn.stderr(), "(j) commits failed meanwhile")
    desk = harness.agent(rig.ixn.port, T, A, "P" + A, PW, media={"chat": 1})
    inv = None
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and inv is None:
        rig.status()
        for m in invites(desk, 0.3):
            if m.get("interactionId") == iid:
                inv = m
    check(inv is not None, "(j) offered to the agent's next login")
    return desk


def partial_room(rig, disk):
    """(k) room for a few of 20 pipelined submits: those acknowledged are queued, the
    others are not, and the server stays up."""
    before = rig.queue()
    disk.fill()
    disk.leave(100 * 1024)
    items = [(T, "chat", "chat-in", BLOB, None) for _ in range(20)]
    answers = harness.pipeline_submits(rig.ms, items, window=20, timeout=30)
    acked = [a["interactionId"] for a in answers if a.get("message") == "EventAck"]
    codes = sorted({a.get("errorCode") for a in answers if a.get("message") == "EventError"})
    check(0 < len(acked) < 20 and codes == [14],
          "(k) with 100 kB of room some of 20 submits are acknowledged, the rest get 14 "
          "(acked %d, codes %s)" % (len(acked), codes))
    after = rig.queue()
    check(after.get("waiting", 0) - before.get("waiting", 0) == len(acked),
          "(k) the queue grew by the %d acknowledged (before %s, after %s)"
          % (len(acked), before, after))
    check(rig.ixn.running(), "(k) the server is still running")
    disk.free()
    return acked


def main():
    args = harness.parse_args()
    with harness.Env(args.bin, timeout=120) as env:
        data = env.path("data")
        os.makedirs(data)
        why = mount_tmpfs(data, "4m")
        if why:
            print("SKIP: cannot mount a tmpfs for the data-dir (%s)" % why, flush=True)
            return
        rig = None
        try:
            disk = Disk(data)
            rig = Rig(env, data)
            desk = harness.agent(rig.ixn.port, T, A, "P" + A, PW, media={"chat": 1})
            acked, iid = pipelined_submits(rig, desk, disk)
            failed_accept(rig, desk, disk, iid)
            failed_stop(rig, desk, disk, iid)
            offered = failed_offer(rig, desk, disk)
            failed_agent_requests(rig, desk, disk, offered)
            desk = desk_gone(rig, desk, disk)
            acked_k = partial_room(rig, disk)
            # (f) the store has what was acknowledged and not ended: (a)'s still queued (one
            # of them may be the one offered in (b) and ended in (d)), (b)'s and (j)'s.
            before = rig.queue()
            kept = before.get("waiting", 0) + before.get("invited", 0)
            rig.ixn.kill()
            rig.ixn.restart()
            rig.connect()
            after = rig.queue()
            check(after.get("waiting") == kept and after.get("handling", 0) == 0,
                  "(f) after kill -9 and a restart the queue holds the %d acknowledged ones "
                  "(got %s)" % (kept, after))
            check(kept == len(acked) + 1 + len(acked_k),
                  "(f) %d acknowledged in (a), one in (b), one in (e), one in (j), two ended, "
                  "%d in (k) (got %d)" % (len(acked), len(acked_k), kept))
        finally:
            if rig is not None and rig.ixn.running():
                rig.ixn.kill()
                rig.ixn.wait()
            umount(data)


if __name__ == "__main__":
    main()
