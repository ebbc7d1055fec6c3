# A one-connection Unix stream server for sockets.xsim: greets, then
# echoes every chunk back upper-cased.  Gives up after 20 s unconnected.
# Writes "listening" to the file argv[2] once it listens, so the script
# waits for that instead of racing Python's start-up on a busy machine.
import socket
import sys

srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(sys.argv[1])
srv.listen(1)
with open(sys.argv[2], "w") as f:
    f.write("listening\n")
srv.settimeout(20)
conn, _ = srv.accept()
conn.sendall(b"hello from server\n")
while True:
    data = conn.recv(4096)
    if not data:
        break
    conn.sendall(data.upper())
