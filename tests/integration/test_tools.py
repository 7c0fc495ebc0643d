#!/usr/bin/env python3
"""Smoke test of the demo's tools against a real ixnserver and statserver: agentsim (agents
that log in, change readiness and work interactions), mediasim (a media server that submits
interactions and lets some customers leave) and `wallboard --once` (statuses from the
statserver, queues from the ixnserver) run together for a few seconds; their summary lines
must show logins, submits, accepts, ends, statuses, queues, and no errors."""
import os
import re
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

TENANT = "Resources"
AGENTS = ["%d" % i for i in range(1001, 1007)]
PASSWORD = "tools-pw"
MEDIA_TOKEN = harness.DEFAULT_TOKENS["MediaServer"]
QUEUES = "chat-sales:chat,email-support:email,voice-in:voice"
RULES = harness.BLENDED_TENANT_RULES


def fields(line):
    """The key=value pairs of a summary line, as a dict of str."""
    return dict(re.findall(r"(\w+)=(\S+)", line))


def last_line(out, prefix):
    """The last stdout line that starts with prefix ("" when none)."""
    lines = [ln for ln in out.splitlines() if ln.startswith(prefix)]
    return lines[-1] if lines else ""


def num(f, key):
    try:
        return int(f.get(key, "-1"))
    except ValueError:
        return -1


def main():
    args = harness.parse_args()
    with harness.Env(args.bin, timeout=120) as env:
        os.makedirs(env.path("data-a"), exist_ok=True)
        ixn = env.start_ixn(
            "ixn-a", media=("voice", "chat", "email"),
            agents={"%s/%s" % (TENANT, a): PASSWORD for a in AGENTS},
            extra_server="data-dir = %s\ninvite-timeout = 5\nidle-timeout = 30"
                         % env.path("data-a"),
            extra="[queues]\n" + "".join("%s/%s = %s\n" % ((TENANT,) + tuple(q.split(":")))
                                         for q in QUEUES.split(","))
                  + "[after-work]\nchat = 1\nemail = 1\n")
        stat = env.start_stat("stat-1", [ixn], rules=RULES)
        pwfile = env.write("password", PASSWORD + "\n")
        addr = "127.0.0.1:%d" % ixn.port

        results = {}

        def run(label, argv, timeout):
            results[label] = env.run(argv, timeout=timeout, label=label)

        agentsim = ["agentsim", "--server", addr, "--token", harness.DESK_TOKEN,
                    "--tenant", TENANT, "--agents", "%s-%s" % (AGENTS[0], AGENTS[-1]),
                    "--password-file", pwfile, "--media", "voice,chat,email",
                    "--seconds", "9", "--rate", "1", "--ready", "0.95",
                    "--handle", "voice=1,chat=1,email=1", "--accept-ms", "300",
                    "--reject", "0.1", "--early", "0.5", "--seed", "7"]
        mediasim = ["mediasim", "--server", addr, "--token", MEDIA_TOKEN, "--tenant", TENANT,
                    "--queues", QUEUES, "--rate", "6", "--seconds", "7", "--abandon", "0.3",
                    "--patience", "1", "--seed", "11"]
        threads = [threading.Thread(target=run, args=("agentsim", agentsim, 40)),
                   threading.Thread(target=run, args=("mediasim", mediasim, 40))]
        for t in threads:
            t.start()
        # The one-shot wallboard runs while interactions flow, so it shows queues and counts.
        threads[1].join(4)
        rc, out, err = env.run(["wallboard", "--server", "127.0.0.1:%d" % stat.port,
                                "--token", harness.WALLBOARD_TOKEN, "--once",
                                "--ixn", addr, "--ixn-token", MEDIA_TOKEN], timeout=20)
        for t in threads:
            t.join(60)
        harness.check(all(not t.is_alive() for t in threads), "agentsim and mediasim ended")

        harness.check(rc == 0, "wallboard --once exits 0 (got %d: %s)" % (rc, err.strip()))
        harness.check("logged_in=%d" % len(AGENTS) in out,
                      "wallboard counts the %d agents logged in" % len(AGENTS))
        harness.check(re.search(r"^chat\s", out, re.M) is not None, "wallboard has a chat row")
        harness.check(re.search(r"^ixn-a/%s/chat-sales\s+chat\s" % TENANT, out, re.M)
                      is not None, "wallboard shows the chat-sales queue of ixn-a")
        harness.check("no RequestQueueStatus" not in out and "link down" not in out,
                      "wallboard got the queue status")

        rc, out, err = results["mediasim"]
        line = last_line(out, "mediasim final")
        f = fields(line)
        print("mediasim: %s" % line)
        harness.check(rc == 0, "mediasim exits 0 (got %d)" % rc)
        harness.check(num(f, "submitted") >= 20, "mediasim submitted interactions")
        harness.check(num(f, "acked") == num(f, "submitted"), "every submit acknowledged")
        harness.check(num(f, "errors") == 0, "mediasim saw no errors")
        harness.check(num(f, "stopped") + num(f, "stop_late") > 0,
                      "some customers left (stopped or already ended)")
        harness.check(f.get("queues", "-") not in ("-", "unsupported")
                      and "chat-sales:" in f.get("queues", ""),
                      "mediasim shows queue lengths from RequestQueueStatus")

        rc, out, err = results["agentsim"]
        line = last_line(out, "agentsim final")
        f = fields(line)
        print("agentsim: %s" % line)
        harness.check(rc == 0, "agentsim exits 0 (got %d)" % rc)
        harness.check(num(f, "logins") == len(AGENTS), "every agent logged in")
        harness.check(num(f, "logouts") == len(AGENTS), "every agent logged out at the end")
        harness.check(num(f, "statuses") > 0, "agents received statuses")
        harness.check(num(f, "invites") > 0, "agents were invited")
        harness.check(num(f, "accepts") > 0, "agents accepted")
        harness.check(num(f, "done") > 0, "agents finished interactions")
        harness.check(num(f, "completed") + num(f, "ended") > 0,
                      "after-work ended (early or by the server's timer)")
        harness.check(num(f, "errors") == 0, "agentsim saw no errors")
        harness.check(num(f, "held") == 0, "agents hold nothing after logging out")
        # The statserver routes within the rules: no invite put an agent above its rule.
        harness.check(num(f, "over_capacity") == 0,
                      "agentsim counted no invite above the capacity rule (over_capacity=%s)"
                      % f.get("over_capacity"))


if __name__ == "__main__":
    main()
