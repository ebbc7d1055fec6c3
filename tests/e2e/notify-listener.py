#!/usr/bin/env python3
"""Model wrapper for the systemd notification tests: bind a datagram socket
at SOCKET (a path, or @name for the abstract namespace), log every message
it receives to LOG (one per line), and exec COMMAND with NOTIFY_SOCKET set.
The listener (a forked child) ends at STOPPING=1 or after 30 s.
    notify-listener.py SOCKET LOG COMMAND [ARG...]
"""
import os
import socket
import sys

path, log, cmd = sys.argv[1], sys.argv[2], sys.argv[3:]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("\0" + path[1:] if path.startswith("@") else path)
if os.fork() == 0:
    s.settimeout(30)
    with open(log, "a") as out:
        try:
            while True:
                msg = s.recv(4096).decode(errors="replace")
                out.write(msg + "\n")
                out.flush()
                if msg == "STOPPING=1":
                    break
        except OSError:
            pass
    os._exit(0)
s.close()
os.environ["NOTIFY_SOCKET"] = path
os.execvp(cmd[0], cmd)
