#!/usr/bin/env python3
"""Captures what rsyslog's omrelp (package rsyslog-relp) sends to a RELP server.

A tiny capture server answers like librelp's server (open -> 200 OK with offers, every syslog
command -> 200 OK at once, close -> 200 OK) and records every byte rsyslog sent. rsyslogd runs in
the foreground with its own config and pid file, takes messages from `logger` on a unix socket
of its own, and forwards them with omrelp; a SIGTERM makes omrelp close its session.

    python3 capture_omrelp.py OUT_DIR

writes OUT_DIR/omrelp-session.bin (client -> server bytes), OUT_DIR/omrelp-answers.bin (what the
capture server answered) and OUT_DIR/omrelp-messages.txt (the messages fed, one per line, LF as \\n).
"""
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

MESSAGES = [
    'relp capture message 1',
    'relp capture message 2 with UTF-8: パッケージ',
    'relp capture message 3 multi-line\nsecond line\n\tthird line',
    'relp capture message 4 ' + 'x' * 3000,
    'relp capture message 5 last',
]
FRAME = re.compile(rb'(\d+) ([A-Za-z]+) (\d+)[ \n]')


def serve(srv, got, answers, done):
    conn, _ = srv.accept()
    buf = b''
    while True:
        d = conn.recv(65536)
        if not d:
            break
        got.extend(d)
        buf += d
        while True:
            m = FRAME.match(buf)
            if not m:
                break
            n = int(m.group(3))
            end = m.end() + n + (1 if n > 0 else 0)
            if len(buf) < end:
                break
            txnr, cmd = m.group(1), m.group(2)
            buf = buf[end:]
            if cmd == b'open':
                data = b'200 OK\nrelp_version=0\nrelp_software=capture\ncommands=syslog'
            else:
                data = b'200 OK'
            out = txnr + b' rsp ' + str(len(data)).encode() + b' ' + data + b'\n'
            answers.extend(out)
            conn.sendall(out)
    conn.close()
    done.set()


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    work = tempfile.mkdtemp(prefix='omrelp-capture-')
    srv = socket.socket()
    srv.bind(('127.0.0.1', 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    got, answers, done = bytearray(), bytearray(), threading.Event()
    threading.Thread(target=serve, args=(srv, got, answers, done), daemon=True).start()
    sock = os.path.join(work, 'log.sock')
    conf = os.path.join(work, 'rsyslog.conf')
    with open(conf, 'w') as f:
        f.write(f'''global(workDirectory="{work}")
module(load="imuxsock" SysSock.Use="off")
input(type="imuxsock" Socket="{sock}")
module(load="omrelp")
*.* action(type="omrelp" target="127.0.0.1" port="{port}" template="RSYSLOG_SyslogProtocol23Format")
''')
    p = subprocess.Popen(['rsyslogd', '-n', '-f', conf, '-i', os.path.join(work, 'rsyslogd.pid')])
    for _ in range(100):
        if os.path.exists(sock):
            break
        time.sleep(0.05)
    for m in MESSAGES:
        subprocess.run(['logger', '-u', sock, '-t', 'tacker-server', '-p', 'local0.info', m], check=True)
    time.sleep(2)
    p.send_signal(signal.SIGTERM)
    p.wait(timeout=30)
    done.wait(timeout=10)
    with open(os.path.join(out, 'omrelp-session.bin'), 'wb') as f:
        f.write(got)
    with open(os.path.join(out, 'omrelp-answers.bin'), 'wb') as f:
        f.write(answers)
    with open(os.path.join(out, 'omrelp-messages.txt'), 'w') as f:
        f.write(''.join(m.replace('\n', '\\n').replace('\t', '\\t') + '\n' for m in MESSAGES))


if __name__ == '__main__':
    main()
