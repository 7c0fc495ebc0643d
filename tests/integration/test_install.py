#!/usr/bin/env python3
"""Packaging (docs/operations.md, "Install and upgrade"): `make install DESTDIR=... PREFIX=/usr`
against the build directory of --bin lays out the programs, the man pages, the systemd
units, the sysusers.d file, the docs and the example configurations; the man pages format
without a warning and say what the guides say; every program's --version names the git
revision the build was configured at; the example configurations pass --check-config with
the installed daemons; a second install with another prefix writes units naming that
prefix; and `systemd-analyze verify` accepts the units (skipped, and said so, only when
systemd-analyze is not installed)."""
import os
import re
import shutil
import stat
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check  # noqa: E402

SRC = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DAEMONS = ("ixnserver", "statserver")
PAGES = (("ixnserver", "8", "docs/ixnserver.md"), ("statserver", "8", "docs/statserver.md"),
         ("agentdesk", "1", "docs/agentdesk.md"))
# Hardening every unit must carry (the list and the brief's).
UNIT_MUST = ("Type=simple", "NoNewPrivileges=yes", "ProtectSystem=strict", "DynamicUser=yes",
             "PrivateTmp=yes", "ProtectHome=yes", "RestrictAddressFamilies=",
             "ExecReload=kill -HUP $MAINPID")
# The highest exposure `systemd-analyze security` may give a unit, in tenths (1.5 when
# written: the rest is the network access a server needs).
EXPOSURE_MAX = 20
# The macros md2man.py writes; a structural check accepts only these.
MACROS = {"TH", "SH", "SS", "PP", "TP", "IP", "RS", "RE", "nf", "fi", "sp", "nh", "ad"}


def configured_revision(build):
    """The revision cc_version.h of the build holds (what --version must print)."""
    with open(os.path.join(build, "gen", "cc_version.h")) as f:
        m = re.search(r'#define CC_GIT_REVISION "([^"]*)"', f.read())
    check(m is not None, "the build's cc_version.h defines CC_GIT_REVISION")
    return m.group(1)


def git(*args):
    """Runs git in the source tree; (status, stdout) or (None, '') without git."""
    exe = shutil.which("git")
    if not exe:
        return None, ""
    r = subprocess.run([exe, "-C", SRC] + list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL, timeout=30,
                       env=dict(os.environ, GIT_OPTIONAL_LOCKS="0"))
    return r.returncode, r.stdout.decode("utf-8", "replace").strip()


def check_revision(rev):
    """A revision from a git checkout names a commit of it; otherwise it is 'unknown'."""
    rc, top = git("rev-parse", "--show-toplevel")
    if rc == 0 and os.path.realpath(top) == os.path.realpath(SRC):
        check(rev != "unknown", "the source is a git checkout and the revision is %s" % rev)
        # `git describe --always --dirty`: [TAG-N-g]HASH[-dirty]
        m = re.match(r"^(?:.*-g)?([0-9a-f]{7,40})(?:-dirty)?$", rev)
        check(m is not None, "revision %s has the form of git describe --always" % rev)
        rc, _ = git("cat-file", "-e", m.group(1) + "^{commit}")
        check(rc == 0, "revision %s names a commit of this repository" % rev)
    else:
        check(rev == "unknown", "not a git checkout: the revision is 'unknown' (%s)" % rev)


def is_exec(path):
    """A regular file we may run."""
    st = os.stat(path)
    return stat.S_ISREG(st.st_mode) and os.access(path, os.X_OK)


def render(page):
    """The page as plain text with groff's warnings, or (None, None) without groff."""
    exe = shutil.which("groff")
    if not exe:
        return None, None
    r = subprocess.run([exe, "-man", "-Tutf8", "-P-cbou", "-ww", "-rLL=100n", page],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    check(r.returncode == 0, "groff formats %s" % os.path.basename(page))
    # Plain text (-P-cbou: no escape sequences, no overstrikes), with groff's typographic
    # dashes and quotes turned back into the ASCII the guides use.
    text = r.stdout.decode("utf-8", "replace")
    for typo, plain in (("\u2212", "-"), ("\u2010", "-"), ("\u2019", "'"), ("\u2018", "`")):
        text = text.replace(typo, plain)
    return text, r.stderr.decode("utf-8", "replace").strip()


def structural_check(page):
    """Without groff: every control line is one of md2man.py's macros (a text line that
    starts with '.' would be an unknown one), and the page has a .TH and NAME."""
    with open(page, encoding="ascii") as f:
        lines = f.read().split("\n")
    check(lines[1].startswith(".TH "), "%s starts with .TH" % page)
    bad = [ln for ln in lines if ln.startswith(".") and not ln.startswith('.\\"')
           and ln[1:].split(" ")[0] not in MACROS]
    check(not bad, "%s uses only known macros (%s)" % (page, bad[:3]))
    check(".SH NAME" in lines, "%s has a NAME section" % page)


def doc_headings(path):
    """The ## and ### titles of a guide as its man page shows them: without inline markup,
    ## ones (sections) in upper case."""
    out = []
    with open(os.path.join(SRC, path), encoding="utf-8") as f:
        in_code = False
        for line in f:
            if line.startswith("```"):
                in_code = not in_code
            m = None if in_code else re.match(r"^(##|###) +(.*?)\s*$", line)
            if m:
                title = re.sub(r"[`*]", "", m.group(2))
                out.append(title.upper() if m.group(1) == "##" else title)
    return out


def words(text):
    """The words of text (four characters or more), case folded."""
    return set(w.lower() for w in re.findall(r"[A-Za-z][A-Za-z0-9_]{3,}", text))


def doc_words(path):
    """The words of a guide but its title, which the page's NAME replaces, and its tables'
    header rows, which become the layout of each row's paragraph."""
    with open(os.path.join(SRC, path), encoding="utf-8") as f:
        lines = f.read().split("\n")
    rule = re.compile(r"^\s*\|?\s*:?-{3,}")
    kept = [ln for i, ln in enumerate(lines)
            if not (i == 0 and ln.startswith("# "))
            and not (i + 1 < len(lines) and ln.lstrip().startswith("|")
                     and rule.match(lines[i + 1]))]
    return words("\n".join(kept))


def squash(text):
    """Text with runs of blanks as one space and line-end hyphenation undone, so that a
    phrase is found wherever groff broke the line."""
    text = re.sub(r"-\n\s*", "-", text)
    return re.sub(r"\s+", " ", text)


def check_pages(root, prefix):
    for name, section, doc in PAGES:
        page = os.path.join(root, prefix.lstrip("/"), "share", "man", "man" + section,
                            "%s.%s" % (name, section))
        check(os.path.isfile(page), "man page %s(%s) installed" % (name, section))
        text, warnings = render(page)
        if text is None:
            print("note: groff is not installed; structural check of %s only" % page)
            structural_check(page)
            continue
        check(warnings == "", "groff -ww formats %s(%s) without a warning%s"
              % (name, section, (": " + warnings[:300]) if warnings else ""))
        flat = squash(text)
        check(re.search(r"NAME\s+%s - \S" % name, text) is not None,
              "%s(%s) has NAME with a summary" % (name, section))
        missing = [h for h in doc_headings(doc) if squash(h) not in flat]
        check(not missing, "every heading of %s is in %s(%s) (missing: %s)"
              % (doc, name, section, missing[:3]))
        lost = sorted(doc_words(doc) - words(text))
        check(not lost, "every word of %s is in %s(%s) (lost: %s)"
              % (doc, name, section, lost[:8]))
        check("--version" in flat, "%s(%s) documents --version" % (name, section))
        # A table row (option, then its meaning) and a code block come through.
        check(re.search(r"--help", flat) is not None, "%s(%s) lists --help" % (name, section))
        check("SEE ALSO" in text, "%s(%s) has SEE ALSO" % (name, section))
        lines = sum(1 for _ in text.splitlines())
        print("figure: %s(%s) is %d lines formatted at 100 columns" % (name, section, lines))
        if shutil.which("man"):
            r = subprocess.run(["man", "-l", page], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=60,
                               env=dict(os.environ, MANWIDTH="80", MANPAGER="cat", PAGER="cat"))
            check(r.returncode == 0 and name.encode() in r.stdout,
                  "man -l reads %s(%s)" % (name, section))


def read(path):
    with open(path) as f:
        return f.read()


def check_units(root, prefix, sbindir, confdir):
    unitdir = os.path.join(root, prefix.lstrip("/"), "lib", "systemd", "system")
    for d in DAEMONS:
        unit = os.path.join(unitdir, d + ".service")
        check(os.path.isfile(unit), "unit %s.service installed under %s" % (d, prefix))
        text = read(unit)
        check(re.search(r"@[A-Z_]+@", text) is None, "%s.service has no placeholder left" % d)
        want = "ExecStart=%s/%s -c %s/%s.ini" % (sbindir, d, confdir, d)
        check(want in text.splitlines(), "%s.service: %s" % (d, want))
        missing = [k for k in UNIT_MUST if k not in text]
        check(not missing, "%s.service has the hardening options (missing: %s)" % (d, missing))
        check("StateDirectory=%s" % d in text.splitlines(),
              "%s.service: StateDirectory=%s" % (d, d))


def run_verify(env, root, prefix):
    """systemd-analyze verify on copies of the installed units whose programs point into
    the staging root (verify checks that ExecStart names an executable file), with the
    staged man pages on MANPATH (verify checks Documentation=man: links)."""
    exe = shutil.which("systemd-analyze")
    if not exe:
        print("note: systemd-analyze is not installed: the units were not verified (SKIPPED)")
        return
    unitdir = os.path.join(root, prefix.lstrip("/"), "lib", "systemd", "system")
    work = env.path("verify")
    os.makedirs(work, exist_ok=True)
    copies = []
    for d in DAEMONS:
        text = read(os.path.join(unitdir, d + ".service"))
        text = re.sub(r"^(Exec\w+=)(/\S+)", lambda m: m.group(1) + root + m.group(2), text,
                      flags=re.M)
        path = os.path.join(work, d + ".service")
        with open(path, "w") as f:
            f.write(text)
        copies.append(path)
    manpath = os.path.join(root, prefix.lstrip("/"), "share", "man")
    r = subprocess.run([exe, "verify"] + copies, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=120,
                       env=dict(os.environ, MANPATH=manpath, SYSTEMD_LOG_LEVEL="notice"))
    out = (r.stdout + r.stderr).decode("utf-8", "replace").strip()
    print("systemd-analyze verify: status %d%s" % (r.returncode, (":\n" + out) if out else ""))
    check(r.returncode == 0, "systemd-analyze verify accepts both units")
    # verify exits 0 on a directive it cannot parse ("..., ignoring"): any line about our
    # units is a failure too.
    own = [ln for ln in out.splitlines() if any(d + ".service" in ln for d in DAEMONS)]
    check(not own, "systemd-analyze verify says nothing about our units (%s)" % own[:3])
    # The sandbox as systemd rates it: 0 (nothing exposed) .. 10; --threshold is in tenths.
    for copy in copies:
        r = subprocess.run([exe, "security", "--offline=yes", "--threshold=%d" % EXPOSURE_MAX,
                            copy], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120,
                           env=dict(os.environ, SYSTEMD_COLORS="0"))
        out = (r.stdout + r.stderr).decode("utf-8", "replace")
        m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", out)
        print("figure: %s exposure %s (systemd-analyze security, 0..10)"
              % (os.path.basename(copy), m.group(1) if m else "?"))
        check(r.returncode == 0 and m is not None,
              "systemd-analyze security rates %s at most %.1f"
              % (os.path.basename(copy), EXPOSURE_MAX / 10))


def check_sysusers(env, root, prefix):
    """systemd-sysusers creates both users from the installed file in an empty root."""
    exe = shutil.which("systemd-sysusers")
    conf = os.path.join(root, prefix.lstrip("/"), "lib", "sysusers.d", "contactcore.conf")
    if not exe:
        print("note: systemd-sysusers is not installed: contactcore.conf was not applied "
              "(SKIPPED)")
        return
    fake = env.path("sysusers-root")
    os.makedirs(os.path.join(fake, "etc"), exist_ok=True)
    r = subprocess.run([exe, "--root=" + fake, conf], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=60)
    check(r.returncode == 0, "systemd-sysusers applies contactcore.conf%s"
          % ("" if r.returncode == 0 else
             " (%s)" % r.stderr.decode("utf-8", "replace").strip()[-300:]))
    passwd = read(os.path.join(fake, "etc", "passwd"))
    for d in DAEMONS:
        check(re.search(r"^%s:x:\d+:\d+:[^:]*:[^:]*:\S*nologin$" % d, passwd, re.M) is not None,
              "systemd-sysusers made system user %s without a login shell" % d)


def check_examples(env, root, prefix):
    """The example configurations pass --check-config with the installed daemons, with
    data-dir moved into the temp dir (the state directory exists only under systemd)."""
    ex = os.path.join(root, prefix.lstrip("/"), "share", "doc", "contactcore", "examples")
    conf = env.path("conf")
    os.makedirs(conf, exist_ok=True)
    for name in ("ixnserver.ini", "statserver.ini", "statserver.rules"):
        check(os.path.isfile(os.path.join(ex, name)), "example %s installed" % name)
        text = read(os.path.join(ex, name))
        text = re.sub(r"^data-dir = .*$", "data-dir = %s" % env.path("state-" + name), text,
                      flags=re.M)
        with open(os.path.join(conf, name), "w") as f:
            f.write(text)
    sbin = os.path.join(root, prefix.lstrip("/"), "sbin")
    for d in DAEMONS:
        rc, out, err = env.run([os.path.join(sbin, d), "--check-config", "-c",
                                os.path.join(conf, d + ".ini")], timeout=60)
        check(rc == 0, "installed %s accepts the example configuration (%s)"
              % (d, (out + err).strip()[-300:]))


def main():
    args = harness.parse_args()
    build = os.path.dirname(args.bin)
    make = shutil.which("make")
    check(make is not None, "make is installed")
    # Run from `make test`, the environment carries the outer make's flags and jobserver;
    # the install under test is a make of its own.
    for var in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES"):
        os.environ.pop(var, None)
    with harness.Env(args.bin, timeout=240) as env:
        root = env.path("root")
        rc, out, err = env.run([make, "-C", SRC, "install", "BUILD=" + build,
                                "DESTDIR=" + root, "PREFIX=/usr"], timeout=200,
                               label="make-install")
        check(rc == 0, "make install DESTDIR=... PREFIX=/usr succeeds%s"
              % ("" if rc == 0 else " (%s)" % err.strip()[-400:]))
        usr = os.path.join(root, "usr")
        for d in DAEMONS:
            check(is_exec(os.path.join(usr, "sbin", d)), "%s installed in sbin, executable" % d)
        check(is_exec(os.path.join(usr, "bin", "agentdesk")), "agentdesk installed in bin")
        for tool in ("wallboard", "mediasim", "agentsim"):
            check(is_exec(os.path.join(usr, "libexec", "contactcore", tool)),
                  "%s installed in libexec/contactcore" % tool)
        check(os.path.isdir(os.path.join(root, "etc", "contactcore")),
              "the configuration directory /etc/contactcore is made (and left empty: %s)"
              % os.listdir(os.path.join(root, "etc", "contactcore")))
        check(not os.listdir(os.path.join(root, "etc", "contactcore")),
              "make install writes no configuration file")
        users = read(os.path.join(usr, "lib", "sysusers.d", "contactcore.conf"))
        for d in DAEMONS:
            check(re.search(r"^u %s\s" % d, users, re.M) is not None,
                  "sysusers.d/contactcore.conf creates user %s" % d)
        for doc in ("README.md", "operations.md", "ixnserver.md", "protocol.md"):
            check(os.path.isfile(os.path.join(usr, "share", "doc", "contactcore", doc)),
                  "doc %s installed" % doc)
        # No file of the build's own layout leaks into the staging root.
        stray = [p for p in os.listdir(root) if p not in ("usr", "etc")]
        check(not stray, "only usr/ and etc/ under DESTDIR (%s)" % stray)

        rev = configured_revision(build)
        check_revision(rev)
        progs = [os.path.join(usr, "sbin", d) for d in DAEMONS] + [
            os.path.join(usr, "bin", "agentdesk")]
        for prog in progs:
            rc, out, err = env.run([prog, "--version"], timeout=30)
            name = os.path.basename(prog)
            m = re.match(r"^%s (\d+\.\d+\.\d+) \(git (\S+), protocol (\d+)\)$" % name,
                         out.strip())
            check(rc == 0 and m is not None, "%s --version: %s" % (name, out.strip()))
            check(m.group(2) == rev, "%s --version names revision %s" % (name, rev))

        check_pages(root, "/usr")
        check_units(root, "/usr", "/usr/sbin", "/etc/contactcore")
        check_examples(env, root, "/usr")
        run_verify(env, root, "/usr")
        check_sysusers(env, root, "/usr")

        # The units follow the prefix given at install time, also without the Makefile.
        root2 = env.path("root-local")
        r = subprocess.run(["cmake", "--install", build, "--prefix", "/usr/local"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120,
                           env=dict(os.environ, DESTDIR=root2))
        check(r.returncode == 0, "cmake --install --prefix /usr/local succeeds%s"
              % ("" if r.returncode == 0 else
                 " (%s)" % r.stderr.decode("utf-8", "replace")[-300:]))
        check_units(root2, "/usr/local", "/usr/local/sbin", "/usr/local/etc/contactcore")
        check(is_exec(os.path.join(root2, "usr", "local", "sbin", "ixnserver")),
              "ixnserver installed in /usr/local/sbin")


if __name__ == "__main__":
    main()
