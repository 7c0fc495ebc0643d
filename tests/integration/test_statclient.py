#!/usr/bin/env python3
"""The statserver's own port (protocol section 8): StatClient registration, RequestAgentStatus
for known and unknown agents, RequestSubscribeAgentStatus with snapshot, count, live updates
and a tenants filter, and RequestServerList as a server goes away and comes back."""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import (  # noqa: E402
    is_status, V, vec, ok, act, wait_status, expect_status, no_status, alive)


RULES = harness.BLENDED_TENANT_RULES


def register_raw(port, client_type, token):
    c = harness.Client(port, timeout=5)
    ans = c.request({"message": "RequestRegisterClient", "clientName": "it-statclient",
                     "clientType": client_type, "token": token})
    return c, ans


def agent_status(sc, tenant, agent_id, what):
    ans = sc.request({"message": "RequestAgentStatus", "tenant": tenant, "agentId": agent_id})
    ok(ans.get("message") == "EventAck", "%s: RequestAgentStatus acked (got %s)" % (what, ans))
    m = sc.next(lambda x: is_status(x) and x.get("agentId") == agent_id, timeout=5)
    ok("version" not in m, "%s: no version on the StatClient port" % what)
    ok(m.get("tenant") == tenant, "%s: names the tenant" % what)
    return m


def snapshot(sc, what, tenants=None):
    req = {"message": "RequestSubscribeAgentStatus"}
    if tenants is not None:
        req["tenants"] = tenants
    ans = sc.request(req)
    ok(ans.get("message") == "EventAck", "%s: subscribe acked (got %s)" % (what, ans))
    got = {}
    while True:
        m = sc.next(lambda x: is_status(x) or x.get("message") == "EventAgentStatusSnapshotDone",
                    timeout=5)
        if m["message"] == "EventAgentStatusSnapshotDone":
            ok(m.get("count") == len(got), "%s: snapshot done count %s = statuses sent %d"
               % (what, m.get("count"), len(got)))
            return got
        ok("version" not in m, "%s: snapshot status has no version" % what)
        got[(m.get("tenant"), m.get("agentId"))] = m


def main():
    args = harness.parse_args()
    with harness.Env(args.bin, timeout=60) as env:
        agents = {"Resources/1001": "pw1001", "Resources/1002": "pw1002", "Sales/2001": "pw2001"}
        ixa = env.start_ixn("ixn-a", agents=agents)
        ixb = env.start_ixn("ixn-b", agents=agents)
        stat = env.start_stat("stat-1", ixns=[ixa, ixb], rules=RULES)

        # Registration: wrong token 5 and close; a type other than StatClient 5.
        c, ans = register_raw(stat.port, "StatClient", "wrong-secret")
        ok(ans.get("message") == "EventError" and ans.get("errorCode") == 5,
           "wrong token refused with code 5 (got %s)" % ans)
        ok(c.closed(timeout=2), "connection closed after a wrong token")
        c, ans = register_raw(stat.port, "AgentApplication", "wallboard-secret")
        ok(ans.get("message") == "EventError" and ans.get("errorCode") == 5,
           "clientType AgentApplication refused with code 5 (got %s)" % ans)
        c = harness.Client(stat.port, timeout=5)
        ans = c.request({"message": "RequestServerList"})
        ok(ans.get("message") == "EventError" and ans.get("errorCode") == 4,
           "a request before registration gets code 4 (got %s)" % ans)
        ok(c.closed(timeout=2), "connection closed after code 4")
        c, ans = register_raw(stat.port, "StatClient", "wallboard-secret")
        ok(ans.get("message") == "EventAck", "StatClient registered (got %s)" % ans)
        ans = c.register("StatClient", "wallboard-secret")
        ok(ans.get("message") == "EventError" and ans.get("errorCode") == 13,
           "a second registration gets code 13 (got %s)" % ans)
        sc = c

        d1 = harness.agent(ixa.port, "Resources", "1001", "P1001", "pw1001", media={"chat": 1})
        d2 = harness.agent(ixb.port, "Resources", "1002", "P1002", "pw1002",
                           media={"email": 1, "voice": 1})
        d3 = harness.agent(ixa.port, "Sales", "2001", "P2001", "pw2001", media={"voice": 1})
        wait_status(d1, V(chat="R 0 3 3"), "1001's desktop has its status")
        wait_status(d2, V(voice="R 0 1 1", email="R 0 2 2"), "1002's desktop has its status")
        wait_status(d3, V(voice="R 0 1 1"), "2001's desktop has its status")

        # RequestAgentStatus: known and unknown agents.
        m = agent_status(sc, "Resources", "1001", "known agent 1001")
        ok(vec(m) == V(chat="R 0 3 3") and m.get("loggedIn") is True and m.get("rule") == "Blended",
           "known agent 1001: loggedIn, Blended, chat R 0 3 3 (got %s)" % m)
        m = agent_status(sc, "Sales", "2001", "known agent 2001")
        ok(vec(m) == V(voice="R 0 1 1") and m.get("rule") == "Default",
           "known agent 2001: Default rule, voice R 0 1 1 (got %s)" % m)
        m = agent_status(sc, "Resources", "9999", "unknown agent")
        ok(m.get("loggedIn") is False and m.get("media") == {},
           "unknown agent: loggedIn false and empty media (got %s)" % m)
        ans = sc.request({"message": "RequestAgentStatus", "tenant": "Resources"})
        ok(ans.get("message") == "EventError" and ans.get("errorCode") == 3 and
           "agentId" in ans.get("errorDescription", ""),
           "RequestAgentStatus without agentId: code 3 naming agentId (got %s)" % ans)

        # Subscriptions: all tenants and a tenants filter.
        sub = harness.statclient(stat.port, "wallboard-secret")
        got = snapshot(sub, "subscription to all")
        ok(set(got) == {("Resources", "1001"), ("Resources", "1002"), ("Sales", "2001")},
           "subscription to all: one status per known agent (got %s)" % sorted(got))
        ok(vec(got[("Resources", "1002")]) == V(voice="R 0 1 1", email="R 0 2 2"),
           "subscription to all: 1002's vector")
        sales = harness.statclient(stat.port, "wallboard-secret")
        got = snapshot(sales, "subscription to Sales", tenants=["Sales"])
        ok(set(got) == {("Sales", "2001")},
           "subscription to Sales: only 2001 (got %s)" % sorted(got))

        # Live updates: a changed vector (or reason) is sent, without version; an unchanged
        # one is not.
        act(d1, {"message": "RequestNotReadyForMedia", "media": "chat"}, "1001 notready chat")
        m = expect_status(sub, V(chat="NR 0 3 0"), "subscription: 1001 after notready chat")
        ok(m.get("agentId") == "1001" and "version" not in m, "subscription: 1001, no version")
        no_status(sales, "Sales subscription: nothing about Resources agents")
        wait_status(d1, V(chat="NR 0 3 0"), "1001's desktop has the notready status")
        act(d1, {"message": "RequestChangeMediaStateReason", "media": "chat",
                 "reason": {"code": 4, "description": "Training"}}, "1001 change reason")
        expect_status(d1, V(chat="NR 0 3 0"), "1001's desktop gets the reason-change status")
        # A new reason alone changes no vector, but the subscribers show reasons: it is
        # published once, with the reason and a new since.
        m = expect_status(sub, V(chat="NR 0 3 0"), "subscription: the new reason is published")
        ok(m["media"]["chat"].get("reason") == {"code": 4, "description": "Training"}
           and isinstance(m["media"]["chat"].get("since"), int),
           "subscription: the status carries the new reason and its since (got %s)"
           % m["media"]["chat"])
        no_status(sub, "subscription: nothing more when nothing else changed")
        act(d3, {"message": "RequestAddMedia", "media": "chat", "ready": 1}, "2001 add chat")
        m = expect_status(sales, V(voice="R 0 1 1", chat="R 0 0 0"),
                          "Sales subscription: 2001 update")
        ok("version" not in m, "Sales subscription: no version")
        expect_status(sub, V(voice="R 0 1 1", chat="R 0 0 0"), "subscription to all: 2001 update")

        # A logout is published to the subscribers as loggedIn false with empty media.
        act(d3, {"message": "RequestAgentLogout"}, "2001 logout")
        m = expect_status(sales, {}, "Sales subscription: 2001 logged out")
        ok(m.get("loggedIn") is False and m.get("agentId") == "2001",
           "Sales subscription: loggedIn false for 2001 (got %s)" % m)
        expect_status(sub, {}, "subscription to all: 2001 logged out")
        d3 = harness.agent(ixa.port, "Sales", "2001", "P2001", "pw2001", media={"voice": 1})
        expect_status(sales, V(voice="R 0 1 1"), "Sales subscription: 2001 logged in again")
        expect_status(sub, V(voice="R 0 1 1"), "subscription to all: 2001 logged in again")

        # Server list, and connected false once a server is gone.
        ans = sc.request({"message": "RequestServerList"})
        ok(ans.get("message") == "EventAck", "server list acked")
        servers = {s.get("name"): s for s in ans.get("servers") or []}
        ok(set(servers) == {"ixn-a", "ixn-b"}, "server list names ixn-a and ixn-b (got %s)" % ans)
        ok(servers["ixn-a"].get("connected") is True and servers["ixn-b"].get("connected") is True,
           "both servers connected")
        ok(servers["ixn-a"].get("address") == "127.0.0.1:%d" % ixa.port,
           "ixn-a address 127.0.0.1:%d (got %s)" % (ixa.port, servers["ixn-a"].get("address")))
        ok(servers["ixn-a"].get("agents") == 2 and servers["ixn-b"].get("agents") == 1,
           "agents per server 2 and 1 (got %s, %s)" % (servers["ixn-a"].get("agents"),
                                                     servers["ixn-b"].get("agents")))
        ixb.kill(signal.SIGKILL)
        ixb.wait()
        deadline = time.monotonic() + 3
        while True:
            ans = sc.request({"message": "RequestServerList"})
            servers = {s.get("name"): s for s in ans.get("servers") or []}
            if servers.get("ixn-b", {}).get("connected") is False or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        ok(servers.get("ixn-b", {}).get("connected") is False,
           "ixn-b connected false after kill (got %s)" % servers.get("ixn-b"))
        ok(servers.get("ixn-a", {}).get("connected") is True, "ixn-a still connected")
        m = sub.next(lambda x: is_status(x) and x.get("agentId") == "1002", timeout=2)
        ok(m.get("loggedIn") is False and m.get("media") == {} and "version" not in m,
           "subscription: 1002 published once as logged out when its server died (got %s)" % m)
        m = agent_status(sc, "Resources", "1002", "1002 after its server died")
        ok(m.get("loggedIn") is False and m.get("media") == {},
           "1002 unknown once its only server is gone (got %s)" % m)
        ixb.restart()
        deadline = time.monotonic() + 8
        while True:
            ans = sc.request({"message": "RequestServerList"})
            servers = {s.get("name"): s for s in ans.get("servers") or []}
            if servers.get("ixn-b", {}).get("connected") is True or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        ok(servers.get("ixn-b", {}).get("connected") is True, "ixn-b connected again after restart")
        alive(ixa, ixb, stat)
    print("PASS test_statclient")


if __name__ == "__main__":
    main()
