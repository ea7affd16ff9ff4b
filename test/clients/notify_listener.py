"""A stand-in for systemd's end of sd_notify(3): binds the AF_UNIX datagram socket given as
argv[1] (what NOTIFY_SOCKET names) and prints one JSON line per datagram: its fields, the number
of file descriptors passed with it, the sender's pid (SO_PASSCRED), and, for READY=1, whether a
TCP connection to 127.0.0.1:argv[2] was accepted at that moment. File descriptors are closed
after the line is printed: that is what releases systemd-notify's BARRIER=1 wait, as systemd does.
"""
import array
import json
import os
import socket
import struct
import sys

path, tcp_port = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
s.bind(path)
print(json.dumps({"listening": path}), flush=True)

UCRED = struct.Struct("iII")
while True:
    data, anc, _flags, _addr = s.recvmsg(65536, socket.CMSG_SPACE(64 * 4) + socket.CMSG_SPACE(UCRED.size))
    fds, pid = [], None
    for level, kind, payload in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            a = array.array("i")
            a.frombytes(payload[: len(payload) - len(payload) % a.itemsize])
            fds.extend(a)
        elif level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            pid = UCRED.unpack(payload[: UCRED.size])[0]
    fields = dict(line.split("=", 1) for line in data.decode("utf-8").split("\n") if "=" in line)
    out = {"fields": fields, "fds": len(fds), "pid": pid}
    if fields.get("READY") == "1":
        try:
            socket.create_connection(("127.0.0.1", tcp_port), timeout=2).close()
            out["tcp_accepts"] = True
        except OSError as e:
            out["tcp_accepts"] = False
            out["tcp_error"] = str(e)
    print(json.dumps(out), flush=True)
    for fd in fds:
        os.close(fd)
