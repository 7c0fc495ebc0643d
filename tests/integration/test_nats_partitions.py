#!/usr/bin/env python3
"""Two partitions share one status bucket on NATS: each partition's primary (here a
one-member pair per partition, [server] partition = 0/2 and 1/2, lease keys of their own)
mirrors its own agents' statuses into cc_status, and its resynchronisation (at every NATS
connection) deletes only the stale keys of its own agents, never the other partition's.

Checked: the bucket holds the union of both StatClient snapshots, each agent once, and
keeps holding it after a NATS restart (both partitions resynchronise); an agent that logs
out while NATS is away has its key deleted by its own partition."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import ok, check  # noqa: E402
from test_nats_status import (free_port, start_nats, ccwatch, stat_snapshot,  # noqa: E402
                              wait_log)
from test_stat_partition import owner  # noqa: E402

RULES = 'rule "Chat2" { chat = chat >= 2; }\nassign tenant "Resources" "Chat2";\n'
AGENTS = {"Resources/%d" % (1001 + i): "pw%d" % i for i in range(8)}


def start_partition(env, index, ixn, url):
    extra = "\n".join(["[nats]", "url = %s" % url, "member = p%d-a" % index,
                       "key = stat-p%d" % index, "lease-ms = 1000"])
    return env.start_stat("stat-p%d" % index, ixns=[ixn], rules=RULES, extra=extra,
                          extra_server="partition = %d/2" % index)


def union_converges(env, url, parts, what, timeout=15.0):
    deadline = time.monotonic() + timeout
    while True:
        want = {}
        for p in parts:
            want.update(stat_snapshot(p.port))
        got = ccwatch(env, url)
        if got == want and len(want) == len(AGENTS):
            check(True, "%s: the bucket holds both partitions' agents (%d)" % (what, len(got)))
            return got
        if time.monotonic() > deadline:
            check(False, "%s: bucket %s, partitions %s" % (what, sorted(got), sorted(want)))
            raise harness.Failure(what)
        time.sleep(0.3)


def main():
    args = harness.parse_args()
    with harness.Env(args.bin, timeout=120) as env:
        nats_port = free_port()
        url = "nats://127.0.0.1:%d" % nats_port
        nats = start_nats(env, nats_port)
        ixn = env.start_ixn("ixn-a", agents=AGENTS)
        parts = [start_partition(env, i, ixn, url) for i in range(2)]
        for i, p in enumerate(parts):
            wait_log(p, r"event=role role=primary", "partition %d's member becomes primary" % i)
        mine = {i: sorted(k for k in AGENTS if owner(*k.split("/", 1), 2) == i) for i in range(2)}
        ok(mine[0] and mine[1], "both partitions own agents (%s)" % mine)
        desks = {}
        for key, pw in AGENTS.items():
            tenant, agent_id = key.split("/", 1)
            desks[key] = harness.agent(ixn.port, tenant, agent_id, "P-" + agent_id, pw,
                                       media={"chat": 1})
        union_converges(env, url, parts, "after the logins")
        time.sleep(2)
        union_converges(env, url, parts, "2 s later (both resynchronised)")

        # NATS away and back: both partitions resynchronise against the same bucket; an
        # agent of partition 1 logs out meanwhile, and only its key goes.
        gone = mine[1][0]
        nats.kill()
        nats.wait()
        desks.pop(gone).close()
        time.sleep(0.5)
        nats = start_nats(env, nats_port)
        for i, p in enumerate(parts):
            wait_log(p, r"event=status_stream_resync", "partition %d resynchronises" % i,
                     timeout=15)
        deadline = time.monotonic() + 15
        while True:
            want = {}
            for p in parts:
                want.update(stat_snapshot(p.port))
            got = ccwatch(env, url)
            if got == want and len(got) == len(AGENTS) - 1:
                break
            if time.monotonic() > deadline:
                check(False, "after the NATS restart: bucket %s, partitions %s"
                      % (sorted(got), sorted(want)))
                raise harness.Failure("converge")
            time.sleep(0.3)
        t, a = gone.split("/", 1)
        check((t, a) not in got, "the logged-out agent's key is gone, the %d others stay"
              % len(got))
    print("PASS test_nats_partitions")


if __name__ == "__main__":
    main()
