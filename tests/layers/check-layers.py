#!/usr/bin/env python3
"""Fails when an #include points up the layers.

The layers point one way: daemon -> ioreq -> devices -> config -> lib (a
file may include its own layer and any layer below it, never one above).
lib/ is the floor: the logger and small helpers every layer uses,
including nothing of ours.  A file that includes upwards ties a lower
layer to a higher one: a device that needs the daemon's event loop cannot
be unit-tested or reused without it.

KNOWN lists tolerated upward includes (none since the structure issue);
the check fails on any new one, and on a KNOWN entry that is gone (so the
list only shrinks and cannot go stale).

    check-layers.py SOURCE_ROOT
"""
import os
import re
import sys

LAYERS = ["lib", "config", "devices", "ioreq", "daemon"]   # lowest first

KNOWN = set()   # empty since the structure issue; keep it so

INCLUDE = re.compile(r'^\s*#\s*include\s+"([a-z]+)/([^"]+)"', re.M)


def upward_includes(root):
    found = set()
    for rank, layer in enumerate(LAYERS):
        d = os.path.join(root, layer)
        for name in sorted(os.listdir(d)):
            if not name.endswith((".c", ".h")):
                continue
            with open(os.path.join(d, name), encoding="utf-8") as f:
                text = f.read()
            for target, rest in INCLUDE.findall(text):
                if target in LAYERS and LAYERS.index(target) > rank:
                    found.add((f"{layer}/{name}", f"{target}/{rest}"))
    return found


def main():
    found = upward_includes(sys.argv[1])
    bad = 0
    for src, inc in sorted(found - KNOWN):
        print(f"{src}: includes {inc}, a layer above it "
              f"(order: {' <- '.join(reversed(LAYERS))})")
        bad = 1
    for src, inc in sorted(KNOWN - found):
        print(f"{src}: no longer includes {inc}; "
              "drop it from KNOWN in check-layers.py")
        bad = 1
    if not bad:
        print(f"layers: {len(found)} known upward includes, no new one")
    return bad


if __name__ == "__main__":
    sys.exit(main())
