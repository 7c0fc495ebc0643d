#!/usr/bin/env python3
"""Bad input on the ixnserver port and on the statserver's StatClient port (protocol.md
sections 1-3, 6, 8): not JSON, not an object, no message (1, the connection stays open),
unknown message (2), missing and mistyped fields (3 naming the field), a missing or bad
referenceId (3 without referenceId), a request before registering (4 and close), a wrong
token (5 and close), a wrong password (5), a line over the limit (11 and close), an agent
naming another agent (5), a status from a desktop (5). Afterwards the clients connected
before are still served with their state intact."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, expect_ack, expect_error, is_state, is_status  # noqa: E402

T = "Resources"
AGENTS = {"Resources/1001": "pw1001", "Resources/1002": "pw1002"}
RULES = """
rule "Chat3" { chat = chat >= 3; }
assign tenant "Resources" "Chat3";
"""
MAX_LINE = 65536


def is_answer(m):
    return m.get("message") in ("EventAck", "EventError")


def answer(c, what, timeout=3):
    try:
        return c.next(is_answer, timeout=timeout)
    except harness.Timeout as e:
        check(False, "%s: no answer (%s)" % (what, e))


def still_open(c, what):
    expect_ack(c.request({"message": "RequestPing"}), "%s: connection still served" % what)


def registered(port, client_type, token):
    c = harness.Client(port)
    expect_ack(c.register(client_type, token), "register %s" % client_type)
    return c


def framing_errors(port, client_type, token, where):
    """Errors 1, 2 and 3 (referenceId) on a registered connection, which stays open."""
    c = registered(port, client_type, token)
    for raw, what in ((b"this is not json\n", "not JSON"),
                      (b"{\"message\":\"RequestPing\",\"referenceId\":1\n", "truncated JSON"),
                      (b"\xff\xfe\x00{}\n", "invalid UTF-8 and a NUL"),
                      (b"[" * 30000 + b"\n", "30,000 nested arrays"),
                      (b"[1,2,3]\n", "an array"),
                      (b"\"RequestPing\"\n", "a string"),
                      (b"42\n", "a number"),
                      (b"null\n", "null"),
                      (b"{}\n", "an empty object"),
                      (b"{\"referenceId\":5}\n", "no message"),
                      (b"{\"message\":5,\"referenceId\":6}\n", "message not a string")):
        c.send_raw(raw)
        expect_error(answer(c, "%s: %s" % (where, what)), 1, "%s: %s" % (where, what))
        still_open(c, "%s: after %s" % (where, what))
    expect_error(answer_to(c, b"garbage\n"), 1, "%s: not JSON carries no referenceId"
                 % where, ref=False)

    rid = c.next_ref()
    c.send({"message": "RequestNoSuchThing", "referenceId": rid})
    expect_error(answer(c, "unknown message"), 2, "%s: unknown message" % where, ref=rid,
                 field="RequestNoSuchThing")
    c.send({"message": "RequestNoSuchThing"})
    expect_error(answer(c, "unknown message"), 2,
                 "%s: unknown message without referenceId" % where, ref=False)
    still_open(c, "%s: after unknown messages" % where)

    for bad, what in ((None, "missing"), (0, "0"), (-3, "negative"), ("7", "a string"),
                      (1.5, "a fraction"), (True, "true")):
        req = {"message": "RequestPing"}
        if bad is not None:
            req["referenceId"] = bad
        c.send(req)
        expect_error(answer(c, what), 3, "%s: referenceId %s" % (where, what),
                     field="referenceId", ref=False)
    still_open(c, "%s: after bad referenceIds" % where)

    # One message in pieces, and several messages in one piece.
    line = b"{\"message\":\"RequestPing\",\"referenceId\":%d}\n" % c.next_ref()
    for i in range(0, len(line), 7):
        c.send_raw(line[i:i + 7])
        time.sleep(0.01)
    expect_ack(answer(c, "fragmented"), "%s: a line sent in 7-byte pieces" % where)
    first = c.ref + 1
    c.send_raw(b"".join(b"{\"message\":\"RequestPing\",\"referenceId\":%d}\n" % c.next_ref()
                        for _ in range(3)) + b"not json\n")
    got = [answer(c, "batch") for _ in range(4)]
    check([m.get("referenceId") for m in got[:3]] == [first, first + 1, first + 2] and
          got[3].get("errorCode") == 1, "%s: three requests and a bad line in one write, "
          "answered in order" % where)
    c.send({"message": "EventNoSuchThing", "referenceId": c.next_ref()})
    expect_error(answer(c, "unknown event"), 2, "%s: unknown event name" % where, ref=c.ref)
    c.send_raw(b"{\"message\":\"RequestPing\",\"referenceId\":%d}\r\n" % c.next_ref())
    expect_ack(answer(c, "CRLF"), "%s: a line ended by \\r\\n is accepted" % where)
    expect_ack(c.request({"message": "RequestPing", "someUnknownField": {"a": [1, 2]},
                          "seq": 12345}), "%s: unknown fields and a client seq are ignored"
               % where)
    pad = "x" * (MAX_LINE - 200)
    expect_ack(c.request({"message": "RequestPing", "pad": pad}),
               "%s: a line just under the limit is accepted" % where)
    expect_error(c.register(client_type, token), 13, "%s: second registration" % where)
    return c


def answer_to(c, raw):
    c.send_raw(raw)
    return answer(c, repr(raw))


def before_registration(port, where):
    for raw, what in ((b"garbage\n", "not JSON"),
                      (b"{\"message\":\"RequestPing\",\"referenceId\":1}\n", "a ping"),
                      (b"{\"message\":\"RequestAgentStatus\",\"referenceId\":1,"
                       b"\"tenant\":\"Resources\",\"agentId\":\"1001\"}\n", "a request"),
                      (b"{\"message\":\"EventCurrentAgentStatus\"}\n", "an event"),
                      (b"[]\n", "an array")):
        c = harness.Client(port)
        c.send_raw(raw)
        expect_error(answer(c, what), 4, "%s: %s before registering" % (where, what))
        check(c.closed(), "%s: %s before registering: connection closed" % (where, what))


def wrong_token(port, client_type, where):
    c = harness.Client(port)
    expect_error(c.register(client_type, "not-the-token"), 5, "%s: wrong token" % where,
                 ref=True)
    check(c.closed(), "%s: wrong token: connection closed" % where)
    c = harness.Client(port)
    rid = c.next_ref()
    c.send({"message": "RequestRegisterClient", "referenceId": rid, "clientName": "x",
            "clientType": client_type})
    expect_error(answer(c, "no token"), 5, "%s: no token" % where, ref=rid)
    check(c.closed(), "%s: no token: connection closed" % where)


def register_codes(port, client_type, token, where):
    """Section 3 (v1.1): a registration with a field missing or wrongly typed, or an unknown
    clientType, gets 3; a wrong token gets 5 (wrong_token); either way the connection
    closes."""
    cases = (("no clientType", {"clientName": "x", "token": token}),
             ("clientType not a string", {"clientType": 7, "token": token}),
             ("unknown clientType", {"clientType": "Wallpaper", "token": token}),
             ("clientName not a string", {"clientType": client_type, "clientName": 5,
                                          "token": token}),
             ("token not a string", {"clientType": client_type, "token": 12}))
    for what, fields in cases:
        c = harness.Client(port)
        rid = c.next_ref()
        msg = {"message": "RequestRegisterClient", "referenceId": rid}
        msg.update(fields)
        c.send(msg)
        expect_error(answer(c, what), 3, "%s: register with %s" % (where, what), ref=rid)
        check(c.closed(), "%s: register with %s: connection closed" % (where, what))


def too_long(port, client_type, token, where):
    c = registered(port, client_type, token)
    # No newline: the server must give up at the limit, not wait for the end of the line.
    c.send_raw(b"{\"message\":\"RequestPing\",\"pad\":\"" + b"y" * (MAX_LINE + 100))
    expect_error(answer(c, "line over the limit"), 11, "%s: line over the limit" % where)
    check(c.closed(), "%s: line over the limit: connection closed" % where)
    c = harness.Client(port)
    c.send_raw(b"z" * (MAX_LINE + 10))
    ans = answer(c, "long line before registering")
    check(ans.get("message") == "EventError" and ans.get("errorCode") in (4, 11),
          "%s: long line before registering: error 11 or 4 (got %s)"
          % (where, ans.get("errorCode")))
    check(c.closed(), "%s: long line before registering: connection closed" % where)


def ixn_fields(ixn, desk2):
    where = "ixnserver"
    c = registered(ixn.port, "AgentApplication", "desk-secret")
    login = {"message": "RequestAgentLogin", "tenant": T, "agentId": "1001", "placeId": "P1001",
             "password": "pw1001", "mediaList": {"chat": 1}}
    for field in ("tenant", "agentId", "password"):
        req = dict(login)
        del req[field]
        expect_error(c.request(req), 3, "%s: login without %s" % (where, field), field=field)
        req[field] = 17
        expect_error(c.request(req), 3, "%s: login with numeric %s" % (where, field), field=field)
    expect_error(c.request(dict(login, password="nope")), 5, "%s: wrong password" % where)
    still_open(c, "%s: after a wrong password" % where)
    expect_error(c.request(dict(login)), 7, "%s: 1001 logged in on another connection" % where)

    # desk2 is 1002, logged in.
    for req in ({"message": "RequestDoNotDisturbOn", "agentId": "1001"},
                {"message": "RequestAgentLogout", "agentId": "1001"},
                {"message": "RequestNotReadyForMedia", "agentId": "1001", "media": "chat"}):
        expect_error(desk2.request(req), 5,
                     "%s: 1002 sends %s naming 1001" % (where, req["message"]))
    expect_error(desk2.request({"message": "RequestAddMedia", "media": ["chat"]}), 3,
                 "%s: media not a string" % where, field="media")
    expect_error(desk2.request({"message": "RequestAddMedia", "media": "x" * 300}), 3,
                 "%s: media name too long" % where, field="media")
    status = {"message": "EventCurrentAgentStatus", "tenant": T, "agentId": "1001",
              "placeId": "P1001", "version": 1, "rule": "X", "loggedIn": True, "dnd": False,
              "media": {"chat": {"ready": False, "current": 0, "max": 0, "available": 0}}}
    rid = desk2.next_ref()
    desk2.send(dict(status, referenceId=rid))
    expect_error(answer(desk2, "status from a desktop"), 5, "%s: status sent by a desktop" % where,
                 ref=rid)
    desk2.send(status)
    still_open(desk2, "%s: a status from a desktop without referenceId is dropped" % where)
    c.close()


def stat_fields(stat):
    where = "statserver"
    c = registered(stat.port, "StatClient", "wallboard-secret")
    for req, field in (({"message": "RequestAgentStatus", "tenant": T}, "agentId"),
                       ({"message": "RequestAgentStatus", "agentId": "1001"}, "tenant"),
                       ({"message": "RequestAgentStatus", "tenant": 5, "agentId": "1001"},
                        "tenant"),
                       ({"message": "RequestAgentStatus", "tenant": T, "agentId": 1001},
                        "agentId"),
                       ({"message": "RequestAgentStatus", "tenant": "t" * 300, "agentId": "1"},
                        "tenant"),
                       ({"message": "RequestSubscribeAgentStatus", "tenants": T}, "tenants"),
                       ({"message": "RequestSubscribeAgentStatus", "tenants": [1, 2]},
                        "tenants")):
        expect_error(c.request(req), 3, "%s: %s with bad %s" % (where, req["message"], field),
                     field=field)
    try:
        c.expect_none(is_status, wait=0.2)
    except harness.Failure as e:
        check(False, "%s: a refused request gave a status (%s)" % (where, e))
    check(True, "%s: refused requests give no status" % where)
    status = {"message": "EventCurrentAgentStatus", "tenant": T, "agentId": "1001",
              "placeId": "P1001", "rule": "X", "loggedIn": True, "dnd": False, "media": {}}
    rid = c.next_ref()
    c.send(dict(status, referenceId=rid))
    expect_error(answer(c, "status from a StatClient"), 5,
                 "%s: status sent by a StatClient with referenceId" % where, ref=rid)
    c.send(status)
    still_open(c, "%s: after a status without referenceId" % where)
    for t in ("AgentApplication", "ReportingEngine", "MediaServer"):
        x = harness.Client(stat.port)
        expect_error(x.register(t, "wallboard-secret"), 5, "%s: clientType %s refused" % (where, t))
        check(x.closed(), "%s: clientType %s: connection closed" % (where, t))
    c.close()


def main():
    args = harness.parse_args()
    with harness.Env(args.bin, timeout=120) as env:
        ixn = env.start_ixn("ixn-a", agents=AGENTS)
        stat = env.start_stat("stat-1", ixns=[ixn], rules=RULES)

        # Clients connected before the bad input, with state to keep.
        desk1 = harness.agent(ixn.port, T, "1001", "P1001", "pw1001", media={"chat": 1})
        st = desk1.next(is_status, timeout=5)
        check(harness.status_vec(st).get("chat") == (True, 0, 3, 3),
              "1001 gets its status: chat R 0 3 3 (got %s)" % harness.status_vec(st))
        desk2 = harness.agent(ixn.port, T, "1002", "P1002", "pw1002", media={"chat": 0})
        desk2.next(is_status, timeout=5)
        rep = harness.reporter(ixn.port)
        expect_ack(rep.request({"message": "RequestStartPlaceAgentStateReportingAll"}),
                   "reporter starts")
        snap = {}
        while True:
            m = rep.next(lambda x: is_state(x) or
                         x.get("message") == "EventPlaceAgentStateSnapshotDone")
            if m["message"] != "EventPlaceAgentState":
                break
            snap[m["agentId"]] = m
        check(set(snap) == {"1001", "1002"}, "reporter snapshot has 1001 and 1002")
        wall = harness.statclient(stat.port)
        expect_ack(wall.request({"message": "RequestSubscribeAgentStatus"}), "wallboard subscribes")
        done = wall.next(lambda x: x.get("message") == "EventAgentStatusSnapshotDone")
        check(done.get("count") == 2, "wallboard snapshot count 2 (got %s)" % done.get("count"))
        wall.drain(0.05)

        for port, ctype, token, where in ((ixn.port, "AgentApplication", "desk-secret",
                                           "ixnserver"),
                                          (stat.port, "StatClient", "wallboard-secret",
                                           "statserver")):
            keep = framing_errors(port, ctype, token, where)
            before_registration(port, where)
            wrong_token(port, ctype, where)
            register_codes(port, ctype, token, where)
            too_long(port, ctype, token, where)
            still_open(keep, "%s: the connection with the framing errors" % where)
            keep.close()
        ixn_fields(ixn, desk2)
        stat_fields(stat)

        # Everything connected before is intact.
        check(ixn.running() and stat.running(), "both daemons still run")
        for c, what in ((desk1, "desk 1001"), (desk2, "desk 1002"), (rep, "reporter"),
                        (wall, "wallboard")):
            still_open(c, "%s after the bad input" % what)
        try:
            rep.expect_none(is_state, wait=0.1)
        except harness.Failure as e:
            check(False, "bad input changed an agent's state (%s)" % e)
        check(True, "bad input changed no agent state")
        q = wall.request({"message": "RequestAgentStatus", "tenant": T, "agentId": "1001"})
        expect_ack(q, "wallboard asks for 1001")
        m = wall.next(lambda x: is_status(x, "1001"))
        check(m.get("loggedIn") is True and harness.status_vec(m).get("chat") == (True, 0, 3, 3),
              "1001 still logged in, chat R 0 3 3 (got %s)" % harness.status_vec(m))
        expect_ack(desk1.request({"message": "RequestNotReadyForMedia", "media": "chat"}),
                   "1001 notready chat")
        m = rep.next(is_state)
        check(m.get("agentId") == "1001" and m.get("cause") == "NotReadyForMedia" and
              m.get("version") == snap["1001"]["version"] + 1,
              "reporter still gets events: 1001 NotReadyForMedia, version +1")
        m = desk1.next(is_status, timeout=5)
        check(harness.status_vec(m).get("chat") == (False, 0, 3, 0),
              "desk 1001 gets its new status: chat NR 0 3 0")
        m = wall.next(lambda x: is_status(x, "1001"), timeout=5)
        check(harness.status_vec(m).get("chat") == (False, 0, 3, 0),
              "wallboard gets 1001's new status")
        time.sleep(0.05)
    print("PASS test_bad_input")


if __name__ == "__main__":
    main()
