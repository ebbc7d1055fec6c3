#!/usr/bin/env python3
"""A stand-in for ioreqd's control socket, written to
docs/control-protocol.md alone, for testing ioreqctl without Xen.

    fake-ioreqd.py SOCKET [--mode MODE] [--log FILE]

Listens on SOCKET (a Unix stream socket), prints "ready" on stdout once
it does, and serves one connection after another until SIGTERM or a
quit request.  Each connection gets the greeting, then one reply per
request line, in order, with the request's id.  Requests are checked as
the protocol says (keys, argument names and types, device ids) and
answered with the documented error classes.  Every request line is
appended to FILE, one per line, so a test can check what was sent.

MODE changes the daemon's behaviour to test the client's error paths:
  normal          as documented
  bad-greeting    the first line is a JSON object without "ioreqd"
  garbage         the first line is not JSON
  protocol2       greets with protocol 2, otherwise normal
  deny            sends a PermissionDenied error instead of the greeting
  busy            sends a TooManyClients error instead of the greeting
  close-early     closes the connection when a request arrives
  half-reply      sends half a reply line, then closes
  silent          never replies
  wrong-id        replies with an id that is not the request's
  events          sends an event before every reply; after subscribe,
                  four events, then closes the connection
"""
import argparse
import json
import os
import signal
import socket
import sys
import time

COMMANDS = ["status", "devices", "stats", "server-stats", "metrics",
            "log-level", "chardev-attach", "blockdev-change", "subscribe",
            "quit"]

DEVICES = [
    {"id": "com1", "type": "uart16550",
     "regions": [{"space": "port", "base": 0x3f8, "size": 8}],
     "interrupt": "isa 4", "backend": "socket:/run/ioreqd/web1-com1.sock"},
    {"id": "vda", "type": "virtio-blk", "pci": "00:05.0",
     "regions": [{"space": "mmio", "base": 0xfe000000, "size": 0x4000}],
     "interrupt": "msix", "backend": "file:/var/lib/ioreqd/web1-vda.img"},
    {"id": "rng0", "type": "virtio-rng", "regions": [],
     "interrupt": "none"},
]
CHARDEVS = {"com1"}
BLOCKDEVS = {"vda"}
LEVELS = ["debug", "info", "notice", "warn", "error"]
START = time.monotonic()


class Error(Exception):
    def __init__(self, cls, desc):
        super().__init__(desc)
        self.cls = cls
        self.desc = desc


def stats_of(dev):
    # reads grows 100 per second (ioreqctl's rates can be checked
    # whatever the scheduling delays), writes never moves, q0_in_flight
    # is a level.
    now = time.monotonic() - START
    s = {"reads": 1000 + int(now * 100), "writes": 7, "bad_accesses": 2,
         "irq_raises": 3}
    if dev == "vda":
        s.update({"q0_requests": 11, "q0_bytes": 45056, "q0_in_flight": 4,
                  "q0_errors": 0})
    return s


def metrics():
    lines = ["# TYPE ioreqd_device_reads counter"]
    for d in DEVICES:
        lines.append('ioreqd_device_reads_total{device="%s"} %d'
                     % (d["id"], stats_of(d["id"])["reads"]))
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


def check_args(args, allowed, required=()):
    for k in args:
        if k not in allowed:
            raise Error("InvalidArgument", "unknown argument '%s'" % k)
        if not isinstance(args[k], allowed[k]):
            raise Error("InvalidArgument", "argument '%s' has the wrong type" % k)
    for k in required:
        if k not in args:
            raise Error("InvalidArgument", "missing argument '%s'" % k)


def device(args):
    ids = [d["id"] for d in DEVICES]
    if args["device"] not in ids:
        raise Error("DeviceNotFound", "no device '%s'" % args["device"])
    return args["device"]


class Daemon:
    def __init__(self, mode):
        self.mode = mode
        self.level = "info"

    def execute(self, name, args):
        if name not in COMMANDS:
            raise Error("CommandNotFound", "no command '%s'" % name)
        if name in ("status", "devices", "server-stats", "metrics",
                    "subscribe", "quit"):
            check_args(args, {})
        if name == "status":
            return {"domid": 5, "name": "web1", "server": 1, "vcpus": 2,
                    "uptime": 3725.5, "state": "running", "restricted": True,
                    "pid": 1234, "version": "0.1.0"}
        if name == "devices":
            return DEVICES
        if name == "stats":
            check_args(args, {"device": str})
            if "device" in args:
                return {device(args): stats_of(args["device"])}
            return {d["id"]: stats_of(d["id"]) for d in DEVICES}
        if name == "server-stats":
            return {"requests": {"pio": 120, "mmio": 30, "pci_config": 9,
                                 "timeoffset": 0, "invalidate": 1, "other": 0},
                    "buffered": {"drains": 4, "requests": 8}, "wakeups": 77,
                    "latency_log2_ns": [0] * 9 + [5, 0, 2] + [0] * 20,
                    "mapping": {"hits": 10, "misses": 2, "maps": 2,
                                "unmaps": 1}}
        if name == "metrics":
            return metrics()
        if name == "log-level":
            check_args(args, {"level": str})
            if "level" in args:
                if args["level"] not in LEVELS:
                    raise Error("InvalidArgument",
                                "no log level '%s'" % args["level"])
                self.level = args["level"]
            return {"level": self.level}
        if name == "chardev-attach":
            check_args(args, {"device": str, "backend": dict},
                       ("device", "backend"))
            if device(args) not in CHARDEVS:
                raise Error("NotSupported", "'%s' has no character backend"
                            % args["device"])
            b = args["backend"]
            if b.get("type") not in ("file", "socket", "pty", "stdio", "null"):
                raise Error("InvalidArgument", "bad backend type")
            if (b["type"] in ("file", "socket")) != ("path" in b):
                raise Error("InvalidArgument", "bad backend path")
            return {}
        if name == "blockdev-change":
            check_args(args, {"device": str, "path": str, "read-only": bool},
                       ("device",))
            if device(args) not in BLOCKDEVS:
                raise Error("NotSupported", "'%s' is not a disk"
                            % args["device"])
            if "path" in args and not os.path.exists(args["path"]):
                raise Error("Failed", "cannot open '%s': No such file or "
                            "directory" % args["path"])
            return {}
        return {}   # subscribe, quit


def event(name, data):
    now = time.time()
    return {"event": name, "data": data,
            "timestamp": {"seconds": int(now),
                          "microseconds": int(now * 1e6) % 1000000}}


def send(conn, obj):
    conn.sendall((json.dumps(obj) + "\n").encode())


def serve(conn, d, log):
    mode = d.mode
    if mode == "bad-greeting":
        send(conn, {"hello": {"protocol": 1}})
    elif mode == "garbage":
        conn.sendall(b"HTTP/1.0 400 Bad Request\n")
    elif mode in ("deny", "busy"):
        cls = "PermissionDenied" if mode == "deny" else "TooManyClients"
        send(conn, {"error": {"class": cls, "desc": "refused by the fake"}})
        return True
    else:
        send(conn, {"ioreqd": {"version": "0.1.0",
                               "protocol": 2 if mode == "protocol2" else 1,
                               "commands": COMMANDS}})
    buf = b""
    while True:
        chunk = conn.recv(65536)
        if not chunk:
            return True
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            if log:
                with open(log, "ab") as f:
                    f.write(line + b"\n")
            if mode == "close-early":
                return True
            if mode == "silent":
                continue
            reply, quit_now = answer(d, line)
            if mode == "wrong-id" and "id" in reply:
                reply["id"] = [reply["id"]]
            if mode == "events":
                send(conn, event("DEVICE_ERROR", {"device": "vda",
                                                  "reason": "io-error",
                                                  "desc": "sector 8: EIO"}))
            if mode == "half-reply":
                conn.sendall(json.dumps(reply).encode()[:5])
                return True
            send(conn, reply)
            if quit_now:
                return False
            if mode == "events" and reply.get("return") == {} and \
                    json.loads(line).get("execute") == "subscribe":
                send(conn, event("GUEST_PANICKED", {"device": "pvpanic0"}))
                send(conn, event("DEVICE_ERROR", {"device": "vda",
                                                  "reason": "needs-reset",
                                                  "desc": "bad chain"}))
                send(conn, event("DOMAIN_GONE", {"domid": 5}))
                send(conn, event("STOPPING", {"reason": "domain-gone"}))
                return True


def answer(d, line):
    """The reply to one request line, and whether to stop afterwards."""
    try:
        req = json.loads(line)
    except ValueError:
        return {"error": {"class": "ParseError", "desc": "not JSON"}}, False
    if not isinstance(req, dict):
        return {"error": {"class": "ParseError",
                          "desc": "not a JSON object"}}, False
    reply = {}
    if "id" in req:
        reply["id"] = req["id"]
    try:
        for k in req:
            if k not in ("execute", "arguments", "id"):
                raise Error("InvalidArgument", "unknown request key '%s'" % k)
        if not isinstance(req.get("execute"), str):
            raise Error("InvalidArgument", "no 'execute' string")
        args = req.get("arguments", {})
        if not isinstance(args, dict):
            raise Error("InvalidArgument", "'arguments' is not an object")
        reply["return"] = d.execute(req["execute"], args)
    except Error as e:
        reply["error"] = {"class": e.cls, "desc": e.desc}
    return reply, req.get("execute") == "quit" and "return" in reply


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("socket")
    ap.add_argument("--mode", default="normal")
    ap.add_argument("--log")
    a = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(a.socket)
    s.listen(16)
    print("ready", flush=True)
    d = Daemon(a.mode)
    while True:
        conn, _ = s.accept()
        try:
            more = serve(conn, d, a.log)
        except (BrokenPipeError, ConnectionResetError):
            more = True
        conn.close()
        if not more:
            break


if __name__ == "__main__":
    main()
