#!/usr/bin/env python3
"""Routing under load (issue #4, protocol.md §7): 2,000 interactions (half chat over two
queues, a quarter email, a quarter voice) submitted pipelined as fast as the ixnserver
takes them, to 50 agents with mixed rules (Blended, ChatOnly, the built-in Default, Total3
with the `total` term). Agents accept every invite at once and stop processing after a
random 20-200 ms. At every EventInvite the test evaluates the agent's rule in Python on
what the agent holds (invited or handling, until the EventAck of its stop) and at every
status checks current <= max per media: no agent ever holds more than its rule allows.
Every interaction is acknowledged with a distinct id, invited exactly once and handled
exactly once (none lost, none twice) within the time bound, each agent receives from a
queue in submission order, and the queues end empty."""
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check  # noqa: E402

N_AGENTS = 50
N_IXN = 2000
BOUND = 90.0        # seconds from the first submit until everything is handled


def main():
    args = harness.parse_args()
    with harness.Env(args.bin, timeout=240) as env:
        agents, rules = harness.load_agents(N_AGENTS)
        ixn = harness.start_ixn_queues(env, "ixn-a",
                                       agents={k: v[0] for k, v in agents.items()},
                                       queues=harness.LOAD_QUEUES, invite_timeout=60,
                                       extra_server="idle-timeout = 300")
        stat = env.start_stat("stat-1", [ixn], rules=rules, extra_server="idle-timeout = 300")
        # A wallboard subscribed to every status the statserver computes: each is checked
        # against the agent's rule too (the desktops only see those of their agent).
        wall = harness.statclient(stat.port)
        harness.expect_ack(wall.request({"message": "RequestSubscribeAgentStatus"}),
                           "wallboard subscribed")
        reach = {}
        for key, (pw, rule) in agents.items():
            reach[key.split("/")[1]] = harness.reachable_counts(harness.LOAD_CONDS[rule],
                                                                ("voice", "chat", "email"))
        wall_seen = [0]
        wall_bad = []

        def poll_wall():
            wall._read_some(time.monotonic() + 0.001)
            for m in wall.queue:
                if not harness.is_status(m) or m.get("agentId") not in reach:
                    continue
                wall_seen[0] += 1
                media = m.get("media") or {}
                counts = tuple((media.get(x) or {}).get("current", 0)
                               for x in ("voice", "chat", "email"))
                if counts not in reach[m["agentId"]] and len(wall_bad) < 10:
                    wall_bad.append("%s at (voice, chat, email) = %s" % (m["agentId"], counts))
            wall.queue = []

        def tick():
            drv.step(0)
            poll_wall()
        drv = harness.LoadDriver(hold_min=0.02, hold_max=0.2)
        for key, (pw, rule) in agents.items():
            a = harness.LoadAgent(drv, key, ixn.port, pw, harness.LOAD_CONDS[rule],
                                  ("voice", "chat", "email"))
            a.rule_name = rule
            a.connect()
            drv.add(a)
        deadline = time.monotonic() + 15
        while any(a.statuses == 0 for a in drv.agents) and time.monotonic() < deadline:
            drv.step(0.05)
        check(all(a.statuses > 0 for a in drv.agents),
              "all %d agents logged in and got a status" % N_AGENTS)

        ms = harness.media_server(ixn.port)
        items = harness.load_items(N_IXN, "load")
        t0 = time.monotonic()
        answers = harness.pipeline_submits(ms, items, tick=tick)
        t_sub = time.monotonic() - t0
        acked = [a for a in answers if a.get("message") == "EventAck"]
        check(len(acked) == N_IXN, "%d submits acknowledged in %.2fs (errors: %s)"
              % (len(acked), t_sub, [a for a in answers if a.get("message") != "EventAck"][:3]))
        ids = [a.get("interactionId") for a in acked]
        check(len(set(ids)) == N_IXN, "%d distinct interactionIds" % len(set(ids)))
        check(all(re.match(harness.IXN_ID_RE % "ixn-a", str(i)) for i in ids),
              "every interactionId has the form ixn-a:NNNNNNNNN")
        check(not any(a.get("duplicate") for a in acked), "no submit marked duplicate")
        queue_of = {ids[i]: items[i][2] for i in range(N_IXN)}
        order_of = {ids[i]: i for i in range(N_IXN)}

        idset = set(ids)
        while time.monotonic() - t0 < BOUND:
            drv.step(0.01)
            poll_wall()
            if len(drv.done) >= N_IXN and not drv.busy():
                break
            if drv.errors or len(drv.violations) >= 10:
                break
        took = time.monotonic() - t0
        for what in drv.violations[:10]:
            print("  violation: %s" % what)
        for what in drv.errors[:10]:
            print("  error: %s" % what)
        check(not drv.errors, "no error answers, seq gaps or unexpected events (%d)"
              % len(drv.errors))
        check(not drv.violations, "no agent ever held more than its rule allows "
              "(%d invites, every status checked)" % sum(drv.invited.values()))
        poll_wall()
        check(wall_seen[0] > N_IXN and not wall_bad,
              "every one of the %d statuses the statserver published is within the rule %s"
              % (wall_seen[0], wall_bad))
        done = set(drv.done)
        check(done == idset, "every interaction handled within %.0fs (%d of %d, %d unknown)"
              % (BOUND, len(done & idset), N_IXN, len(done - idset)))
        twice = [i for i, n in drv.invited.items() if n != 1]
        check(not twice, "every interaction invited exactly once (%d otherwise: %s)"
              % (len(twice), twice[:5]))
        check(all(n == 1 for n in drv.done.values()), "none handled twice")
        print("info: %d interactions end to end in %.2fs (%.0f/s), submits %.2fs"
              % (N_IXN, took, N_IXN / took, t_sub), flush=True)

        unordered = harness.order_problems(drv, order_of, queue_of)
        check(not unordered, "each agent got each queue's interactions oldest first (%s)"
              % unordered[:3])

        by_rule = {}
        for a in drv.agents:
            by_rule.setdefault(a.rule_name, []).append(drv.max_hold[a.key])
        print("info: most held at once per rule: %s"
              % {r: max(v) for r, v in by_rule.items()}, flush=True)
        check(max(by_rule["ChatOnly"]) == 4, "ChatOnly agents were filled up to 4 chats")
        check(max(by_rule["Default"]) == 1, "Default agents held one call at a time")
        served = sum(1 for a in drv.agents if a.invites)
        check(served == N_AGENTS, "every agent was offered work (%d of %d)" % (served, N_AGENTS))

        qs = harness.queue_status(ms)
        check(all(q.get("waiting") == 0 and q.get("invited") == 0 and q.get("handling") == 0
                  for q in qs.values()), "every queue ends empty (%s)" % list(qs.values()))
        drv.close()
        check(ixn.running(), "ixnserver still runs")


if __name__ == "__main__":
    main()
