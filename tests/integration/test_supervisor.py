#!/usr/bin/env python3
"""Supervisor actions end to end (issue 12 item 3; docs/protocol.md "Supervisor actions").
An ixnserver with tenants acme and globex, a statserver (rule: one chat per agent), and a
Supervisor client of acme registered by its [clients] entry. Each action:
- RequestForceNotReady: the agent's desktop gets EventSupervisorAction naming the
  supervisor, the agent's state shows not ready with the supervisor's reason, and its
  status follows;
- RequestRevokeInteraction of a handled interaction: the desktop gets EventPartyRemoved
  reason Supervisor and the event; the interaction goes back to the head of its queue (it
  is offered again before one submitted earlier... later than it);
- RequestReassign of a handled interaction to another agent: the first agent loses it,
  the second is offered it under a reservation (its Invited state carries a
  reservationId), both desktops get the event, the supervisor's EventAck follows; a
  reassignment to an agent without room is refused by the reporting engine: 10, and the
  interaction stays queued;
- RequestForceLogout: the desktop gets the event, the agent is logged out (what it held
  goes back to its queue) and the desktop's next request gets 6;
and each refused outside the supervisor's tenants (5); agentdesk shows a forced not ready
and a forced logout in words naming the supervisor. Every attempt is one line of the
audit log (time, supervisor, action, target, reason, result) and of the server's log."""
import collections
import http.client
import os
import re
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, expect_ack, expect_error  # noqa: E402

ACME, GLOBEX = "acme", "globex"
A, B, C, G = "1001", "1002", "1003", "2001"
QUEUES = {ACME + "/chat-in": "chat", GLOBEX + "/chat-in": "chat"}
RULES = ('rule "One" { chat = chat >= 1; }\nassign tenant "%s" "One";\n'
         'assign tenant "%s" "One";\n' % (ACME, GLOBEX))
SUP, SUP_SECRET = "sup-acme", "sup-acme-secret"
STAT_SECRET, OBS_SECRET = "stat-1-secret", "obs-secret"
SA = "EventSupervisorAction"


def is_sa(action, ixn_id=None):
    return lambda m: (m.get("message") == SA and m.get("action") == action and
                      (ixn_id is None or m.get("interactionId") == ixn_id))


def sa(desk, action, who, ixn_id=None):
    """The desktop's EventSupervisorAction of that action; checks it names the supervisor."""
    m = desk.next(is_sa(action, ixn_id), what="%s %s on %s's desktop" % (SA, action, who))
    check(m.get("supervisor") == SUP and m.get("tenant") == ACME,
          "%s reaches %s's desktop naming the supervisor (%s)" % (action, who, m))
    return m


class Audit:
    """The audit log's lines, read as they come."""

    def __init__(self, path):
        self.path = path
        self.seen = 0

    def next(self, what, **fields):
        """The next line not yet read; checks that it has time= and each key=value."""
        with open(self.path, encoding="utf-8") as f:
            lines = f.read().splitlines()
        check(len(lines) > self.seen, "%s: an audit line (file has %d)" % (what, len(lines)))
        line = lines[self.seen]
        self.seen += 1
        ok = re.match(r"^time=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z ", line) is not None
        for k, v in fields.items():
            ok = ok and (" %s=%s" % (k, v)) in line
        check(ok, "%s: audit line %s (got %r)" % (what, fields, line))
        return line


def state(obs, agent_id, cause, what):
    return obs.next(lambda m: harness.is_state(m, agent_id, cause), what=what)


def main():
    args = harness.parse_args()
    with harness.Env(args.bin, timeout=150) as env:
        hs = {n: env.hash_password(s) for n, s in
              ((SUP, SUP_SECRET), ("stat-1", STAT_SECRET), ("obs", OBS_SECRET))}
        audit_path = env.path("audit.log")
        extra = "\n".join(
            ["[queues]"] + ["%s = %s" % kv for kv in QUEUES.items()] +
            ["[clients]",
             "%s = Supervisor, %s, %s" % (SUP, ACME, hs[SUP]),
             "stat-1 = ReportingEngine, *, %s" % hs["stat-1"],
             "obs = ReportingEngine, *, %s" % hs["obs"]])
        ixn = env.start_ixn(
            "ixn-a", agents={ACME + "/" + A: "pw" + A, ACME + "/" + B: "pw" + B,
                             ACME + "/" + C: "pw" + C, GLOBEX + "/" + G: "pw" + G},
            tokens={"AgentApplication": harness.DESK_TOKEN,
                    "MediaServer": harness.MEDIA_TOKEN},
            extra_server="data-dir = %s\naudit-log = %s\nhttp = 127.0.0.1:0"
            % (env.path("ixn-a-data"), audit_path),
            extra=extra)
        obs = harness.Client(ixn.port)
        expect_ack(obs.register("ReportingEngine", OBS_SECRET, "obs"), "observer registers")
        harness.start_reporting(obs)
        env.start_stat("stat-1", [ixn], rules=RULES, ixn_token=STAT_SECRET)
        ms = harness.media_server(ixn.port)
        sup = harness.Client(ixn.port)
        expect_ack(sup.register("Supervisor", SUP_SECRET, SUP), "the supervisor registers")
        audit = Audit(audit_path)

        da = harness.agent(ixn.port, ACME, A, "P" + A, "pw" + A)
        dg = harness.agent(ixn.port, GLOBEX, G, "P" + G, "pw" + G)
        harness.wait_routable(da, "chat")

        # ---- RequestForceNotReady ----
        expect_ack(sup.request({"message": "RequestForceNotReady", "agentId": A, "media": "chat",
                                "reason": {"code": 7, "description": "Coaching"}}),
                   "force not ready: acknowledged")
        m = sa(da, "ForceNotReady", A)
        check(m.get("media") == "chat" and m.get("reason") == {"code": 7,
                                                               "description": "Coaching"},
              "force not ready: the event names the media and the reason")
        st = state(obs, A, "NotReadyForMedia", "A's state after force not ready")
        chat = (st.get("media") or {}).get("chat") or {}
        check(chat.get("ready") is False and (chat.get("reason") or {}).get("code") == 7,
              "force not ready: A is not ready for chat with reason 7")
        da.next(lambda x: harness.is_status(x, A) and
                not ((x.get("media") or {}).get("chat") or {}).get("ready", True),
                what="A's status not ready for chat")
        check(True, "force not ready: the desktop's status follows")
        audit.next("force not ready", supervisor=SUP, action="ForceNotReady", tenant=ACME,
                   agent=A, media="chat", reason_code=7, reason="Coaching", result="ok")
        expect_error(sup.request({"message": "RequestForceNotReady", "tenant": GLOBEX,
                                  "agentId": G, "media": "chat"}), 5,
                     "force not ready of a globex agent", ref=True)
        audit.next("refused force not ready", action="ForceNotReady", tenant=GLOBEX, agent=G,
                   result="NotAuthorized")
        dg.expect_none(lambda x: x.get("message") == SA, wait=0.3)
        check(True, "the globex desktop heard of no supervisor action")
        expect_ack(da.request({"message": "RequestCancelNotReadyForMedia", "media": "chat"}),
                   "A ready again")

        # ---- RequestRevokeInteraction: back to the head of its queue ----
        x1 = harness.submit_ok(ms, ACME, "chat", "chat-in")
        da.next(harness.is_invite(x1), what="EventInvite of x1")
        expect_ack(da.request({"message": "RequestAccept", "interactionId": x1}), "A accepts x1")
        x2 = harness.submit_ok(ms, ACME, "chat", "chat-in")
        state(obs, A, "PartyAdded", "A handles x1")
        ans = expect_ack(sup.request({"message": "RequestAgentInteractions", "agentId": A}),
                         "what A holds")
        check(ans.get("tenant") == ACME and ans.get("interactions") ==
              [{"interactionId": x1, "media": "chat", "queue": "chat-in", "state": "Handling"}],
              "RequestAgentInteractions lists x1 handled by A (%s)" % ans.get("interactions"))
        expect_error(sup.request({"message": "RequestAgentInteractions", "tenant": GLOBEX,
                                  "agentId": G}), 5, "what a globex agent holds", ref=True)
        expect_ack(sup.request({"message": "RequestRevokeInteraction", "interactionId": x1,
                                "reason": "Escalated"}), "revoke x1: acknowledged")
        m = da.next(harness.is_ixn_event("EventPartyRemoved", x1), what="EventPartyRemoved x1")
        check(m.get("reason") == "Supervisor", "revoke: EventPartyRemoved reason Supervisor")
        m = sa(da, "RevokeInteraction", A, x1)
        check(m.get("reason") == "Escalated", "revoke: the event carries the reason")
        inv = da.next(harness.is_invite(), what="the next EventInvite on A")
        check(inv.get("interactionId") == x1,
              "revoke: x1 is back at the head of its queue, offered before x2 (got %s)"
              % inv.get("interactionId"))
        audit.next("revoke", supervisor=SUP, action="RevokeInteraction", tenant=ACME, agent=A,
                   interaction=x1, reason="Escalated", result="ok")
        xg = harness.submit_ok(ms, GLOBEX, "chat", "chat-in")
        dg.next(harness.is_invite(xg), what="EventInvite of the globex interaction")
        expect_error(sup.request({"message": "RequestRevokeInteraction", "interactionId": xg}),
                     5, "revoke of a globex interaction", ref=True)
        audit.next("refused revoke", action="RevokeInteraction", interaction=xg,
                   result="NotAuthorized")

        # ---- RequestReassign under a reservation ----
        expect_ack(da.request({"message": "RequestAccept", "interactionId": x1}),
                   "A accepts x1 again")
        expect_ack(ms.request({"message": "RequestStopProcessing", "interactionId": x2}),
                   "x2 ends (nothing else waits)")
        db = harness.agent(ixn.port, ACME, B, "P" + B, "pw" + B)
        harness.wait_routable(db, "chat")
        expect_ack(sup.request({"message": "RequestReassign", "agentId": B, "interactionId": x1,
                                "reason": "Skills"}), "reassign x1 to B: acknowledged")
        m = da.next(harness.is_ixn_event("EventPartyRemoved", x1), what="A loses x1")
        check(m.get("reason") == "Supervisor", "reassign: A gets EventPartyRemoved Supervisor")
        sa(da, "Reassign", A, x1)
        db.next(harness.is_invite(x1), what="EventInvite of x1 on B")
        m = sa(db, "Reassign", B, x1)
        check(m.get("agentId") == B, "reassign: B's event names B")
        st = state(obs, B, "Invited", "B's Invited state")
        check(isinstance(st.get("reservationId"), int) and st["reservationId"] > 0,
              "reassign: the offer to B was made under a reservation (id %s)"
              % st.get("reservationId"))
        audit.next("reassign", supervisor=SUP, action="Reassign", tenant=ACME, agent=B,
                   interaction=x1, **{"from": A}, reason="Skills", result="ok")
        expect_ack(db.request({"message": "RequestAccept", "interactionId": x1}), "B accepts x1")
        # B is full: the reporting engine refuses, the supervisor gets 10.
        expect_ack(da.request({"message": "RequestNotReadyForMedia", "media": "chat"}),
                   "A not ready")
        x3 = harness.submit_ok(ms, ACME, "chat", "chat-in")
        expect_error(sup.request({"message": "RequestReassign", "agentId": B,
                                  "interactionId": x3}), 10,
                     "reassign to an agent without room", ref=True)
        audit.next("refused reassign", action="Reassign", agent=B, interaction=x3,
                   result="InvalidState")
        qs = harness.queue_status(ms)
        check(qs[(ACME, "chat-in")]["waiting"] == 1, "the refused reassignment's x3 still waits")
        expect_error(sup.request({"message": "RequestReassign", "agentId": G,
                                  "interactionId": xg}), 5,
                     "reassign of a globex interaction", ref=True)
        audit.next("refused reassign outside", action="Reassign", interaction=xg,
                   result="NotAuthorized")

        # ---- RequestForceLogout ----
        expect_ack(sup.request({"message": "RequestForceLogout", "tenant": ACME, "agentId": B,
                                "reason": "Shift over"}), "force logout of B: acknowledged")
        sa(db, "ForceLogout", B)
        state(obs, B, "AgentLogout", "B's logout")
        expect_error(db.request({"message": "RequestDoNotDisturbOn"}), 6,
                     "B's desktop after the forced logout", ref=True)
        qs = harness.queue_status(ms)
        check(qs[(ACME, "chat-in")]["waiting"] == 2 and qs[(ACME, "chat-in")]["handling"] == 0,
              "force logout: B's handled x1 is back in its queue (%s)" % qs[(ACME, "chat-in")])
        audit.next("force logout", supervisor=SUP, action="ForceLogout", tenant=ACME, agent=B,
                   reason='"Shift over"', result="ok")
        expect_error(sup.request({"message": "RequestForceLogout", "agentId": G}), 5,
                     "force logout of a globex agent", ref=True)
        audit.next("refused force logout", action="ForceLogout", agent=G, result="NotAuthorized")
        expect_ack(dg.request({"message": "RequestDoNotDisturbOn"}), "the globex agent is in")

        # ---- agentdesk's view: the actions in words, naming the supervisor ----
        pw_path = env.write("pw-%s.txt" % C, "pw%s\n" % C)
        result = {}

        def run_desk():
            # The window in which the supervisor acts: the script starts at the login.
            result["run"] = env.run(
                ["agentdesk", "--server", "127.0.0.1:%d" % ixn.port, "--token", harness.DESK_TOKEN,
                 "--tenant", ACME, "--agent", C, "--place", "P" + C, "--media", "chat",
                 "--password-file", pw_path], input="sleep 500\n" * 10, timeout=60,
                label="agentdesk-" + C)

        t = threading.Thread(target=run_desk)
        t.start()
        try:
            state(obs, C, "AgentLogin", "agentdesk logs in " + C)
            expect_ack(sup.request({"message": "RequestForceNotReady", "agentId": C,
                                    "media": "chat",
                                    "reason": {"code": 4, "description": "Training"}}),
                       "force not ready of the agentdesk agent")
            state(obs, C, "NotReadyForMedia", C + " not ready")
            expect_ack(sup.request({"message": "RequestForceLogout", "agentId": C,
                                    "reason": "Bye"}), "force logout of the agentdesk agent")
        finally:
            t.join()
        rc, out, _ = result["run"]
        print("---- agentdesk: exit %s, stdout ----\n%s---- end ----" % (rc, out))
        check("supervisor %s made you not ready for chat: 4 Training" % SUP in out,
              "agentdesk shows the forced not ready naming the supervisor and the reason")
        check("supervisor %s logged you out: Bye" % SUP in out,
              "agentdesk shows the forced logout naming the supervisor")
        check(rc == 0, "agentdesk ends normally after a forced logout (exit %s)" % rc)
        audit.next("agentdesk force not ready", action="ForceNotReady", agent=C, result="ok")
        audit.next("agentdesk force logout", action="ForceLogout", agent=C, result="ok")
        err = ixn.stderr()
        check(err.count("event=supervisor_action") == audit.seen,
              "every audit line is in the server's log too (%d)" % audit.seen)

        # ---- rotation: the audit log moved away, SIGHUP, the next line in a new file ----
        rotated = audit_path + ".1"
        os.rename(audit_path, rotated)
        mark = len(ixn.stderr())
        ixn.kill(signal.SIGHUP)
        deadline = time.monotonic() + 20
        while "event=audit_log_reopened" not in ixn.stderr()[mark:] and \
                time.monotonic() < deadline:
            time.sleep(0.1)
        check("event=audit_log_reopened" in ixn.stderr()[mark:],
              "SIGHUP reopens the audit log (event=audit_log_reopened)")
        check(os.path.exists(audit_path) and
              (os.stat(audit_path).st_mode & 0o777) == 0o600,
              "the reopened audit log is a new file of mode 0600")
        expect_error(sup.request({"message": "RequestForceLogout", "agentId": G}), 5,
                     "force logout of a globex agent after the rotation", ref=True)
        after = Audit(audit_path)
        after.next("the first line after the rotation", action="ForceLogout", agent=G,
                   result="NotAuthorized")
        with open(rotated, encoding="utf-8") as f:
            check(len(f.read().splitlines()) == audit.seen,
                  "the rotated file got no line after the SIGHUP")

        # ---- metrics: the actions by action and result, as the audit trail has them ----
        want = collections.Counter()
        for path in (rotated, audit_path):
            with open(path, encoding="utf-8") as f:
                for line in f.read().splitlines():
                    action = re.search(r" action=(\S+)", line).group(1)
                    result = re.search(r" result=(\S+)", line).group(1)
                    want[(action, "ok" if result == "ok" else "refused")] += 1
        c = http.client.HTTPConnection("127.0.0.1", ixn.ports["http"], timeout=20)
        c.request("GET", "/metrics")
        body = c.getresponse().read().decode()
        c.close()
        got = collections.Counter()
        for m in re.finditer(r'^contactcore_ixn_supervisor_actions_total\{action="(\w+)",'
                             r'result="(\w+)"\} (\d+)$', body, re.M):
            got[(m.group(1), m.group(2))] = int(m.group(3))
        check(len(got) == 8 and all(got[k] == v for k, v in want.items()) and
              sum(got.values()) == sum(want.values()),
              "/metrics counts the supervisor actions as audited (want %s, got %s)"
              % (dict(want), dict(got)))


if __name__ == "__main__":
    main()
