#!/usr/bin/env python3
"""A stored interaction whose queue was removed from the configuration (issue 9, item 9):
the server skips it at start (it stays in the store untouched), and a repeated submit of its
externalId must not make commits fail. Before the fix the repeated externalId went into the
batch as a new row, the store's unique index refused the whole transaction, and every
unrelated submit in the same commit got 14, again and again.

Checked: (a) 20 pipelined submits to a configured queue, the 10th with the externalId of the
skipped interaction, are all acknowledged: that one with the skipped interaction's id and
duplicate true, the others with new ids; (b) the same once more (nothing cached by luck);
(c) after a restart the 38 new ones are all queued; (d) with the queue configured again the
skipped interaction is back in it."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check  # noqa: E402

T = "Resources"
EXT = "order-4711"


def start(env, data, with_old):
    queues = {T + "/chat-in": "chat"}
    if with_old:
        queues[T + "/old-in"] = "chat"
    return harness.start_ixn_queues(env, "ixn-s", queues=queues, data_dir=data)


def burst(ms, what, old_id):
    items = [(T, "chat", "chat-in", {"n": i}, EXT if i == 9 else "%s-%d" % (what, i))
             for i in range(20)]
    answers = harness.pipeline_submits(ms, items, window=20, timeout=30)
    bad = [a for a in answers if a.get("message") != "EventAck"]
    check(not bad, "%s all 20 pipelined submits acknowledged (refused: %s)"
          % (what, [(a.get("errorCode"), a.get("errorDescription")) for a in bad][:3]))
    dup = answers[9]
    check(dup.get("interactionId") == old_id and dup.get("duplicate") is True,
          "%s the repeated externalId answers the skipped interaction %s, duplicate (got %s)"
          % (what, old_id, dup))
    fresh = [a.get("interactionId") for i, a in enumerate(answers) if i != 9]
    check(len(set(fresh)) == 19 and old_id not in fresh, "%s the other 19 got new ids" % what)


def main():
    args = harness.parse_args()
    with harness.Env(args.bin, timeout=90) as env:
        data = env.path("ixn-s-data")
        ixn = start(env, data, True)
        ms = harness.media_server(ixn.port)
        old_id = harness.submit_ok(ms, T, "chat", "old-in", external_id=EXT)
        ixn.kill()

        ixn = start(env, data, False)
        check("stored_interaction_skipped" in ixn.stderr(),
              "the interaction of the removed queue is skipped at start")
        ms = harness.media_server(ixn.port)
        burst(ms, "(a)", old_id)
        burst(ms, "(b)", old_id)
        ixn.kill()

        ixn = start(env, data, False)
        ms = harness.media_server(ixn.port)
        q = harness.queue_status(ms).get((T, "chat-in"), {})
        check(q.get("waiting") == 38, "(c) after a restart the 38 new ones are queued (got %s)"
              % q)
        ixn.kill()

        ixn = start(env, data, True)
        ms = harness.media_server(ixn.port)
        q = harness.queue_status(ms).get((T, "old-in"), {})
        check(q.get("waiting") == 1, "(d) with its queue configured again the skipped one is "
              "back (got %s)" % q)


if __name__ == "__main__":
    main()
