#!/usr/bin/env python3
"""Smoke test of the failover phase of `make bench` (docs/bench.md, "Failover (issue 13)"):
scripts/bench.sh with BENCH_ONLY=failover at 600 agents and two rounds, in a temp dir, with
the programs of --bin. The phase starts its own nats-server, ixnserver and statserver pair
on 127.0.0.1 and stops them by pid. Checked: it exits 0; the floor (bench/leasefloor)
prints its rounds and summary; each failover round kills the primary, a new one with a
higher epoch resends 600 statuses in three slices of at most 256 (the second and third
sent only once the ixnserver answered the RequestPing after a slice, docs/ha.md), and the
first invite after the kill comes after the ixnserver took the new primary; the summary carries failover_ms and the floor. The time
bound here is generous (10 s per failover); the 2 s target belongs to the benchmark."""
import os
import re
import signal
import subprocess
import sys
import tempfile
import shutil

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import ok  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HARD_TIMEOUT_S = 200
# More than two slices of the resend (256 agents each), so that its pacing runs.
AGENTS = 600


def fields(line):
    return dict(re.findall(r"(\w+)=(\S+)", line))


def num(f, key):
    try:
        return float(f.get(key, "nan"))
    except ValueError:
        return float("nan")


def run_phase(bin_dir, work):
    """scripts/bench.sh's failover phase alone; returns (rc, stdout, stderr). On the hard
    timeout the script gets SIGTERM (its trap stops what it started by pid), then its
    process group, which this test created, SIGKILL."""
    env = dict(os.environ, BUILD=os.path.dirname(os.path.abspath(bin_dir)), BENCH_DIR=work,
               BENCH_ONLY="failover", BENCH_FO_AGENTS=str(AGENTS), BENCH_FO_ROUNDS="2",
               BENCH_FO_RATE="200")
    p = subprocess.Popen(["bash", os.path.join(ROOT, "scripts", "bench.sh")], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         start_new_session=True)
    try:
        out, err = p.communicate(timeout=HARD_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        p.send_signal(signal.SIGTERM)
        try:
            out, err = p.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            out, err = p.communicate()
        ok(False, "the failover phase ended within %d s" % HARD_TIMEOUT_S)
    return p.returncode, out, err


def main():
    args = harness.parse_args()
    if not shutil.which("nats-server"):
        ok(False, "nats-server installed (scripts/deps.sh)")
        return
    work = tempfile.mkdtemp(prefix="cc-it-fbench-")
    try:
        rc, out, err = run_phase(args.bin, work)
        ok(rc == 0, "bench.sh BENCH_ONLY=failover exits 0 (got %s; stderr tail: %s)"
           % (rc, err[-800:]))
        floor = [ln for ln in out.splitlines() if ln.startswith("lease_floor: round=")]
        ok(len(floor) == 2, "the floor prints two rounds (got %d)" % len(floor))
        fsum = [ln for ln in out.splitlines() if ln.startswith("lease_floor: lease_ms=")]
        ok(len(fsum) == 1 and 0 < num(fields(fsum[0]), "takeover_ms") < 10000,
           "the floor's summary has a takeover time (got %s)" % fsum)
        rounds = [fields(ln) for ln in out.splitlines() if ln.startswith("failover: round=")]
        ok(len(rounds) == 2, "two failover rounds (got %d)" % len(rounds))
        epochs = []
        for i, r in enumerate(rounds):
            ok(r.get("killed") != r.get("new_primary"),
               "round %d: the other member takes over (%s -> %s)"
               % (i + 1, r.get("killed"), r.get("new_primary")))
            ok(r.get("agents_sent") == str(AGENTS),
               "round %d: the new primary resends %d statuses (got %s)"
               % (i + 1, AGENTS, r.get("agents_sent")))
            ok(r.get("resend_slices") == "3",
               "round %d: in three slices (got %s)" % (i + 1, r.get("resend_slices")))
            ok(num(r, "resend_done_ms") >= num(r, "lease_won_ms") > 0,
               "round %d: the resend ended (%s ms) after the lease was won (%s ms)"
               % (i + 1, r.get("resend_done_ms"), r.get("lease_won_ms")))
            ok(r.get("after_new_primary") == "yes",
               "round %d: the first invite came after the ixnserver took the new primary"
               % (i + 1))
            ms = num(r, "failover_ms")
            ok(0 < ms < 10000, "round %d: failover_ms %.0f within 10 s" % (i + 1, ms))
            ok(num(r, "lease_won_ms") <= ms,
               "round %d: the lease was won (%s ms) before the first invite (%.0f ms)"
               % (i + 1, r.get("lease_won_ms"), ms))
            epochs.append(int(r.get("epoch", "-1")))
        ok(len(epochs) == 2 and 0 < epochs[0] < epochs[1],
           "each failover has a higher epoch (got %s)" % epochs)
        summary = [ln for ln in out.splitlines() if ln.startswith("failover: agents=")]
        ok(len(summary) == 1, "one summary line (got %d)" % len(summary))
        if summary:
            f = fields(summary[0])
            ok(num(f, "failover_ms") > 0 and "floor_takeover_ms" in f and "ratio_to_floor" in f,
               "the summary has failover_ms, the floor and the ratio (got %s)" % summary[0])
        ok(any(ln.startswith("failover: target under_2s=") for ln in out.splitlines()),
           "the target line is printed")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
