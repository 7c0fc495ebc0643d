#!/usr/bin/env python3
"""A throwaway PostgreSQL 15 cluster for tests and benchmarks: initdb in a temp dir, the
server on 127.0.0.1 and a port that was free a moment ago, its socket in the temp dir,
run as user postgres when we are root (PostgreSQL refuses root), ended by pid.

As a module: `with PgCluster() as pg: pg.dsn`. As a wrapper:
    pgtmp.py [--env NAME] [--fast] -- PROGRAM ARGS...
starts a cluster, runs PROGRAM with NAME (default CC_TEST_PG_DSN) set to its DSN, stops
the cluster and exits with PROGRAM's status. Without the PostgreSQL binaries it prints
"SKIP: ..." and exits 0."""
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

PG_BIN_DIRS = ["/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin",
               "/usr/lib/postgresql/17/bin"]


def pg_bin_dir():
    """The directory holding initdb and postgres, or None."""
    for d in PG_BIN_DIRS:
        if os.access(os.path.join(d, "initdb"), os.X_OK) and \
                os.access(os.path.join(d, "postgres"), os.X_OK):
            return d
    return None


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class PgCluster:
    """One cluster. fast=True turns fsync off (tests); benchmarks keep the defaults."""

    def __init__(self, fast=True, base=None):
        self.bin = pg_bin_dir()
        if not self.bin:
            raise RuntimeError("PostgreSQL binaries not found in %s" % ", ".join(PG_BIN_DIRS))
        self.fast = fast
        self.base = base
        self.dir = None
        self.port = None
        self.popen = None
        self.log = None

    def _as_postgres(self):
        """The command prefix that runs a program as postgres when we are root; setpriv
        execs, so the pid we get is the server's own."""
        if os.geteuid() != 0:
            return []
        return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups",
                "--reset-env"]

    def start(self, timeout=30):
        self.dir = tempfile.mkdtemp(prefix="cc-pg-", dir=self.base)
        data = os.path.join(self.dir, "data")
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        os.chmod(self.dir, 0o700)
        self.log = os.path.join(self.dir, "postgres.log")
        pre = self._as_postgres()
        subprocess.run(pre + [os.path.join(self.bin, "initdb"), "-D", data, "-A", "trust",
                              "-U", "postgres", "-E", "UTF8", "--locale=C", "--no-sync"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       timeout=timeout, cwd=self.dir)
        self.port = free_port()
        opts = ["-c", "listen_addresses=127.0.0.1", "-p", str(self.port), "-k", self.dir,
                "-c", "max_connections=50", "-c", "shared_buffers=64MB"]
        if self.fast:
            opts += ["-c", "fsync=off", "-c", "full_page_writes=off"]
        with open(os.path.join(self.dir, "postgres.out"), "wb") as out:
            self.popen = subprocess.Popen(
                pre + [os.path.join(self.bin, "postgres"), "-D", data] + opts,
                stdout=out, stderr=subprocess.STDOUT, cwd=self.dir)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise RuntimeError("postgres exited with %s: %s" % (self.popen.returncode,
                                                                   self.output_tail()))
            r = subprocess.run(["pg_isready", "-q", "-h", "127.0.0.1", "-p", str(self.port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if r.returncode == 0:
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("postgres did not accept connections within %ss" % timeout)

    @property
    def dsn(self):
        return "host=127.0.0.1 port=%d user=postgres dbname=postgres" % self.port

    def output_tail(self, lines=20):
        try:
            with open(os.path.join(self.dir, "postgres.out"), "rb") as f:
                return "\n".join(f.read().decode("utf-8", "replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self):
        """Immediate shutdown by pid (SIGQUIT), SIGKILL if it lingers; removes the dir."""
        if self.popen and self.popen.poll() is None:
            try:
                os.kill(self.popen.pid, signal.SIGQUIT)
                self.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=5)
            except OSError:
                pass
        if self.dir and not os.environ.get("CC_KEEP_TMP"):
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False


def main(argv):
    env_name = "CC_TEST_PG_DSN"
    fast = False
    args = list(argv)
    while args and args[0] != "--":
        a = args.pop(0)
        if a == "--env":
            env_name = args.pop(0)
        elif a == "--fast":
            fast = True
        else:
            print("pgtmp.py: unknown argument %s" % a, file=sys.stderr)
            return 2
    if not args or len(args) < 2:
        print("usage: pgtmp.py [--env NAME] [--fast] -- PROGRAM ARGS...", file=sys.stderr)
        return 2
    cmd = args[1:]
    if not pg_bin_dir():
        print("SKIP: PostgreSQL binaries not found (%s): %s not run over PostgreSQL"
              % (", ".join(PG_BIN_DIRS), os.path.basename(cmd[0])), flush=True)
        return 0
    with PgCluster(fast=fast) as pg:
        env = dict(os.environ)
        env[env_name] = pg.dsn
        r = subprocess.run(cmd, env=env)
        return r.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
