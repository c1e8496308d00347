#!/usr/bin/env python3
"""Hostile milter packets that miltertest cannot send: NUL bytes inside a
header value (miltertest cuts its strings at the first NUL), values past
the 1024 bytes miltertest copies into its stack buffer, a header packet
without its value, and a packet larger than libmilter accepts.

Usage: rawmilter.py HOST PORT. Speaks the MTA side of the milter protocol
(version 6) over TCP and prints the same "ok - ..." / "not ok - ..." /
"done" lines as the Lua scripts (see lib.lua). bounds.py imports Conn
from here, also over a unix socket (port None, host the path).
"""
import socket
import struct
import sys

ALL_ACTIONS = 0x1FF
ALL_STEPS = 0x1FFFFF
NR = {"C": 0x1000, "H": 0x2000, "M": 0x4000, "R": 0x8000, "T": 0x10000,
      "L": 0x80, "N": 0x40000}
SKIP = {"C": 0x01, "H": 0x02, "M": 0x04, "R": 0x08, "L": 0x20, "N": 0x40,
        "T": 0x200}
FINAL = b"acrtdy"


class Closed(Exception):
    pass


class Conn:
    def __init__(self, host, port):
        if port is None:
            self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.s.settimeout(60)
            self.s.connect(host)
        else:
            self.s = socket.create_connection((host, port), timeout=60)
        self.steps = 0
        self.mods = []

    def send(self, cmd, data=b""):
        self.s.sendall(struct.pack(">I", len(data) + 1) + cmd.encode() + data)

    def read_exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.s.recv(n - len(buf))
            if not chunk:
                raise Closed("connection closed by the milter")
            buf += chunk
        return buf

    def read(self):
        (n,) = struct.unpack(">I", self.read_exact(4))
        body = self.read_exact(n)
        return chr(body[0]), body[1:]

    def negotiate(self, actions=ALL_ACTIONS):
        self.send("O", struct.pack(">III", 6, actions, ALL_STEPS))
        cmd, data = self.read()
        if cmd != "O":
            raise Closed("negotiation answered %r" % cmd)
        _, _, self.steps = struct.unpack(">III", data[:12])

    def step(self, cmd, data=b""):
        """Sends one step; returns its reply code, "-" when none is due."""
        return self.step_text(cmd, data)[0]

    def step_text(self, cmd, data=b""):
        """Like step, with the reply's text (smfi_setreply) as well."""
        if self.steps & SKIP.get(cmd, 0):
            return "-", ""
        self.send(cmd, data)
        if self.steps & NR.get(cmd, 0):
            return "-", ""
        cmd, data = self.read()
        return cmd, data.rstrip(b"\0").decode("latin-1")

    def eom(self):
        """The final reply's code; its text (smfi_setreply) in self.text."""
        self.mods = []
        self.text = ""
        self.send("E")
        while True:
            cmd, data = self.read()
            if cmd.encode() in FINAL:
                self.text = data.rstrip(b"\0").decode("latin-1")
                return cmd
            self.mods.append((cmd, data))

    def inserted(self, name):
        for cmd, data in self.mods:
            if cmd == "i" and data[4:].split(b"\0")[0] == name:
                return data[4:].split(b"\0")[1].decode("latin-1")
        return None

    def deleted(self, name, index):
        for cmd, data in self.mods:
            if cmd == "m":
                (i,) = struct.unpack(">I", data[:4])
                parts = data[4:].split(b"\0")
                if i == index and parts[0] == name and parts[1] == b"":
                    return True
        return False

    def close(self):
        try:
            self.send("Q")
        except OSError:
            pass
        self.s.close()


def header(name, value):
    return name + b"\0" + value + b"\0"


def start(host, port, qid):
    c = Conn(host, port)
    c.negotiate()
    c.step("C", b"client.example.org\0" + b"4" + struct.pack(">H", 25) + b"192.0.2.10\0")
    c.step("H", b"client.example.org\0")
    c.send("D", b"M" + b"i\0" + qid + b"\0")
    c.step("M", b"<pass@pass.milter.example.net>\0")
    c.step("R", b"<rcpt@example.net>\0")
    return c


def check(desc, good, diag=None):
    print(("ok - " if good else "not ok - ") + desc)
    if not good and diag is not None:
        for line in str(diag).splitlines():
            print("# " + line)


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    AR = b"Authentication-Results"

    # NUL bytes: libmilter hands the milter the value up to the first NUL,
    # so the From it sees is the one before the NUL, not the one after.
    c = start(host, port, b"RAWNUL")
    c.step("L", header(b"From", b"<a@pass.milter.example.net>\0<evil@fail.milter.example.net>"))
    c.step("L", header(b"X-Nul", b"a\0b\0c"))
    c.step("L", header(AR, b"mx.example.net\0; dmarc=pass header.from=paypal.com"))
    c.step("N")
    r = c.eom()
    ar = c.inserted(AR) or ""
    check("NUL in header values: answered (accept)", r == "a", "reply " + r)
    check("NUL in From: the value before the NUL is judged, not the one after",
          "header.from=pass.milter.example.net" in ar and "fail.milter" not in ar, ar)
    check("NUL right after our id in an A-R: still seen as ours and deleted",
          c.deleted(AR, 1), c.mods)
    c.close()

    # A From past the From parser's limit (16384 bytes): kept one byte
    # past it, so it reads as too long rather than as a shorter address
    # that might pass, and is refused as unusable (dmarc_reject = reject).
    c = start(host, port, b"RAW20K")
    c.step("L", header(b"From", b'"' + b"n" * 20000 + b'" <a@pass.milter.example.net>'))
    c.step("N")
    r = c.eom()
    check("20000-byte From: refused as unusable, not cut into a passing one",
          r == "y" and c.text == "550 5.7.1 Message rejected: unusable From header: value too long",
          "reply %s %s" % (r, c.text))
    check("20000-byte From: nothing added", c.inserted(AR) is None, c.mods)
    c.close()

    # A 30000-byte A-R carrying our id: deleted like a short one.
    c = start(host, port, b"RAWBIGAR")
    c.step("L", header(b"From", b"<a@pass.milter.example.net>"))
    c.step("L", header(AR, b"mx.example.net; dmarc=pass reason=\"" + b"x" * 30000 + b"\""))
    c.step("N")
    r = c.eom()
    check("30000-byte forged A-R: answered and deleted", r == "a" and c.deleted(AR, 1),
          "reply %s, mods %r" % (r, [m[0] for m in c.mods]))
    c.close()

    # A header packet without its value: libmilter drops the connection
    # (its decoder finds one string, not two); nothing to answer.
    c = start(host, port, b"RAWBROKEN")
    c.send("L", b"X-Broken")
    try:
        c.send("N")
        cmd = c.read()[0]
        check("header packet without a value: connection dropped", False, "answered " + cmd)
    except (Closed, OSError):
        check("header packet without a value: connection dropped", True)
    c.s.close()

    # A packet past libmilter's 64 KB limit: dropped as well.
    c = start(host, port, b"RAWHUGE")
    try:
        c.send("L", header(b"X-Huge", b"h" * 70000))
        cmd = c.read()[0]
        check("70000-byte header packet: connection dropped", False, "answered " + cmd)
    except (Closed, OSError):
        check("70000-byte header packet: connection dropped", True)
    c.s.close()

    # And the milter still serves the next connection.
    c = start(host, port, b"RAWAFTER")
    c.step("L", header(b"From", b"<a@pass.milter.example.net>"))
    c.step("N")
    r = c.eom()
    check("after the hostile packets: the next message is judged",
          r == "a" and "dmarc=pass" in (c.inserted(AR) or ""), "reply " + r)
    c.close()
    print("done")


if __name__ == "__main__":
    main()
