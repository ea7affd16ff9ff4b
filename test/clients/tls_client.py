#!/usr/bin/python3
"""A second, independent RFC 5425 client: Python's ssl module (OpenSSL via CPython).

    /usr/bin/python3 test/clients/tls_client.py --port P --ca ca.pem [--cert c.pem --key c.key] < frames

Connects to 127.0.0.1:P, verifies the server against --ca (hostname check on IP 127.0.0.1),
presents the client certificate if given, sends stdin verbatim (the caller builds the
octet-counted frames), waits --verdict seconds for a refusal (alert or close by the server),
closes with a TLS close_notify, and prints one JSON line: {"ok": true, "version": ..., "sent": N},
or {"ok": false, "error": ...} with exit status 1.
"""
import argparse
import json
import socket
import ssl
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--port', type=int, required=True)
    ap.add_argument('--ca', required=True)
    ap.add_argument('--cert')
    ap.add_argument('--key')
    ap.add_argument('--timeout', type=float, default=10.0)
    ap.add_argument('--verdict', type=float, default=0.5)
    ns = ap.parse_args()

    data = sys.stdin.buffer.read()
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ns.ca)
    if ns.cert:
        ctx.load_cert_chain(ns.cert, ns.key)
    try:
        with socket.create_connection(('127.0.0.1', ns.port), timeout=ns.timeout) as raw:
            s = ctx.wrap_socket(raw, server_hostname='127.0.0.1')
            version = s.version()
            s.sendall(data)
            # In TLS 1.3 the server judges a client certificate only after our side of the
            # handshake is done. A syslog server never writes, so within the verdict window
            # an accepted connection stays silent, and a refused one gets an alert or EOF.
            s.settimeout(ns.verdict)
            try:
                got = s.recv(1)
            except TimeoutError:
                pass
            else:
                print(json.dumps({'ok': False, 'error': 'unexpected data from the server' if got else 'closed by the server'}))
                return 1
            # Accepted: close_notify, then wait for the server's.
            s.settimeout(ns.timeout)
            s.unwrap()
        print(json.dumps({'ok': True, 'version': version, 'sent': len(data)}))
        return 0
    except (ssl.SSLError, OSError) as e:
        print(json.dumps({'ok': False, 'error': '%s: %s' % (type(e).__name__, e)}))
        return 1

if __name__ == '__main__':
    sys.exit(main())
