#!/usr/bin/env python3
"""`ixnserver --check-config` on the routing sections of issue 10 ([skills], [targets],
[queue-options]; routing.md sections 1-3): a good file exits 0 with no error; each bad
value exits 1 with one error naming the file, the line of the pair, its section and key,
and the column of the offending token in the line (as FILE:LINE:COL, or as "column COL:"
after the key); a blank before a target's ';' kept (no ini comment); limits at their edges (16 steps
accepted and 17 refused, 32 levels of parentheses or `not` and 33, `for` 1 and 86,400
and 0 and 86,401, levels 10 and 11, 64 skills and 65, a skill name of 32 bytes and 33,
priority 1,000 and 1,001, aging 86,400 and 86,401); a skill for an agent not in [agents],
a target or options for a queue not in [queues], a pair given twice. No daemon runs."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import ok  # noqa: E402

T = "Resources"

BASE = {
    "skills": [("1001", "spanish:5, billing:3"), ("1002", "billing:9")],
    "targets": [("es", "spanish >= 3 and billing >= 5 for 30; billing >= 1"),
                ("vip", "vip >= 1")],
    "queue-options": [("vip", "priority 10, aging 5, select vip")],
}


def write(env, name, sections, hashed):
    """An ixnserver ini with agents 1001, 1002, queues es (chat) and vip (voice) and the
    routing sections {section: [(key without tenant, value)]}. Returns (path, text)."""
    lines = ["[server]", "name = ixn-a", "listen = 127.0.0.1:0", "media = voice, chat, email",
             "[tokens]", "AgentApplication = d", "MediaServer = m", "ReportingEngine = r",
             "[agents]", "%s/1001 = %s" % (T, hashed), "%s/1002 = %s" % (T, hashed),
             "[queues]", "%s/es = chat" % T, "%s/vip = voice" % T]
    for section in ("skills", "targets", "queue-options"):
        pairs = sections.get(section) or []
        if pairs:
            lines.append("[%s]" % section)
            lines += ["%s/%s = %s" % (T, k, v) for k, v in pairs]
    text = "\n".join(lines) + "\n"
    return env.write(name, text), text


def run(env, path):
    rc, out, err = env.run(["ixnserver", "--check-config", "-c", path])
    return rc, err


class Cases:
    def __init__(self, env):
        self.env = env
        self.hashed = env.hash_password("pw")
        self.n = 0

    def good(self, section, key, value, what):
        """The base file with (key, value) set in section must pass."""
        sections = {s: list(p) for s, p in BASE.items()}
        sections[section] = [(k, v) for k, v in sections[section] if k != key] + [(key, value)]
        self.n += 1
        path, _ = write(self.env, "good%d.ini" % self.n, sections, self.hashed)
        rc, err = run(self.env, path)
        ok(rc == 0 and "error" not in err, "%s: accepted (got %d: %s)" % (what, rc, err.strip()))

    def bad(self, section, key, value, what, at=None, col=None, message=None, extra=None):
        """The base file with (key, value) set in section (and the pairs extra appended
        after it) must fail with one error on its line; at: the offending token (its first
        occurrence in value, or col, 1-based in the value) for the column."""
        sections = {s: list(p) for s, p in BASE.items()}
        sections[section] = [(k, v) for k, v in sections[section] if k != key] + [(key, value)]
        if extra:
            sections[section] += extra
        self.n += 1
        path, text = write(self.env, "bad%d.ini" % self.n, sections, self.hashed)
        lines = text.splitlines()
        target_line = "%s/%s = %s" % (T, key, value) if not extra else \
            "%s/%s = %s" % (T, extra[-1][0], extra[-1][1])
        lineno = len(lines) - lines[::-1].index(target_line)
        rc, err = run(self.env, path)
        errors = [ln for ln in err.splitlines() if ": error: " in ln]
        ok(rc == 1, "%s: exit status 1 (got %d)" % (what, rc))
        ok(len(errors) == 1, "%s: one error (got %s)" % (what, errors))
        line = errors[0] if errors else ""
        prefix = "%s:%d" % (path, lineno)
        ok(prefix in line and ("[%s] %s/%s" % (section, T, key if not extra else extra[-1][0]))
           in line, "%s: names %s:%d and [%s] (got %r)" % (what, os.path.basename(path), lineno,
                                                          section, line))
        if at is not None or col is not None:
            vcol = col if col is not None else value.index(at) + 1
            lcol = len("%s/%s = " % (T, key)) + vcol
            ok(("%s:%d: [" % (prefix, lcol)) in line or (": column %d: " % lcol) in line,
               "%s: column %d of the line (%d of the value) (got %r)" % (what, lcol, vcol, line))
        if message is not None:
            ok(message in line, "%s: says %r (got %r)" % (what, message, line))


def main():
    args = harness.parse_args()
    with harness.Env(args.bin, timeout=120) as env:
        c = Cases(env)
        path, _ = write(env, "base.ini", BASE, c.hashed)
        rc, err = run(env, path)
        ok(rc == 0 and "error" not in err, "the base file: exit 0, no error (got %d: %s)"
           % (rc, err.strip()))

        # [targets]
        tg = "targets"
        c.good(tg, "es", "any", "target any")
        c.good(tg, "es", "a >= 0 and b > 9 or not (c = 10) and d <= 1 or e < 10",
               "target with every operator")
        c.good(tg, "es", "s >= 1 for 1; " * 15 + "any", "target of 16 steps")
        c.bad(tg, "es", "s >= 1 for 1; " * 16 + "any", "target of 17 steps",
              col=len("s >= 1 for 1; " * 16) + 1, message="too many steps")
        c.good(tg, "es", "(" * 32 + "any" + ")" * 32, "32 levels of parentheses")
        c.bad(tg, "es", "(" * 33 + "any" + ")" * 33, "33 levels of parentheses", col=33)
        c.good(tg, "es", "not " * 32 + "any", "32 levels of not")
        c.bad(tg, "es", "not " * 33 + "any", "33 levels of not", col=4 * 32 + 1)
        c.good(tg, "es", "s >= 1 for 1; s >= 2 for 86400; any", "for 1 and 86400")
        c.bad(tg, "es", "s >= 1 for 86401; any", "for 86401", at="86401")
        c.bad(tg, "es", "s >= 1 for 0; any", "for 0", at="0;")
        c.good(tg, "es", "s = 0 or s = 10", "levels 0 and 10")
        c.bad(tg, "es", "s >= 11", "level 11", at="11")
        c.bad(tg, "es", "spanish ~ 3", "not an operator", at="~")
        c.bad(tg, "es", "spanish >= 3 for 30", "for on the last step", at="for")
        c.bad(tg, "es", "spanish >= 3; any", "no for before ;", at=";")
        c.bad(tg, "es", "spanish >= 3 for 30;", "an empty last step",
              col=len("spanish >= 3 for 30;") + 1)
        c.bad(tg, "es", "spanish >= 3 for 30;; any", "an empty step", at="; any")
        # A blank before ';' starts no comment in these sections: the value is kept whole.
        c.good(tg, "es", "s >= 1 for 1 ; s >= 2 for 2 ;any", "blanks before ';'")
        c.bad(tg, "es", "spanish >= 3 for 30 ; ; any", "an empty step after a blank",
              at="; any")
        c.bad(tg, "es", "(spanish >= 3", "unclosed parenthesis", col=len("(spanish >= 3") + 1)
        c.bad(tg, "es", "spanish >= 3)", "a parenthesis too many", at=")")
        c.bad(tg, "es", "and >= 3", "a keyword as skill", col=1)
        c.bad(tg, "es", "Spanish >= 3", "a skill name with a capital", col=1)
        c.bad(tg, "es", "spanish >= 3 and", "and at the end", col=len("spanish >= 3 and") + 1)
        c.bad(tg, "nope", "any", "target of a queue not in [queues]",
              message="not a queue of [queues]")
        c.bad(tg, "vip", "any", "target given twice", extra=[("vip", "vip >= 2")],
              message="given twice")

        # [skills]
        sk = "skills"
        c.good(sk, "1001", "", "no skills")
        c.good(sk, "1001", ", ".join("s%d:%d" % (i, i % 10 + 1) for i in range(64)),
               "64 skills")
        sixty5 = ", ".join("s%d:1" % i for i in range(65))
        c.bad(sk, "1001", sixty5, "65 skills", at="s64:")
        c.good(sk, "1001", "a" * 32 + ":10", "a name of 32 bytes, level 10")
        c.bad(sk, "1001", "a" * 33 + ":10", "a name of 33 bytes", col=1)
        c.bad(sk, "1001", "spanish:11", "level 11", at="11")
        c.bad(sk, "1001", "spanish:0", "level 0", at="0")
        c.bad(sk, "1001", "spanish", "no level", col=len("spanish") + 1)
        c.bad(sk, "1001", "spanish:5, spanish:3", "a name twice", col=12)
        c.bad(sk, "1001", "Spanish:5", "a capital", col=1)
        c.bad(sk, "1001", "spanish:5,, billing:3", "an empty item", col=11)
        c.bad(sk, "1001", "any:3", "a keyword as name", col=1)
        c.bad(sk, "9999", "spanish:5", "skills of an agent not in [agents]",
              message="not an agent of [agents]")

        # [queue-options]
        qo = "queue-options"
        for value in ("priority 0", "priority 1000", "aging 1", "aging 86400", "select idle",
                      "select spanish", "select spanish, aging 3, priority 7"):
            c.good(qo, "vip", value, "options %r" % value)
        c.bad(qo, "vip", "priority 1001", "priority 1001", at="1001")
        c.bad(qo, "vip", "priority -1", "priority -1", at="-1")
        c.bad(qo, "vip", "aging 0", "aging 0", at="0")
        c.bad(qo, "vip", "aging 86401", "aging 86401", at="86401")
        c.bad(qo, "vip", "priority 5, priority 6", "priority twice", col=13)
        c.bad(qo, "vip", "colour red", "an unknown option", col=1)
        c.bad(qo, "vip", "priority", "priority without a number", col=len("priority") + 1)
        c.bad(qo, "vip", "select Spanish", "select a bad name", at="Spanish")
        c.bad(qo, "nope", "priority 1", "options of a queue not in [queues]",
              message="not a queue of [queues]")


if __name__ == "__main__":
    main()
