#!/usr/bin/python3
"""A DNS proxy for tests that never answers some names.

usage: dns-drop.py LISTEN_PORT UPSTREAM_PORT SUFFIX...

Listens on 127.0.0.1:LISTEN_PORT (UDP and TCP) and forwards every query to
the test NSD on 127.0.0.1:UPSTREAM_PORT, except queries whose QNAME is a
SUFFIX or below one: those are dropped without a word, as a slow or dead
authoritative server would. NSD cannot be told to stay silent, and the slow
attacker of issue 11 (a PTR zone that never answers) needs exactly that.

Standard library only (run it as /usr/bin/python3). Loopback only. Bounded:
at most MAX_UDP queries and MAX_TCP connections in flight (more are dropped),
every socket has a timeout, a TCP message is at most 65535 bytes, a name at
most 255. Quiet: it prints nothing unless it cannot start. It stops on
SIGTERM, when its parent dies (the harness that started it), and after
MAX_LIFE seconds in any case, so it never outlives the test.
"""

import os
import select
import signal
import socket
import struct
import sys
import threading
import time

MAX_UDP = 64            # UDP queries in flight
MAX_TCP = 16            # TCP connections at once
UPSTREAM_TIMEOUT = 3.0  # seconds to wait for NSD
TCP_IDLE = 10.0         # seconds a client connection may sit idle
MAX_LIFE = 3600.0       # seconds: no test runs this long


def qname(msg):
    """The lowercased QNAME of a query without its trailing dot, or None when
    the message is not a plain query (no question, a compression pointer,
    an overlong name)."""
    if len(msg) < 12 or struct.unpack('!H', msg[4:6])[0] < 1:
        return None
    labels = []
    i, total = 12, 0
    while True:
        if i >= len(msg):
            return None
        n = msg[i]
        if n == 0:
            break
        if n > 63:
            return None
        total += n + 1
        if total > 255 or i + 1 + n > len(msg):
            return None
        labels.append(msg[i + 1:i + 1 + n].decode('latin-1').lower())
        i += 1 + n
    return '.'.join(labels)


def dropped(name, suffixes):
    if name is None:
        return False
    return any(name == s or name.endswith('.' + s) for s in suffixes)


def udp_forward(lsock, msg, client, upstream, slots):
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.settimeout(UPSTREAM_TIMEOUT)
            u.connect(upstream)
            u.send(msg)
            reply = u.recv(65535)
            lsock.sendto(reply, client)
    except OSError:
        pass            # the client times out, as it would on the Internet
    finally:
        slots.release()


def recv_exact(sock, n):
    buf = b''
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def tcp_serve(conn, upstream, suffixes, slots):
    try:
        conn.settimeout(TCP_IDLE)
        while True:
            head = recv_exact(conn, 2)
            if head is None:
                return
            msg = recv_exact(conn, struct.unpack('!H', head)[0])
            if msg is None:
                return
            if dropped(qname(msg), suffixes):
                continue        # say nothing: the client gives up on its own
            with socket.create_connection(upstream, timeout=UPSTREAM_TIMEOUT) as u:
                u.sendall(head + msg)
                rhead = recv_exact(u, 2)
                if rhead is None:
                    return
                reply = recv_exact(u, struct.unpack('!H', rhead)[0])
                if reply is None:
                    return
            conn.sendall(rhead + reply)
    except OSError:
        pass
    finally:
        conn.close()
        slots.release()


def main(argv):
    if len(argv) < 4:
        sys.stderr.write('usage: dns-drop.py LISTEN_PORT UPSTREAM_PORT SUFFIX...\n')
        return 2
    port, upstream = int(argv[1]), ('127.0.0.1', int(argv[2]))
    suffixes = [s.strip('.').lower() for s in argv[3:] if s.strip('.')]
    parent = os.getppid()
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    signal.signal(signal.SIGINT, lambda *_: os._exit(0))

    usock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        tsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        usock.bind(('127.0.0.1', port))
        tsock.bind(('127.0.0.1', port))
        tsock.listen(MAX_TCP)
    except OSError as e:
        sys.stderr.write('dns-drop: cannot listen on 127.0.0.1:%d: %s\n' % (port, e))
        return 1
    udp_slots = threading.BoundedSemaphore(MAX_UDP)
    tcp_slots = threading.BoundedSemaphore(MAX_TCP)
    end = time.monotonic() + MAX_LIFE

    while time.monotonic() < end and os.getppid() == parent:
        ready, _, _ = select.select([usock, tsock], [], [], 1.0)
        if usock in ready:
            try:
                msg, client = usock.recvfrom(65535)
            except OSError:
                msg = None
            if msg and not dropped(qname(msg), suffixes) and udp_slots.acquire(blocking=False):
                threading.Thread(target=udp_forward, daemon=True,
                                 args=(usock, msg, client, upstream, udp_slots)).start()
        if tsock in ready:
            try:
                conn, _ = tsock.accept()
            except OSError:
                conn = None
            if conn is not None:
                if tcp_slots.acquire(blocking=False):
                    threading.Thread(target=tcp_serve, daemon=True,
                                     args=(conn, upstream, suffixes, tcp_slots)).start()
                else:
                    conn.close()
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
