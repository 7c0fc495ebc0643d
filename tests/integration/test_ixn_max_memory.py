"""max-memory on the submit side (docs/operations.md "Process-wide cap"): the userData of
the interactions an ixnserver holds counts towards the process total, and once the total
is over max-memory a new submit gets 12 (LimitExceeded) and changes nothing, while a
duplicate externalId is still answered. Ending interactions frees their userData, and
submits are taken again."""

import harness
from harness import check

T = "Resources"


def main():
    args = harness.parse_args()
    with harness.Env(args.bin, timeout=90) as env:
        ixn = harness.start_ixn_queues(env, "ixn-a", agents={}, queues={T + "/chat-in": "chat"},
                                       extra_server="max-memory = 1m\nmax-user-data = 16384")
        ms = harness.media_server(ixn.port)
        pad = "x" * 16000
        ids, refused = [], None
        for i in range(200):
            ans = harness.submit(ms, T, "chat", "chat-in", user_data={"pad": pad},
                                 external_id="e%d" % i)
            if ans.get("message") == "EventAck":
                ids.append(ans["interactionId"])
                continue
            refused = ans
            break
        check(refused is not None and refused.get("errorCode") == 12,
              "a submit past max-memory gets 12 (after %d accepted; got %s)"
              % (len(ids), refused))
        check(30 <= len(ids) <= 70,
              "about 1 MiB of userData accepted first: %d submits of 16 KB" % len(ids))
        check("max-memory" in (refused or {}).get("errorDescription", ""),
              "the description names max-memory (got %r)"
              % (refused or {}).get("errorDescription"))
        before = harness.queue_status(ms).get((T, "chat-in"), {}).get("waiting")
        check(before == len(ids), "the refused submit changed nothing: %s waiting" % before)
        dup = harness.submit(ms, T, "chat", "chat-in", user_data={"pad": pad}, external_id="e0")
        check(dup.get("message") == "EventAck" and dup.get("duplicate") is True and
              dup.get("interactionId") == ids[0],
              "a duplicate externalId is still answered with the first id (got %s)" % dup)
        for iid in ids:
            harness.expect_ack(ms.request({"message": "RequestStopProcessing",
                                           "interactionId": iid}), "stop %s" % iid)
        again = harness.submit(ms, T, "chat", "chat-in", user_data={"pad": pad},
                               external_id="after")
        check(again.get("message") == "EventAck",
              "once the interactions ended, submits are taken again (got %s)" % again)
        harness.alive(ixn)
    print("PASS test_ixn_max_memory")


if __name__ == "__main__":
    main()
