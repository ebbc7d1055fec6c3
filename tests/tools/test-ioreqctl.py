#!/usr/bin/env python3
"""ioreqctl against fake-ioreqd.py: output, exit codes, requests sent.

    test-ioreqctl.py GROUP IOREQCTL FAKE_IOREQD

GROUP is one of the names in GROUPS below (each is one meson test).
Every case starts its own fake daemon in a fresh temporary directory.
Exit 0 when every check of the group passed, 1 otherwise (77: skipped).
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

IOREQCTL = FAKE = None
failures = []


def check(cond, what, res=None):
    if not cond:
        extra = ""
        if res is not None:
            extra = "\n  rc=%d\n  stdout=%r\n  stderr=%r" % (
                res.returncode, res.stdout, res.stderr)
        failures.append(what + extra)
        print("FAIL: " + what + extra)


class Fake:
    """A fake daemon in its own temporary directory."""

    def __init__(self, mode="normal"):
        self.dir = tempfile.mkdtemp(prefix="ioreqctl-test-")
        os.chmod(self.dir, 0o755)
        self.sock = os.path.join(self.dir, "web1.sock")
        self.log = os.path.join(self.dir, "requests")
        self.proc = subprocess.Popen(
            [sys.executable, FAKE, self.sock, "--mode", mode, "--log",
             self.log], stdout=subprocess.PIPE)
        if self.proc.stdout.readline() != b"ready\n":
            raise RuntimeError("fake-ioreqd did not start")

    def requests(self):
        try:
            with open(self.log) as f:
                return [json.loads(l) for l in f]
        except FileNotFoundError:
            return []

    def close(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(10)
        shutil.rmtree(self.dir)

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self.close()


def ctl(*args, sock=None, timeout=30, env=None, prefix=()):
    argv = list(prefix) + [IOREQCTL]
    if sock:
        argv += ["-s", sock]
    e = dict(os.environ, TZ="UTC")
    e.update(env or {})
    return subprocess.run(argv + list(args), capture_output=True, text=True,
                          timeout=timeout, env=e)


def group_output():
    with Fake() as f:
        r = ctl("status", sock=f.sock)
        check(r.returncode == 0, "status exits 0", r)
        lines = r.stdout.splitlines()
        check(lines[:3] == ["name:        web1", "domid:       5",
                            "state:       running"],
              "status key: value lines, aligned, in order", r)
        check("uptime:      3725.5 s (01:02:05)" in lines, "status uptime", r)
        check("restricted:  yes" in lines, "status restricted as yes", r)

        r = ctl("devices", sock=f.sock)
        check(r.returncode == 0, "devices exits 0", r)
        check(r.stdout.splitlines() == [
            "ID    TYPE        PCI      REGIONS              INTERRUPT  BACKEND",
            "com1  uart16550   -        port 0x3f8+8         isa 4      socket:/run/ioreqd/web1-com1.sock",
            "vda   virtio-blk  00:05.0  mmio 0xfe000000+16K  msix       file:/var/lib/ioreqd/web1-vda.img",
            "rng0  virtio-rng  -        -                    none       -",
        ], "devices table", r)

        r = ctl("stats", "vda", sock=f.sock)
        out = r.stdout.splitlines()
        check(r.returncode == 0 and len(out) == 2, "stats vda: two lines", r)
        check(out and out[0].split() == ["DEVICE", "READS", "WRITES", "BAD",
                                         "IRQS", "OTHER"], "stats header", r)
        if len(out) == 2:
            cols = out[1].split()
            check(cols[0] == "vda" and cols[2:5] == ["7", "2", "3"] and
                  "q0_in_flight=4" in cols and "q0_bytes=45056" in cols,
                  "stats vda row", r)
        check(f.requests()[-1] == {"execute": "stats", "id": 1,
                                   "arguments": {"device": "vda"}},
              "stats vda sends the device argument")

        r = ctl("stats", sock=f.sock)
        check([l.split()[0] for l in r.stdout.splitlines()] ==
              ["DEVICE", "com1", "vda", "rng0"], "stats of every device", r)

        r = ctl("server-stats", sock=f.sock)
        out = r.stdout.splitlines()
        check(r.returncode == 0 and "requests.pio:         120" in out and
              "wakeups:              77" in out, "server-stats lines", r)
        check("latency 512ns-1.0us:  5" in out and
              not any(l.startswith("latency 1.0us") for l in out),
              "server-stats latency buckets, empty ones left out", r)

        r = ctl("metrics", sock=f.sock)
        check(r.returncode == 0 and r.stdout.startswith("# TYPE ") and
              r.stdout.endswith("# EOF\n"), "metrics printed as is", r)

        r = ctl("log-level", sock=f.sock)
        check(r.stdout == "level:  info\n", "log-level shows", r)
        r = ctl("log-level", "debug", sock=f.sock)
        check(r.returncode == 0 and r.stdout == "level:  debug\n" and
              f.requests()[-1]["arguments"] == {"level": "debug"},
              "log-level sets", r)

        # --json: the return value as one JSON document, option before or
        # after the command.
        for args in (["--json", "devices"], ["devices", "--json"]):
            r = ctl(*args, sock=f.sock)
            try:
                v = json.loads(r.stdout)
            except ValueError:
                v = None
            check(r.returncode == 0 and isinstance(v, list) and
                  v[1]["pci"] == "00:05.0", "%s prints JSON" % args, r)
        r = ctl("--json", "stats", "vda", sock=f.sock)
        check(r.returncode == 0 and
              json.loads(r.stdout)["vda"]["q0_bytes"] == 45056,
              "--json stats", r)
        r = ctl("--json", "metrics", sock=f.sock)
        check(json.loads(r.stdout).endswith("# EOF\n"),
              "--json metrics is a JSON string", r)

        # Commands that only act print nothing and send what they were told.
        cwd = f.dir
        r = subprocess.run([IOREQCTL, "-s", f.sock, "chardev-attach", "com1",
                            "socket:rel.sock"], capture_output=True,
                           text=True, cwd=cwd, timeout=30)
        check(r.returncode == 0 and r.stdout == "", "chardev-attach ok", r)
        check(f.requests()[-1]["arguments"] ==
              {"device": "com1", "backend": {"type": "socket",
                                             "path": cwd + "/rel.sock"}},
              "chardev-attach sends the backend, path made absolute")
        r = ctl("chardev-attach", "com1", "pty", sock=f.sock)
        check(r.returncode == 0 and f.requests()[-1]["arguments"] ==
              {"device": "com1", "backend": {"type": "pty"}},
              "chardev-attach pty: no path", r)
        img = os.path.join(f.dir, "new.img")
        open(img, "w").close()
        r = ctl("blockdev-change", "vda", "--path", img, "--read-only",
                sock=f.sock)
        check(r.returncode == 0 and r.stdout == "" and
              f.requests()[-1]["arguments"] ==
              {"device": "vda", "path": img, "read-only": True},
              "blockdev-change --path --read-only", r)
        r = ctl("blockdev-change", "--read-write", "vda", sock=f.sock)
        check(r.returncode == 0 and f.requests()[-1]["arguments"] ==
              {"device": "vda", "read-only": False},
              "blockdev-change --read-write", r)

        # call: any command as raw JSON, the reply as JSON.
        r = ctl("call", "stats", '{"device": "com1"}', sock=f.sock)
        check(r.returncode == 0 and list(json.loads(r.stdout)) == ["com1"]
              and f.requests()[-1] == {"execute": "stats", "id": 1,
                                       "arguments": {"device": "com1"}},
              "call with arguments", r)
        r = ctl("call", "status", sock=f.sock)
        check(r.returncode == 0 and json.loads(r.stdout)["domid"] == 5 and
              "arguments" not in f.requests()[-1], "call without arguments", r)

        # Every request carries an id; quit stops the daemon.
        check(all("id" in q for q in f.requests()), "every request has an id")
        r = ctl("quit", sock=f.sock)
        check(r.returncode == 0 and r.stdout == "", "quit", r)
        f.proc.wait(10)
        check(f.proc.returncode == 0, "the fake stopped on quit")


def group_errors():
    with Fake() as f:
        r = ctl("stats", "nosuch", sock=f.sock)
        check(r.returncode == 1 and r.stdout == "" and
              r.stderr == "ioreqctl: DeviceNotFound: no device 'nosuch'\n",
              "error reply: exit 1, class and desc on stderr", r)
        r = ctl("chardev-attach", "vda", "null", sock=f.sock)
        check(r.returncode == 1 and "NotSupported" in r.stderr,
              "NotSupported: exit 1", r)
        r = ctl("call", "frobnicate", sock=f.sock)
        check(r.returncode == 1 and "CommandNotFound" in r.stderr,
              "call of an unknown command: exit 1", r)
        r = ctl("--json", "log-level", "loud", sock=f.sock)
        check(r.returncode == 1 and r.stdout == "" and
              "InvalidArgument" in r.stderr, "--json error: exit 1", r)

    cases = [
        ("bad-greeting", 5, "did not greet as ioreqd"),
        ("garbage", 5, "not a JSON object"),
        ("close-early", 5, "closed the connection before its reply"),
        ("half-reply", 5, "closed the connection before its reply"),
        ("wrong-id", 5, "not the reply to request 1"),
        ("deny", 4, "PermissionDenied: refused by the fake"),
        ("busy", 1, "TooManyClients: refused by the fake"),
    ]
    for mode, rc, msg in cases:
        with Fake(mode) as f:
            r = ctl("status", sock=f.sock)
            check(r.returncode == rc and msg in r.stderr and r.stdout == "",
                  "%s: exit %d, '%s'" % (mode, rc, msg), r)

    with Fake("protocol2") as f:
        r = ctl("status", sock=f.sock)
        check(r.returncode == 0 and "warning" in r.stderr and
              "protocol 2" in r.stderr and "domid:" in r.stdout,
              "protocol 2: a warning, then it works", r)
    with Fake("silent") as f:
        t = time.monotonic()
        r = ctl("--timeout", "0.5", "status", sock=f.sock)
        took = time.monotonic() - t
        check(r.returncode == 5 and "within 0.500 s" in r.stderr and
              took < 5, "no reply: exit 5 after --timeout", r)
    with Fake("events") as f:
        r = ctl("status", sock=f.sock)
        check(r.returncode == 0 and "domid:" in r.stdout,
              "events before the reply are skipped", r)


def group_watch():
    with Fake("events") as f:
        r = ctl("watch", sock=f.sock)
        out = r.stdout.splitlines()
        check(r.returncode == 0 and len(out) == 4, "watch: 4 events, exit 0 "
              "when the daemon closes", r)
        if len(out) == 4:
            check(out[0].split()[2:] == ["GUEST_PANICKED", "device=pvpanic0"],
                  "watch human line", r)
            check(out[1].endswith(' DEVICE_ERROR device=vda reason=needs-reset'
                                  ' desc="bad chain"'),
                  "watch: a value with a blank is quoted", r)
            check(out[3].endswith(" STOPPING reason=domain-gone"),
                  "watch last event", r)
            check(len(out[0].split()[0]) == 10 and
                  len(out[0].split()[1]) == 15, "watch timestamps", r)
        check(f.requests()[-1]["execute"] == "subscribe", "watch subscribes")
        r = ctl("watch", "--json", sock=f.sock)
        ev = [json.loads(l) for l in r.stdout.splitlines()]
        check(r.returncode == 0 and [e["event"] for e in ev] ==
              ["GUEST_PANICKED", "DEVICE_ERROR", "DOMAIN_GONE", "STOPPING"]
              and ev[2]["data"] == {"domid": 5}, "watch --json: one line each", r)
    # (The io-error DEVICE_ERROR the fake sends before the subscribe reply
    # is skipped like any event before a reply: not printed above.)
    with Fake() as f:
        p = subprocess.Popen([IOREQCTL, "-s", f.sock, "watch"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
        time.sleep(1)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=10)
        check(p.returncode == 0 and out == "" and err == "",
              "watch ends on SIGINT with exit 0 (rc=%s err=%r)"
              % (p.returncode, err))


def group_interval():
    with Fake() as f:
        t = time.monotonic()
        r = ctl("stats", "vda", "--interval", "1", "--count", "2",
                sock=f.sock)
        took = time.monotonic() - t
        tables = r.stdout.split("\n\n")
        check(r.returncode == 0 and len(tables) == 2,
              "stats --interval 1 --count 2: two tables", r)
        check(1.8 < took < 10, "two intervals take about 2 s (%.1f)" % took)
        for tab in tables:
            rows = tab.splitlines()
            check(rows and rows[0].split()[:2] == ["DEVICE", "READS/s"],
                  "rates header", r)
            if len(rows) == 2:
                cols = rows[1].split()
                # reads grow by 100/s in the fake, writes do not move,
                # q0_in_flight is a level shown as it is.
                check(cols[0] == "vda" and 50 <= float(cols[1]) <= 200 and
                      cols[2] == "0.0" and "q0_in_flight=4" in cols and
                      "q0_bytes=0.0" in cols, "rates row %r" % cols, r)
        check(len(f.requests()) == 3, "three stats requests")
        r = ctl("--json", "stats", "--interval", "0.3", "--count", "2",
                sock=f.sock)
        docs = [json.loads(l) for l in r.stdout.splitlines()]
        check(r.returncode == 0 and len(docs) == 2 and
              all(50 <= d["com1"]["reads"] <= 200 for d in docs),
              "--json rates: one line per interval", r)
        p = subprocess.Popen([IOREQCTL, "-s", f.sock, "stats", "--interval",
                              "0.2"], stdout=subprocess.PIPE, text=True)
        time.sleep(1)
        p.send_signal(signal.SIGINT)
        out, _ = p.communicate(timeout=10)
        check(p.returncode == 0 and "READS/s" in out,
              "stats --interval without --count runs until SIGINT")


def group_connect():
    d = tempfile.mkdtemp(prefix="ioreqctl-test-")
    try:
        r = ctl("status", sock=os.path.join(d, "none.sock"))
        check(r.returncode == 3 and "no ioreqd at" in r.stderr,
              "no socket: exit 3", r)
        r = ctl("ioreqctl-test-no-such-guest", "status")
        check(r.returncode == 3 and r.stderr ==
              "ioreqctl: no ioreqd for guest ioreqctl-test-no-such-guest at "
              "/run/ioreqd/ioreqctl-test-no-such-guest.sock (is "
              "ioreqd@ioreqctl-test-no-such-guest running?)\n",
              "GUEST: /run/ioreqd/GUEST.sock, exit 3", r)
        # The contract's order, GUEST then --json then COMMAND, parses.
        r = ctl("ioreqctl-test-no-such-guest", "--json", "status")
        check(r.returncode == 3, "GUEST --json COMMAND: exit 3", r)
        # A socket nobody listens on any more.
        import socket
        dead = os.path.join(d, "dead.sock")
        s = socket.socket(socket.AF_UNIX)
        s.bind(dead)
        s.close()
        r = ctl("status", sock=dead)
        check(r.returncode == 3, "a dead socket: exit 3", r)
    finally:
        shutil.rmtree(d)

    with Fake() as f:
        os.chmod(f.sock, 0)
        prefix = ()
        exe = IOREQCTL
        if os.geteuid() == 0:
            setpriv = shutil.which("setpriv")
            if not setpriv:
                print("SKIP: permission case needs setpriv as root")
                return
            # nobody may not reach the build directory: run a copy.
            exe = os.path.join(f.dir, "ioreqctl")
            shutil.copy(IOREQCTL, exe)
            prefix = (setpriv, "--reuid", "nobody", "--regid", "nogroup",
                      "--clear-groups")
        r = subprocess.run(list(prefix) + [exe, "-s", f.sock, "status"],
                           capture_output=True, text=True, timeout=30)
        check(r.returncode == 4 and "permission denied" in r.stderr,
              "socket without permission: exit 4", r)


def group_usage():
    with Fake() as f:
        cases = [
            [],
            ["--bogus", "status"],
            ["-s"],
            ["-s", f.sock],
            ["-s", f.sock, "frobnicate"],
            ["-s", f.sock, "status", "extra"],
            ["-s", f.sock, "stats", "--count", "2"],
            ["-s", f.sock, "stats", "--interval", "0"],
            ["-s", f.sock, "stats", "--interval", "x"],
            ["-s", f.sock, "stats", "--interval", "1", "--count", "0"],
            ["-s", f.sock, "stats", "a", "b"],
            ["-s", f.sock, "chardev-attach", "com1"],
            ["-s", f.sock, "chardev-attach", "com1", ":x"],
            ["-s", f.sock, "chardev-attach", "com1", "file:"],
            ["-s", f.sock, "blockdev-change", "vda"],
            ["-s", f.sock, "blockdev-change", "--read-only"],
            ["-s", f.sock, "blockdev-change", "vda", "--read-only",
             "--read-write"],
            ["-s", f.sock, "blockdev-change", "vda", "--path"],
            ["-s", f.sock, "call"],
            ["-s", f.sock, "call", "stats", "[1]"],
            ["-s", f.sock, "call", "stats", "{bad"],
            ["-s", f.sock, "--timeout", "-1", "status"],
            ["-s", "/" + "x" * 200, "status"],
            ["a/b", "status"],
            ["web1"],
            ["status"],
        ]
        for args in cases:
            r = ctl(*args)
            check(r.returncode == 2 and r.stdout == "" and
                  "ioreqctl: " in r.stderr, "usage error %r: exit 2" % args, r)
        check(f.requests() == [], "usage errors send nothing")
        r = ctl("--help")
        check(r.returncode == 0 and r.stdout.startswith("Usage: ioreqctl"),
              "--help", r)


GROUPS = {"output": group_output, "errors": group_errors,
          "watch": group_watch, "interval": group_interval,
          "connect": group_connect, "usage": group_usage}


def main():
    global IOREQCTL, FAKE
    group, IOREQCTL, FAKE = sys.argv[1:4]
    IOREQCTL = os.path.abspath(IOREQCTL)
    GROUPS[group]()
    if failures:
        print("%d check(s) failed" % len(failures))
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
