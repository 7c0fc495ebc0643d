#!/usr/bin/env python3
"""One ixnserver, agent requests of protocol.md section 4: each request's success and its
documented errors (3 naming the field, 5 wrong password or another agentId, 6 not logged
in, 7 logged in on another connection, 8 unknown media, 10 invalid now), the whole state
and version +1 of every change as a reporting engine sees it, logout on disconnect,
registration, ping and the idle timeout (section 3)."""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, expect_ack, expect_error, is_state  # noqa: E402

T = "Resources"
AGENTS = harness.FOUR_AGENTS
STATE_FIELDS = harness.STATE_FIELDS


class States:
    """A reporting engine that follows every agent-state change and checks that each event
    carries the whole state and that an agent's version grows by exactly 1 per change."""

    def __init__(self, port, server_name):
        self.c = harness.reporter(port)
        self.server_name = server_name
        expect_ack(self.c.request({"message": "RequestStartPlaceAgentStateReportingAll"}),
                   "reporter: start reporting")
        done = self.c.next(lambda m: m.get("message") == "EventPlaceAgentStateSnapshotDone")
        check(done.get("count") == 0, "reporter: empty snapshot (count %s)" % done.get("count"))
        self.version = {}

    def expect(self, agent_id, cause, what, login=False):
        """The next state event (of any agent) must be agent_id's with cause; returns it."""
        try:
            m = self.c.next(is_state, timeout=5)
        except harness.Timeout as e:
            check(False, "%s: no EventPlaceAgentState %s (%s)" % (what, cause, e))
        check(m.get("agentId") == agent_id and m.get("cause") == cause,
              "%s: EventPlaceAgentState %s/%s cause %s (got %s/%s)" % (
                  what, T, agent_id, cause, m.get("agentId"), m.get("cause")))
        missing = [f for f in STATE_FIELDS if f not in m]
        check(not missing, "%s: whole state (missing %s)" % (what, missing))
        check(m.get("serverName") == self.server_name, "%s: serverName" % what)
        check(isinstance(m.get("interactions"), list), "%s: interactions is an array" % what)
        v = m.get("version")
        old = self.version.get(agent_id)
        if login:
            check(isinstance(v, int) and (old is None or v > old),
                  "%s: login version %s above previous %s" % (what, v, old))
        else:
            check(v == (old or 0) + 1, "%s: version %s = previous %s + 1" % (what, v, old))
        self.version[agent_id] = v
        return m

    def none(self, what, wait=0.3):
        """No state event arrives (a failed or no-op request changes nothing)."""
        try:
            self.c.expect_none(is_state, wait=wait)
        except harness.Failure as e:
            check(False, "%s: %s" % (what, e))
        check(True, "%s: no state event" % what)


def media_of(m):
    return m.get("media") or {}


def login_req(agent_id="1001", password=None, tenant=T, place=None, media=None, **extra):
    r = {"message": "RequestAgentLogin", "tenant": tenant, "agentId": agent_id,
         "placeId": place or "P" + agent_id,
         "password": password if password is not None else "pw" + agent_id,
         "mediaList": {"chat": 1} if media is None else media}
    r.update(extra)
    return r


def refused(c, req, code, what, rep, field=None, ref=None):
    """Sends req and checks that it is refused with code. When it is acknowledged instead
    (only reachable with CC_IT_SOFT=1), undoes it so that later checks stay meaningful."""
    ans = c.request(req)
    expect_error(ans, code, what, field=field, ref=ref)
    if ans.get("message") == "EventAck":
        if req["message"] == "RequestAgentLogin":
            c.request({"message": "RequestAgentLogout"})
        for m in rep.c.drain(0.3):
            if is_state(m):
                rep.version[m["agentId"]] = m["version"]
    return ans


def without(d, key):
    d = dict(d)
    del d[key]
    return d


def test_registration(ixn):
    c = harness.Client(ixn.port)
    ans = expect_ack(c.register("AgentApplication", "desk-secret", "desk-x"), "register")
    check(isinstance(ans.get("proxyClientId"), int), "registration ack has proxyClientId")
    check(ans.get("serverName") == "ixn-a", "registration ack names the server")
    check(ans.get("protocolVersion") == 1, "registration ack protocolVersion 1")
    check(ans.get("idleTimeout") == 30, "registration ack idleTimeout 30 (default)")
    expect_ack(c.request({"message": "RequestPing"}), "RequestPing")
    expect_error(c.register("AgentApplication", "desk-secret"), 13, "second registration",
                 ref=True)
    expect_ack(c.request({"message": "RequestPing"}), "ping after a second registration")
    c.close()

    c = harness.Client(ixn.port)
    expect_error(c.register("AgentApplication", "wrong"), 5, "wrong token", ref=True)
    check(c.closed(), "wrong token: connection closed")

    c = harness.Client(ixn.port)
    expect_error(c.request({"message": "RequestPing"}), 4, "ping before registration")
    check(c.closed(), "request before registration: connection closed")

    c = harness.Client(ixn.port)
    expect_error(c.register("StatClient", ""), 5, "StatClient on an ixnserver")
    check(c.closed(), "client type not served: connection closed")


def test_not_logged_in(ixn, rep):
    c = harness.Client(ixn.port)
    expect_ack(c.register("AgentApplication", "desk-secret"), "register desk")
    for req in ({"message": "RequestAgentLogout"},
                {"message": "RequestAddMedia", "media": "chat"},
                {"message": "RequestRemoveMedia", "media": "chat"},
                {"message": "RequestNotReadyForMedia", "media": "chat"},
                {"message": "RequestCancelNotReadyForMedia", "media": "chat"},
                {"message": "RequestChangeMediaStateReason", "media": "chat",
                 "reason": {"code": 1, "description": "x"}},
                {"message": "RequestDoNotDisturbOn"},
                {"message": "RequestDoNotDisturbOff"}):
        expect_error(c.request(req), 6, "%s before login" % req["message"], ref=True)
    # Field checks come before the logged-in check, and that one before the media check.
    expect_error(c.request({"message": "RequestAddMedia"}), 3,
                 "RequestAddMedia without media, not logged in", field="media")
    expect_error(c.request({"message": "RequestAddMedia", "media": "fax"}), 6,
                 "RequestAddMedia of unknown media, not logged in")
    m = harness.Client(ixn.port)
    expect_ack(m.register("MediaServer", "media-secret"), "register a MediaServer")
    expect_error(m.request(login_req("1001")), 5, "login from a MediaServer")
    expect_error(m.request({"message": "RequestDoNotDisturbOn"}), 5, "dnd from a MediaServer")
    expect_error(m.request({"message": "RequestAgentLogin", "agentId": "1001"}), 3,
                 "login without fields from a MediaServer (fields before type)", field="tenant")
    m.close()
    rep.none("requests without a login")
    c.close()


def test_login_errors(ixn, rep):
    c = harness.Client(ixn.port)
    expect_ack(c.register("AgentApplication", "desk-secret"), "register desk")
    good = login_req("1001")
    for field in ("tenant", "agentId", "placeId", "password", "mediaList"):
        refused(c, without(good, field), 3, "login without %s" % field, rep,
                field=field, ref=True)
    for field, bad in (("tenant", 7), ("agentId", ["1001"]), ("placeId", {"p": 1}),
                       ("password", 1001), ("mediaList", ["chat"]), ("tenant", ""),
                       ("agentId", "x" * 200)):
        req = dict(good)
        req[field] = bad
        expect_error(c.request(req), 3, "login with %s = %s" % (field, str(bad)[:20]),
                     field=field)
    for bad in ({"chat": 2}, {"chat": "yes"}, {"chat": -1}):
        expect_error(c.request(login_req("1001", media=bad)), 3,
                     "login with mediaList %s" % bad, field="chat")
    expect_error(c.request(login_req("1001", media={"Chat!": 1})), 3,
                 "login with an invalid media name")
    expect_error(c.request(login_req("1001", media={"fax": 1})), 8,
                 "login with unknown media fax")
    expect_error(c.request(login_req("1001", password="wrong")), 5, "login with wrong password")
    expect_error(c.request(login_req("1001", password="")), 5, "login with empty password")
    expect_error(c.request(login_req("1001", password="pw1002")), 5,
                 "login with another agent's password")
    expect_error(c.request(login_req("9999", password="pw1001")), 5, "login of an unknown agent")
    expect_error(c.request(login_req("1001", tenant="Sales")), 5, "login in the wrong tenant")
    ans = c.request(login_req("1001", password="Xyzzy-42"))
    check(ans.get("errorCode") == 5 and "Xyzzy" not in json.dumps(ans),
          "a refused login does not echo the password")
    rep.none("failed logins")

    r = harness.reporter(ixn.port)
    expect_error(r.request(login_req("1001")), 5, "login from a ReportingEngine")
    expect_error(r.request({"message": "RequestDoNotDisturbOn"}), 5,
                 "agent request from a ReportingEngine")
    r.close()
    expect_ack(c.request({"message": "RequestPing"}), "desk still served after failed logins")
    c.close()


def test_agent_flow(ixn, rep):
    d1 = harness.Client(ixn.port)
    expect_ack(d1.register("AgentApplication", "desk-secret"), "register desk 1001")
    expect_ack(d1.request(login_req("1001", media={"chat": 1, "voice": 0})), "login 1001")
    m = rep.expect("1001", "AgentLogin", "login 1001", login=True)
    check(m.get("loggedIn") is True and m.get("dnd") is False, "login: loggedIn, no dnd")
    check(m.get("tenant") == T and m.get("placeId") == "P1001", "login: tenant and place")
    check(media_of(m).get("chat", {}).get("ready") is True, "login: chat ready")
    check(media_of(m).get("voice", {}).get("ready") is False, "login: voice not ready")
    check(set(media_of(m)) == {"chat", "voice"}, "login: media chat and voice only")
    check(m.get("interactions") == [], "login: no interactions")

    expect_error(d1.request(login_req("1001")), 10, "second login on the same connection")
    expect_error(d1.request(login_req("1002")), 10, "other agent's login on a used connection")

    d1b = harness.Client(ixn.port)
    expect_ack(d1b.register("AgentApplication", "desk-secret"), "register second desk")
    expect_error(d1b.request(login_req("1001")), 7, "1001 logged in on another connection")
    rep.none("refused logins")

    # Media.
    expect_error(d1.request({"message": "RequestAddMedia"}), 3, "add media without media",
                 field="media")
    expect_error(d1.request({"message": "RequestAddMedia", "media": 5}), 3,
                 "add media with a number", field="media")
    expect_error(d1.request({"message": "RequestAddMedia", "media": "email", "ready": 2}), 3,
                 "add media ready 2", field="ready")
    expect_error(d1.request({"message": "RequestAddMedia", "media": "fax"}), 8,
                 "add unknown media fax")
    expect_error(d1.request({"message": "RequestAddMedia", "media": "email",
                             "agentId": "1002"}), 5, "add media naming agent 1002")
    rep.none("failed add media")
    expect_ack(d1.request({"message": "RequestAddMedia", "media": "email"}), "add email")
    m = rep.expect("1001", "MediaAdded", "add email")
    check(media_of(m).get("email", {}).get("ready") is False, "email added not ready (default)")
    check(media_of(m).get("chat", {}).get("ready") is True, "chat still ready (whole state)")

    # Not ready with a reason, reason change, cancel.
    expect_error(d1.request({"message": "RequestNotReadyForMedia"}), 3, "notready without media",
                 field="media")
    expect_error(d1.request({"message": "RequestNotReadyForMedia", "media": "chat",
                             "reason": {"code": "x", "description": "Lunch"}}), 3,
                 "notready with a string reason code", field="code")
    expect_error(d1.request({"message": "RequestNotReadyForMedia", "media": "chat",
                             "reason": "Lunch"}), 3, "notready with reason not an object",
                 field="reason")
    expect_error(d1.request({"message": "RequestNotReadyForMedia", "media": "chat",
                             "reason": {"code": -1, "description": "Lunch"}}), 3,
                 "notready with a negative reason code (docs: 0..2147483647)", field="code")
    expect_error(d1.request({"message": "RequestNotReadyForMedia", "media": "chat",
                             "reason": {"code": 1, "description": "d" * 1025}}), 3,
                 "notready with a 1,025-byte description (docs: at most 1,024)",
                 field="description")
    expect_error(d1.request({"message": "RequestNotReadyForMedia", "media": "fax"}), 8,
                 "notready unknown media")
    expect_error(d1.request({"message": "RequestNotReadyForMedia", "media": "chat",
                             "agentId": "1003"}), 5, "notready naming agent 1003")
    rep.none("failed notready")
    expect_ack(d1.request({"message": "RequestNotReadyForMedia", "media": "chat", "agentId": "1001",
                           "reason": {"code": 3, "description": "Lunch"}}),
               "notready chat (naming itself)")
    m = rep.expect("1001", "NotReadyForMedia", "notready chat")
    chat = media_of(m).get("chat", {})
    check(chat.get("ready") is False, "chat not ready")
    check(chat.get("reason") == {"code": 3, "description": "Lunch"},
          "chat reason {code 3, Lunch} (got %s)" % chat.get("reason"))

    refused(d1, {"message": "RequestChangeMediaStateReason", "media": "chat"}, 3,
            "reason change without reason", rep, field="reason")
    expect_error(d1.request({"message": "RequestChangeMediaStateReason", "media": "fax",
                             "reason": {"code": 4, "description": "Break"}}), 8,
                 "reason change unknown media")
    expect_ack(d1.request({"message": "RequestChangeMediaStateReason", "media": "chat",
                           "reason": {"code": 4, "description": "Break"}}), "reason change")
    m = rep.expect("1001", "MediaStateReasonChanged", "reason change")
    chat = media_of(m).get("chat", {})
    check(chat.get("ready") is False, "reason change keeps chat not ready")
    check(chat.get("reason") == {"code": 4, "description": "Break"},
          "chat reason {code 4, Break} (got %s)" % chat.get("reason"))

    expect_error(d1.request({"message": "RequestCancelNotReadyForMedia"}), 3,
                 "cancel notready without media", field="media")
    expect_error(d1.request({"message": "RequestCancelNotReadyForMedia", "media": "fax"}), 8,
                 "cancel notready unknown media")
    expect_ack(d1.request({"message": "RequestCancelNotReadyForMedia", "media": "chat"}),
               "ready chat")
    m = rep.expect("1001", "ReadyForMedia", "ready chat")
    chat = media_of(m).get("chat", {})
    check(chat.get("ready") is True and chat.get("reason") is None,
          "chat ready, reason null (got %s)" % chat)

    # A media of the server that the agent has not added: invalid now (10).
    expect_ack(d1.request({"message": "RequestRemoveMedia", "media": "voice"}), "remove voice")
    m = rep.expect("1001", "MediaRemoved", "remove voice")
    check("voice" not in media_of(m), "voice gone from the state")
    expect_error(d1.request({"message": "RequestRemoveMedia", "media": "voice"}), 10,
                 "remove voice again (not added)")
    expect_error(d1.request({"message": "RequestNotReadyForMedia", "media": "voice"}), 10,
                 "notready voice (not added)")
    expect_error(d1.request({"message": "RequestCancelNotReadyForMedia", "media": "voice"}), 10,
                 "ready voice (not added)")
    expect_error(d1.request({"message": "RequestRemoveMedia", "media": "fax"}), 8,
                 "remove unknown media")
    expect_error(d1.request({"message": "RequestRemoveMedia"}), 3, "remove without media",
                 field="media")
    rep.none("failed media requests")

    # DND.
    expect_error(d1.request({"message": "RequestDoNotDisturbOn", "agentId": "1002"}), 5,
                 "dnd on naming agent 1002")
    expect_ack(d1.request({"message": "RequestDoNotDisturbOn"}), "dnd on")
    m = rep.expect("1001", "DoNotDisturbOn", "dnd on")
    check(m.get("dnd") is True, "dnd true")
    expect_ack(d1.request({"message": "RequestDoNotDisturbOff"}), "dnd off")
    m = rep.expect("1001", "DoNotDisturbOff", "dnd off")
    check(m.get("dnd") is False, "dnd false")
    check(set(media_of(m)) == {"chat", "email"}, "state keeps chat and email")

    # Logout and a new login on the same connection.
    expect_error(d1.request({"message": "RequestAgentLogout", "agentId": "1002"}), 5,
                 "logout naming agent 1002")
    expect_ack(d1.request({"message": "RequestAgentLogout"}), "logout")
    m = rep.expect("1001", "AgentLogout", "logout")
    check(m.get("loggedIn") is False, "logout: loggedIn false")
    check(not media_of(m), "logout: all media removed (got %s)" % media_of(m))
    expect_error(d1.request({"message": "RequestDoNotDisturbOn"}), 6, "dnd on after logout")
    expect_error(d1.request({"message": "RequestAgentLogout"}), 6, "logout after logout")
    expect_ack(d1.request(login_req("1001", media={"email": 0})), "login again, same connection")
    m = rep.expect("1001", "AgentLogin", "login again", login=True)
    check(set(media_of(m)) == {"email"}, "fresh login: only the media of the new mediaList")

    # Logout on disconnect, seen by the reporter; then a new connection may log in.
    d2 = harness.agent(ixn.port, T, "1002", "P1002", "pw1002", media={"chat": 0})
    rep.expect("1002", "AgentLogin", "login 1002", login=True)
    d2.close()
    m = rep.expect("1002", "AgentLogout", "1002 disconnected")
    check(m.get("loggedIn") is False, "disconnect logs the agent out")
    d2 = harness.agent(ixn.port, T, "1002", "P1002", "pw1002", media={"chat": 1})
    check(True, "1002 logs in again from a new connection")
    rep.expect("1002", "AgentLogin", "login 1002 again", login=True)

    d1b.close()
    d1.close()
    rep.expect("1001", "AgentLogout", "1001 disconnected")
    d1b = harness.agent(ixn.port, T, "1001", "P1001", "pw1001")
    check(True, "1001 logs in from another connection once the first is gone")
    rep.expect("1001", "AgentLogin", "1001 login on the new connection", login=True)
    d1b.close()
    d2.close()
    for _ in range(2):
        m = rep.c.next(lambda x: is_state(x, cause="AgentLogout"))
        check(m.get("agentId") in ("1001", "1002"), "logout of %s on disconnect" % m.get("agentId"))


def test_pipeline(ixn, rep):
    """Requests sent back to back are answered once each, in request order, also across a
    login whose password check runs on another thread."""
    c = harness.Client(ixn.port)
    expect_ack(c.register("AgentApplication", "desk-secret"), "pipeline: register")
    reqs = [login_req("1003", password="nope"),
            {"message": "RequestDoNotDisturbOn"},
            login_req("1003", media={}),
            {"message": "RequestPing"},
            {"message": "RequestAddMedia", "media": "voice", "ready": 1},
            {"message": "RequestNoSuchThing"},
            {"message": "RequestAddMedia", "media": "voice"},
            {"message": "RequestDoNotDisturbOn"},
            {"message": "RequestAgentLogout"}]
    want = [5, 6, 0, 0, 0, 2, 10, 0, 0]
    data = b""
    first = c.ref + 1
    for r in reqs:
        r = dict(r, referenceId=c.next_ref())
        data += (json.dumps(r) + "\n").encode()
    data += b"".join(b'{"message":"RequestPing","referenceId":%d}\n' % c.next_ref()
                     for _ in range(200))
    c.send_raw(data)
    answers = []
    while len(answers) < len(reqs) + 200:
        try:
            answers.append(c.next(lambda m: m.get("message") in ("EventAck", "EventError")))
        except harness.Timeout as e:
            check(False, "pipeline: %d of %d answers (%s)" % (len(answers), len(reqs) + 200, e))
    refs = [m.get("referenceId") for m in answers]
    check(refs == list(range(first, first + len(reqs) + 200)),
          "pipeline: one answer per request, in request order")
    codes = [m.get("errorCode", 0) for m in answers[:len(reqs)]]
    check(codes == want, "pipeline: answers %s (got %s)" % (want, codes))
    check(all(m.get("message") == "EventAck" for m in answers[len(reqs):]),
          "pipeline: 200 pings acknowledged")
    m = rep.expect("1003", "AgentLogin", "pipeline: login with an empty mediaList", login=True)
    check(media_of(m) == {}, "pipeline: empty mediaList, no media")
    m = rep.expect("1003", "MediaAdded", "pipeline: add voice ready 1")
    check(media_of(m).get("voice", {}).get("ready") is True, "pipeline: voice added ready")
    rep.expect("1003", "DoNotDisturbOn", "pipeline: dnd on")
    rep.expect("1003", "AgentLogout", "pipeline: logout")
    c.close()


def test_abandoned_logins(ixn, rep):
    """Connections that close while their login's password check is still running leave no
    agent behind, and the server keeps serving."""
    for i in range(20):
        c = harness.Client(ixn.port)
        c.send({"message": "RequestRegisterClient", "referenceId": 1, "clientName": "gone",
                "clientType": "AgentApplication", "token": "desk-secret"})
        c.send(dict(login_req("1003"), referenceId=2))
        if i % 2:
            c.send_raw(b'{"message":"RequestPing","refer')
        c.close()
    states = [m for m in rep.c.drain(0.5) if is_state(m)]
    for m in states:
        rep.version[m["agentId"]] = m["version"]
    logins = sum(1 for m in states if m.get("cause") == "AgentLogin")
    logouts = sum(1 for m in states if m.get("cause") == "AgentLogout")
    check(logins == logouts, "abandoned logins: every login reported is followed by its "
          "logout (%d, %d)" % (logins, logouts))
    d = harness.agent(ixn.port, T, "1003", "P1003", "pw1003")
    check(True, "abandoned logins: 1003 logs in afterwards (not 7)")
    rep.expect("1003", "AgentLogin", "abandoned logins: the new login", login=True)
    d.close()
    rep.expect("1003", "AgentLogout", "abandoned logins: logout on close")


def test_grace(env):
    """With grace-period = 2 a closed connection's agent stays logged in for 2 s, and a
    login from a new connection meanwhile takes the session over."""
    ixn = env.start_ixn("ixn-grace", agents={"Resources/1001": "pw1001"},
                        extra_server="grace-period = 2")
    rep = States(ixn.port, "ixn-grace")
    d = harness.agent(ixn.port, T, "1001", "P1001", "pw1001", media={"chat": 1})
    rep.expect("1001", "AgentLogin", "grace: login", login=True)
    d.close()
    rep.none("grace: no logout within 0.7 s of the disconnect", wait=0.7)
    d = harness.agent(ixn.port, T, "1001", "P1001", "pw1001", media={"chat": 1})
    check(True, "grace: a login from a new connection inside the grace period is accepted")
    m = rep.c.next(is_state, timeout=3)
    check(m.get("agentId") == "1001" and m.get("loggedIn") is True and
          m.get("cause") != "AgentLogout" and m.get("version") > rep.version["1001"],
          "grace: the takeover is reported logged in with a higher version (cause %s)"
          % m.get("cause"))
    rep.version["1001"] = m.get("version")
    x = harness.Client(ixn.port)
    expect_ack(x.register("AgentApplication", "desk-secret"), "grace: register a third desk")
    expect_error(x.request(login_req("1001")), 7, "grace: taken-over session is in use")
    x.close()
    rep.none("grace: no logout after the takeover, past the grace period", wait=2.3)
    expect_ack(d.request({"message": "RequestDoNotDisturbOn"}), "grace: the new desk acts")
    rep.expect("1001", "DoNotDisturbOn", "grace: dnd on from the new desk")
    d.close()
    t0 = time.monotonic()
    m = rep.c.next(is_state, timeout=5)
    took = time.monotonic() - t0
    check(m.get("cause") == "AgentLogout" and m.get("loggedIn") is False,
          "grace: logged out when nobody comes back")
    check(1.5 <= took <= 3.5, "grace: the logout comes about 2 s after the close (%.1f s)" % took)
    rep.c.close()


def test_idle(env):
    ixn = env.start_ixn("ixn-idle", agents={"Resources/1003": "pw1003"},
                        extra_server="idle-timeout = 1")
    silent = harness.Client(ixn.port)
    ans = expect_ack(silent.register("AgentApplication", "desk-secret"), "idle: register")
    check(ans.get("idleTimeout") == 1, "idle: registration ack idleTimeout 1")
    expect_ack(silent.request(login_req("1003")), "idle: login 1003")
    rep = harness.reporter(ixn.port)
    expect_ack(rep.request({"message": "RequestStartPlaceAgentStateReportingAll"}),
               "idle: reporter starts")
    t0 = time.monotonic()
    logged_out = None
    while time.monotonic() - t0 < 4:
        rep.request({"message": "RequestPing"})
        for m in rep.queue:
            if is_state(m, "1003", "AgentLogout"):
                logged_out = m
        if logged_out:
            break
        time.sleep(0.3)
    check(silent.closed(timeout=0.5), "idle: silent connection closed")
    check(logged_out is not None, "idle: its agent logged out (seen by a pinging reporter)")
    check(not rep.eof, "idle: a client pinging every 0.3 s stays connected (%.1f s)" %
          (time.monotonic() - t0))


def main():
    args = harness.parse_args()
    with harness.Env(args.bin, timeout=90) as env:
        ixn = env.start_ixn("ixn-a", agents=AGENTS)
        rep = States(ixn.port, "ixn-a")
        test_registration(ixn)
        test_not_logged_in(ixn, rep)
        test_login_errors(ixn, rep)
        test_agent_flow(ixn, rep)
        test_pipeline(ixn, rep)
        test_abandoned_logins(ixn, rep)
        test_idle(env)
        test_grace(env)
    print("PASS test_ixn_agent")


if __name__ == "__main__":
    main()
