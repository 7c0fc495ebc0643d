#!/usr/bin/env python3
"""Checks that every #include "layer/..." in src/ points down the layer order
(docs/architecture.md): common, then proto and rules, then net and store, then the
programs (ixn, stat, desk), which never include one another. Prints each upward or
sideways include with its file and line and exits 1 when there is one."""
import pathlib
import re
import sys

RANK = {"common": 0, "proto": 1, "rules": 1, "net": 2, "store": 2, "ixn": 3, "stat": 3, "desk": 3}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([a-z]+)/')


def main():
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".") / "src"
    faults = []
    files = sorted(root.glob("*/*.[ch]"))
    for path in files:
        layer = path.parent.name
        if layer not in RANK:
            faults.append(f"{path}: folder {layer} has no place in the layer order")
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            m = INCLUDE.match(line)
            if not m or m.group(1) == layer:
                continue
            target = m.group(1)
            if target not in RANK or RANK[target] >= RANK[layer]:
                faults.append(f"{path}:{number}: {layer} includes {target} ({line.strip()})")
    for fault in faults:
        print(fault)
    print(f"layer_check: files={len(files)} faults={len(faults)}")
    return 1 if faults else 0


if __name__ == "__main__":
    sys.exit(main())
