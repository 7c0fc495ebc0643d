#!/usr/bin/env python3
"""agentdesk handling interactions (docs/agentdesk.md, protocol.md section 7), driven by a
script on stdin against a real ixnserver (queues chat-sales and chat-support for chat,
email-support for email; email has 30 s of after-work, chat none; invite-timeout 3 s) and
a statserver whose rule lets the agent hold one chat and one email.

Session 1: `queues` shows what a media server submitted beforehand; `list` is empty; a
number that is no interaction gets UnknownInteraction; `ready chat`, `wait-invite` shows
the chat's invite with its user data and `last`; `accept last`, a second accept is
InvalidState; the status table shows chat current 1; `done N` (the number suffix) ends
it and the status shows chat current 0; `ready email`, `accept`, `done` says
"after-work 30 s", `list` shows AfterWork, `complete last` ends it. A reporting engine
sees Invited, PartyAdded, PartyRemoved, Invited, PartyAdded, AfterWork, PartyRemoved.

Session 2: a chat is rejected (offered again), left to time out (revoked, offered again),
transferred to chat-support (offered again from there), accepted, and then stopped by the
media server while the agent handles it (removed: the customer left); `list` ends empty.
While it is handled, the statserver's own port shows chat current 1.

The output format is docs/agentdesk.md's; the checks look for lines in order."""
import os
import re
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, expect_ack, is_state  # noqa: E402

T = "Resources"
AGENTS = {"Resources/1001": "pw1001"}
RULES = """
rule "OneEach" { chat = chat >= 1; email = email >= 1; voice = voice >= 1; }
assign tenant "Resources" "OneEach";
"""
QUEUES = """
[queues]
Resources/chat-sales = chat
Resources/chat-support = chat
Resources/email-support = email
[after-work]
email = 30
"""
ROW = re.compile(r"^\s*(chat|email|voice)\s+(yes|no)\s+(\d+)\s+(\d+)\s+(\d+)\s*$")


def find_in_order(out, patterns):
    """Looks for each regex of patterns in the lines of out, each after the line where the
    previous one matched. Returns (list of match objects, index of the first pattern not
    found or None)."""
    lines = out.splitlines()
    at = 0
    found = []
    for i, pat in enumerate(patterns):
        rx = re.compile(pat)
        while at < len(lines) and not rx.search(lines[at]):
            at += 1
        if at == len(lines):
            return found, i
        found.append(rx.search(lines[at]))
        at += 1
    return found, None


def expect_lines(out, patterns, what):
    found, missing = find_in_order(out, patterns)
    check(missing is None, "%s (missing, in order: %r)"
          % (what, patterns[missing] if missing is not None else None))
    return found


def status_row(media, ready, current, mx, avail):
    return r"^\s*%s\s+%s\s+%d\s+%d\s+%d\s*$" % (media, "yes" if ready else "no", current, mx,
                                              avail)


def list_row(ixn_id, media, queue, state):
    return r"^\s+%s\s+%s\s+%s\s+%s\s+\d+ s$" % (re.escape(ixn_id), media, re.escape(queue), state)


def desk(env, ixn, script, label):
    path = env.write("pw-1001.txt", "pw1001\n")
    args = ["agentdesk", "--server", "127.0.0.1:%d" % ixn.port, "--token", "desk-secret",
            "--tenant", T, "--agent", "1001", "--place", "P1001", "--media", "chat,email",
            "--password-file", path]
    rc, out, err = env.run(args, input=script, timeout=40, label=label)
    print("---- %s: exit %s, stdout ----\n%s---- end ----" % (label, rc, out))
    return rc, out, err


def submit(media_client, media, queue, user_data=None):
    msg = {"message": "RequestSubmit", "tenant": T, "media": media, "queue": queue}
    if user_data is not None:
        msg["userData"] = user_data
    ans = expect_ack(media_client.request(msg), "submit %s to %s" % (media, queue))
    ixn_id = ans.get("interactionId")
    check(isinstance(ixn_id, str) and re.match(r"^ixn-a:\d{9}$", ixn_id) is not None,
          "submit answers an interactionId ixn-a:NNNNNNNNN (%r)" % ixn_id)
    return ixn_id


def stop_when_handled(rep, media_client, wallboard, ixn_id, result):
    """Thread body: waits until the agent handles ixn_id, reads the agent's chat counts at
    the statserver, then stops the interaction as a media server."""
    try:
        def handled(m):
            return is_state(m, "1001", "PartyAdded") and any(
                x.get("interactionId") == ixn_id and x.get("state") == "Handling"
                for x in m.get("interactions") or [])
        rep.next(handled, timeout=30, what="PartyAdded of %s" % ixn_id)
        ans = wallboard.request({"message": "RequestAgentStatus", "tenant": T,
                                 "agentId": "1001"})
        if ans.get("message") == "EventAck":
            st = wallboard.next(lambda m: harness.is_status(m, "1001"), timeout=5)
            result["chat"] = harness.status_vec(st).get("chat")
        result["answer"] = media_client.request({"message": "RequestStopProcessing",
                                                 "interactionId": ixn_id,
                                                 "reason": "customer left"})
    except Exception as e:  # reported by the main thread
        result["error"] = repr(e)


def main():
    args = harness.parse_args()
    with harness.Env(args.bin, timeout=150) as env:
        data_dir = env.path("ixn-a-data")
        os.makedirs(data_dir, exist_ok=True)
        ixn = env.start_ixn("ixn-a", agents=AGENTS,
                            extra_server="data-dir = %s\ninvite-timeout = 3" % data_dir,
                            extra=QUEUES)
        stat = env.start_stat("stat-1", ixns=[ixn], rules=RULES)
        rep = harness.reporter(ixn.port)
        expect_ack(rep.request({"message": "RequestStartPlaceAgentStateReportingAll"}),
                   "reporter starts")
        rep.next(lambda m: m.get("message") == "EventPlaceAgentStateSnapshotDone")
        media = harness.Client(ixn.port)
        expect_ack(media.register("MediaServer", "media-secret"), "media server registers")

        chat_a = submit(media, "chat", "chat-sales", {"customer": "Alice", "orderId": 42})
        email_b = submit(media, "email", "email-support", {"subject": "Refund"})
        num_a = str(int(chat_a.split(":")[1]))

        # ---- session 1: the full flow of a chat and of an email with after-work ----
        script = "\n".join([
            "queues",
            "list",
            "accept 999999",
            "accept",
            "ready chat",
            "wait-invite",
            "list",
            "accept last",
            "accept last",
            "sleep 300",
            "status",
            "list",
            "done %s" % num_a,
            "sleep 300",
            "status",
            "list",
            "ready email",
            "wait-invite",
            "accept last",
            "done last",
            "list",
            "complete last",
            "sleep 300",
            "list",
        ]) + "\n"
        rc, out, err = desk(env, ixn, script, "agentdesk-1")
        check(rc == 0, "session 1 exits 0 (got %s)" % rc)
        check("no invite arrived" not in out, "every wait-invite got its invite")
        expect_lines(out, [
            r"^\s+tenant\s+queue\s+media\s+waiting\s+invited\s+handling\s+oldest$",
            r"^\s+Resources\s+chat-sales\s+chat\s+1\s+0\s+0\s+\d+\.\d s$",
            r"^\s+Resources\s+email-support\s+email\s+1\s+0\s+0\s+\d+\.\d s$",
        ], "queues: chat-sales and email-support each with one waiting")
        expect_lines(out, [r"^no interactions$",
                           r"^error: UnknownInteraction \(9\)",
                           r"^error: usage: accept ID$"],
                     "list is empty; accept 999999 is UnknownInteraction (9); a bare accept "
                     "is a usage error")
        expect_lines(out, [
            r"^invite %s: chat from queue chat-sales( of Resources)?, accept within 3 s$"
            % re.escape(chat_a),
            r"^  customer = Alice$",
            r"^  orderId = 42$",
            r"^last = %s$" % re.escape(chat_a),
            list_row(chat_a, "chat", "chat-sales", "Invited"),
            r"^ok$",
            r"^error: InvalidState \(10\)",
            status_row("chat", True, 1, 1, 0),
            list_row(chat_a, "chat", "chat-sales", "Handling"),
            r"^ok$",
            status_row("chat", True, 0, 1, 1),
            r"^no interactions$",
        ], "chat: invite with user data, last, Invited, accept, second accept refused, "
           "current 1, Handling, done by number, current 0, list empty")
        expect_lines(out, [
            r"^invite %s: email from queue email-support( of Resources)?, accept within 3 s$"
            % re.escape(email_b),
            r"^  subject = Refund$",
            r"^last = %s$" % re.escape(email_b),
            r"^ok$",
            r"^ok: after-work 30 s$",
            list_row(email_b, "email", "email-support", "AfterWork"),
            r"^ok$",
            r"^no interactions$",
        ], "email: invite, accept, done says after-work 30 s, AfterWork in the list, "
           "complete, list empty")
        check(re.search(r"^\s*email\s+yes\s+1\s+1\s+0\s*$", out, re.M) is not None,
              "a status shows email current 1 while it is held")

        causes = []
        while True:
            try:
                m = rep.next(lambda x: is_state(x, "1001"), timeout=2)
            except harness.Timeout:
                break
            causes.append(m.get("cause"))
            if m.get("cause") == "AgentLogout":
                break
        want = ["Invited", "PartyAdded", "PartyRemoved", "Invited", "PartyAdded", "AfterWork",
                "PartyRemoved", "AgentLogout"]
        it = iter(causes)
        check(all(any(c == w for c in it) for w in want),
              "the reporting engine sees %s in order (got %s)" % (want, causes))

        # ---- session 2: reject, timeout, transfer, stopped by the media server ----
        chat_c = submit(media, "chat", "chat-sales", {"customer": "Carol"})
        rep2 = harness.reporter(ixn.port)
        expect_ack(rep2.request({"message": "RequestStartPlaceAgentStateReportingAll"}),
                   "second reporter starts")
        media2 = harness.Client(ixn.port)
        expect_ack(media2.register("MediaServer", "media-secret"), "second media server")
        wallboard = harness.statclient(stat.port)
        result = {}
        stopper = threading.Thread(target=stop_when_handled,
                                   args=(rep2, media2, wallboard, chat_c, result), daemon=True)
        stopper.start()
        script = "\n".join([
            "ready chat",
            "wait-invite",
            "reject last not now",
            "wait-invite",
            "sleep 4500",
            "wait-invite",
            "transfer last chat-support",
            "wait-invite",
            "accept last",
            "sleep 1500",
            "list",
            "queues",
        ]) + "\n"
        rc, out, err = desk(env, ixn, script, "agentdesk-2")
        stopper.join(timeout=10)
        check(rc == 0, "session 2 exits 0 (got %s)" % rc)
        check("error" not in result, "the media server thread ran (%s)" % result.get("error"))
        check((result.get("answer") or {}).get("message") == "EventAck",
              "the media server's RequestStopProcessing is acknowledged (%s)"
              % result.get("answer"))
        check(result.get("chat") == (True, 1, 1, 0),
              "while the agent handles the chat the statserver says chat ready, current 1, "
              "max 1, available 0 (got %s)" % (result.get("chat"),))
        c = re.escape(chat_c)
        expect_lines(out, [
            r"^invite %s: chat from queue chat-sales" % c,
            r"^last = %s$" % c,
            r"^ok$",
            r"^invite %s: chat from queue chat-sales" % c,
            r"^last = %s$" % c,
            r"^revoked %s: no answer in time, back to its queue$" % c,
            r"^invite %s: chat from queue chat-sales" % c,
            r"^last = %s$" % c,
            r"^ok$",
            r"^invite %s: chat from queue chat-support" % c,
            r"^last = %s$" % c,
            r"^ok$",
            r"^removed %s: the customer left$" % c,
            r"^no interactions$",
        ], "reject offers it again, the timeout revokes it and it is offered again, transfer "
           "offers it from chat-support, the media server's stop removes it")
        expect_lines(out, [r"^\s+Resources\s+chat-support\s+chat\s+0\s+0\s+0\s+"],
                     "queues at the end: chat-support empty")
        check(ixn.running(), "ixnserver still runs")
    print("PASS test_desk_ixn")


if __name__ == "__main__":
    main()
