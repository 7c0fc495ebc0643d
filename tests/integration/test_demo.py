#!/usr/bin/env python3
"""`make demo` still works: scripts/demo.sh runs for DEMO_SECONDS in a temporary DEMO_DIR
with every daemon on a port the system picks (DEMO_ANY_PORT), stops by itself and exits 0.
Checked on the way: the interaction servers' configurations it writes pass
`ixnserver --check-config` and hold the skills, targets and queue options of docs/demo.md;
an explain of the first interaction is answered while it runs; the wallboard's last
summary lists the routing queues; both media simulators' last lines show acknowledged
submits (each with a priority) and no error; the last lines of the demo give
over_capacity and widened as numbers, widened being the sum of the widenings each
interaction server logged in its routing_stopped line (0 for ixn-b, which has no
targets); and nothing the demo started is left running."""
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "scripts", "demo.sh")
SECONDS = 25
# The demo's own stop (simulators, then daemons, each given 5 s) comes on top.
EXIT_WITHIN = SECONDS + 60


def fields(line):
    """The key=value pairs of a line, as a dict of str."""
    return dict(re.findall(r"(\w+)=(\S+)", line))


def last_line(text, pattern):
    """The last line of text that matches the regular expression pattern ("" when none)."""
    lines = [ln for ln in text.splitlines() if re.search(pattern, ln)]
    return lines[-1] if lines else ""


def port_of(path, deadline):
    """The tcp port in a port file, waiting for the file until deadline (0 when none)."""
    while time.time() < deadline:
        try:
            with open(path) as f:
                for ln in f:
                    if ln.startswith("tcp="):
                        return int(ln[4:])
        except (OSError, ValueError):
            pass
        time.sleep(0.2)
    return 0


def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False


def stop(demo):
    """Ends a demo that is still running: SIGTERM to the script, whose trap stops what it
    started by pid; whatever is left of its process group after 15 s is killed."""
    if demo.poll() is not None:
        return
    try:
        os.kill(demo.pid, signal.SIGTERM)
        demo.wait(timeout=15)
    except (OSError, subprocess.TimeoutExpired):
        pass
    try:
        os.killpg(demo.pid, signal.SIGKILL)
    except OSError:
        pass
    try:
        demo.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


def main():
    args = harness.parse_args()
    bin_dir = os.path.abspath(args.bin)
    with harness.Env(args.bin, timeout=EXIT_WITHIN + 60) as env:
        demo_dir = env.path("demo")
        out_path = env.path("demo.out")
        environ = dict(os.environ, BUILD=os.path.dirname(bin_dir), DEMO_DIR=demo_dir,
                       DEMO_SECONDS=str(SECONDS), DEMO_ANY_PORT="1")
        for k in ("CI", "DEMO_STRICT", "DEMO_KEEP_DATA"):
            environ.pop(k, None)
        with open(out_path, "wb") as out:
            # Its own process group, so that nothing it started can outlive the test.
            demo = subprocess.Popen(["bash", SCRIPT], cwd=ROOT, env=environ,
                                    stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        rc = None
        try:
            start = time.time()
            port_a = port_of(os.path.join(demo_dir, "ixn-a.port"), start + 30)
            check(port_a > 0, "ixn-a wrote its port file")

            ini = os.path.join(demo_dir, "ixn-a.ini")
            rc, out, err = env.run(["ixnserver", "--check-config", "-c", ini])
            check(rc == 0 and "OK (3 media, 40 agents, 6 queues)" in out,
                  "ixn-a's configuration is valid with its 6 queues (%r%s)"
                  % (out.strip(), "" if rc == 0 else " " + repr(err[-300:])))
            with open(ini) as f:
                text = f.read()
            for line in ("Resources/chat-billing-es = spanish >= 3 and billing >= 5 for 20; "
                         "billing >= 1",
                         "Resources/voice-vip = vip >= 1 for 15; any",
                         "Resources/voice-vip = priority 100, select vip",
                         "Resources/1040 = spanish:8, billing:9, vip:5"):
                check(line in text.splitlines(), "ixn-a.ini has the line %r" % line)
            rc, out, err = env.run(["ixnserver", "--check-config", "-c",
                                    os.path.join(demo_dir, "ixn-b.ini")])
            check(rc == 0 and "OK (2 media, 40 agents, 3 queues)" in out,
                  "ixn-b's configuration is valid with its 3 queues (%r)" % out.strip())

            # Interactions flow after a few seconds; the first one is known to ixn-a for
            # the whole run (queued, offered, handled or ended), so explain answers.
            time.sleep(max(0.0, start + 8 - time.time()))
            rc, out, err = env.run(["mediasim", "--server", "127.0.0.1:%d" % port_a,
                                    "--token", "media-secret", "--explain",
                                    "ixn-a:000000001"])
            ans = last_line(out, r"^mediasim explain ")
            f = fields(ans)
            ok = (rc == 0 and f.get("interactionId") == '"ixn-a:000000001"' and
                  f.get("tenant") == '"Resources"' and "state" in f and "step" in f and
                  "matching" in f)
            check(ok, "explain of ixn-a:000000001 during the demo is answered (%r)"
                  % (ans if ok else (out.strip()[-400:], err[-300:])))

            try:
                rc = demo.wait(timeout=max(1.0, start + EXIT_WITHIN - time.time()))
            except subprocess.TimeoutExpired:
                check(False, "the demo stops by itself within %d s" % EXIT_WITHIN)
        finally:
            stop(demo)
        with open(out_path, "rb") as f:
            text = f.read().decode("utf-8", "replace")
        print("---- demo's last lines ----\n%s\n----" % "\n".join(text.splitlines()[-8:]))
        check(rc == 0, "the demo exits 0 (status %s)" % rc)

        for q in ("chat-billing-es", "voice-vip", "voice-in", "chat-sales"):
            check(last_line(text, r"^ixn-a/Resources/%s +" % q) != "",
                  "the wallboard shows ixn-a's queue %s" % q)
        for name in ("mediasim-a", "mediasim-b"):
            with open(os.path.join(demo_dir, name + ".log"), "rb") as f:
                log = f.read().decode("utf-8", "replace")
            f = fields(last_line(log, r"^mediasim (summary|final) "))
            check(int(f.get("acked", "0")) > 0 and f.get("errors") == "0",
                  "%s: its submits with priorities are acknowledged, no error (%s)"
                  % (name, f))

        over = last_line(text, r"^demo: over_capacity=")
        check(re.match(r"^demo: over_capacity=\d+ \(agentsim-both=\d+ agentsim-a=\d+ "
                       r"agentsim-b=\d+\)", over) is not None,
              "the last lines sum over_capacity (%r)" % over)
        wide = last_line(text, r"^demo: widened=")
        m = re.match(r"^demo: widened=(\d+) \(ixn-a=(\d+) ixn-b=(\d+)\)", wide)
        check(m is not None, "the last lines say how many interactions widened (%r)" % wide)
        total, a, b = (int(x) for x in m.groups())
        logged = {}
        for name in ("ixn-a", "ixn-b"):
            with open(os.path.join(demo_dir, name + ".log"), "rb") as f:
                line = last_line(f.read().decode("utf-8", "replace"), r"event=routing_stopped ")
            logged[name] = int(fields(line).get("widenings", "-1"))
        check(a == logged["ixn-a"] and b == logged["ixn-b"] and total == a + b,
              "widened is the sum of the servers' routing_stopped widenings (%d = %d + %d, "
              "logged %s)" % (total, a, b, logged))
        check(b == 0, "ixn-b, without targets, widened nothing")

        stopping = [int(p) for p in last_line(text, r"^demo: stopping ").split()[2:]]
        check(len(stopping) >= 9, "the demo stopped what it started (%s)" % stopping)
        left = [p for p in stopping if alive(p)]
        check(not left, "nothing the demo started is left running (%s)" % left)
    print("PASS test_demo")


if __name__ == "__main__":
    main()
