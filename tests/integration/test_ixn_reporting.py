#!/usr/bin/env python3
"""One ixnserver and fake reporting engines (protocol.md sections 5 and 6): the snapshot
(cause Snapshot, one per logged-in agent, the tenants filter, the SnapshotDone count), every
later change in order with the whole state and version +1, a new login's version above the
previous ones (also after a restart), RequestStop...; and the status path: a status from a
ReportingEngine reaches the agent's desktop with only seq re-stamped, a status for an agent
not logged in is dropped, a status from a desktop gets 5 (with a referenceId) or is dropped."""
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, expect_ack, expect_error, is_state, is_status  # noqa: E402

T = "Resources"
AGENTS = harness.FOUR_AGENTS
STATE_FIELDS = harness.STATE_FIELDS


def is_done(m):
    return m.get("message") == "EventPlaceAgentStateSnapshotDone"


def start(c, what, tenants=None):
    """Starts reporting on c; returns ({agentId: snapshot event}, SnapshotDone count) and
    checks that nothing but Snapshot events comes before SnapshotDone."""
    req = {"message": "RequestStartPlaceAgentStateReportingAll"}
    if tenants is not None:
        req["tenants"] = tenants
    expect_ack(c.request(req), "%s: start reporting" % what)
    snap = {}
    while True:
        m = c.next(lambda x: is_state(x) or is_done(x))
        if is_done(m):
            return snap, m.get("count")
        check(m.get("cause") == "Snapshot", "%s: snapshot of %s/%s has cause Snapshot (got %s)"
              % (what, m.get("tenant"), m.get("agentId"), m.get("cause")))
        missing = [f for f in STATE_FIELDS if f not in m]
        check(not missing, "%s: snapshot of %s is a whole state (missing %s)"
              % (what, m.get("agentId"), missing))
        check(m.get("agentId") not in snap,
              "%s: one snapshot event for %s" % (what, m.get("agentId")))
        snap[m.get("agentId")] = m


def login(port, agent_id, tenant=T, media=None):
    return harness.agent(port, tenant, agent_id, "P" + agent_id, "pw" + agent_id,
                         media={"chat": 1} if media is None else media)


def change(c, req, what):
    expect_ack(c.request(req), what)


def next_state(c, what):
    try:
        return c.next(is_state, timeout=5)
    except harness.Timeout as e:
        check(False, "%s: no EventPlaceAgentState (%s)" % (what, e))


def test_reporting(ixn):
    desks = {a: login(ixn.port, a) for a in ("1001", "1002")}
    desks["2001"] = login(ixn.port, "2001", tenant="Sales", media={"voice": 1, "chat": 0})
    change(desks["1002"], {"message": "RequestDoNotDisturbOn"}, "1002 dnd on before reporting")

    a = harness.reporter(ixn.port)
    snap, count = start(a, "reporter all")
    check(count == 3, "all tenants: SnapshotDone count 3 (got %s)" % count)
    check(set(snap) == {"1001", "1002", "2001"}, "all tenants: one snapshot per agent (%s)"
          % sorted(snap))
    check(snap["1002"].get("dnd") is True, "snapshot shows 1002 in dnd")
    check(snap["2001"].get("tenant") == "Sales", "snapshot names 2001's tenant")
    check(snap["2001"]["media"].get("voice", {}).get("ready") is True and
          snap["2001"]["media"].get("chat", {}).get("ready") is False,
          "snapshot shows 2001's media (voice ready, chat not)")
    check(all(m.get("loggedIn") is True for m in snap.values()), "snapshot agents logged in")
    check(all(m.get("serverName") == "ixn-a" for m in snap.values()), "snapshot serverName")
    version = {k: m["version"] for k, m in snap.items()}
    check(all(isinstance(v, int) and v > 0 for v in version.values()),
          "snapshot versions are positive integers")

    b = harness.reporter(ixn.port)
    snap_b, count_b = start(b, "reporter Resources", tenants=["Resources"])
    check(count_b == 2 and set(snap_b) == {"1001", "1002"},
          "tenants [Resources]: 1001 and 1002, count 2 (got %s, %s)" % (sorted(snap_b), count_b))
    s = harness.reporter(ixn.port)
    snap_s, count_s = start(s, "reporter Sales", tenants=["Sales"])
    check(count_s == 1 and set(snap_s) == {"2001"}, "tenants [Sales]: 2001 only, count 1")
    n = harness.reporter(ixn.port)
    snap_n, count_n = start(n, "reporter Nobody", tenants=["Nobody"])
    check(count_n == 0 and not snap_n, "tenants [Nobody]: empty snapshot, count 0")
    e = harness.reporter(ixn.port)
    expect_error(e.request({"message": "RequestStartPlaceAgentStateReportingAll",
                            "tenants": "Resources"}), 3, "tenants not an array", field="tenants")
    expect_error(e.request({"message": "RequestStartPlaceAgentStateReportingAll",
                            "tenants": [7]}), 3, "tenants of numbers", field="tenants")
    two = harness.reporter(ixn.port)
    snap_2, count_2 = start(two, "reporter Resources+Sales", tenants=["Resources", "Sales"])
    check(count_2 == 3 and set(snap_2) == {"1001", "1002", "2001"},
          "tenants [Resources, Sales]: all three, count 3")
    two.close()
    expect_error(desks["1001"].request({"message": "RequestStartPlaceAgentStateReportingAll"}), 5,
                 "a desktop may not start reporting")
    expect_error(desks["1001"].request({"message": "RequestStopPlaceAgentStateReportingAll"}), 5,
                 "a desktop may not stop reporting")

    # Every change, in order, to every subscriber whose tenants include the agent.
    steps = [
        ("1001", {"message": "RequestNotReadyForMedia", "media": "chat",
                  "reason": {"code": 2, "description": "Lunch"}}, "NotReadyForMedia"),
        ("2001", {"message": "RequestCancelNotReadyForMedia", "media": "chat"}, "ReadyForMedia"),
        ("1001", {"message": "RequestAddMedia", "media": "email", "ready": 1}, "MediaAdded"),
        ("1002", {"message": "RequestDoNotDisturbOff"}, "DoNotDisturbOff"),
        ("1001", {"message": "RequestChangeMediaStateReason", "media": "chat",
                  "reason": {"code": 5, "description": "Training"}}, "MediaStateReasonChanged"),
        ("1001", {"message": "RequestCancelNotReadyForMedia", "media": "chat"}, "ReadyForMedia"),
        ("1002", {"message": "RequestRemoveMedia", "media": "chat"}, "MediaRemoved"),
        ("2001", {"message": "RequestDoNotDisturbOn"}, "DoNotDisturbOn"),
    ]
    for agent_id, req, _ in steps:
        change(desks[agent_id], req, "%s %s" % (agent_id, req["message"]))
    for who, c, tenants in (("all", a, None), ("Resources", b, (T,)), ("Sales", s, ("Sales",))):
        v = dict(version)
        for agent_id, req, cause in steps:
            tenant = "Sales" if agent_id == "2001" else T
            if tenants is not None and tenant not in tenants:
                continue
            m = next_state(c, "reporter %s: %s %s" % (who, agent_id, cause))
            check(m.get("agentId") == agent_id and m.get("cause") == cause,
                  "reporter %s: in order, %s %s (got %s %s)" % (who, agent_id, cause,
                                                                m.get("agentId"), m.get("cause")))
            check(m.get("version") == v[agent_id] + 1, "reporter %s: %s version %s = %s + 1"
                  % (who, agent_id, m.get("version"), v[agent_id]))
            v[agent_id] = m["version"]
            missing = [f for f in STATE_FIELDS if f not in m]
            check(not missing, "reporter %s: whole state (missing %s)" % (who, missing))
            if agent_id == "1001" and cause == "MediaStateReasonChanged":
                check(m["media"].get("email", {}).get("ready") is True and
                      m["media"].get("chat", {}).get("reason") ==
                      {"code": 5, "description": "Training"},
                      "reporter %s: whole state has email ready and chat's new reason" % who)
        try:
            c.expect_none(is_state, wait=0.1)
        except harness.Failure as ex:
            check(False, "reporter %s: nothing else (%s)" % (who, ex))
        check(True, "reporter %s: no other agent-state event" % who)
    try:
        n.expect_none(is_state, wait=0.1)
    except harness.Failure as ex:
        check(False, "reporter Nobody: got an event (%s)" % ex)
    check(True, "reporter Nobody: no agent-state event")
    for agent_id, req, cause in steps:
        version[agent_id] += 1

    # Stop reporting.
    expect_ack(b.request({"message": "RequestStopPlaceAgentStateReportingAll"}),
               "reporter Resources: stop reporting")
    change(desks["1001"], {"message": "RequestDoNotDisturbOn"}, "1001 dnd on")
    m = next_state(a, "reporter all after the stop of another")
    check(m.get("cause") == "DoNotDisturbOn" and m.get("version") == version["1001"] + 1,
          "reporter all still gets 1001 DoNotDisturbOn, version +1")
    version["1001"] += 1
    try:
        b.expect_none(is_state, wait=0.3)
    except harness.Failure as ex:
        check(False, "stopped reporter got an event (%s)" % ex)
    check(True, "stopped reporter gets no agent-state event")
    expect_ack(b.request({"message": "RequestPing"}), "stopped reporter still served")
    snap_b, count_b = start(b, "reporter Resources, started again", tenants=["Resources"])
    check(count_b == 2 and snap_b["1001"].get("version") == version["1001"] and
          snap_b["1001"].get("dnd") is True,
          "started again: a fresh snapshot with 1001's newest state (version %s, dnd on)"
          % version["1001"])
    expect_ack(b.request({"message": "RequestStopPlaceAgentStateReportingAll"}),
               "reporter Resources: stop again")

    # Logout, then a new login starts above every earlier version of that agent.
    change(desks["1001"], {"message": "RequestAgentLogout"}, "1001 logout")
    m = next_state(a, "1001 logout")
    check(m.get("cause") == "AgentLogout" and m.get("loggedIn") is False and
          m.get("version") == version["1001"] + 1, "1001 logout: loggedIn false, version +1")
    version["1001"] += 1
    g = harness.reporter(ixn.port)
    snap_g, count_g = start(g, "reporter after 1001's logout")
    check(count_g == 2 and set(snap_g) == {"1002", "2001"},
          "a logged-out agent is gone from the snapshot (%s)" % sorted(snap_g))
    g.close()
    change(desks["1001"], {"message": "RequestAgentLogin", "tenant": T, "agentId": "1001",
                           "placeId": "P1001", "password": "pw1001", "mediaList": {"chat": 1}},
           "1001 login again")
    m = next_state(a, "1001 login again")
    check(m.get("cause") == "AgentLogin" and m.get("version") > version["1001"],
          "1001 login version %s above %s" % (m.get("version"), version["1001"]))
    version["1001"] = m["version"]
    d3 = login(ixn.port, "1003")
    m = next_state(a, "1003 first login")
    check(m.get("cause") == "AgentLogin" and m.get("agentId") == "1003", "1003 AgentLogin")
    version["1003"] = m["version"]
    desks["1003"] = d3
    for c in (a, s, n, b, e):
        c.close()
    return desks, version


def test_status(ixn, desks, version):
    f = harness.reporter(ixn.port)
    status = {"message": "EventCurrentAgentStatus", "tenant": T, "agentId": "1001",
              "placeId": "P1001", "version": version["1001"], "rule": "Blended",
              "loggedIn": True, "dnd": False,
              "media": {"chat": {"ready": True, "current": 1, "max": 3, "available": 2},
                        "email": {"ready": False, "current": 0, "max": 1, "available": 0}},
              "note": "unknown fields travel too"}
    f.send(status)
    try:
        got = desks["1001"].next(is_status, timeout=3)
    except harness.Timeout as ex:
        check(False, "status forwarded to 1001's desktop (%s)" % ex)
    body = dict(got)
    body.pop("seq")
    check(body == status, "forwarded status has the same fields, only seq re-stamped (got %s)"
          % got)

    # A status that carries its own seq: the desktop gets its own seq instead (the harness
    # checks the desk's seq numbering on every message).
    s2 = dict(status, seq=999, version=version["1001"], dnd=True)
    f.send(s2)
    got = desks["1001"].next(is_status, timeout=3)
    check(got.get("seq") != 999 and got.get("dnd") is True,
          "a status carrying seq 999 is re-stamped with the desk's seq %s" % got.get("seq"))
    body = dict(got)
    body.pop("seq")
    s2.pop("seq")
    check(body == s2, "re-stamped status otherwise unchanged")

    # Only the agent's own desktop gets it.
    for a in ("1002", "1003", "2001"):
        try:
            desks[a].expect_none(is_status, wait=0.05 if a != "1002" else 0.2)
        except harness.Failure as ex:
            check(False, "desk %s got 1001's status (%s)" % (a, ex))
    check(True, "other desktops get nothing")

    # 1002's status goes to 1002.
    s3 = dict(status, agentId="1002", placeId="P1002")
    f.send(s3)
    got = desks["1002"].next(is_status, timeout=3)
    check(got.get("agentId") == "1002", "1002's status reaches 1002's desktop")

    # Agents not logged in here: dropped.
    for t, a in ((T, "1004"), ("Sales", "1001")):  # never logged in; another tenant
        f.send(dict(status, tenant=t, agentId=a))
    for a, d in desks.items():
        try:
            d.expect_none(is_status, wait=0.3 if a == "1001" else 0.05)
        except harness.Failure as ex:
            check(False, "status of an agent not logged in reached desk %s (%s)" % (a, ex))
    check(True, "statuses of agents not logged in here are dropped")
    try:
        f.expect_none(None, wait=0.1)
    except harness.Failure as ex:
        check(False, "a status was answered (%s)" % ex)
    check(True, "statuses are never answered")
    expect_ack(f.request({"message": "RequestPing"}), "reporter still served")

    # A status from a MediaServer: code 5 with a referenceId, not forwarded.
    ms = harness.Client(ixn.port)
    expect_ack(ms.register("MediaServer", "media-secret"), "register a MediaServer")
    rid = ms.next_ref()
    ms.send(dict(status, referenceId=rid))
    expect_error(ms.next(lambda m: m.get("message") in ("EventAck", "EventError"), timeout=3),
                 5, "status from a MediaServer with a referenceId", ref=rid)
    ms.send(status)
    expect_ack(ms.request({"message": "RequestPing"}), "MediaServer still served")
    try:
        desks["1001"].expect_none(is_status, wait=0.2)
    except harness.Failure as ex:
        check(False, "a MediaServer's status was forwarded (%s)" % ex)
    check(True, "a MediaServer's status is not forwarded")
    ms.close()

    # A status from a desktop: code 5 with a referenceId, otherwise dropped.
    d2 = desks["1002"]
    rid = d2.next_ref()
    d2.send(dict(status, referenceId=rid))
    ans = d2.next(lambda m: m.get("message") in ("EventAck", "EventError"), timeout=3)
    expect_error(ans, 5, "status from a desktop with a referenceId", ref=rid)
    d2.send(status)
    try:
        d2.expect_none(lambda m: m.get("message") in ("EventAck", "EventError"), wait=0.3)
    except harness.Failure as ex:
        check(False, "status from a desktop without referenceId answered (%s)" % ex)
    check(True, "status from a desktop without referenceId: no answer")
    try:
        desks["1001"].expect_none(is_status, wait=0.1)
    except harness.Failure as ex:
        check(False, "a desktop's status was forwarded (%s)" % ex)
    check(True, "a desktop's status is not forwarded")
    expect_ack(d2.request({"message": "RequestDoNotDisturbOn"}), "desk 1002 still served")
    expect_ack(desks["1001"].request({"message": "RequestPing"}), "desk 1001 still served")
    f.send(dict(status, agentId="1002", placeId="P1002", dnd=True))
    got = d2.next(is_status, timeout=3)
    check(got.get("dnd") is True, "statuses still forwarded afterwards")
    f.close()


def test_restart(ixn, desks, version):
    before = version["1001"]
    ixn.kill(signal.SIGKILL)
    for d in desks.values():
        check(d.closed(timeout=3), "desk sees the connection drop when ixnserver dies")
    ixn.restart()
    check(True, "ixnserver restarted on its old port %d" % ixn.port)
    a = harness.reporter(ixn.port)
    snap, count = start(a, "after restart")
    check(count == 0, "after restart: nobody logged in (count %s)" % count)
    d = login(ixn.port, "1001")
    m = next_state(a, "login after restart")
    check(m.get("cause") == "AgentLogin" and isinstance(m.get("version"), int) and
          m["version"] > before,
          "login after restart: version %s above every earlier one (%s)"
          % (m.get("version"), before))
    d.close()
    a.close()


def main():
    args = harness.parse_args()
    with harness.Env(args.bin, timeout=90) as env:
        ixn = env.start_ixn("ixn-a", agents=AGENTS)
        desks, version = test_reporting(ixn)
        test_status(ixn, desks, version)
        test_restart(ixn, desks, version)
    print("PASS test_ixn_reporting")


if __name__ == "__main__":
    main()
