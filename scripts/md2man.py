#!/usr/bin/env python3
"""Turns one of the programs' guides (docs/ixnserver.md, docs/statserver.md,
docs/agentdesk.md) into a man page, so that `man ixnserver` says what the guide says.

    md2man.py --name ixnserver --section 8 --summary "the interaction server" \
        --version 0.1.0 [--see-also "statserver(8),agentdesk(1)"] IN.md OUT.8

Python 3 standard library only. It knows the Markdown the guides use, and nothing more:
ATX headings, paragraphs, fenced code blocks, pipe tables, "-" and "1." lists (nested by
indentation), and inline `code`, **bold**, *italic* and [links](url). The page is plain
man(7) macros without tbl(1), so that man, groff -man and mandoc all read it the same:

- NAME is --name and --summary (the guide's title is left out), and the text before the
  first "##" becomes DESCRIPTION; "##" headings are sections (.SH, upper case), "###"
  subsections (.SS), deeper ones a bold paragraph;
- a table becomes one tagged paragraph (.TP) per row: the first cell is the tag; the
  last cell is the text, preceded by the middle cells as "Header: value";
- code and commands are bold, emphasis italic; characters beyond ASCII are written as
  groff's \\[uXXXX] escapes, so the page does not depend on the reader's input encoding.

The output depends only on the input and the arguments (the date is SOURCE_DATE_EPOCH's,
else the input file's modification day), so repeated builds give the same page.
"""

import argparse
import datetime
import os
import re
import sys


def escape_text(s):
    """Escapes characters special to roff in running text (no inline markup handled)."""
    out = []
    for ch in s:
        if ch == "\\":
            out.append("\\e")
        elif ch == "-":
            out.append("\\-")
        elif ord(ch) > 127:
            out.append("\\[u%04X]" % ord(ch))
        else:
            out.append(ch)
    return "".join(out)


def protect_line(line):
    """A roff text line must not start with a control character ('.' or "'")."""
    if line.startswith(".") or line.startswith("'"):
        return "\\&" + line
    return line


def inline(s):
    """Markdown inline markup of one block's text to roff: `code` and **bold** bold,
    *emphasis* italic, [text](url) as "text (url)"; everything else escaped."""
    out = []
    i = 0
    n = len(s)
    plain = []

    def flush():
        if plain:
            out.append(escape_text("".join(plain)))
            plain.clear()

    while i < n:
        ch = s[i]
        if ch == "`":
            run = len(s[i:]) - len(s[i:].lstrip("`"))
            fence = "`" * run
            end = s.find(fence, i + run)
            if end < 0:
                plain.append(s[i:i + run])
                i += run
                continue
            code = s[i + run:end]
            if run > 1:
                code = code.strip()
            flush()
            # A long code span (a JSON example) may break after a comma, so a filled
            # line never has to overflow.
            out.append("\\fB" + escape_text(code).replace(",", ",\\:") + "\\fR")
            i = end + run
        elif s.startswith("**", i):
            end = s.find("**", i + 2)
            if end < 0:
                plain.append("**")
                i += 2
                continue
            flush()
            out.append("\\fB" + inline(s[i + 2:end]) + "\\fR")
            i = end + 2
        elif ch == "*" and i + 1 < n and not s[i + 1].isspace():
            end = s.find("*", i + 1)
            if end < 0 or s[end - 1].isspace():
                plain.append(ch)
                i += 1
                continue
            flush()
            out.append("\\fI" + inline(s[i + 1:end]) + "\\fR")
            i = end + 1
        elif ch == "[":
            m = re.match(r"\[([^\]]+)\]\(([^)\s]+)\)", s[i:])
            if not m:
                plain.append(ch)
                i += 1
                continue
            flush()
            out.append(inline(m.group(1)) + " (" + escape_text(m.group(2)) + ")")
            i += m.end()
        else:
            plain.append(ch)
            i += 1
    flush()
    return "".join(out)


def split_row(line):
    """The cells of a pipe-table row; a '|' inside `code` does not split."""
    line = line.strip()
    if line.startswith("|"):
        line = line[1:]
    if line.endswith("|") and not line.endswith("\\|"):
        line = line[:-1]
    cells, cur, in_code = [], [], False
    for ch in line:
        if ch == "`":
            in_code = not in_code
        if ch == "|" and not in_code:
            cells.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    cells.append("".join(cur).strip())
    return cells


TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")
BULLET = re.compile(r"^( *)([-*+]|\d+[.)]) +(.*)$")
HEADING = re.compile(r"^(#{1,6}) +(.*?) *#*$")


class Converter:
    """Reads the Markdown lines and writes roff lines into self.out."""

    def __init__(self, lines):
        self.lines = lines
        self.i = 0
        self.out = []
        # Where DESCRIPTION goes: after the title, before the text that follows it.
        self.description_at = None

    def emit(self, line):
        self.out.append(line)

    def text(self, s):
        """One paragraph's text, already joined, as protected roff lines."""
        for part in inline(s).split("\n"):
            self.emit(protect_line(part))

    # -- blocks --

    def code_block(self, indent):
        """A fenced block; indent > 0 when it belongs to a list item."""
        fence = self.lines[self.i].strip()[:3]
        self.i += 1
        if indent == 0:
            self.emit(".PP")
            self.emit(".RS 4")
        else:
            self.emit(".sp")
            self.emit(".RS")
        self.emit(".nf")
        while self.i < len(self.lines) and not self.lines[self.i].strip().startswith(fence):
            raw = self.lines[self.i]
            # Lines of a block inside a list item carry the item's indentation.
            if raw[:indent].strip() == "":
                raw = raw[indent:]
            self.emit(protect_line(escape_text(raw.rstrip())))
            self.i += 1
        self.i += 1  # the closing fence
        self.emit(".fi")
        self.emit(".RE")

    def table(self):
        header = split_row(self.lines[self.i])
        self.i += 2  # header and the rule under it
        rows = []
        while self.i < len(self.lines) and self.lines[self.i].strip().startswith("|"):
            rows.append(split_row(self.lines[self.i]))
            self.i += 1
        last = len(header) - 1
        for row in rows:
            row = row + [""] * (len(header) - len(row))
            self.emit(".TP")
            self.text(row[0])
            parts = []
            for h, cell in list(zip(header, row))[1:last]:
                if cell:
                    parts.append("%s: %s." % (h[:1].upper() + h[1:], cell.rstrip(".")))
            if last > 0 and row[last]:
                text = row[last]
                if parts and text[:1].islower():
                    text = text[:1].upper() + text[1:]  # it follows "Header: value."
                parts.append(text)
            self.text(" ".join(parts))

    def list_block(self, base):
        """A list whose markers stand at indentation base. An item's text runs on over
        indented (or, at the outermost level, unindented) lines; a deeper marker starts a
        nested list, and in a nested list a line indented less than the item's text ends
        it, so the text goes on in the enclosing item."""
        while self.i < len(self.lines):
            m = BULLET.match(self.lines[self.i])
            if not m or len(m.group(1)) != base:
                return
            mark = m.group(2)
            bullet = mark in "-*+"
            width = 2 if bullet else 4
            self.emit(".IP %s %d" % ("\\(bu" if bullet else mark, width))
            content = base + len(mark) + 1
            para = [m.group(3)]
            resumed = False  # text after a nested block needs its own untagged .IP
            self.i += 1
            while self.i < len(self.lines):
                line = self.lines[self.i]
                indent = len(line) - len(line.lstrip())
                if not line.strip():
                    nxt = self.i + 1
                    if (nxt < len(self.lines) and self.lines[nxt].strip()
                            and len(self.lines[nxt]) - len(self.lines[nxt].lstrip()) >= content
                            and not BULLET.match(self.lines[nxt])):
                        self.flush_para(para, resumed, width)
                        para, resumed = [], True
                        self.i += 1
                        continue
                    break
                sub = BULLET.match(line)
                if sub:
                    if indent <= base:
                        break
                    self.flush_para(para, resumed, width)
                    para, resumed = [], True
                    self.emit(".RS")
                    self.list_block(indent)
                    self.emit(".RE")
                    continue
                if line.strip().startswith("```"):
                    self.flush_para(para, resumed, width)
                    para, resumed = [], True
                    self.code_block(indent)
                    continue
                if HEADING.match(line) or self.table_starts():
                    break
                if base > 0 and indent < content:
                    break
                para.append(line.strip())
                self.i += 1
            self.flush_para(para, resumed, width)
            # Blank lines between the items of one list do not end it.
            j = self.i
            while j < len(self.lines) and not self.lines[j].strip():
                j += 1
            nm = BULLET.match(self.lines[j]) if j < len(self.lines) else None
            if not nm or len(nm.group(1)) != base:
                return
            self.i = j

    def flush_para(self, para, resumed=False, width=0):
        """Writes a paragraph's lines; resumed: it continues a list item after a block."""
        if para:
            if resumed:
                self.emit('.IP "" %d' % width)
            self.text(" ".join(para))

    def paragraph(self):
        para = []
        while self.i < len(self.lines):
            line = self.lines[self.i]
            if (not line.strip() or HEADING.match(line) or line.strip().startswith("```")
                    or BULLET.match(line) or self.table_starts()):
                break
            para.append(line.strip())
            self.i += 1
        self.emit(".PP")
        self.flush_para(para)

    def table_starts(self):
        return (self.lines[self.i].strip().startswith("|") and self.i + 1 < len(self.lines)
                and TABLE_RULE.match(self.lines[self.i + 1]) is not None)

    def run(self):
        while self.i < len(self.lines):
            line = self.lines[self.i]
            if not line.strip():
                self.i += 1
                continue
            h = HEADING.match(line)
            if h:
                level, title = len(h.group(1)), h.group(2)
                self.i += 1
                if level == 1 and self.description_at is None:
                    self.description_at = len(self.out)
                elif level <= 2:
                    self.emit(".SH " + quote_arg(inline(title.upper())))
                elif level == 3:
                    self.emit(".SS " + quote_arg(inline(title)))
                else:
                    self.emit(".PP")
                    self.emit("\\fB" + inline(title) + "\\fR")
                continue
            if line.strip().startswith("```"):
                self.code_block(0)
            elif self.table_starts():
                self.table()
            elif BULLET.match(line):
                self.list_block(len(BULLET.match(line).group(1)))
            else:
                self.paragraph()
        return self.out


def quote_arg(s):
    """A macro argument with spaces, in double quotes ('"' inside written as \\(dq)."""
    return '"' + s.replace('"', "\\(dq") + '"'


def page_date(path):
    """SOURCE_DATE_EPOCH's day when set (reproducible builds), else the input's mtime."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    try:
        t = int(epoch) if epoch else int(os.stat(path).st_mtime)
    except ValueError:
        t = int(os.stat(path).st_mtime)
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%d")


def convert(text, name, section, summary, version, see_also, date, source):
    """The whole page for Markdown text."""
    conv = Converter(text.split("\n"))
    body = conv.run()
    head = [
        '.\\" Generated by scripts/md2man.py from %s: do not edit.' % source,
        ".TH %s %s %s %s %s" % (quote_arg(name.upper()), section, quote_arg(date),
                                quote_arg("contactcore " + version),
                                quote_arg("contactcore manual")),
        # Ragged right and no hyphenation, as DocBook's man pages: option names and
        # JSON examples stay whole, and a line of one long code span needs no stretching.
        ".nh",
        ".ad l",
        ".SH NAME",
        "%s \\- %s" % (escape_text(name), escape_text(summary)),
    ]
    # NAME already says what the title says; the text before the first section describes.
    at = conv.description_at or 0
    out = body[:at] + [".SH DESCRIPTION"] + body[at:]
    tail = []
    if see_also:
        refs = [r.strip() for r in see_also.split(",") if r.strip()]
        pages = []
        for r in refs:
            m = re.match(r"^([^()]+)\((\w+)\)$", r)
            pages.append("\\fB%s\\fR(%s)" % (escape_text(m.group(1)), m.group(2)) if m
                         else escape_text(r))
        tail = [".SH SEE ALSO", ",\n".join(pages)]
        tail.append(".PP")
        tail.append("The guides this page is made from, and the others, are in the package's "
                    "documentation directory (\\fIshare/doc/contactcore\\fR).")
    # A paragraph macro right before another block macro would only add a blank line.
    cleaned = []
    for line in head + out + tail:
        if cleaned and cleaned[-1] == ".PP" and re.match(r"^\.(PP|TP|IP|SH|SS)\b", line):
            cleaned.pop()
        cleaned.append(line)
    return "\n".join(cleaned).rstrip("\n") + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description="Markdown guide to man page")
    p.add_argument("--name", required=True)
    p.add_argument("--section", required=True)
    p.add_argument("--summary", required=True)
    p.add_argument("--version", required=True)
    p.add_argument("--see-also", default="")
    p.add_argument("--source", help="the input's name in the header (default: as given)")
    p.add_argument("input")
    p.add_argument("output")
    a = p.parse_args(argv)
    with open(a.input, encoding="utf-8") as f:
        text = f.read()
    page = convert(text, a.name, a.section, a.summary, a.version, a.see_also,
                   page_date(a.input), a.source or a.input)
    tmp = a.output + ".tmp"
    with open(tmp, "w", encoding="ascii") as f:
        f.write(page)
    os.replace(tmp, a.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
