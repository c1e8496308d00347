#!/usr/bin/python3
"""A scripted SMTP responder for the audit tests: it plays recorded
replies, so that behaviour Postfix does not have (EXPN, HELP, a server
that leaks users through VRFY, one that runs commands injected before
STARTTLS, one that stalls or sends garbage) can be tested for real over
TCP.

usage: responder.py --port-file FILE SCRIPT [--cert C --key K]

It binds 127.0.0.1 on a free port, writes the port to FILE, and serves
until killed. The script has one directive per line ('#' starts a
comment):

  banner: 220 mail.example.org ESMTP      greeting (CLOSE, STALL, RAW:text too)
  rule: REGEX => REPLY                    first matching rule answers
  default: 502 5.5.2 Error: command not recognized
  starttls: safe | vulnerable             with --cert/--key: STARTTLS does TLS
  ehlo_tls: REPLY                          EHLO reply inside TLS (default: as before)
  delay: N REGEX                           from the Nth command of a session that
                                           matches REGEX on, wait before the reply:
                                           1 s, then twice as long each time (what
                                           Sendmail does from the 6th VRFY or EXPN)

REGEX is a Python regular expression matched case-insensitively against
the whole command line. REPLY lines are separated by '|'; \\1 and so on
are replaced by the regex groups. A REPLY of CLOSE hangs up, STALL never
answers, RAW:text sends text as it is (\\r and \\n are unescaped).
{traceid} in a REPLY becomes an id unique to that reply, as large
providers put in every answer ("x7si1234567abc.12 - gsmtp").
"""
import argparse
import itertools
import random
import re
import socket
import socketserver
import ssl
import sys
import threading
import time


def parse_script(path):
    s = {"banner": "220 responder.example.org ESMTP", "rules": [], "default": "502 5.5.2 Error: command not recognized",
         "starttls": None, "ehlo_tls": None, "delays": []}
    with open(path) as f:
        for raw in f:
            line = raw.rstrip("\n")
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            key, _, val = line.partition(":")
            key = key.strip()
            val = val.strip()
            if key == "rule":
                rx, sep, rep = val.partition(" => ")
                if not sep:
                    sys.exit("responder: rule without ' => ': " + line)
                s["rules"].append((re.compile(rx, re.I), rep))
            elif key == "delay":
                n, _, rx = val.partition(" ")
                s["delays"].append((int(n), re.compile(rx, re.I)))
            elif key in ("banner", "default", "starttls", "ehlo_tls"):
                s[key] = val
            else:
                sys.exit("responder: unknown directive: " + line)
    return s


_trace_seq = itertools.count(1)


def trace_id():
    """A fresh id in the style of Gmail's: x7si1234567abc.12"""
    letters = "abcdefghijklmnopqrstuvwxyz"
    return "%s%dsi%07d%s.%d" % (random.choice(letters), random.randint(1, 9), random.randint(0, 9999999),
                                "".join(random.choice(letters) for _ in range(3)), next(_trace_seq))


def wire(reply):
    """'250-a|250 b' -> b'250-a\\r\\n250 b\\r\\n'; special replies pass through."""
    if reply.startswith("RAW:"):
        return reply[4:].replace("\\r", "\r").replace("\\n", "\n").encode("latin-1")
    return "".join(part + "\r\n" for part in reply.split("|")).encode("latin-1")


class Handler(socketserver.BaseRequestHandler):
    def setup(self):
        self.request.settimeout(30)
        self.buf = b""
        self.conn = self.request
        self.tls = False
        self.counts = [0] * len(self.server.script["delays"])

    def delay(self, line):
        """Sendmail's checksmtpattack(): 1 s at the Nth command, then doubling."""
        for i, (n, rx) in enumerate(self.server.script["delays"]):
            if rx.fullmatch(line):
                self.counts[i] += 1
                if self.counts[i] >= n:
                    time.sleep(min(2 ** (self.counts[i] - n), 30))

    def send(self, reply):
        if reply == "STALL":
            time.sleep(60)
            return False
        if reply == "CLOSE":
            return False
        while "{traceid}" in reply:
            reply = reply.replace("{traceid}", trace_id(), 1)
        self.conn.sendall(wire(reply))
        return True

    def readline(self):
        while b"\n" not in self.buf:
            if len(self.buf) > 4096:
                return None
            data = self.conn.recv(4096)
            if not data:
                return None
            self.buf += data
        line, _, self.buf = self.buf.partition(b"\n")
        return line.rstrip(b"\r").decode("latin-1")

    def handle(self):
        s = self.server.script
        try:
            if not self.send(s["banner"]):
                return
            while True:
                line = self.readline()
                if line is None:
                    return
                if re.match(r"QUIT\b", line, re.I):
                    self.send("221 2.0.0 Bye")
                    return
                if (re.match(r"STARTTLS$", line, re.I) and s["starttls"] and not self.tls
                        and self.server.ctx is not None):
                    self.send("220 2.0.0 Ready to start TLS")
                    if s["starttls"] != "vulnerable":
                        # A safe server forgets what the client sent in plaintext.
                        self.buf = b""
                    self.conn = self.server.ctx.wrap_socket(self.request, server_side=True)
                    self.tls = True
                    continue
                if self.tls and s["ehlo_tls"] and re.match(r"EHLO\b", line, re.I):
                    if not self.send(s["ehlo_tls"]):
                        return
                    continue
                self.delay(line)
                reply = s["default"]
                for rx, rep in s["rules"]:
                    m = rx.fullmatch(line)
                    if m:
                        reply = m.expand(rep.replace("\\|", "\x00")).replace("\x00", "|")
                        break
                if not self.send(reply):
                    return
        except (OSError, ssl.SSLError):
            return


class Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True
    # The audit opens a dozen sessions at once; with socketserver's
    # backlog of 5 the kernel drops SYNs and they connect a second late.
    request_queue_size = 64


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("script")
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--cert")
    ap.add_argument("--key")
    a = ap.parse_args()
    srv = Server(("127.0.0.1", 0), Handler)
    srv.script = parse_script(a.script)
    srv.ctx = None
    if a.cert:
        srv.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        srv.ctx.load_cert_chain(a.cert, a.key)
    with open(a.port_file + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    import os
    os.rename(a.port_file + ".tmp", a.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
