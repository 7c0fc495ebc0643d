#!/usr/bin/env python3
"""Failover of an interaction server: an agent logged in to ixn-a and ixn-b; ixn-a is killed
with SIGKILL and within a second ixn-b's desktop gets the status without ixn-a's media; ixn-a
restarts on the same port, the agent logs in again and the statserver resyncs from a fresh
snapshot so both servers get the merged status again."""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import (  # noqa: E402
    is_status, V, ok, act, wait_status, expect_status, alive, Observer)


RULES = harness.BLENDED_TENANT_RULES

T, A = "Resources", "1001"
ALL = V(voice="R 0 1 1", chat="R 0 3 3", email="R 0 2 2")


def agent_status(sc, tenant, agent_id):
    """Asks the statserver's StatClient port for one agent's status; returns it."""
    ans = sc.request({"message": "RequestAgentStatus", "tenant": tenant, "agentId": agent_id})
    ok(ans.get("message") == "EventAck",
       "StatClient: RequestAgentStatus %s/%s acked" % (tenant, agent_id))
    return sc.next(lambda m: is_status(m) and m.get("agentId") == agent_id, timeout=5)


def main():
    args = harness.parse_args()
    with harness.Env(args.bin, timeout=60) as env:
        agents = {"Resources/1001": "pw1001", "Resources/1002": "pw1002"}
        ixa = env.start_ixn("ixn-a", agents=agents)
        ixb = env.start_ixn("ixn-b", agents=agents)
        stat = env.start_stat("stat-1", ixns=[ixa, ixb], rules=RULES)
        obs_b = Observer(ixb.port, "observer on ixn-b")

        da = harness.agent(ixa.port, T, A, "P1001", "pw1001", media={"chat": 1})
        db = harness.agent(ixb.port, T, A, "P1001", "pw1001", media={"email": 1, "voice": 1})
        only_a = harness.agent(ixa.port, T, "1002", "P1002", "pw1002", media={"chat": 1})
        vb = obs_b.state(T, A, "AgentLogin")
        wait_status(da, ALL, "A: merged status before the crash")
        wait_status(db, ALL, "B: merged status before the crash", version=vb)
        wait_status(only_a, V(chat="R 0 3 3"), "A: 1002's status before the crash")
        obs_a0 = Observer(ixa.port, "observer on ixn-a")
        va_old = obs_a0.version.get((T, A))
        sc = harness.statclient(stat.port, "wallboard-secret")
        m = agent_status(sc, T, "1002")
        ok(m.get("loggedIn") is True, "StatClient: 1002 known while ixn-a is up")

        # kill -9 A: within a second B's desktop has the status without A's media.
        t0 = time.monotonic()
        ixa.kill(signal.SIGKILL)
        ixa.wait()
        m = wait_status(db, V(voice="R 0 1 1", email="R 0 2 2"),
                        "B: status without A's chat after A died", timeout=1.0, version=vb)
        took = time.monotonic() - t0
        ok(took <= 1.0, "B: status arrived %.3fs after the kill" % took)
        ok(m.get("loggedIn") is True, "B: agent still logged in on B")
        m = agent_status(sc, T, "1002")
        ok(m.get("loggedIn") is False and not m.get("media"),
           "StatClient: 1002 unknown once its only server is gone (got %s)" % m)
        ok(da.closed(timeout=2), "A's desktop connection was closed by the crash")

        # Restart A on the same port; the agent logs in again there. The statserver
        # reconnects (backoff 100 ms .. 5 s), resyncs from a fresh snapshot and both
        # servers get the merged status again.
        ixa.restart()
        deadline = time.monotonic() + 8
        da2 = None
        while da2 is None:
            try:
                da2 = harness.agent(ixa.port, T, A, "P1001", "pw1001", media={"chat": 1})
            except Exception as e:
                if time.monotonic() > deadline:
                    harness.check(False, "login again on restarted ixn-a (%s)" % e)
                    raise
                time.sleep(0.1)
        ok(True, "agent logged in again on the restarted ixn-a")
        obs_a = Observer(ixa.port, "observer on restarted ixn-a")
        va = obs_a.version.get((T, A))
        ok(isinstance(va, int), "restarted ixn-a reports the agent (version %s)" % va)
        ok(isinstance(va_old, int) and va > va_old,
           "a login after the restart starts above the old version (%s > %s)" % (va, va_old))
        wait_status(da2, ALL, "A: merged status after the restart", timeout=10, version=va)
        wait_status(db, ALL, "B: merged status after the restart", timeout=10, version=vb)

        # Statuses keep flowing both ways after the resync.
        act(da2, {"message": "RequestNotReadyForMedia", "media": "chat"}, "A: notready chat")
        va2 = obs_a.state(T, A, "NotReadyForMedia")
        want = V(voice="R 0 1 1", chat="NR 0 3 0", email="R 0 2 2")
        expect_status(da2, want, "A: status after notready chat", version=va2)
        expect_status(db, want, "B: status after notready chat on A", version=vb)
        act(db, {"message": "RequestNotReadyForMedia", "media": "email"}, "B: notready email")
        vb2 = obs_b.state(T, A, "NotReadyForMedia")
        want = V(voice="R 0 1 1", chat="NR 0 3 0", email="NR 0 2 0")
        expect_status(db, want, "B: status after notready email", version=vb2)
        expect_status(da2, want, "A: status after notready email on B", version=va2)
        ok(only_a.closed(timeout=1), "1002's desktop connection was closed by the crash")
        alive(ixa, ixb, stat)
    print("PASS test_ixn_failover")


if __name__ == "__main__":
    main()
