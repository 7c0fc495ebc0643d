#!/usr/bin/env python3
"""Seed scenario (reporting engine connects): agents already logged in to an ixnserver (one
also to a second one), then a statserver starts, takes the snapshots and every desktop
receives its status with the vector of capacity-rules.md and the version of its newest state
on that server; a change then gives a new status."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import (  # noqa: E402
    V, ok, act, wait_status, expect_status, no_status, alive, Observer)


RULES = harness.BLENDED_RULES + """rule "ChatOnly" { chat = chat >= 4; }
rule "Mail" { chat = chat >= 1; email = email >= 2; }
assign agent  "Resources" "1001" "Blended";
assign place  "Resources" "P-12" "ChatOnly";
assign tenant "Resources"        "Mail";
"""

# (tenant, agent, place, login media, expected rule, expected vector, dnd)
AGENTS = [
    ("Resources", "1001", "P1001", {"voice": 1, "chat": 1, "email": 1}, "Blended",
     V(voice="R 0 1 1", chat="R 0 3 3", email="R 0 2 2"), False),
    ("Resources", "1002", "P-12", {"chat": 1, "email": 1}, "ChatOnly",
     V(chat="R 0 4 4", email="R 0 0 0"), False),
    ("Resources", "1003", "P1003", {"chat": 1, "email": 0}, "Mail",
     V(chat="R 0 1 1", email="NR 0 2 0"), False),
    ("Resources", "1004", "P1004", {"email": 1}, "Mail",
     V(email="NR 0 2 0"), True),
    ("Sales", "2001", "P2001", {"voice": 1, "chat": 1}, "Default",
     V(voice="R 0 1 1", chat="R 0 0 0"), False),
]


def main():
    args = harness.parse_args()
    with harness.Env(args.bin, timeout=60) as env:
        passwords = {"%s/%s" % (t, a): "pw-%s" % a for t, a, *_ in AGENTS}
        passwords["Resources/1005"] = "pw-1005"
        ixn = env.start_ixn("ixn-a", agents=passwords)
        ixb = env.start_ixn("ixn-b", agents=passwords)

        # Agents log in (and one goes DND) while no reporting engine is connected.
        desks = {}
        for t, a, p, media, *_ in AGENTS:
            desks[(t, a)] = harness.agent(ixn.port, t, a, p, "pw-%s" % a, media=media)
        act(desks[("Resources", "1004")], {"message": "RequestDoNotDisturbOn"}, "1004 DND on")
        # 1005 is logged in to both servers: chat on ixn-a, email on ixn-b.
        d5a = harness.agent(ixn.port, "Resources", "1005", "P1005", "pw-1005", media={"chat": 1})
        d5b = harness.agent(ixb.port, "Resources", "1005", "P1005", "pw-1005",
                            media={"email": 1})

        obs = Observer(ixn.port, "observer")
        obs_b = Observer(ixb.port, "observer on ixn-b")
        n = len(AGENTS) + 1
        ok(obs.count == n, "snapshot done count %d (got %s)" % (n, obs.count))
        ok(len(obs.snapshot) == n, "one snapshot event per logged-in agent")
        ok(obs_b.count == 1 and ("Resources", "1005") in obs_b.snapshot,
           "ixn-b's snapshot has 1005 alone (got %s)" % obs_b.count)
        for t, a, *_ in AGENTS:
            ok((t, a) in obs.snapshot, "snapshot has %s/%s" % (t, a))
        ok(obs.snapshot[("Resources", "1004")].get("dnd") is True, "snapshot shows 1004 in DND")

        for key, desk in list(desks.items()) + [(("Resources", "1005"), d5a)]:
            no_status(desk, "%s/%s: no status before a statserver runs" % key, wait=0.1)

        stat = env.start_stat("stat-1", ixns=[ixn, ixb], rules=RULES)

        # Every desktop gets exactly one status, computed from the snapshot.
        for t, a, p, media, rule, want, dnd in AGENTS:
            what = "%s/%s status after snapshot" % (t, a)
            m = expect_status(desks[(t, a)], want, what, timeout=5,
                              version=obs.version[(t, a)], dnd=dnd, rule=rule)
            ok(m.get("tenant") == t and m.get("agentId") == a and m.get("placeId") == p,
               "%s: names the agent and place" % what)
            ok(m.get("loggedIn") is True, "%s: loggedIn true" % what)
            ok(m.get("referenceId") is None, "%s: a status carries no referenceId" % what)
        # The agent on both servers ends with the merged status on each, carrying that
        # server's version (an earlier status may come from the first snapshot alone).
        both = V(chat="R 0 1 1", email="R 0 2 2")
        m = wait_status(d5a, both, "1005 on ixn-a: merged status",
                        version=obs.version[("Resources", "1005")])
        ok(m.get("rule") == "Mail", "1005: tenant rule Mail (got %s)" % m.get("rule"))
        wait_status(d5b, both, "1005 on ixn-b: merged status",
                    version=obs_b.version[("Resources", "1005")])
        time.sleep(0.3)
        for key, desk in desks.items():
            no_status(desk, "%s/%s: one status per snapshot agent, not two" % key, wait=0.05)
        no_status(d5a, "1005 on ixn-a: nothing after the merged status", wait=0.05)
        no_status(d5b, "1005 on ixn-b: nothing after the merged status", wait=0.05)

        # A change gives that agent a new status with the new version, nobody else one.
        d1001 = desks[("Resources", "1001")]
        old = obs.version[("Resources", "1001")]
        act(d1001, {"message": "RequestNotReadyForMedia", "media": "chat",
                    "reason": {"code": 2, "description": "Lunch"}}, "1001 notready chat")
        v = obs.state("Resources", "1001", "NotReadyForMedia")
        ok(isinstance(v, int) and v > old, "new state version %s > %s" % (v, old))
        expect_status(d1001, V(voice="R 0 1 1", chat="NR 0 3 0", email="R 0 2 2"),
                      "1001 after notready chat", version=v, dnd=False, rule="Blended")
        for key, desk in list(desks.items()) + [(("Resources", "1005"), d5a)]:
            if key != ("Resources", "1001"):
                no_status(desk, "%s/%s: unaffected by 1001's change" % key, wait=0.05)

        # Leaving DND brings 1004's email back to ready.
        d1004 = desks[("Resources", "1004")]
        act(d1004, {"message": "RequestDoNotDisturbOff"}, "1004 DND off")
        v = obs.state("Resources", "1004", "DoNotDisturbOff")
        expect_status(d1004, V(email="R 0 2 2"), "1004 after DND off", version=v, dnd=False)
        alive(ixn, ixb, stat)
    print("PASS test_seed")


if __name__ == "__main__":
    main()
