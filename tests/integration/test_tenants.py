#!/usr/bin/env python3
"""Credentials per tenant and role (issue 12 item 2; docs/operations.md "Credentials and
supervisors"). An ixnserver with two tenants, acme and globex, whose [clients] give a media
server, a reporting engine, a desktop group and a supervisor the tenant acme only, and the
statserver a reporting engine of every tenant; a statserver whose [clients] give one
StatClient acme only. For each client type every request that touches the other tenant
is refused with 5:
- MediaServer: RequestSubmit, RequestStopProcessing, RequestExplainRouting of a globex
  interaction; RequestQueueStatus lists acme's queues only;
- ReportingEngine: reporting started for globex (agent states and interactions), a status
  for a globex agent; "all tenants" reports acme's agents only;
- AgentApplication: a login in globex; RequestQueueStatus after login lists the agent's
  tenant only;
- Supervisor: a force-logout of a globex agent;
- StatClient: RequestAgentStatus, RequestSubscribeAgentStatus and RequestOpenStatistic
  (Queue, Agent, Tenant) of globex; "all tenants" subscribes to acme only.
Registration: a [clients] name registers with its secret and type only (wrong secret,
wrong type: 5 and the connection closes); the statserver's link presents its own
credentials; over max-secret-checks secrets being checked at once, a registration gets 12.
The deprecated [tokens] MediaServer token and the statserver's [server]
token still work for every tenant, and each logs event=config_deprecated at start."""
import base64
import http.client
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, expect_ack, expect_error  # noqa: E402

ACME, GLOBEX = "acme", "globex"
A1, G1 = "1001", "2001"
QUEUES = {ACME + "/chat-in": "chat", GLOBEX + "/chat-in": "chat"}
RULES = ('rule "One" { chat = chat >= 1; }\nassign tenant "%s" "One";\n'
         'assign tenant "%s" "One";\n' % (ACME, GLOBEX))
SECRETS = {"ms-acme": "ms-acme-secret", "re-acme": "re-acme-secret",
           "desk-acme": "desk-acme-secret", "sup-acme": "sup-acme-secret",
           "stat-1": "stat-1-secret", "wb-acme": "wb-acme-secret"}


def register(port, ctype, name, secret):
    """A Client and the answer to its registration."""
    c = harness.Client(port)
    return c, c.register(ctype, secret, name)


def registered(port, ctype, name):
    c, ans = register(port, ctype, name, SECRETS[name])
    expect_ack(ans, "%s registers as %s with its secret" % (name, ctype))
    return c


def queue_list(c):
    """The (server, tenant, id) of RequestQueueList's answer."""
    ans = c.request({"message": "RequestQueueList"})
    expect_ack(ans, "RequestQueueList")
    return {(q.get("server"), q.get("tenant"), q.get("id")) for q in ans.get("queues", [])}


def http_get(port, path, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    c.request("GET", path, headers=headers or {})
    r = c.getresponse()
    body = r.read().decode()
    c.close()
    return r.status, body


def metric(port, series):
    """The value of one series of GET /metrics (loopback, no metrics-token), or None."""
    st, body = http_get(port, "/metrics")
    check(st == 200, "GET /metrics answers (%d)" % st)
    for line in body.splitlines():
        if line.startswith(series + " "):
            return float(line.split()[-1])
    return None


def refused(ans, what):
    expect_error(ans, 5, what, ref=True)


def main():
    args = harness.parse_args()
    with harness.Env(args.bin, timeout=120) as env:
        h = {k: env.hash_password(v) for k, v in SECRETS.items()}
        clients = "\n".join([
            "[clients]",
            "ms-acme = MediaServer, %s, %s" % (ACME, h["ms-acme"]),
            "re-acme = ReportingEngine, %s, %s" % (ACME, h["re-acme"]),
            "desk-acme = AgentApplication, %s, %s" % (ACME, h["desk-acme"]),
            "sup-acme = Supervisor, %s, %s" % (ACME, h["sup-acme"]),
            "stat-1 = ReportingEngine, *, %s" % h["stat-1"],
        ])
        # [tokens]: the desktops' token, and the deprecated media server token.
        env_tokens = {"AgentApplication": harness.DESK_TOKEN, "MediaServer": harness.MEDIA_TOKEN}
        data_dir = env.path("ixn-a-data")
        proc = env.start_ixn(
            "ixn-a", agents={ACME + "/" + A1: "pw" + A1, GLOBEX + "/" + G1: "pw" + G1},
            tokens=env_tokens, extra_server="data-dir = %s\nhttp = 127.0.0.1:0" % data_dir,
            extra="[queues]\n" + "\n".join("%s = %s" % kv for kv in QUEUES.items()) + "\n" +
            clients)
        ixn = proc
        err = proc.stderr()
        check("event=config_deprecated" in err and "key=MediaServer" in err,
              "ixnserver: the [tokens] MediaServer token logs event=config_deprecated")
        check("key=AgentApplication" not in err,
              "ixnserver: the desktops' token is not deprecated")

        # ---- registration ----
        c, ans = register(ixn.port, "MediaServer", "ms-acme", "wrong")
        expect_error(ans, 5, "ms-acme with a wrong secret")
        check(c.closed(), "ms-acme with a wrong secret: the connection closes")
        c, ans = register(ixn.port, "ReportingEngine", "ms-acme", SECRETS["ms-acme"])
        expect_error(ans, 5, "ms-acme registering as a ReportingEngine")
        check(c.closed(), "a [clients] name as another type: the connection closes")
        c, ans = register(ixn.port, "ReportingEngine", "nobody", "re-acme-secret")
        expect_error(ans, 5, "a ReportingEngine name not in [clients] (no [tokens] token)")
        c, ans = register(ixn.port, "Supervisor", "sup-acme", harness.MEDIA_TOKEN)
        expect_error(ans, 5, "a [clients] name presenting a [tokens] token")
        # Counted by reason: two wrong secrets, one wrong type; "nobody" is no [clients]
        # name, so not counted here.
        for reason, want in (("secret", 2), ("type", 1), ("busy", 0)):
            got = metric(ixn.ports["http"],
                         'contactcore_registrations_failed_total{reason="%s"}' % reason)
            check(got == want, "ixnserver /metrics: registrations failed for %s: %d (got %s)"
                  % (reason, want, got))

        # ---- the statserver's link registers with its own credentials ----
        stat_clients = "[clients]\nwb-acme = StatClient, %s, %s" % (ACME, h["wb-acme"])
        t0 = int(time.time()) * 1000 - 1000
        stat = env.start_stat("stat-1", [ixn], rules=RULES, ixn_token=SECRETS["stat-1"],
                              extra_server="http = 127.0.0.1:0\ndata-dir = %s"
                              % env.path("stat-data"), extra=stat_clients)
        serr = stat.stderr()
        check("event=config_deprecated" in serr and "key=token" in serr,
              "statserver: the [server] token logs event=config_deprecated")

        ms = registered(ixn.port, "MediaServer", "ms-acme")
        ms_old = harness.media_server(ixn.port)  # the deprecated token: every tenant
        desk_g = harness.agent(ixn.port, GLOBEX, G1, "P" + G1, "pw" + G1)
        desk_a = harness.agent(ixn.port, ACME, A1, "P" + A1, "pw" + A1)
        harness.wait_routable(desk_a, "chat")
        status_g = harness.wait_routable(desk_g, "chat")
        check("name=stat-1 cred=clients" in proc.stderr(),
              "the statserver's link registered by its [clients] entry (statuses flow)")

        # ---- MediaServer ----
        refused(harness.submit(ms, GLOBEX, "chat", "chat-in"), "ms-acme submits to globex")
        xa = harness.submit_ok(ms, ACME, "chat", "chat-in")
        xg = harness.submit_ok(ms_old, GLOBEX, "chat", "chat-in")
        check(True, "the deprecated MediaServer token submits to globex")
        desk_a.next(harness.is_invite(xa), what="EventInvite of %s" % xa)
        desk_g.next(harness.is_invite(xg), what="EventInvite of %s" % xg)
        refused(ms.request({"message": "RequestStopProcessing", "interactionId": xg}),
                "ms-acme stops a globex interaction")
        refused(ms.request({"message": "RequestExplainRouting", "interactionId": xg}),
                "ms-acme explains a globex interaction")
        expect_ack(ms.request({"message": "RequestExplainRouting", "interactionId": xa}),
                   "ms-acme explains an acme interaction")
        qs = harness.queue_status(ms)
        check(set(qs) == {(ACME, "chat-in")},
              "ms-acme's queue status lists acme only (got %s)" % sorted(qs))
        qs = harness.queue_status(ms_old)
        check(set(qs) == {(ACME, "chat-in"), (GLOBEX, "chat-in")},
              "the deprecated token's queue status lists every tenant")

        # ---- ReportingEngine ----
        re_ = registered(ixn.port, "ReportingEngine", "re-acme")
        refused(re_.request({"message": "RequestStartPlaceAgentStateReportingAll",
                             "tenants": [ACME, GLOBEX]}), "re-acme reports globex's agents")
        refused(re_.request({"message": "RequestStartInteractionReporting",
                             "tenants": [GLOBEX]}), "re-acme reports globex's interactions")
        snap = harness.start_reporting(re_)
        check(sorted(m.get("tenant") for m in snap) == [ACME],
              "re-acme reporting 'all tenants': acme's agent only (got %s)"
              % [m.get("tenant") + "/" + m.get("agentId") for m in snap])
        fake = {k: v for k, v in status_g.items() if k not in ("seq", "referenceId")}
        refused(re_.request(fake), "re-acme sends a status of a globex agent")
        qs = harness.queue_status(re_)
        check(set(qs) == {(ACME, "chat-in")}, "re-acme's queue status lists acme only")
        # Reporting goes on for acme only: a change of the globex agent is not reported.
        expect_ack(desk_g.request({"message": "RequestDoNotDisturbOn"}), "globex agent DND")
        expect_ack(desk_a.request({"message": "RequestDoNotDisturbOn"}), "acme agent DND")
        m = re_.next(lambda x: harness.is_state(x), what="the next agent state on re-acme")
        check(m.get("tenant") == ACME and m.get("agentId") == A1,
              "re-acme gets acme's change, not globex's (got %s/%s)"
              % (m.get("tenant"), m.get("agentId")))

        # ---- AgentApplication ----
        d = registered(ixn.port, "AgentApplication", "desk-acme")
        refused(d.request({"message": "RequestAgentLogin", "tenant": GLOBEX, "agentId": G1,
                           "placeId": "X", "password": "pw" + G1, "mediaList": {"chat": 1}}),
                "desk-acme logs in a globex agent")
        qs = harness.queue_status(d)
        check(set(qs) == {(ACME, "chat-in")}, "desk-acme's queue status lists acme only")
        pw_path = env.write("pw-g1.txt", "pw%s\n" % G1)
        rc, out, _ = env.run(["agentdesk", "--server", "127.0.0.1:%d" % ixn.port,
                              "--client-name", "desk-acme", "--token", SECRETS["desk-acme"],
                              "--tenant", GLOBEX, "--agent", G1, "--place", "X",
                              "--password-file", pw_path], input="status\n", timeout=30)
        check(rc == 1 and "NotAuthorized (5)" in out,
              "agentdesk --client-name desk-acme cannot log a globex agent in (exit %s: %r)"
              % (rc, out.strip()[:200]))
        qs = harness.queue_status(desk_g)
        check(set(qs) == {(GLOBEX, "chat-in")},
              "a desktop with a globex agent logged in sees globex's queues only")

        # ---- Supervisor ----
        sup = registered(ixn.port, "Supervisor", "sup-acme")
        refused(sup.request({"message": "RequestForceLogout", "tenant": GLOBEX, "agentId": G1}),
                "sup-acme logs out a globex agent")
        refused(sup.request({"message": "RequestForceLogout", "agentId": G1}),
                "sup-acme logs out the globex agent named without its tenant")
        refused(sup.request({"message": "RequestRevokeInteraction", "interactionId": xg}),
                "sup-acme revokes a globex interaction")
        qs = harness.queue_status(sup)
        check(set(qs) == {(ACME, "chat-in")}, "sup-acme's queue status lists acme only")
        refused(ms.request({"message": "RequestForceLogout", "agentId": A1}),
                "a MediaServer may not send a supervisor request")

        # ---- StatClient ----
        wb = registered(stat.port, "StatClient", "wb-acme")
        refused(wb.request({"message": "RequestAgentStatus", "tenant": GLOBEX, "agentId": G1}),
                "wb-acme asks a globex agent's status")
        expect_ack(wb.request({"message": "RequestAgentStatus", "tenant": ACME, "agentId": A1}),
                   "wb-acme asks an acme agent's status")
        refused(wb.request({"message": "RequestSubscribeAgentStatus", "tenants": [GLOBEX]}),
                "wb-acme subscribes to globex")
        base = {"message": "RequestOpenStatistic", "statistic": "Waiting", "profile": "day",
                "notify": "changes"}
        for sid, obj in ((1, {"type": "Queue", "server": "ixn-a", "tenant": GLOBEX,
                              "id": "chat-in"}),
                         (2, {"type": "Agent", "tenant": GLOBEX, "id": G1}),
                         (3, {"type": "Tenant", "tenant": GLOBEX})):
            req = dict(base, statisticId=sid, object=obj)
            if obj["type"] == "Agent":
                req["statistic"] = "Offered"
            if obj["type"] == "Tenant":
                req["media"] = "chat"
            refused(wb.request(req), "wb-acme opens a %s statistic of globex" % obj["type"])
        req = dict(base, statisticId=4, object={"type": "Queue", "server": "ixn-a",
                                                  "tenant": ACME, "id": "chat-in"})
        expect_ack(wb.request(req), "wb-acme opens a Queue statistic of acme")
        expect_ack(wb.request({"message": "RequestSubscribeAgentStatus"}),
                   "wb-acme subscribes to 'all tenants'")
        done = wb.next(lambda x: x.get("message") == "EventAgentStatusSnapshotDone",
                       what="EventAgentStatusSnapshotDone")
        snap = [x for x in wb.log if harness.is_status(x) and x["seq"] < done["seq"] and
                x["seq"] > 0 and x.get("loggedIn")]
        check(done.get("count") == 1 and {x.get("tenant") for x in snap} <= {ACME},
              "wb-acme 'all tenants' snapshot: acme's agent only (count %s)" % done.get("count"))
        expect_ack(desk_g.request({"message": "RequestDoNotDisturbOff"}), "globex agent DND off")
        expect_ack(desk_a.request({"message": "RequestDoNotDisturbOff"}), "acme agent DND off")
        m = wb.next(lambda x: harness.is_status(x), what="a status on wb-acme")
        check(m.get("tenant") == ACME, "wb-acme's subscription carries acme's statuses only")
        time.sleep(0.3)
        check(not any(harness.is_status(x) and x.get("tenant") == GLOBEX for x in wb.log),
              "wb-acme never received a globex status")
        old = harness.statclient(stat.port)
        expect_ack(old.request({"message": "RequestAgentStatus", "tenant": GLOBEX,
                                "agentId": G1}),
                   "the deprecated [server] token still reads every tenant")

        # ---- the HTTP pages name no tenant's queue; RequestQueueList is filtered ----
        want = {("ixn-a", ACME, "chat-in"), ("ixn-a", GLOBEX, "chat-in")}
        deadline = time.monotonic() + 20
        while True:
            rows = queue_list(old)
            if want <= rows or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        check(rows == want, "the [server] token's RequestQueueList lists both tenants (%s)"
              % sorted(rows))
        rows = queue_list(wb)
        check(rows == {("ixn-a", ACME, "chat-in")},
              "wb-acme's RequestQueueList lists acme's queue only (%s)" % sorted(rows))
        # RequestServerList: one acme agent and one globex agent are logged in on ixn-a.
        def server_agents(c):
            ans = expect_ack(c.request({"message": "RequestServerList"}), "RequestServerList")
            return [(r.get("name"), r.get("agents")) for r in ans.get("servers", [])]
        check(server_agents(old) == [("ixn-a", 2)],
              "the [server] token's RequestServerList counts every tenant's agents (%s)"
              % server_agents(old))
        check(server_agents(wb) == [("ixn-a", 1)],
              "wb-acme's RequestServerList counts acme's agents only (%s)" % server_agents(wb))
        for port, path in ((stat.ports["http"], "/wallboard-config.json"),
                           (ixn.ports["http"], "/desk-config.json")):
            st, body = http_get(port, path)
            check(st == 200 and "queues" not in body and ACME not in body and
                  GLOBEX not in body and "chat-in" not in body,
                  "GET %s names no tenant and no queue (%d %s)" % (path, st, body[:200]))
        c, ans = register(stat.port, "StatClient", "wb-acme", "wrong")
        expect_error(ans, 5, "wb-acme with a wrong secret")
        got = metric(stat.ports["http"],
                     'contactcore_registrations_failed_total{reason="secret"}')
        check(got == 1, "statserver /metrics: one registration failed for its secret (got %s)"
              % got)

        # ---- reports: the [server] token reads every tenant, a StatClient by HTTP Basic
        # its own tenants' rows ----
        sp = stat.ports["http"]

        def report(kind, auth):
            st, body = http_get(sp, "/reports/%s.csv?from=%d&to=%d&interval=86400"
                                % (kind, t0, int(time.time()) * 1000 + 1000),
                                {"Authorization": auth})
            col = 3 if kind == "queues" else 2
            rows = [line.split(",") for line in body.splitlines()[1:]] if st == 200 else []
            return st, {r[col] for r in rows if len(r) > col}

        def basic(name, secret):
            return "Basic " + base64.b64encode(("%s:%s" % (name, secret)).encode()).decode()

        deadline = time.monotonic() + 20
        while True:
            st, tenants = report("queues", "Bearer " + harness.WALLBOARD_TOKEN)
            if tenants >= {ACME, GLOBEX} or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        check(st == 200 and tenants == {ACME, GLOBEX},
              "the queue report by the [server] token has both tenants (%d %s)" % (st, tenants))
        for kind in ("queues", "agents"):
            st, tenants = report(kind, basic("wb-acme", SECRETS["wb-acme"]))
            check(st == 200 and tenants == {ACME},
                  "the %s report by wb-acme's name and secret has acme's rows only (%d %s)"
                  % (kind, st, tenants))
        st, _ = report("queues", basic("wb-acme", "wrong"))
        check(st == 401, "a report by wb-acme with a wrong secret: 401 (%d)" % st)
        st, _ = report("queues", basic("stat-1", SECRETS["stat-1"]))
        check(st == 401, "a report by a name that is no StatClient here: 401 (%d)" % st)
        # A peer that leaves while its secret is checked: the answer finds no connection.
        for _ in range(3):
            sock = socket.create_connection(("127.0.0.1", sp), timeout=5)
            sock.sendall(("GET /reports/queues.csv?from=%d&to=%d&interval=86400 HTTP/1.1\r\n"
                          "Host: x\r\nAuthorization: %s\r\n\r\n"
                          % (t0, t0 + 86400000, basic("wb-acme", SECRETS["wb-acme"])))
                         .encode())
            sock.close()
        st, tenants = report("agents", basic("wb-acme", SECRETS["wb-acme"]))
        check(st == 200 and tenants == {ACME} and stat.running(),
              "after peers that left during their check, a report by name is still served")
        check("event=report_refused name=wb-acme why=secret" in stat.stderr(),
              "the refused report is logged without its secret")
        check(SECRETS["wb-acme"] not in stat.stderr(), "no secret in the statserver's log")

        # ---- the terminal wallboard registers by a [clients] name ----
        rc, out, _ = env.run(["wallboard", "--server", "127.0.0.1:%d" % stat.port,
                              "--client-name", "wb-acme", "--token", SECRETS["wb-acme"],
                              "--once"], timeout=30)
        check(rc == 0 and "type=StatClient name=wb-acme cred=clients" in stat.stderr(),
              "wallboard --client-name wb-acme registers by its [clients] entry (exit %s: %r)"
              % (rc, out.strip()[-300:]))
        check("logged_in=1 " in out,
              "the terminal wallboard of wb-acme counts acme's agent only (%r)" % out[-300:])

        # ---- max-secret-checks: one check at a time, the next registration gets 12 ----
        # A costlier hash (about 0.2 s) keeps the first check running while the second
        # registration arrives.
        rc, out, _ = env.run(["ixnserver", "--hash-password", "--rounds", "7"],
                             input="hot-secret\n")
        slow_hash = out.strip().splitlines()[-1]
        check(rc == 0 and slow_hash.startswith("$y$"), "a yescrypt hash of cost 7")
        cap = env.start_ixn("ixn-cap", tokens={},
                            extra_server="max-secret-checks = 1\nhttp = 127.0.0.1:0",
                            extra="[clients]\nhot = MediaServer, %s, %s" % (ACME, slow_hash))
        c1, c2 = harness.Client(cap.port), harness.Client(cap.port)
        for c in (c1, c2):
            c.send({"message": "RequestRegisterClient", "referenceId": 1, "clientName": "hot",
                    "clientType": "MediaServer", "token": "hot-secret"})
        # Which of the two the server reads first is the event loop's business.
        answers = [(c, c.next(timeout=10)) for c in (c1, c2)]
        acked = [c for c, m in answers if m.get("message") == "EventAck"]
        refused_ = [(c, m) for c, m in answers if m.get("message") == "EventError"]
        check(len(acked) == 1 and len(refused_) == 1,
              "of two registrations at once, one is checked and one refused (%s)"
              % [m for _, m in answers])
        expect_error(refused_[0][1], 12, "the registration while the other is checked")
        check(refused_[0][0].closed(), "the refused registration's connection closes")
        c3, ans = register(cap.port, "MediaServer", "hot", "hot-secret")
        expect_ack(ans, "once the check is over, the next registration is checked")
        check("why=busy" in cap.stderr(), "the refusal is logged (why=busy)")
        got = metric(cap.ports["http"], 'contactcore_registrations_failed_total{reason="busy"}')
        check(got == 1, "ixn-cap /metrics: one registration failed for busy (got %s)" % got)


if __name__ == "__main__":
    main()
