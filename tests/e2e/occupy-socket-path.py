#!/usr/bin/env python3
"""Model wrapper for the socket path tests: put something at PATH that is
not ours to remove, run COMMAND, then check that PATH was left alone.
    occupy-socket-path.py file|listen PATH COMMAND [ARG...]
file    a regular file holding "keep";
listen  a Unix stream server that keeps listening (and must still accept
        a client afterwards, on the same socket file).
Exits with COMMAND's status, or 9 (saying why on stderr) when PATH was
disturbed.  SIGTERM is passed on to COMMAND.
"""
import os
import signal
import socket
import subprocess
import sys

kind, path, cmd = sys.argv[1], sys.argv[2], sys.argv[3:]
server = None
if kind == "file":
    with open(path, "w") as f:
        f.write("keep")
else:
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(4)
ino = os.lstat(path).st_ino

child = subprocess.Popen(cmd)
signal.signal(signal.SIGTERM, lambda *_: child.send_signal(signal.SIGTERM))
status = child.wait()


def disturbed(why):
    print("occupy-socket-path: %s was disturbed: %s" % (path, why),
          file=sys.stderr)
    sys.exit(9)


try:
    if os.lstat(path).st_ino != ino:
        disturbed("replaced")
except FileNotFoundError:
    disturbed("removed")
if server is None:
    with open(path) as f:
        if f.read() != "keep":
            disturbed("rewritten")
else:
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.connect(path)
    server.settimeout(2)
    try:
        server.accept()
    except OSError:
        disturbed("its server no longer accepts clients")
sys.exit(status if status >= 0 else 128 - status)
