#!/usr/bin/env python3
"""Statserver restart: agents logged in; the statserver is killed, agent states change
meanwhile, and after its restart every desktop gets a status rebuilt from fresh snapshots
that matches the current state."""
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import (  # noqa: E402
    V, ok, act, wait_status, expect_status, no_status, alive, Observer)


RULES = harness.BLENDED_TENANT_RULES

T = "Resources"


def main():
    args = harness.parse_args()
    with harness.Env(args.bin, timeout=60) as env:
        agents = {"Resources/%s" % a: "pw%s" % a for a in ("1001", "1002", "1003", "1004")}
        ixa = env.start_ixn("ixn-a", agents=agents)
        ixb = env.start_ixn("ixn-b", agents=agents)
        stat = env.start_stat("stat-1", ixns=[ixa, ixb], rules=RULES)

        d1 = harness.agent(ixa.port, T, "1001", "P1001", "pw1001", media={"chat": 1, "email": 1})
        d2 = harness.agent(ixa.port, T, "1002", "P1002", "pw1002", media={"voice": 1, "chat": 1})
        d4a = harness.agent(ixa.port, T, "1004", "P1004", "pw1004", media={"chat": 1})
        d4b = harness.agent(ixb.port, T, "1004", "P1004", "pw1004", media={"email": 1})
        wait_status(d1, V(chat="R 0 3 3", email="R 0 2 2"), "1001: status before the kill")
        wait_status(d2, V(voice="R 0 1 1", chat="R 0 3 3"), "1002: status before the kill")
        wait_status(d4a, V(chat="R 0 3 3", email="R 0 2 2"), "1004 on A: merged status")
        wait_status(d4b, V(chat="R 0 3 3", email="R 0 2 2"), "1004 on B: merged status")

        stat.kill(signal.SIGKILL)
        stat.wait()
        ok(True, "statserver killed")

        # Changes while no statserver runs: nobody gets a status.
        act(d1, {"message": "RequestNotReadyForMedia", "media": "chat",
                 "reason": {"code": 2, "description": "Lunch"}}, "1001 notready chat")
        act(d2, {"message": "RequestDoNotDisturbOn"}, "1002 DND on")
        d3 = harness.agent(ixa.port, T, "1003", "P1003", "pw1003", media={"email": 1})
        act(d4b, {"message": "RequestAgentLogout"}, "1004 logout on B")
        act(d4a, {"message": "RequestAddMedia", "media": "voice", "ready": 1},
            "1004 add voice on A")
        for d, who in ((d1, "1001"), (d2, "1002"), (d3, "1003"), (d4a, "1004 on A")):
            no_status(d, "%s: no status while no statserver runs" % who, wait=0.1)

        obs_a = Observer(ixa.port, "observer on ixn-a")
        stat.restart()
        ok(True, "statserver restarted")

        # Every desktop gets one status rebuilt from the fresh snapshots.
        expect_status(d1, V(chat="NR 0 3 0", email="R 0 2 2"), "1001 after restart",
                      version=obs_a.version[(T, "1001")])
        expect_status(d2, V(voice="NR 0 1 0", chat="NR 0 3 0"), "1002 after restart",
                      version=obs_a.version[(T, "1002")], dnd=True)
        expect_status(d3, V(email="R 0 2 2"), "1003 after restart",
                      version=obs_a.version[(T, "1003")])
        expect_status(d4a, V(voice="R 0 1 1", chat="R 0 3 3"), "1004 on A after restart",
                      version=obs_a.version[(T, "1004")])
        no_status(d4b, "1004's B desktop (logged out) gets nothing", wait=0.3)

        # And the restarted statserver follows live changes.
        act(d2, {"message": "RequestDoNotDisturbOff"}, "1002 DND off")
        v = obs_a.state(T, "1002", "DoNotDisturbOff")
        expect_status(d2, V(voice="R 0 1 1", chat="R 0 3 3"), "1002 after DND off", version=v,
                      dnd=False)
        sc = harness.statclient(stat.port, "wallboard-secret")
        ans = sc.request({"message": "RequestServerList"})
        ok(ans.get("message") == "EventAck", "StatClient: server list acked")
        servers = {s.get("name"): s for s in ans.get("servers") or []}
        ok(servers.get("ixn-a", {}).get("agents") == 4, "server list: ixn-a has 4 agents (got %s)"
           % servers.get("ixn-a"))
        ok(servers.get("ixn-b", {}).get("agents") == 0, "server list: ixn-b has 0 agents (got %s)"
           % servers.get("ixn-b"))
        alive(ixa, ixb, stat)
    print("PASS test_stat_restart")


if __name__ == "__main__":
    main()
