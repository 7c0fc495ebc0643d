#!/usr/bin/env python3
"""agentdesk driven by a script on stdin (not a terminal, --password-file) against a real
ixnserver and statserver: login, add/ready/notready with a reason, dnd, status, a bad
command, logout, a request after logout; the status tables carry the numbers of the rule
(chat max 3) and a reporting engine sees every request take effect. A wrong password, an
agent logged in elsewhere and a missing password file give an error and a non-zero exit.
The output format is docs/agentdesk.md's; the checks match it loosely (rows of numbers)."""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, expect_ack, is_state  # noqa: E402

T = "Resources"
AGENTS = {"Resources/1001": "pw1001", "Resources/1002": "pw1002"}
RULES = """
rule "Chat3" { chat = chat >= 3; email = email >= 1; }
assign tenant "Resources" "Chat3";
"""
ROW = re.compile(r"^\s*(chat|email|voice)\s+(yes|no)\s+(\d+)\s+(\d+)\s+(\d+)\s*$")


def rows(out, media="chat"):
    """Every table row of that media, in order, as (ready, current, max, available)."""
    got = []
    for line in out.splitlines():
        m = ROW.match(line)
        if m and m.group(1) == media:
            got.append((m.group(2) == "yes", int(m.group(3)), int(m.group(4)), int(m.group(5))))
    return got


def in_order(seq, wanted):
    """True when wanted appears in seq as a subsequence."""
    it = iter(seq)
    return all(any(x == w for x in it) for w in wanted)


def desk(env, ixn, agent_id, script, pwfile=True, password=None, token="desk-secret"):
    args = ["agentdesk", "--server", "127.0.0.1:%d" % ixn.port, "--token", token,
            "--tenant", T, "--agent", agent_id, "--place", "P" + agent_id]
    if pwfile:
        path = env.write("pw-%s.txt" % agent_id, (password or "pw" + agent_id) + "\n")
        args += ["--password-file", path]
    rc, out, err = env.run(args, input=script, timeout=25, label="agentdesk-%s" % agent_id)
    print("---- agentdesk %s: exit %s, stdout ----\n%s---- end ----" % (agent_id, rc, out))
    return rc, out, err


def states(rep, n):
    got = []
    for _ in range(n):
        try:
            got.append(rep.next(is_state, timeout=3))
        except harness.Timeout:
            break
    return got


def main():
    args = harness.parse_args()
    with harness.Env(args.bin, timeout=120) as env:
        ixn = env.start_ixn("ixn-a", agents=AGENTS)
        env.start_stat("stat-1", ixns=[ixn], rules=RULES)
        rep = harness.reporter(ixn.port)
        expect_ack(rep.request({"message": "RequestStartPlaceAgentStateReportingAll"}),
                   "reporter starts")
        rep.next(lambda m: m.get("message") == "EventPlaceAgentStateSnapshotDone")

        # Each status-causing request is followed by a pause rather than wait-status, so the
        # tables come out in a fixed order: wait-status also returns on a status that arrived
        # after the previous wait-status returned, even one caused by an earlier request.
        script = "\n".join([
            "wait-status",
            "status",
            "add chat",
            "sleep 300",
            "ready chat",
            "sleep 300",
            "notready chat 3 Lunch",
            "sleep 300",
            "status",
            "frobnicate the widgets",
            "notready Chat!",
            "ready fax",
            "dnd on",
            "sleep 300",
            "dnd off",
            "sleep 300",
            "logout",
            "sleep 100",
            "dnd on",
        ]) + "\n"
        rc, out, err = desk(env, ixn, "1001", script)
        check(rc == 0, "scripted desk exits 0 (got %s)" % rc)
        check("pw1001" not in out and "pw1001" not in err, "the password is never printed")
        check(re.search(r"logged in", out) is not None, "desk says it logged in")
        check("no status arrived" not in out, "wait-status got the login's status")
        chat = rows(out)
        want = [(False, 0, 3, 0),   # add chat
                (True, 0, 3, 3),    # ready chat
                (False, 0, 3, 0),   # notready chat 3 Lunch
                (False, 0, 3, 0),   # status
                (False, 0, 3, 0),   # dnd on
                (False, 0, 3, 0)]   # dnd off
        check(chat == want, "status tables for chat: %s (got %s)" % (want, chat))
        headers = [x for x in out.splitlines() if x.startswith("agent 1001")]
        check(len(headers) == 8 and " dnd on " in headers[6] and " dnd off " in headers[7],
              "8 tables (login twice, add, ready, notready, status, dnd on, dnd off), "
              "dnd shown in their headers (%s)" % headers)
        check("rule Chat3" in out, "the tables name rule Chat3")
        lines = out.splitlines()
        errors = [x for x in lines if x.startswith("error")]
        oks = [x for x in lines if x.strip() == "ok"]
        check(len(oks) == 6, "ok for add, ready, notready, dnd on, dnd off, logout (%d)" % len(oks))
        check(len(errors) == 4, "errors for the bad command, the bad media name, fax and "
              "dnd after logout (%s)" % errors)
        check(len(errors) == 4 and "UnknownMedia" in errors[2] and "(8)" in errors[2],
              "`ready fax` answered UnknownMedia (8)")
        check(len(errors) == 4 and "AgentNotLoggedIn" in errors[3] and "(6)" in errors[3],
              "`dnd on` after logout answered AgentNotLoggedIn (6)")

        # What the server saw, in order.
        want = [("AgentLogin", None), ("MediaAdded", None), ("ReadyForMedia", None),
                ("NotReadyForMedia", {"code": 3, "description": "Lunch"}),
                ("DoNotDisturbOn", None), ("DoNotDisturbOff", None), ("AgentLogout", None)]
        got = states(rep, len(want))
        causes = [m.get("cause") for m in got]
        check(causes == [c for c, _ in want], "reporter sees %s (got %s)"
              % ([c for c, _ in want], causes))
        if len(got) > 3:
            reason = (got[3].get("media") or {}).get("chat", {}).get("reason")
            check(reason == {"code": 3, "description": "Lunch"},
                  "notready chat 3 Lunch sent reason {code 3, Lunch} (got %s)" % reason)
        check(all(m.get("agentId") == "1001" and m.get("placeId") == "P1001" for m in got),
              "requests act on agent 1001 at place P1001")

        # The desk logs out at the end of its input.
        rc, out, err = desk(env, ixn, "1002", "add email\nready email\nwait-status\n")
        check(rc == 0, "second script exits 0 (got %s)" % rc)
        check(in_order(rows(out, "email"), [(True, 0, 1, 1)]), "email ready 0 1 1 (rows %s)"
              % rows(out, "email"))
        got = states(rep, 4)
        check([m.get("cause") for m in got] ==
              ["AgentLogin", "MediaAdded", "ReadyForMedia", "AgentLogout"],
              "end of input logs the agent out (got %s)" % [m.get("cause") for m in got])

        # Refused logins.
        rc, out, err = desk(env, ixn, "1001", "status\n", password="not-the-password")
        check(rc != 0, "wrong password: non-zero exit (got %s)" % rc)
        both = out + err
        check("error" in both and ("NotAuthorized" in both or "(5)" in both),
              "wrong password: NotAuthorized (5) is printed")
        check("not-the-password" not in out + err, "wrong password: the password is not printed")
        other = harness.agent(ixn.port, T, "1001", "P1001", "pw1001")
        rc, out, err = desk(env, ixn, "1001", "status\n")
        check(rc != 0, "agent logged in elsewhere: non-zero exit (got %s)" % rc)
        check("AgentAlreadyLoggedIn" in out + err or "(7)" in out + err,
              "agent logged in elsewhere: AgentAlreadyLoggedIn (7) is printed")
        other.close()
        rc, out, err = desk(env, ixn, "1002", "status\n", pwfile=False)
        check(rc != 0, "no --password-file with stdin not a terminal: non-zero exit (got %s)" % rc)
        rc, out, err = desk(env, ixn, "1002", "status\n", token="wrong")
        check(rc != 0, "wrong token: non-zero exit (got %s)" % rc)
        rep.drain(0.2)
        check(ixn.running(), "ixnserver still runs")
    print("PASS test_desk")


if __name__ == "__main__":
    main()
