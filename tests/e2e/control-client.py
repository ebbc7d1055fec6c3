#!/usr/bin/env python3
"""Model wrapper for the control-socket tests: fork a client that runs
SCENARIO against ioreqd's control socket SOCKET and logs to LOG (ending
with "PASS" or "FAIL: why"), and exec COMMAND (ioreqd) in this process.
    control-client.py SOCKET LOG SCENARIO COMMAND [ARG...]
Scenarios: basic, errors, fuzz, stuck, quit, domain-gone, panic, blockdev,
needs-reset, ioreqctl (runs
$IOREQCTL, the real client).  The guest
(the .xsim script) waits for "PASS\\n" in LOG.
"""
import json
import os
import random
import socket
import stat
import sys
import time

path, log, scenario, cmd = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
out = None


def say(*words):
    out.write(" ".join(str(w) for w in words) + "\n")
    out.flush()
    sys.stderr.write("control-client: " + " ".join(str(w) for w in words) +
                     "\n")


class Fail(Exception):
    pass


def check(cond, why):
    if not cond:
        raise Fail(why)


class Client:
    def __init__(self, greet=True):
        deadline = time.time() + 10
        while True:
            try:
                self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.s.connect(path)
                break
            except OSError:
                self.s.close()
                if time.time() > deadline:
                    raise Fail("cannot connect to " + path)
                time.sleep(0.05)
        self.s.settimeout(10)
        self.buf = b""
        if greet:
            g = self.line()
            check("ioreqd" in g, "greeting lacks 'ioreqd': %r" % g)
            self.greeting = g

    def line(self):
        while b"\n" not in self.buf:
            d = self.s.recv(65536)
            if not d:
                raise Fail("connection closed")
            self.buf += d
        ln, self.buf = self.buf.split(b"\n", 1)
        return json.loads(ln)

    def send_raw(self, data):
        self.s.sendall(data)

    def req(self, execute, arguments=None, rid=None, **extra):
        r = {"execute": execute}
        if arguments is not None:
            r["arguments"] = arguments
        if rid is not None:
            r["id"] = rid
        r.update(extra)
        self.send_raw(json.dumps(r).encode() + b"\n")
        return self.reply()

    def reply(self):
        while True:
            m = self.line()
            if "event" not in m:
                return m

    def ok(self, execute, arguments=None):
        m = self.req(execute, arguments, rid=execute)
        check("return" in m and m.get("id") == execute,
              "%s: %r" % (execute, m))
        return m["return"]

    def err(self, execute, arguments=None, cls=None, **extra):
        m = self.req(execute, arguments, rid=42, **extra)
        check("error" in m and m.get("id") == 42, "expected an error: %r" % m)
        check(m["error"]["class"] == cls, "expected %s: %r" % (cls, m))
        return m["error"]

    def close(self):
        self.s.close()


def stable_status(c):
    st = c.ok("status")
    del st["uptime"]
    return st


def basic():
    c = Client()
    mode = stat.S_IMODE(os.stat(path).st_mode)
    check(mode == 0o600, "socket mode %o" % mode)
    check(c.greeting["ioreqd"]["protocol"] == 1, "protocol")
    check("status" in c.greeting["ioreqd"]["commands"], "command list")
    st = c.ok("status")
    for k in ("domid", "name", "server", "vcpus", "uptime", "state",
              "restricted", "pid", "version"):
        check(k in st, "status lacks " + k)
    check(st["state"] == "running" and st["name"] == "guest1", "status %r" % st)
    devs = c.ok("devices")
    check([d["id"] for d in devs] == ["com1", "dbg"], "devices %r" % devs)
    check(devs[0]["type"] == "uart16550", "type")
    check({"space": "port", "base": 0x3f8, "size": 8} in devs[0]["regions"],
          "regions %r" % devs[0]["regions"])
    s = c.ok("stats")
    check(set(s) == {"com1", "dbg"}, "stats keys")
    check(s["com1"]["writes"] >= 2, "com1 writes %r" % s["com1"])
    one = c.ok("stats", {"device": "dbg"})
    check(list(one) == ["dbg"] and "reads" in one["dbg"], "stats one")
    ss = c.ok("server-stats")
    check(ss["requests"]["pio"] >= 3, "pio count %r" % ss)
    check(len(ss["latency_log2_ns"]) == 40 and sum(ss["latency_log2_ns"]) > 0,
          "latency")
    check(ss["wakeups"] > 0 and "hits" in ss["mapping"], "server-stats")
    m = c.ok("metrics")
    check(m.endswith("# EOF\n"), "metrics end")
    check("# TYPE ioreqd_device_reads counter\n" in m, "metrics TYPE")
    check('ioreqd_device_writes_total{device="com1"} ' in m, "metrics sample")
    check(c.ok("log-level") == {"level": "info"}, "log-level")
    check(c.ok("log-level", {"level": "debug"}) == {"level": "debug"}, "set")
    check(c.ok("log-level", {"level": "info"}) == {"level": "info"}, "back")
    check(c.ok("subscribe") == {}, "subscribe")
    # the UART cannot change media; the file backend of the debugcon
    # is attached by the devctl branch's devices, or NotSupported here
    c.err("blockdev-change", {"device": "com1", "read-only": True},
          "NotSupported")
    m = c.req("chardev-attach", {"device": "com1", "backend":
                                 {"type": "file", "path": "/dev/null"}})
    check(m.get("return") == {}, "chardev-attach %r" % m)
    say("metrics-lines", len(m))
    c.close()


def errors():
    c = Client()
    before = (stable_status(c), c.ok("devices"))
    for bad in (b"{\n", b"[1,2]\n", b"\"x\"\n", b"\n", b"{} {}\n",
                b"\xff\xfe\n"):
        c.send_raw(bad)
        m = c.reply()
        check(m.get("error", {}).get("class") == "ParseError",
              "%r: %r" % (bad, m))
    c.err("no-such", cls="CommandNotFound")
    c.err("status", {"bogus": 1}, "InvalidArgument")
    c.err("stats", {"device": 5}, "InvalidArgument")
    c.err("chardev-attach", {"device": "com1"}, "InvalidArgument")
    c.err("stats", {"device": "vdz"}, "DeviceNotFound")
    c.err("status", None, "InvalidArgument", extra=1)
    c.err("status", [], "InvalidArgument")
    c.err("log-level", {"level": "loud"}, "InvalidArgument")
    c.err("chardev-attach", {"device": "com1", "backend": {"type": "tape"}},
          "InvalidArgument")
    c.err("chardev-attach", {"device": "com1", "backend": {"type": "file"}},
          "InvalidArgument")
    c.err("chardev-attach", {"device": "com1", "backend":
                             {"type": "null", "path": "/x"}},
          "InvalidArgument")
    c.err("chardev-attach", {"device": "com1", "backend":
                             {"type": "file", "path": "rel"}},
          "InvalidArgument")
    c.err("blockdev-change", {"device": "com1"}, "InvalidArgument")
    # a line over 64 KiB: TooLong, discarded to the newline, then served
    c.send_raw(b"x" * 70000 + b"{\"execute\":\"status\"}\n")
    m = c.line()
    check(m.get("error", {}).get("class") == "TooLong", "TooLong %r" % m)
    check("return" in c.req("status"), "served after TooLong")
    # exactly 65,536 bytes is still a line
    req = b'{"execute":"status","id":"' 
    req += b"a" * (65536 - len(req) - 2) + b'"}'
    check(len(req) == 65536, "len")
    c.send_raw(req + b"\n")
    check("return" in c.reply(), "65536-byte line")
    # 16 clients at most: the 17th is told and closed
    others = [Client() for _ in range(15)]
    extra = Client(greet=False)
    m = extra.line()
    check(m.get("error", {}).get("class") == "TooManyClients", "17th %r" % m)
    check(extra.s.recv(10) == b"", "17th not closed")
    for o in others:
        o.close()
    extra.close()
    # a peer that is neither root nor us nor the group
    if os.geteuid() == 0:
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            try:
                os.setgid(65534)
                os.setuid(65534)
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(path)
                os.write(w, s.recv(4096))
            except OSError as e:
                os.write(w, ("oserror " + str(e)).encode())
            os._exit(0)
        os.close(w)
        got = os.read(r, 4096)
        os.waitpid(pid, 0)
        if got.startswith(b"oserror"):
            # the socket is 0600: the kernel refuses before we can
            say("nobody refused by the socket's mode:", got.decode())
        else:
            m = json.loads(got.split(b"\n")[0])
            check(m["error"]["class"] == "PermissionDenied", "nobody %r" % m)
            say("nobody refused with PermissionDenied")
    time.sleep(0.2)
    c2 = Client()
    after = (stable_status(c2), c2.ok("devices"))
    check(before == after, "state changed: %r %r" % (before, after))
    c.close()
    c2.close()


def fuzz():
    rng = random.Random(9)
    c = Client()
    before = (stable_status(c), c.ok("devices"))
    pieces = [b"{", b"}", b"[", b"]", b'"execute"', b":", b",", b'"quit"',
              b'"arguments"', b'"id"', b"null", b"1e999", b"\\", b'"',
              b"\xff", b"\x00", b"true", b'"status"', b'"chardev-attach"',
              b'{"device":"com1"}', b"\r", b" ", b"-", b"0"]
    for i in range(1000):
        n = rng.randint(0, 12)
        line = b"".join(rng.choice(pieces) for _ in range(n))
        line = line.replace(b"\n", b"")
        # never a valid quit: that would end the test
        if b"quit" in line:
            line = line.replace(b"quit", b"quiet")
        c.send_raw(line + b"\n")
        m = c.reply()
        check("error" in m or "return" in m, "reply %r" % m)
    after = (stable_status(c), c.ok("devices"))
    check(before == after, "state changed: %r %r" % (before, after))
    say("fuzz: 1000 lines answered")
    c.close()


def stuck():
    # a client that asks for much and never reads
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    deadline = time.time() + 10
    while True:
        try:
            s.connect(path)
            break
        except OSError:
            if time.time() > deadline:
                raise Fail("cannot connect")
            time.sleep(0.05)
    s.setblocking(False)
    req = b'{"execute":"metrics"}\n' * 200
    sent = 0
    say("stuck-ready")
    dbg = os.path.join(os.path.dirname(log), "dbg.log")
    dropped = False
    while True:
        try:
            sent += s.send(req)
        except BlockingIOError:
            time.sleep(0.01)
        except OSError:
            dropped = True
            break
        if os.path.exists(dbg) and b"B" in open(dbg, "rb").read():
            break
    # the guest is done; the client must be dropped at 1 MiB unread
    deadline = time.time() + 10
    while not dropped and time.time() < deadline:
        try:
            sent += s.send(req)
        except BlockingIOError:
            time.sleep(0.01)
        except OSError:
            dropped = True
    check(dropped, "a client that never reads was not dropped")
    c = Client()
    check("return" in c.req("status"), "status after the stuck client")
    say("stuck client: sent", sent, "bytes, dropped" if dropped else
        "bytes, still connected")
    s.close()
    c.close()


def quit_():
    sub = Client()
    check(sub.ok("subscribe") == {}, "subscribe")
    c = Client()
    check(c.ok("quit") == {}, "quit")
    m = sub.line()
    check(m.get("event") == "STOPPING" and m["data"] == {"reason": "quit"},
          "STOPPING %r" % m)
    check("seconds" in m["timestamp"], "timestamp")
    check(sub.s.recv(10) == b"", "not closed after STOPPING")


def domain_gone():
    sub = Client()
    check(sub.ok("subscribe") == {}, "subscribe")
    say("subscribed")
    m = sub.line()
    check(m.get("event") == "DOMAIN_GONE" and m["data"] == {"domid": 1},
          "DOMAIN_GONE %r" % m)
    m = sub.line()
    check(m.get("event") == "STOPPING" and
          m["data"] == {"reason": "domain-gone"}, "STOPPING %r" % m)


def panic():
    sub = Client()
    check(sub.ok("subscribe") == {}, "subscribe")
    say("subscribed")
    m = sub.line()
    check(m.get("event") == "GUEST_PANICKED" and
          m["data"].get("device") == "panic", "GUEST_PANICKED %r" % m)


def blockdev():
    """blockdev-change through the socket: a bad path changes nothing, a
    4 MiB image replaces the 2 MiB one (the guest then reads the new
    capacity), read-only is shown by devices."""
    c = Client()
    before = c.ok("devices")
    c.err("blockdev-change", {"device": "vdp", "path": path + ".missing"},
          "Failed")
    check(c.ok("devices") == before, "a failed change changed devices")
    new = os.path.join(os.path.dirname(path), "vdp-big.img")
    with open(new, "wb") as f:
        f.truncate(4 << 20)
    check(c.ok("blockdev-change", {"device": "vdp", "path": new}) == {},
          "blockdev-change path")
    check(c.ok("blockdev-change", {"device": "vdp", "read-only": True}) ==
          {}, "blockdev-change read-only")
    d = c.ok("devices")[0]
    check(d.get("backend") == "file:" + new, "backend %r" % d)
    check(d.get("read-only") in (True, "true", "yes", "1"), "ro %r" % d)


def needs_reset():
    sub = Client()
    check(sub.ok("subscribe") == {}, "subscribe")
    say("subscribed")
    m = sub.line()
    check(m.get("event") == "DEVICE_ERROR" and
          m["data"].get("device") == "vda" and
          m["data"].get("reason") == "needs-reset", "DEVICE_ERROR %r" % m)


def ioreqctl():
    """The real client (IOREQCTL) against the real daemon: tables, --json,
    exit statuses."""
    import subprocess
    exe = os.environ["IOREQCTL"]
    Client().close()  # wait for the socket

    def run(*args):
        p = subprocess.run([exe, "-s", path] + list(args),
                           capture_output=True, text=True, timeout=20)
        return p.returncode, p.stdout, p.stderr

    rc, o, e = run("--json", "status")
    check(rc == 0, "status rc %d %s" % (rc, e))
    st = json.loads(o)
    check(st["name"] == "guest1" and st["domid"] == 1, "status %r" % st)
    rc, o, e = run("devices")
    check(rc == 0 and "com1" in o and "uart16550" in o and "dbg" in o,
          "devices table %d %r %r" % (rc, o, e))
    rc, o, e = run("--json", "stats")
    check(rc == 0 and json.loads(o)["com1"]["writes"] >= 2, "stats %r" % o)
    rc, o, e = run("stats", "com1")
    check(rc == 0 and "com1" in o and "dbg" not in o, "stats com1 %r" % o)
    rc, o, e = run("metrics")
    check(rc == 0 and o.endswith("# EOF\n"), "metrics %r" % o[-40:])
    rc, o, e = run("stats", "nosuch")
    check(rc == 1 and "DeviceNotFound" in e, "unknown device %d %r" % (rc, e))
    rc, o, e = run("chardev-attach", "com1", "file:/dev/null")
    check(rc == 0, "chardev-attach %d %r" % (rc, e))
    rc, o, e = run("blockdev-change", "com1", "--read-only")
    check(rc == 1 and "NotSupported" in e, "blockdev-change %d %r" % (rc, e))
    p = subprocess.run([exe, "-s", path + ".none", "status"],
                       capture_output=True, text=True, timeout=20)
    check(p.returncode == 3, "no daemon rc %d" % p.returncode)
    say("ioreqctl-ok")


def main():
    global out
    out = open(log, "a")
    try:
        {"basic": basic, "errors": errors, "fuzz": fuzz, "stuck": stuck,
         "quit": quit_, "domain-gone": domain_gone,
         "ioreqctl": ioreqctl, "panic": panic,
         "blockdev": blockdev, "needs-reset": needs_reset}[
            scenario]()
        say("PASS")
    except Exception as e:  # any failure ends up in the log
        # say() also writes stderr, which the runner shows on failure
        say("FAIL:", type(e).__name__, e)


if os.fork() == 0:
    try:
        main()
    finally:
        os._exit(0)
os.execvp(cmd[0], cmd)
