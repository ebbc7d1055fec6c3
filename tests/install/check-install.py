#!/usr/bin/env python3
"""`meson install` into a staging tree has every file a package needs, the
installed units pass `systemd-analyze verify`, and the installed ioreqd
accepts the installed example configuration.
    check-install.py BUILDDIR
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

build = sys.argv[1]
failures = []


def options():
    out = subprocess.run(["meson", "introspect", build, "--buildoptions"],
                         check=True, capture_output=True, text=True).stdout
    return {o["name"]: o["value"] for o in json.loads(out)}


opt = options()
prefix = opt["prefix"]


def under(name):
    """An install directory as meson resolves it (absolute or prefixed)."""
    d = opt[name]
    return d if os.path.isabs(d) else os.path.join(prefix, d)


unitdir = os.path.join(prefix, "lib/systemd/system")
expected = {
    os.path.join(under("bindir"), "ioreqd"): True,
    os.path.join(under("libexecdir"), "ioreqd/ioreqd-guest"): True,
    os.path.join(unitdir, "ioreqd@.service"): False,
    os.path.join(unitdir, "ioreqd-guest@.service"): False,
    os.path.join(under("mandir"), "man8/ioreqd.8"): False,
    os.path.join(under("mandir"), "man5/ioreqd.yaml.5"): False,
    os.path.join(under("sysconfdir"), "ioreqd/example.yaml"): False,
    os.path.join(under("datadir"), "doc/ioreqd/examples/xl-guest.cfg"): False,
}

with tempfile.TemporaryDirectory() as stage:
    subprocess.run(["meson", "install", "-C", build, "--no-rebuild",
                    "--quiet", "--destdir", stage], check=True,
                   stdout=subprocess.DEVNULL)

    def staged(path):
        return os.path.join(stage, path.lstrip("/"))

    for path, executable in expected.items():
        p = staged(path)
        if not os.path.isfile(p):
            failures.append(f"{path}: not installed")
        elif executable and not os.access(p, os.X_OK):
            failures.append(f"{path}: not executable")

    # Every @...@ was substituted, and the units name installed programs.
    for unit in ("ioreqd@.service", "ioreqd-guest@.service"):
        p = staged(os.path.join(unitdir, unit))
        if not os.path.isfile(p):
            continue
        text = open(p).read()
        if "@" in text.replace("%i", "").replace("ioreqd@", "").replace(
                "ioreqd-guest@", ""):
            failures.append(f"{unit}: unsubstituted @...@")
        for line in text.splitlines():
            if line.startswith(("ExecStart=", "ExecStop=", "ExecStartPre=")):
                prog = line.split("=", 1)[1].split()[0]
                if not os.path.isfile(staged(prog)):
                    failures.append(f"{unit}: {prog} is not installed")

    r = subprocess.run([staged(os.path.join(under("bindir"), "ioreqd")), "-n",
                        staged(os.path.join(under("sysconfdir"),
                                            "ioreqd/example.yaml"))],
                       capture_output=True, text=True)
    if r.returncode != 0:
        failures.append("installed example.yaml rejected: " + r.stdout +
                        r.stderr)

    analyze = shutil.which("systemd-analyze")
    hostunits = "/lib/systemd/system"
    if analyze and os.path.isdir(hostunits):
        # verify --root resolves every unit inside the root: give it the
        # host's units (no Xen units among them, as on Debian, which has
        # none: the units must not require any) and instances of the
        # templates.
        shutil.copytree(hostunits, staged("/usr/lib/systemd/system"),
                        symlinks=True, dirs_exist_ok=True)
        units = []
        for unit in ("ioreqd@", "ioreqd-guest@"):
            src = staged(os.path.join(unitdir, unit + ".service"))
            if os.path.isfile(src):
                dst = staged(os.path.join(unitdir, unit + "test.service"))
                shutil.copy(src, dst)
                units.append(dst)
        r = subprocess.run([analyze, "verify", "--man=no", "--root=" + stage]
                           + units, capture_output=True, text=True)
        # verify exits 0 on a value it cannot parse: any output is a fault.
        if r.returncode != 0 or r.stdout.strip() or r.stderr.strip():
            failures.append("systemd-analyze verify: " + r.stdout + r.stderr)
    else:
        print("systemd-analyze missing: units not verified")

for f in failures:
    print("FAIL: " + f)
if failures:
    sys.exit(1)
print(f"{len(expected)} files installed, units verified")
