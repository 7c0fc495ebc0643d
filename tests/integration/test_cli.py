#!/usr/bin/env python3
"""Command lines of the daemons: statserver --check-rules (normal form, warnings, FILE:LINE:COL
errors), --check-config for both daemons, ixnserver --hash-password, a statserver refusing
to start on a broken rules file, and SIGHUP reloads that keep the old rules on a broken
file and change the statuses on a good one."""
import json
import os
import re
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import (  # noqa: E402
    is_status, V, vec, fmt_vec, ok, wait_status, expect_status, no_status, alive)


GOOD_RULES = """# a comment line
rule "Blended" {
    voice = any >= 1;                                       # a call only when idle
    chat  = chat >= 3 or voice >= 1 or (chat >= 2 and email >= 1);
    email = email >= 2 | voice >= 1 | (email >= 1 & chat >= 1);
}
rule "ChatOnly" { chat = chat >= 4; }
rule "Whisper" { chat = not (voice >= 1) or chat >= 2; }

assign agent  "Resources" "1001"  "Blended";
assign place  "Resources" "P-12"  "ChatOnly";
assign tenant "Resources"         "Blended";
assign tenant "Sales"             "Whisper";
assign tenant "Sales"             "ChatOnly";
"""

# The error is the ';' at line 3, column 20 (where a number was expected).
BROKEN_RULES = """rule "X" {
    voice = any >= 1;
    chat = chat >= ;
}
"""

UNKNOWN_RULE = """rule "X" { chat = chat >= 1; }
assign agent "Resources" "1001" "Nope";
"""

RULES_V1 = """rule "Blended" {
    voice = any >= 1;
    chat  = chat >= 3 or voice >= 1 or (chat >= 2 and email >= 1);
    email = email >= 2 or voice >= 1 or (email >= 1 and chat >= 1);
}
assign tenant "Resources" "Blended";
"""

RULES_V2 = RULES_V1.replace("chat >= 3", "chat >= 4")


def write(path, text):
    """Writes a file atomically, so a daemon never reads half of it."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)
    return path


def ixn_ini(env, name, media="voice, chat, email", listen="127.0.0.1:0"):
    """An ixnserver config of this test's own (to break it on purpose); returns its path."""
    lines = ["[server]", "name = %s" % name, "listen = %s" % listen,
             "port-file = %s" % env.path(name + ".port"), "media = %s" % media,
             "[tokens]", "AgentApplication = desk-secret", "ReportingEngine = stat-secret",
             "MediaServer = media-secret", "[agents]"]
    return write(env.path(name + ".ini"), "\n".join(lines) + "\n")


def stat_ini(env, name, rules_path, ixns, address=None):
    """A statserver config of this test's own: ixns [(name, port)], every address replaced
    by address when given (to break it on purpose); returns its path."""
    lines = ["[server]", "name = %s" % name, "listen = 127.0.0.1:0",
             "port-file = %s" % env.path(name + ".port"), "token = wallboard-secret",
             "rules = %s" % rules_path]
    for ixn_name, port in ixns:
        lines += ["[ixn:%s]" % ixn_name,
                  "address = %s" % (address or "127.0.0.1:%d" % port), "token = stat-secret"]
    return write(env.path(name + ".ini"), "\n".join(lines) + "\n")


def check_rules_cli(env):
    """statserver --check-rules on good and broken files; returns (good, broken) paths."""
    statserver = "statserver"
    good = write(env.path("good.rules"), GOOD_RULES)
    rc, out, err = env.run([statserver, "--check-rules", good])
    ok(rc == 0, "--check-rules good file exits 0 (got %d: %s)" % (rc, err.strip()))
    lines = out.splitlines()
    rule_lines = [ln for ln in lines if ln.startswith("rule ")]
    assign_lines = [ln for ln in lines if ln.startswith("assign ")]
    ok(len(rule_lines) == 3, "three rules in normal form, one line each (got %s)" % rule_lines)
    blended = next((ln for ln in rule_lines if ln.startswith('rule "Blended"')), "")
    found = [re.search(r"\b%s\s*=(?!=)" % m, blended) for m in ("chat", "email", "voice")]
    pos = [f.start() if f else -1 for f in found]
    ok(all(p >= 0 for p in pos) and pos == sorted(pos),
       "Blended's media in name order chat, email, voice: %s" % blended)
    ok("|" not in out and "&" not in out, "operators written as or/and in normal form")
    ok(any('"Sales"' in ln and '"ChatOnly"' in ln for ln in assign_lines) and
       not any('"Sales"' in ln and '"Whisper"' in ln for ln in assign_lines),
       "the later of two assignments of tenant Sales is in effect: %s" % assign_lines)
    ok(any('agent' in ln and '"1001"' in ln and '"Blended"' in ln for ln in assign_lines) and
       any('place' in ln and '"P-12"' in ln and '"ChatOnly"' in ln for ln in assign_lines),
       "agent and place assignments listed: %s" % assign_lines)
    ok("Default" in out and "OneInteractionOfAnyType" in out, "built-in rules named")
    ok(re.search(re.escape(good) + r":1[34]:\d+: warning", out + err) is not None,
       "duplicate assignment warned as %s:14:COL: warning (got %s)" % (good, (out + err).strip()))

    # The normal form parses back to itself.
    again = write(env.path("again.rules"), "\n".join(rule_lines + assign_lines) + "\n")
    rc, out2, err2 = env.run([statserver, "--check-rules", again])
    ok(rc == 0 and [ln for ln in out2.splitlines() if ln.startswith(("rule ", "assign "))] ==
       rule_lines + assign_lines, "normal form is stable when checked again (%s)" % err2.strip())

    broken = write(env.path("broken.rules"), BROKEN_RULES)
    rc, out, err = env.run([statserver, "--check-rules", broken])
    ok(rc == 1, "--check-rules broken file exits 1 (got %d)" % rc)
    ok(re.search(re.escape(broken) + r":3:20: error", out + err) is not None,
       "error reported as %s:3:20: error ... (got %s)" % (broken, (out + err).strip()))
    unknown = write(env.path("unknown.rules"), UNKNOWN_RULE)
    rc, out, err = env.run([statserver, "--check-rules", unknown])
    ok(rc == 1 and re.search(re.escape(unknown) + r":2:\d+: error", out + err) is not None,
       "assignment to an unknown rule: exit 1, %s:2:COL: error (got %d %s)" % (
           unknown, rc, (out + err).strip()))
    return good, broken


def check_config_cli(env, good_rules):
    """--check-config -c FILE of both daemons: exit 0 on good files; on bad ones non-zero
    and a message naming the problem."""
    ixnserver, statserver = "ixnserver", "statserver"
    good = ixn_ini(env, "cfg-good")
    rc, out, err = env.run([ixnserver, "--check-config", "-c", good])
    ok(rc == 0, "ixnserver --check-config good file exits 0 (got %d: %s)" % (rc, err.strip()))
    bad = ixn_ini(env, "cfg-bad-media", media="voice, Chat!")
    rc, out, err = env.run([ixnserver, "--check-config", "-c", bad])
    ok(rc != 0 and "media" in (out + err).lower(),
       "ixnserver --check-config bad media name: non-zero, names media (got %d: %s)" % (
           rc, (out + err).strip()))
    bad = ixn_ini(env, "cfg-bad-listen", listen="127.0.0.1:99999")
    rc, out, err = env.run([ixnserver, "--check-config", "-c", bad])
    ok(rc != 0 and "listen" in (out + err).lower(),
       "ixnserver --check-config bad listen port: non-zero, names listen (got %d: %s)" % (
           rc, (out + err).strip()))
    rc, out, err = env.run([ixnserver, "--check-config", "-c", env.path("missing.ini")])
    ok(rc != 0, "ixnserver --check-config on a missing file: non-zero (got %d)" % rc)

    good = stat_ini(env, "scfg-good", good_rules, [("ixn-a", 7001)])
    rc, out, err = env.run([statserver, "--check-config", "-c", good])
    ok(rc == 0, "statserver --check-config good file exits 0 (got %d: %s)" % (rc, err.strip()))
    bad = stat_ini(env, "scfg-bad-address", good_rules, [("ixn-a", 7001)], address="nowhere")
    rc, out, err = env.run([statserver, "--check-config", "-c", bad])
    ok(rc != 0 and "address" in (out + err).lower(),
       "statserver --check-config bad ixn address: non-zero, names address (got %d: %s)" % (
           rc, (out + err).strip()))
    missing = env.path("no-such.rules")
    bad = stat_ini(env, "scfg-bad-rules", missing, [("ixn-a", 7001)])
    rc, out, err = env.run([statserver, "--check-config", "-c", bad])
    ok(rc != 0 and ("no-such.rules" in out + err or "rules" in (out + err).lower()),
       "statserver --check-config missing rules file: non-zero, names it (got %d: %s)" % (
           rc, (out + err).strip()))


def hash_password_cli(env):
    """ixnserver --hash-password (default cost): its output goes into [agents] and the
    password then logs in; a wrong one gets code 5; no password is echoed or logged."""
    rc, out, err = env.run(["ixnserver", "--hash-password"], input="Secret-1009\n", timeout=30)
    h = out.strip()
    ok(rc == 0 and h.startswith("$") and "\n" not in h,
       "--hash-password prints one crypt hash (got %d %r %s)" % (rc, h, err.strip()))
    ok("Secret-1009" not in out + err, "the password is not echoed")
    # The hash goes into [agents] as it is (extra lines follow the harness's [agents]).
    ixn = env.start_ixn("ixn-h", agents={}, extra="Resources/1009 = %s" % h)
    harness.agent(ixn.port, "Resources", "1009", "P1009", "Secret-1009", media={"chat": 1})
    ok(True, "login with the printed hash's password works")
    c = harness.Client(ixn.port, timeout=5)
    ans = c.register("AgentApplication", "desk-secret")
    ok(ans.get("message") == "EventAck", "second desktop registered")
    ans = c.request({"message": "RequestAgentLogin", "tenant": "Resources", "agentId": "1009",
                     "placeId": "P1009", "password": "Wrong-1009", "mediaList": {"chat": 1}})
    ok(ans.get("message") == "EventError" and ans.get("errorCode") == 5,
       "a wrong password is refused with code 5 (got %s)" % ans)
    ok("Wrong-1009" not in json.dumps(ans), "the password is not echoed in the error")
    ok("Secret-1009" not in ixn.stderr() and "Wrong-1009" not in ixn.stderr(),
       "no password in the ixnserver's log")


def main():
    args = harness.parse_args()
    with harness.Env(args.bin, timeout=60) as env:
        good, broken = check_rules_cli(env)
        check_config_cli(env, good)
        hash_password_cli(env)

        ixn = env.start_ixn("ixn-a", agents={"Resources/1001": "pw1001"})

        # A broken rules file: the statserver refuses to start.
        ini = stat_ini(env, "stat-broken", broken, [("ixn-a", ixn.port)])
        rc, out, err = env.run(["statserver", "-c", ini], timeout=5)
        ok(rc != 0, "statserver with a broken rules file exits non-zero (got %d)" % rc)
        ok(not os.path.exists(env.path("stat-broken.port")), "and wrote no port file")
        ok(re.search(re.escape(broken) + r":3:20", out + err) is not None,
           "and says where: %s:3:20 (got %s)" % (broken, (out + err).strip()))

        # SIGHUP reloads: a broken file keeps the old rules, a good one applies at once.
        stat = env.start_stat("stat-live", ixns=[ixn], rules=RULES_V1)
        rules = env.path("stat-live.rules")
        desk = harness.agent(ixn.port, "Resources", "1001", "P1001", "pw1001",
                             media={"chat": 1, "email": 1})
        v1 = V(chat="R 0 3 3", email="R 0 2 2")
        m = wait_status(desk, v1, "status with the first rules")
        version = m.get("version")

        write(rules, BROKEN_RULES)
        stat.kill(signal.SIGHUP)
        no_status(desk, "SIGHUP with a broken file: no new status", wait=0.7)
        ok(stat.running(), "SIGHUP with a broken file: statserver still running")
        ok(re.search(re.escape(rules) + r":3:20", stat.stderr()) is not None,
           "the failed reload is logged with %s:3:20" % rules)
        sc = harness.statclient(stat.port)
        ans = sc.request({"message": "RequestAgentStatus", "tenant": "Resources",
                          "agentId": "1001"})
        ok(ans.get("message") == "EventAck", "StatClient request acked")
        m = sc.next(is_status, timeout=5)
        ok(vec(m) == v1 and m.get("rule") == "Blended",
           "old rules still in force (got [%s] %s)" % (fmt_vec(vec(m)), m.get("rule")))

        write(rules, RULES_V2)
        stat.kill(signal.SIGHUP)
        expect_status(desk, V(chat="R 0 4 4", email="R 0 2 2"),
                      "SIGHUP with a good file: chat max 3 -> 4 reaches the desktop",
                      version=version)
        no_status(desk, "one status per agent for the reload", wait=0.3)
        ok(stat.running(), "statserver still running after the reload")
        alive(ixn, stat)
    print("PASS test_cli")


if __name__ == "__main__":
    main()
