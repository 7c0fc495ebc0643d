#!/usr/bin/env python3
"""Small robustness fixes of the ixnserver (issue 9, item 11), each against the real
server:

- Identifiers may contain '/': tenant "a/b" with agent "c" and tenant "a" with agent
  "b/c" are two agents (their own passwords, both logged in at once, each with its own
  state), and tenant "a/b" queue "q" and tenant "a" queue "b/q" are two queues. In the
  config the tenant's '/' is written "\\/".
- A peer's identifiers cannot forge a key=value field in the log: a login whose tenant and
  agentId hold spaces, '=', quotes, a backslash and UTF-8 is logged as one line whose
  fields are exactly the server's own, the values quoted and escaped.
- SIGHUP reloads the configuration: the server keeps running and answering its desktops.
- The store's files are 0600 under a umask of 022, and a data-dir with an empty ixn.db
  (a truncated store) is refused at start with a clear log line instead of numbering
  interactions from 1 again."""
import os
import re
import signal
import stat
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check  # noqa: E402

# The config keys: the '/' inside tenant "a/b" is written "\/".
AB_C = r"a\/b/c"        # tenant "a/b", agent "c"
A_BC = "a/b/c"          # tenant "a", agent "b/c"
PW_AB_C = "pw-ab-c"
PW_A_BC = "pw-a-bc"


def log_fields(line):
    """The fields of one log line as (key, value) pairs, quoted values decoded (\\" \\\\
    \\xNN); None when the line is not a sequence of key=value separated by single
    spaces."""
    out = []
    pos = 0
    token = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)=("(?:[^"\\]|\\x[0-9a-f]{2}|\\["\\])*"|[^ "]*)')
    while pos < len(line):
        m = token.match(line, pos)
        if not m:
            return None
        v = m.group(2)
        if v.startswith('"'):
            raw = v[1:-1]
            b = bytearray()
            i = 0
            while i < len(raw):
                if raw[i] == "\\" and raw[i + 1] == "x":
                    b.append(int(raw[i + 2:i + 4], 16))
                    i += 4
                elif raw[i] == "\\":
                    b += raw[i + 1].encode()
                    i += 2
                else:
                    b += raw[i].encode()
                    i += 1
            v = b.decode("utf-8", "replace")
        out.append((m.group(1), v))
        pos = m.end()
        if pos < len(line):
            if line[pos] != " ":
                return None
            pos += 1
    return out


def login(port, tenant, agent_id, password):
    c = harness.Client(port)
    ans = c.register("AgentApplication", harness.DESK_TOKEN)
    check(ans.get("message") == "EventAck", "desktop registered")
    ans = c.request({"message": "RequestAgentLogin", "tenant": tenant, "agentId": agent_id,
                     "placeId": "P-" + agent_id, "password": password,
                     "mediaList": {"chat": 1}})
    return c, ans


def distinct_keys(env, ixn):
    d1, ans = login(ixn.port, "a/b", "c", PW_AB_C)
    harness.expect_ack(ans, 'tenant "a/b" agent "c" logs in with its own password')
    d2, ans = login(ixn.port, "a", "b/c", PW_A_BC)
    harness.expect_ack(ans, 'tenant "a" agent "b/c" logs in at the same time (not code 7)')
    rep = harness.reporter(ixn.port)
    snap = harness.start_reporting(rep)
    agents = sorted((m.get("tenant"), m.get("agentId"), m.get("placeId")) for m in snap)
    check(agents == [("a", "b/c", "P-b/c"), ("a/b", "c", "P-c")],
          "the reporting snapshot holds two agents, each with its own place (got %s)" % agents)

    # The directory keeps the two passwords apart.
    d3, ans = login(ixn.port, "a/b", "c", PW_A_BC)
    harness.expect_error(ans, 5, 'the password of a + b/c does not log in a/b + c')
    d3.close()

    # Each agent is its own session: a second login of one is refused with 7, and logging
    # out the other leaves it logged in.
    d4, ans = login(ixn.port, "a/b", "c", PW_AB_C)
    harness.expect_error(ans, 7, "a second login of a/b + c gets AgentAlreadyLoggedIn")
    d4.close()
    harness.expect_ack(d2.request({"message": "RequestAgentLogout"}), "a + b/c logs out")
    m = rep.next(lambda x: harness.is_state(x, cause="AgentLogout"), what="logout state")
    check((m.get("tenant"), m.get("agentId")) == ("a", "b/c"),
          "the logout is reported for a + b/c (got %r)" % ((m.get("tenant"), m.get("agentId")),))
    harness.expect_ack(d1.request({"message": "RequestDoNotDisturbOn"}),
                       "a/b + c is still logged in after the other's logout")
    d5, ans = login(ixn.port, "a", "b/c", PW_A_BC)
    harness.expect_ack(ans, "a + b/c logs in again while a/b + c stays")
    d5.close()
    d1.close()
    d2.close()
    rep.close()

    # Queues: the same rule.
    ms = harness.media_server(ixn.port)
    harness.submit_ok(ms, "a/b", "chat", "q")
    harness.submit_ok(ms, "a", "chat", "b/q")
    harness.submit_ok(ms, "a", "chat", "b/q")
    qs = harness.queue_status(ms)
    check(qs.get(("a/b", "q"), {}).get("waiting") == 1 and
          qs.get(("a", "b/q"), {}).get("waiting") == 2,
          "tenant a/b queue q holds 1 and tenant a queue b/q holds 2 (got %s)" % sorted(qs))
    harness.expect_error(harness.submit(ms, "a/b", "chat", "b/q"), 3,
                         "tenant a/b has no queue b/q", field="queue")
    ms.close()


def config_keys(env):
    """--check-config: a '\\' in the tenant must escape '/' or '\\'."""
    h = env.hash_password("pw")
    cfg = env.write("keys.ini", "\n".join([
        "[server]", "name = ixn-k", "listen = 127.0.0.1:0", "media = chat", "[tokens]",
        "MediaServer =", "[agents]", r"dom\\corp/1001 = " + h, r"a\/b/c = " + h,
        r"a\x/1 = " + h, "[queues]", r"a\/b/q = chat", r"t\q/x = chat"]) + "\n")
    rc, out, err = env.run(["ixnserver", "--check-config", "-c", cfg])
    check(rc == 1, "--check-config refuses a bad escape in a tenant (got %d)" % rc)
    errors = [ln for ln in err.splitlines() if ": error: " in ln]
    check(len(errors) == 2 and "[agents] a\\x/1" in errors[0] and
          "[queues] t\\q/x" in errors[1] and r"written \/ or \\" in errors[0],
          "exactly the two bad keys are named, with the rule (got %s)" % errors)


def logs_not_forged(env, ixn):
    tenant = 'T "x" level=error'
    # Control characters are refused by the protocol (code 3); everything else may come.
    agent_id = "1001 event=forged \\\" level=error caf\u00e9 x="
    c, ans = login(ixn.port, tenant, agent_id, "guess")
    harness.expect_error(ans, 5, "the login with forged identifiers is refused")
    c.close()
    deadline = time.monotonic() + 5
    lines = []
    while time.monotonic() < deadline:
        lines = [ln for ln in ixn.stderr().splitlines()
                 if "event=agent_login_failed" in ln and "forged" in ln]
        if lines:
            break
        time.sleep(0.05)
    check(len(lines) == 1, "one agent_login_failed line (got %d)" % len(lines))
    fields = log_fields(lines[0])
    check(fields is not None, "the line parses as key=value fields: %s" % lines[0])
    keys = [k for k, _ in fields]
    check(keys == ["ts", "level", "prog", "event", "session", "tenant", "agent", "addr", "failures",
                    "delay_ms"],
          "exactly the server's own fields (got %s)" % keys)
    values = dict(fields)
    check(values["level"] == "info" and values["tenant"] == tenant and
          values["agent"] == agent_id,
          "level info, tenant and agent as sent (got %r %r)" % (values["tenant"],
                                                                values["agent"]))


def sighup(env, ixn):
    desk = harness.agent(ixn.port, "a/b", "c", "P1", PW_AB_C)
    os.kill(ixn.pid, signal.SIGHUP)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and "event=config_reloaded" not in ixn.stderr():
        time.sleep(0.05)
    check("event=config_reloaded" in ixn.stderr(),
          "SIGHUP reloads the unchanged configuration (event=config_reloaded)")
    check(ixn.running(), "the ixnserver still runs after SIGHUP")
    harness.expect_ack(desk.request({"message": "RequestPing"}),
                       "the logged-in desktop is still answered")
    desk.close()


def store_files(env, ixn):
    ms = harness.media_server(ixn.port)
    harness.submit_ok(ms, "a/b", "chat", "q")
    ms.close()
    for name in ("ixn.db", "ixn.db-wal", "ixn.lock"):
        mode = stat.S_IMODE(os.stat(os.path.join(ixn.data_dir, name)).st_mode)
        check(mode == 0o600, "%s is 0600 (got %03o)" % (name, mode))

    # An empty ixn.db: refused at start, the file left as it is.
    bad = env.path("empty-data")
    os.mkdir(bad, 0o700)
    open(os.path.join(bad, "ixn.db"), "wb").close()
    cfg = env.write("empty.ini", "\n".join([
        "[server]", "name = ixn-e", "listen = 127.0.0.1:0", "media = chat",
        "data-dir = %s" % bad, "[tokens]", "MediaServer =", "[queues]", "T/q = chat"]) + "\n")
    rc, out, err = env.run(["ixnserver", "-c", cfg], timeout=20)
    check(rc == 1, "the ixnserver with an empty ixn.db exits 1 (got %s)" % rc)
    failed = [ln for ln in err.splitlines() if "event=store_open_failed" in ln]
    check(len(failed) >= 1 and "is empty (0 bytes)" in failed[-1],
          "and says why: %s" % (failed[-1] if failed else err[-300:]))
    check(os.path.getsize(os.path.join(bad, "ixn.db")) == 0, "the empty ixn.db is left alone")


def main():
    args = harness.parse_args()
    # Files created with the default mode would be 0644 under this umask.
    os.umask(0o022)
    with harness.Env(args.bin, timeout=90) as env:
        ixn = harness.start_ixn_queues(
            env, "ixn-a", agents={AB_C: PW_AB_C, A_BC: PW_A_BC},
            queues={r"a\/b/q": "chat", "a/b/q": "chat"}, media=("chat",))
        distinct_keys(env, ixn)
        config_keys(env)
        logs_not_forged(env, ixn)
        sighup(env, ixn)
        store_files(env, ixn)


if __name__ == "__main__":
    main()
