#!/usr/bin/env python3
"""Statserver partitions (docs/ha.md, "Partitions"): agents split between statservers by
[server] partition = I/N (FNV-1a 64 of tenant NUL agentId, mod N) and by [server] tenants.

Part 1, partition = I/2, two interaction servers, agents of three tenants on either server:
partition 0 is a hot-standby pair on a real nats-server (key p0), partition 1 a single
statserver. The owner of each agent is computed here with the same FNV-1a as
docs/protocol.md defines. Each partition has its own rules (rule P0: chat up to 2, rule P1:
chat up to 3), so that a status shows which statserver made it. Checked:
(a) every desktop gets one status at login, from its owner (rule and vector), and no
second one; each statserver's StatClient snapshot holds exactly the agents it owns;
(a2) a reporting engine of its own asking ixn-a for tenant gamma, partition 1/2, gets in
its snapshot exactly the agents the FNV-1a here puts there (a partition index out of range
is refused), and its status for an agent of partition 0 is counted fenced and never reaches
the desktop;
(b) before any failure, interactions of a tenant owned by partition 0 and of one owned by
partition 1 are invited;
(c) kill -9 of both members of partition 0: its tenant's interaction stays queued and none
of its agents is invited, while partition 1's agents (of their own tenant, and of the
tenant both partitions share) keep being invited; the interaction servers count no fenced
status;
(d) partition 0 (one member) back: the queued interaction is invited.

Part 2, [server] tenants only: one statserver for tenant acme, one for beta and gamma;
statuses from the owner only, the StatClient snapshots split by tenant, and kill -9 of the
acme statserver stops acme's routing only.

Part 3: --check-config refuses a bad partition and a bad tenants list."""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import V, ok, act, check  # noqa: E402
import test_stat_pair as pair  # noqa: E402

TENANTS = ("acme", "beta", "gamma")
LEASE_MS = 1000
VEC = {"P0": V(chat="R 0 2 2"), "P1": V(chat="R 0 3 3")}


def fnv1a64(data):
    """FNV-1a 64 of bytes, as docs/protocol.md defines it."""
    h = 14695981039346656037
    for c in data:
        h = ((h ^ c) * 1099511628211) % (1 << 64)
    return h


def owner(tenant, agent_id, count):
    return fnv1a64(tenant.encode() + b"\0" + agent_id.encode()) % count


def pick_agents():
    """Agents (tenant, agentId, partition, server index) per tenant: acme's all in
    partition 0, beta's all in partition 1, gamma's two in each; of each tenant and
    partition one on either server. Deterministic: the first ids that fit."""
    want = {"acme": (2, 0), "beta": (0, 2), "gamma": (2, 2)}
    out = []
    for t in TENANTS:
        need = list(want[t])
        n = 0
        while need != [0, 0]:
            n += 1
            a = "%s%03d" % (t[0], n)
            p = owner(t, a, 2)
            if need[p] > 0:
                need[p] -= 1
                out.append((t, a, p, need[p] % 2))
    return out


def rules(name, cap):
    text = 'rule "%s" { chat = chat >= %d; }\n' % (name, cap)
    for t in TENANTS:
        text += 'assign tenant "%s" "%s";\n' % (t, name)
    return text


def snapshot(port):
    """The agents of a statserver's StatClient snapshot: {(tenant, agentId): rule}."""
    c = harness.statclient(port)
    try:
        harness.expect_ack(c.request({"message": "RequestSubscribeAgentStatus"}),
                           "StatClient subscription")
        got = {}
        while True:
            m = c.next(lambda x: x.get("message") in ("EventCurrentAgentStatus",
                                                      "EventAgentStatusSnapshotDone"),
                       timeout=5, what="snapshot")
            if m["message"] == "EventAgentStatusSnapshotDone":
                return got
            if m.get("loggedIn"):
                got[(m.get("tenant"), m.get("agentId"))] = m.get("rule")
    finally:
        c.close()


def login_all(agents, servers, what):
    """Logs every agent in on its server; returns ({(tenant, id): desk}, {(tenant, id): the
    status it got at login})."""
    desks, first = {}, {}
    for t, a, p, i in agents:
        srv = servers[i]
        desks[(t, a)] = harness.agent(srv.port, t, a, "P" + a, "pw" + a, media={"chat": 1})
    for (t, a), desk in desks.items():
        m = harness.next_status(desk, "%s: status of %s/%s" % (what, t, a), 5)
        first[(t, a)] = m
        p = next(x[2] for x in agents if x[:2] == (t, a))
        rule = "P%d" % p
        ok(m.get("rule") == rule and harness.vec(m) == VEC[rule],
           "%s: %s/%s status from its owner (rule %s, got %s [%s])"
           % (what, t, a, rule, m.get("rule"), harness.fmt_vec(harness.vec(m))))
    for (t, a), desk in desks.items():
        harness.no_status(desk, "%s: one status only for %s/%s" % (what, t, a), wait=0.2)
    return desks, first


def invited_desk(desks, iid, timeout):
    """Waits for the invite of iid on any of desks; returns the key of the desk or None."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for key, desk in desks.items():
            try:
                desk.next(harness.is_invite(iid), timeout=0.05)
                return key
            except harness.Timeout:
                pass
            except AssertionError:
                pass
    return None


def finish(desk, iid, what):
    harness.expect_ack(desk.request({"message": "RequestAccept", "interactionId": iid}),
                       "%s: accept" % what)
    harness.expect_ack(desk.request({"message": "RequestStopProcessing", "interactionId": iid}),
                       "%s: done" % what)


def route(ms, tenant, desks, allowed, what, timeout=3.0):
    """Submits a chat interaction of tenant on the media server; it must be invited to a
    desk in allowed (a set of keys, here those of the tenant) and to no other; returns the
    desk's key."""
    allowed = {k for k in allowed if k[0] == tenant}
    iid = harness.submit_ok(ms, tenant, "chat", "chat-in")
    key = invited_desk(desks, iid, timeout)
    ok(key in allowed, "%s: %s invited to %s (allowed: %s)" % (what, iid, key, sorted(allowed)))
    finish(desks[key], iid, what)
    return key


def fenced(proc):
    mt = pair.metrics(proc)
    return mt.get('contactcore_ixn_statuses_received_total{outcome="fenced"}', 0)


def start_ixns(env, agents):
    creds = {"%s/%s" % (t, a): "pw" + a for t, a, _, _ in agents}
    queues = {"%s/chat-in" % t: "chat" for t in TENANTS}
    return [harness.start_ixn_queues(env, name, agents=creds, queues=queues, invite_timeout=60,
                                     extra_server="http = 127.0.0.1:0")
            for name in ("ixn-a", "ixn-b")]


def part_partitions(env, agents):
    nats, url = pair.start_nats(env, pair.free_port())
    ok(True, "nats-server at %s" % url)
    ixns = start_ixns(env, agents)

    def member(name, part, rule_name, cap, nats_member=True):
        extra = ""
        if nats_member:
            extra = "\n".join(["[nats]", "url = %s" % url, "member = %s" % name, "key = p0",
                               "lease-ms = %d" % LEASE_MS])
        return env.start_stat(name, ixns=ixns, rules=rules(rule_name, cap), extra=extra,
                              extra_server="partition = %s\nhttp = 127.0.0.1:0" % part)

    s0a = member("stat-0a", "0/2", "P0", 2)
    pair.wait_log(s0a, r"event=role role=primary epoch=(\d+)", "stat-0a becomes primary")
    s0b = member("stat-0b", "0/2", "P0", 2)
    s1 = member("stat-1", "1/2", "P1", 3, nats_member=False)
    for s in (s0b, s1):
        for x in ixns:
            pair.wait_log(s, r"event=snapshot_done link=%s" % x.name,
                          "%s linked to %s" % (s.name, x.name))
    ok("partition=0/2" in s0a.stderr() and "partition=1/2" in s1.stderr(),
       "the statservers log their partition")
    for x in ixns:
        pair.wait_log(x, r"event=reporting_start [^\n]*partition=1/2 taken=yes",
                      "%s takes partition 1's session" % x.name)

    # (a) statuses from the owner only; snapshots split by owner.
    desks, first = login_all(agents, ixns, "(a)")
    own0 = {(t, a) for t, a, p, _ in agents if p == 0}
    own1 = {(t, a) for t, a, p, _ in agents if p == 1}
    snap0, snap1 = snapshot(s0a.port), snapshot(s1.port)
    ok(set(snap0) == own0, "(a) stat-0a's snapshot holds partition 0's agents (got %s)"
       % sorted(snap0))
    ok(set(snap1) == own1, "(a) stat-1's snapshot holds partition 1's agents (got %s)"
       % sorted(snap1))
    ok(set(snapshot(s0b.port)) == own0, "(a) the standby of partition 0 holds the same agents")
    ok(all(r == "P0" for r in snap0.values()) and all(r == "P1" for r in snap1.values()),
       "(a) each snapshot carries its statserver's rule")

    # (a2) a reporting engine of its own on ixn-a, for gamma's partition 1: its snapshot
    # holds exactly the agents the FNV-1a here puts there, and its status for one of
    # gamma's partition 0 agents is not taken (counted fenced, never forwarded).
    x = ixns[0]
    rep = harness.reporter(x.port)
    bad = rep.request({"message": "RequestStartPlaceAgentStateReportingAll",
                       "partition": {"index": 2, "count": 2}})
    harness.expect_error(bad, 3, "(a2) partition index 2 of 2 refused", field="partition")
    harness.expect_ack(rep.request({"message": "RequestStartPlaceAgentStateReportingAll",
                                    "tenants": ["gamma"],
                                    "partition": {"index": 1, "count": 2}}),
                       "(a2) reporting of gamma, partition 1/2")
    seen = set()
    while True:
        m = rep.next(lambda y: y.get("message") in ("EventPlaceAgentState",
                                                    "EventPlaceAgentStateSnapshotDone"),
                     timeout=5, what="(a2) snapshot")
        if m["message"] == "EventPlaceAgentStateSnapshotDone":
            break
        seen.add((m.get("tenant"), m.get("agentId")))
    want = {(t, a) for t, a, p, i in agents if t == "gamma" and p == 1 and i == 0}
    ok(seen == want, "(a2) the ixnserver's snapshot for gamma 1/2 is %s (got %s)"
       % (sorted(want), sorted(seen)))
    other = next((t, a) for t, a, p, i in agents if t == "gamma" and p == 0 and i == 0)
    forged = {k: v for k, v in first[other].items() if k != "seq"}
    forged["version"] = forged.get("version", 0) + 1000
    before = fenced(x)
    rep.send(forged)
    deadline = time.monotonic() + 3
    while fenced(x) == before and time.monotonic() < deadline:
        time.sleep(0.05)
    ok(fenced(x) == before + 1, "(a2) %s counts the status for %s/%s fenced (got %s -> %s)"
       % (x.name, other[0], other[1], before, fenced(x)))
    harness.no_status(desks[other], "(a2) the desktop of %s/%s never sees it" % other, wait=0.3)
    rep.close()
    base = {y.name: fenced(y) for y in ixns}

    # (b) both partitions route.
    ms = [harness.media_server(x.port) for x in ixns]
    for i, x in enumerate(ixns):
        on = {(t, a) for t, a, _, j in agents if j == i}
        route(ms[i], "acme", desks, own0 & on, "(b) %s acme (partition 0)" % x.name)
        route(ms[i], "beta", desks, own1 & on, "(b) %s beta (partition 1)" % x.name)
    for x in ixns:
        ok(fenced(x) == base[x.name], "(b) %s fenced no status of the statservers (got %s)"
           % (x.name, fenced(x)))

    # (c) the whole of partition 0 killed: only its agents stop.
    for s in (s0a, s0b):
        s.kill(signal.SIGKILL)
    for x in ixns:
        # Partition 0's sessions are gone once the highest epoch left is partition 1's 0.
        deadline = time.monotonic() + 5
        while (pair.metrics(x).get("contactcore_ixn_reporting_epoch", 0) >= 1 and
               time.monotonic() < deadline):
            time.sleep(0.05)
        ok(pair.metrics(x).get("contactcore_ixn_reporting_epoch", 0) < 1,
           "(c) %s saw partition 0's sessions close" % x.name)
    queued = []
    for i, x in enumerate(ixns):
        on = {(t, a) for t, a, _, j in agents if j == i}
        iid = harness.submit_ok(ms[i], "acme", "chat", "chat-in")
        queued.append((i, iid))
        route(ms[i], "beta", desks, own1 & on, "(c) %s beta still routed" % x.name)
        route(ms[i], "gamma", desks, own1 & on, "(c) %s gamma routed to partition 1 only"
              % x.name)
    p0_desks = {k: desks[k] for k in own0}
    for i, iid in queued:
        ok(invited_desk(p0_desks, iid, 0.5) is None,
           "(c) %s: acme's %s is not invited while partition 0 is down" % (ixns[i].name, iid))
    for x in ixns:
        ok(fenced(x) == base[x.name], "(c) %s fenced no status of the statservers (got %s)"
           % (x.name, fenced(x)))

    # (d) partition 0 back (one member, primary once the old lease aged out): the queued
    # interactions are invited.
    s0a.start()
    for i, iid in queued:
        key = invited_desk(p0_desks, iid, 10)
        ok(key in own0, "(d) %s: acme's %s invited to %s once partition 0 is back"
           % (ixns[i].name, iid, key))
        if key:
            finish(desks[key], iid, "(d)")
    for d in desks.values():
        d.close()
    for s in (s1, s0a) + tuple(ixns):
        s.expected_exit = True
        s.kill(signal.SIGTERM)
        s.wait()
    nats.kill()


def part_tenants(env, agents):
    ixns = start_ixns(env, agents)
    # Owner by tenant: acme -> stat-t0 (rule P0), beta and gamma -> stat-t1 (rule P1).
    s0 = env.start_stat("stat-t0", ixns=ixns, rules=rules("P0", 2),
                        extra_server="tenants = acme")
    s1 = env.start_stat("stat-t1", ixns=ixns, rules=rules("P1", 3),
                        extra_server="tenants = beta , gamma")
    for s in (s0, s1):
        for x in ixns:
            pair.wait_log(s, r"event=snapshot_done link=%s" % x.name,
                          "tenants: %s linked to %s" % (s.name, x.name))
    by_tenant = [(t, a, 0 if t == "acme" else 1, i) for t, a, _, i in agents]
    desks, _ = login_all(by_tenant, ixns, "tenants")
    own0 = {(t, a) for t, a, p, _ in by_tenant if p == 0}
    own1 = {(t, a) for t, a, p, _ in by_tenant if p == 1}
    ok(set(snapshot(s0.port)) == own0, "tenants: stat-t0's snapshot holds acme only")
    ok(set(snapshot(s1.port)) == own1, "tenants: stat-t1's snapshot holds beta and gamma")
    ms = [harness.media_server(x.port) for x in ixns]
    s0.kill(signal.SIGKILL)
    time.sleep(0.3)
    acme = [harness.submit_ok(m, "acme", "chat", "chat-in") for m in ms]
    for i, x in enumerate(ixns):
        on = {(t, a) for t, a, _, j in agents if j == i}
        route(ms[i], "gamma", desks, own1 & on, "tenants: %s gamma still routed" % x.name)
    p0 = {k: desks[k] for k in own0}
    for iid in acme:
        ok(invited_desk(p0, iid, 0.5) is None,
           "tenants: acme's %s waits while its statserver is down" % iid)
    for x in ixns:
        ok(fenced(x) == 0, "tenants: %s fenced no status" % x.name)
    for d in desks.values():
        d.close()


def check_config(env):
    for value, what in (("partition = 2/2", "partition"), ("partition = 0/0", "partition"),
                        ("partition = 1", "partition"), ("partition = 0/5000", "partition"),
                        ("tenants = a,,b", "tenants"), ("tenants = a, a", "tenants")):
        path = env.write("bad.ini", "[server]\nname = s\n%s\n" % value)
        rc, out, err = env.run(["statserver", "-c", path, "--check-config"])
        ok(rc == 1 and ("[server] %s" % what) in err,
           "--check-config refuses %r (got %s: %s)" % (value, rc, err.strip()))
    path = env.write("good.ini", "[server]\nname = s\npartition = 3/4\ntenants = a, b c\n")
    rc, out, err = env.run(["statserver", "-c", path, "--check-config"])
    ok(rc == 0, "--check-config accepts partition 3/4 and tenants (got %s: %s)" % (rc, err))


def main():
    args = harness.parse_args()
    agents = pick_agents()
    print("agents: %s" % ", ".join("%s/%s->%d on %d" % x for x in agents), flush=True)
    with harness.Env(args.bin, timeout=120) as env:
        check_config(env)
        part_partitions(env, agents)
    with harness.Env(args.bin, timeout=60) as env:
        part_tenants(env, agents)


if __name__ == "__main__":
    main()
