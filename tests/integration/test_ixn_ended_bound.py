#!/usr/bin/env python3
"""Ended interactions in memory are bounded (issue 9, item 6): [server] max-ended = 3 keeps
the three newest ended interactions in memory and forgets older ones there (the store keeps
them for keep-ended), and an ended interaction's userData is dropped from memory.

Checked: (a) at the boundary: with 3 ended, the oldest is still known (its stop gets 10,
InvalidState); a 4th ended makes the server forget the oldest (its stop gets 9,
UnknownInteraction) while the 2nd is still known; (b) externalId de-duplication holds across
the bound: a repeated externalId of the forgotten one, of one still in memory, and (after a
restart, which loads only the newest max-ended) of both again answer the first interaction's
id with duplicate true; (c) a media server that submits 16 KB of userData and stops it, 1,500
times, pipelined, grows the server's resident memory (VmRSS of /proc/PID/status) by less than
6 MB after a warm-up (keeping every userData would take 24 MB)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, expect_ack, expect_error  # noqa: E402

T = "Resources"
Q = "chat-in"
BLOB = {"blob": "y" * 16000}
LOOPS = 1500
WARMUP = 300
MAX_GROWTH_KB = 6 * 1024


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise harness.Failure("no VmRSS for pid %d" % pid)


def stop(ms, iid):
    return ms.request({"message": "RequestStopProcessing", "interactionId": iid})


def submit_and_stop(ms, n, user_data, prefix, chunk=50):
    """n submits with user_data, each stopped: chunk submits pipelined, then their stops
    pipelined, and so on; every answer must be an ack."""
    for first in range(0, n, chunk):
        items = [(T, "chat", Q, user_data, "%s-%d" % (prefix, i))
                 for i in range(first, min(n, first + chunk))]
        answers = harness.pipeline_submits(ms, items, window=chunk, timeout=60)
        bad = [a for a in answers if a.get("message") != "EventAck"]
        if bad:
            raise harness.Failure("a submit was refused: %s" % bad[:2])
        refs = {}
        lines = []
        for a in answers:
            ref = ms.next_ref()
            refs[ref] = a["interactionId"]
            lines.append('{"message":"RequestStopProcessing","interactionId":"%s",'
                         '"referenceId":%d}\n' % (a["interactionId"], ref))
        ms.send_raw("".join(lines))
        while refs:
            m = ms.next(lambda x: x.get("referenceId") in refs, timeout=30, what="stop answer")
            if m.get("message") != "EventAck":
                raise harness.Failure("a stop was refused: %s" % m)
            refs.pop(m["referenceId"])


def main():
    args = harness.parse_args()
    # Under AddressSanitizer freed memory sits in a quarantine (256 MB) before it is used
    # again, which would look like growth; without one it is reused as with malloc.
    opts = os.environ.get("ASAN_OPTIONS", "")
    os.environ["ASAN_OPTIONS"] = (opts + ":" if opts else "") + "quarantine_size_mb=0"
    with harness.Env(args.bin, timeout=150) as env:
        ixn = harness.start_ixn_queues(env, "ixn-e", queues={T + "/" + Q: "chat"},
                                       extra_server="max-ended = 3")
        ms = harness.media_server(ixn.port)

        # (a) the boundary
        ids = []
        for i in range(3):
            iid = harness.submit_ok(ms, T, "chat", Q, external_id="ext-%d" % i)
            expect_ack(stop(ms, iid), "(a) stop of ended interaction %d" % (i + 1))
            ids.append(iid)
        expect_error(stop(ms, ids[0]), 10, "(a) 3 ended (max-ended 3): the oldest is still "
                     "known", ref=True)
        iid = harness.submit_ok(ms, T, "chat", Q, external_id="ext-3")
        expect_ack(stop(ms, iid), "(a) a 4th ended")
        ids.append(iid)
        expect_error(stop(ms, ids[0]), 9, "(a) 4 ended: the oldest is forgotten in memory",
                     ref=True)
        expect_error(stop(ms, ids[1]), 10, "(a) 4 ended: the second is still known", ref=True)

        # (b) externalId across the bound
        for i in (0, 3):
            ans = harness.submit(ms, T, "chat", Q, external_id="ext-%d" % i)
            check(ans.get("interactionId") == ids[i] and ans.get("duplicate") is True,
                  "(b) externalId ext-%d repeated: the first id %s, duplicate (got %s)"
                  % (i, ids[i], ans))
        ixn.restart()
        ms = harness.media_server(ixn.port)
        expect_error(stop(ms, ids[0]), 9, "(b) after a restart the oldest is not loaded",
                     ref=True)
        for i in (0, 1, 3):
            ans = harness.submit(ms, T, "chat", Q, external_id="ext-%d" % i)
            check(ans.get("interactionId") == ids[i] and ans.get("duplicate") is True,
                  "(b) after a restart externalId ext-%d still answers %s (got %s)"
                  % (i, ids[i], ans))

        # (c) memory under a submit-and-stop loop with 16 KB of userData
        submit_and_stop(ms, WARMUP, BLOB, "warm")
        before = rss_kb(ixn.pid)
        submit_and_stop(ms, LOOPS, BLOB, "loop")
        after = rss_kb(ixn.pid)
        check(after - before < MAX_GROWTH_KB,
              "(c) %d submits of 16 KB userData, each stopped: RSS %d kB -> %d kB, growth "
              "under %d kB" % (LOOPS, before, after, MAX_GROWTH_KB))
        check(ixn.running(), "(c) the ixnserver is still running")


if __name__ == "__main__":
    main()
