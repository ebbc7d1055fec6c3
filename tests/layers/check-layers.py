#!/usr/bin/env python3
"""Fails when an #include points up the layers.

The layers point one way: daemon -> ioreq -> devices -> config -> lib (a
file may include its own layer and any layer below it, never one above).
lib/ is the floor: the logger and small helpers every layer uses,
including nothing of ours.  A file that includes upwards ties a lower
layer to a higher one: a device that needs the daemon's event loop cannot
be unit-tested or reused without it.

Subfolders belong to their top folder's layer (devices/virtio/ is
devices/).  Xen's headers are for ioreq/ alone, libevent's for ioreq/
and daemon/ (FORBIDDEN).

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
SYSTEM = re.compile(r'^\s*#\s*include\s+<([^>]+)>', re.M)

# System headers a layer must not use: only ioreq/ speaks to Xen, and
# devices see the event loop only through their event services
# (devices/events.h), so a device or the config can be tested and reused
# without either.
FORBIDDEN = {
    "xen": ("lib", "config", "devices", "daemon"),
    "libevent": ("lib", "config", "devices"),
}


def forbidden(header):
    """The FORBIDDEN key a system header falls under, or None."""
    if header.startswith("xen"):
        return "xen"
    if header.startswith(("event2/", "event.h")):
        return "libevent"
    return None


def sources(root, layer):
    """Every .c/.h under a layer's folder, subfolders included, as paths
    relative to root."""
    for dirpath, dirnames, filenames in os.walk(os.path.join(root, layer)):
        dirnames.sort()
        for name in sorted(filenames):
            if name.endswith((".c", ".h")):
                yield os.path.relpath(os.path.join(dirpath, name), root)


def upward_includes(root):
    """(file, include) pairs that point up, or at a forbidden header."""
    found = set()
    for rank, layer in enumerate(LAYERS):
        for path in sources(root, layer):
            with open(os.path.join(root, path), encoding="utf-8") as f:
                text = f.read()
            for target, rest in INCLUDE.findall(text):
                if target in LAYERS and LAYERS.index(target) > rank:
                    found.add((path, f"{target}/{rest}"))
            for header in SYSTEM.findall(text):
                kind = forbidden(header)
                if kind and layer in FORBIDDEN[kind]:
                    found.add((path, f"<{header}>"))
    return found


def main():
    found = upward_includes(sys.argv[1])
    bad = 0
    for src, inc in sorted(found - KNOWN):
        if inc.startswith("<"):
            print(f"{src}: includes {inc}, which only "
                  f"{', '.join(l + '/' for l in LAYERS if l not in FORBIDDEN[forbidden(inc[1:-1])])} may use")
        else:
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
