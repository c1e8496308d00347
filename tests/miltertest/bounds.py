#!/usr/bin/env python3
"""The milter's bounds, each taken past its limit (issue 11, point 3: no
cap fails open). Past a bound the milter refuses the message or
evaluates what it has; it never delivers a message unevaluated, nor with
a forged Authentication-Results of ours left in it. The milter under test
runs with on_error = accept, the setting that once let a flood through.

Usage: bounds.py HOST PORT (TCP: every step answered) or bounds.py PATH
(a unix socket: the milter does not answer MAIL, so refusals come at end
of message). Prints "ok - ..." / "not ok - ..." / "done" like the Lua
scripts (see lib.lua). Values past miltertest's 1024-byte buffer and
floods of thousands of fields are why this is not a Lua script.

FAILDEL provokes a failed deletion: the client resets the connection
once the deletions have begun, so the milter's smfi_chgheader calls fail;
milter-protocol.sh checks in the log that the message was tempfailed.
"""
import os
import socket
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rawmilter import Conn, check, header  # noqa: E402

AR = b"Authentication-Results"
OURS = b"mx.example.net; dmarc=pass header.from=pass.example.com"
PASS_FROM = b"<a@pass.milter.example.net>"
MAILFROM_MAX = 2048
HELO_MAX = 2048


def start(where, qid, mailfrom=b"pass@pass.milter.example.net", helo=b"client.example.org"):
    """A connection up to MAIL; returns it and MAIL's reply (code, text)."""
    c = Conn(*where)
    c.negotiate()
    c.step("C", b"client.example.org\0" + b"4" + struct.pack(">H", 25) + b"192.0.2.10\0")
    c.step("H", helo + b"\0")
    c.send("D", b"M" + b"i\0" + qid + b"\0")
    rep = c.step_text("M", b"<" + mailfrom + b">\0")
    return c, rep


def body(c, fields):
    """Sends the header fields, end of headers and end of message."""
    c.step("R", b"<rcpt@example.net>\0")
    for name, value in fields:
        c.step("L", header(name, value))
    c.step("N")
    return c.eom()


def deletions(c):
    """The A-R positions deleted, in the order the milter sent them."""
    out = []
    for cmd, data in c.mods:
        if cmd == "m":
            (i,) = struct.unpack(">I", data[:4])
            parts = data[4:].split(b"\0")
            if parts[0] == AR and parts[1] == b"":
                out.append(i)
    return out


def flood(where, qid, n_forged, foreign_every):
    """n_forged A-R fields of ours, one foreign field after every
    foreign_every of them (0: none): all of ours go, none of the others,
    the highest first, and the message is judged on its own merits."""
    c, _ = start(where, qid)
    fields = [(b"From", PASS_FROM)]
    forged, foreign, pos = [], [], 0
    for i in range(n_forged):
        pos += 1
        forged.append(pos)
        fields.append((AR, OURS))
        if foreign_every and (i + 1) % foreign_every == 0:
            pos += 1
            foreign.append(pos)
            fields.append((AR, b"relay.example.org; spf=pass smtp.mailfrom=x@example.org"))
    r = body(c, fields)
    got = deletions(c)
    ar = c.inserted(AR) or ""
    what = "%d forged A-R fields" % n_forged
    check(what + ": accepted and judged (dmarc=pass from SPF, not the forgery)",
          r == "a" and "dmarc=pass (p=reject dis=none) header.from=pass.milter.example.net" in ar,
          "reply %s %s, our A-R %r" % (r, c.text, ar))
    check(what + ": every one deleted, nothing else", sorted(got) == forged,
          "deleted %d, wanted %d; first extra %r, first missing %r" % (
              len(got), len(forged), sorted(set(got) - set(forged))[:3],
              sorted(set(forged) - set(got))[:3]))
    check(what + ": deleted from the highest position down", got == sorted(got, reverse=True))
    if foreign:
        check(what + ": the %d foreign fields kept" % len(foreign),
              not set(foreign) & set(got))
    c.close()


def fail_delete(where):
    """End of message, then a reset: the deletions cannot reach the MTA."""
    c, _ = start(where, b"FAILDEL")
    c.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    c.step("R", b"<rcpt@example.net>\0")
    c.step("L", header(b"From", PASS_FROM))
    for _ in range(10000):
        c.step("L", header(AR, OURS))
    c.step("N")
    c.send("E")
    # Once the first deletion arrives, the milter has read end of message
    # and is in its run of 10000 deletions, more than our small receive
    # buffer and its send buffer hold. Only then the reset (SO_LINGER 0):
    # a reset before it reads end of message would discard the command.
    first = c.read()[0]
    check("FAILDEL: the milter began deleting before the reset", first == "m", first)
    c.s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.s.close()


def long_mailfrom(where, tcp):
    domain = b"@pass.milter.example.net"
    # Exactly at the bound: kept whole, SPF judges the domain at its end.
    c, rep = start(where, b"MF2048", b"l" * (MAILFROM_MAX - len(domain)) + domain)
    r = body(c, [(b"From", b"<a@none.milter.example.net>")])
    ar = c.inserted(AR) or ""
    check("MAIL FROM of %d bytes: not refused at MAIL" % MAILFROM_MAX, rep[0] in "c-", rep)
    check("MAIL FROM of %d bytes: judged whole, spf=pass" % MAILFROM_MAX,
          r == "a" and "mx.example.net; spf=pass" in ar, "reply %s %s, A-R %r" % (r, c.text, ar))
    c.close()
    # One byte past it: refused, never cut.
    c, rep = start(where, b"MF2049", b"l" * (MAILFROM_MAX + 1 - len(domain)) + domain)
    if tcp:
        check("MAIL FROM of %d bytes: refused at MAIL with 501 5.1.7" % (MAILFROM_MAX + 1),
              rep == ("y", "501 5.1.7 Sender address too long"), rep)
    else:
        r = body(c, [(b"From", PASS_FROM), (AR, OURS)])
        check("MAIL FROM of %d bytes: refused at end of message with 550 5.1.7"
              % (MAILFROM_MAX + 1),
              r == "y" and c.text == "550 5.1.7 Sender address too long" and not c.mods,
              "reply %s %s, mods %r" % (r, c.text, c.mods[:3]))
    c.close()


def long_helo(where, tcp):
    helo = b"h" * (HELO_MAX + 1 - len(b".example.org")) + b".example.org"
    c, rep = start(where, b"HELO2049", helo=helo)
    if tcp:
        check("HELO of %d bytes: its message refused at MAIL with 501 5.5.2" % len(helo),
              rep == ("y", "501 5.5.2 HELO name too long"), rep)
    else:
        r = body(c, [(b"From", PASS_FROM)])
        check("HELO of %d bytes: its message refused at end of message with 550 5.5.2"
              % len(helo), r == "y" and c.text == "550 5.5.2 HELO name too long",
              "reply %s %s" % (r, c.text))
    # A new, short HELO on the same connection counts afresh.
    c.step("H", b"client.example.org\0")
    c.send("D", b"M" + b"i\0HELOAFTER\0")
    rep = c.step_text("M", b"<pass@pass.milter.example.net>\0")
    r = body(c, [(b"From", PASS_FROM)])
    check("a short HELO after it: the next message is judged",
          rep[0] in "c-" and r == "a" and "dmarc=pass" in (c.inserted(AR) or ""),
          "MAIL %r, reply %s %s" % (rep, r, c.text))
    c.close()
    # Exactly at the bound: accepted and judged (the null sender makes
    # the HELO the SPF identity; no valid domain is that long: none).
    helo = b"h" * (HELO_MAX - len(b".example.org")) + b".example.org"
    c, rep = start(where, b"HELO2048", mailfrom=b"", helo=helo)
    r = body(c, [(b"From", b"<a@none.milter.example.net>")])
    check("HELO of %d bytes, null sender: judged, accepted" % len(helo),
          rep[0] in "c-" and r == "a" and c.inserted(AR) is not None,
          "MAIL %r, reply %s %s" % (rep, r, c.text))
    c.close()


def main():
    if len(sys.argv) == 3:
        where, tcp = (sys.argv[1], int(sys.argv[2])), True
    else:
        where, tcp = (sys.argv[1], None), False
    flood(where, b"FLOOD1001", 1001, 100)
    flood(where, b"FLOOD10000", 10000, 0)
    long_mailfrom(where, tcp)
    long_helo(where, tcp)
    if tcp:
        fail_delete(where)
    # And the milter still serves the next connection.
    c, _ = start(where, b"BOUNDSAFTER")
    r = body(c, [(b"From", PASS_FROM)])
    check("after the bounds: the next message is judged",
          r == "a" and "dmarc=pass" in (c.inserted(AR) or ""), "reply %s %s" % (r, c.text))
    c.close()
    print("done")


if __name__ == "__main__":
    main()
