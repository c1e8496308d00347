-- Odd and hostile protocol input that a real MTA can pass on: IPv6 and
-- IPv4-mapped clients, an unknown address family, no {i} macro, long
-- values, empty values. The milter must answer each, and the shell
-- script checks afterwards that it is still alive, that its log says
-- what happened and that the sanitizers found nothing.
-- (Values over about 1000 bytes and NUL bytes: rawmilter.py, see lib.lua.)
dofile(MT_DIR .. "/lib.lua")

local c, r, ar

-- An IPv6 client: pass.milter.example.net authorizes only 192.0.2.0/24,
-- so SPF must fail, and with it DMARC under p=reject: the sender that
-- passes from 192.0.2.10 is refused from 2001:db8::25, which shows that
-- the IPv6 address itself reached SPF.
c = open("2001:db8::25")
r = send(c, { from = "pass@pass.milter.example.net", qid = "V6A",
    headers = { { "From", "<a@pass.milter.example.net>" } } })
check("IPv6 client outside ip4:192.0.2.0/24: refused (SPF fail, p=reject)",
    r == "y" and mt.eom_check(c, MT_SMTPREPLY, "550", "5.7.1",
        "Message rejected by the DMARC policy of pass.milter.example.net"), "reply " .. r)
mt.disconnect(c)

-- An IPv6 client of a domain without records: accepted and labelled.
c = open("2001:db8::25")
r = send(c, { from = "x@none.milter.example.net", qid = "V6NONE",
    headers = { { "From", "<a@none.milter.example.net>" } } })
check("IPv6 client, no records: accepted", r == "a", "reply " .. r)
check_match("IPv6 client, no records: spf=none", our_ar(c), "mx.example.net; spf=none")
mt.disconnect(c)

-- An IPv4 client on a dual-stack socket arrives as ::ffff:192.0.2.10;
-- SPF judges it as 192.0.2.10 and passes.
c = open("::ffff:192.0.2.10")
r = send(c, { from = "pass@pass.milter.example.net", qid = "V6MAPPED",
    headers = { { "From", "<a@pass.milter.example.net>" } } })
check("IPv4-mapped IPv6 client: accepted", r == "a", "reply " .. r)
check_match("IPv4-mapped IPv6 client: judged as 192.0.2.10, spf=pass", our_ar(c), "spf=pass")
mt.disconnect(c)

-- An unknown address family (SMFIA_UNKNOWN, no address at all): the
-- message cannot be judged and is let through unlabelled, but a forged
-- result is deleted all the same.
c = open("unspec", "unknown-family.example.org")
r = send(c, { from = "pass@pass.milter.example.net", qid = "UNSPEC",
    headers = { { "From", "<a@pass.milter.example.net>" },
                { AR, "mx.example.net; dmarc=pass header.from=paypal.com" } } })
check("unknown address family: accepted", r == "a", "reply " .. r)
check("unknown address family: no A-R of ours", not mt.eom_check(c, MT_HDRINSERT, AR))
check("unknown address family: forged A-R deleted", mt.eom_check(c, MT_HDRDELETE, AR, 1))
mt.disconnect(c)

-- No {i} macro (an MTA that sends none, or before the queue id exists):
-- judged all the same; the log says NOQUEUE.
c = open("192.0.2.10")
r = send(c, { from = "pass@pass.milter.example.net",
    headers = { { "From", "<noqid@pass.milter.example.net>" } } })
check("no {i} macro: accepted", r == "a", "reply " .. r)
check_match("no {i} macro: still labelled spf=pass", our_ar(c), "spf=pass")
mt.disconnect(c)

-- A From with a 900-byte display name (miltertest's limit is near 1000).
c = open("192.0.2.10")
r = send(c, { from = "pass@pass.milter.example.net", qid = "LONGFROM",
    headers = { { "From", "\"" .. string.rep("n", 900) .. "\" <a@pass.milter.example.net>" } } })
check("900-byte From display name: accepted", r == "a", "reply " .. r)
check_match("900-byte From display name: From still parsed, dmarc=pass", our_ar(c),
    "dmarc=pass (p=reject dis=none) header.from=pass.milter.example.net")
mt.disconnect(c)

-- An envelope sender longer than the 512 bytes the milter once kept:
-- now kept whole (up to 2048 bytes, see bounds.py), so SPF judges the
-- domain at its end and passes. (DMARC of such a sender: spoof.lua.)
c = open("192.0.2.10")
r = send(c, { from = string.rep("l", 700) .. "@pass.milter.example.net", qid = "LONGMAIL",
    headers = { { "From", "<a@none.milter.example.net>" } } })
check("700-byte MAIL FROM: accepted", r == "a", "reply " .. r)
check_match("700-byte MAIL FROM: judged whole, spf=pass for the domain at its end",
    our_ar(c), "mx.example.net; spf=pass")
mt.disconnect(c)

-- A 600-byte HELO name (kept whole: past 2048 bytes it is refused, see
-- bounds.py) and the null sender: SPF then checks the HELO identity,
-- which is no valid domain; the From domain publishes no DMARC record,
-- so the message is accepted.
c = mt.connect(SOCK, 20, 0.1)
must("mt.negotiate", mt.negotiate(c, nil, nil, nil))
must("mt.conninfo", mt.conninfo(c, "client.example.org", "192.0.2.10"))
must("mt.helo", mt.helo(c, string.rep("h", 600) .. ".example.org"))
check("600-byte HELO: answered", reply(c) == "c", "reply " .. reply(c))
r = send(c, { from = "", qid = "LONGHELO",
    headers = { { "From", "<a@none.milter.example.net>" } } })
check("null sender after a 600-byte HELO: accepted", r == "a", "reply " .. r)
check_match("null sender: labelled, spf=none for the HELO name", our_ar(c), "mx.example.net; spf=none")
mt.disconnect(c)

-- An empty From and one that is not an address (header names in odd
-- case): unusable, and under dmarc_reject = reject ("strictest") that
-- counts as a failure under p=reject, never as a way around DMARC.
c = open("192.0.2.10")
r = send(c, { from = "pass@pass.milter.example.net", qid = "ODD",
    headers = { { "fROM", "" }, { "Subject", "" }, { "from", "(((not an address" } } })
check("empty and broken From fields: refused as unusable",
    r == "y" and mt.eom_check(c, MT_SMTPREPLY, "550", "5.7.1",
        "Message rejected: unusable From header: empty value"), "reply " .. r)
mt.disconnect(c)

-- Odd A-R values: only our id (ours, deleted), empty and ";;;" (no id:
-- kept), names in lower case.
c = open("192.0.2.10")
r = send(c, { from = "pass@pass.milter.example.net", qid = "ODDAR",
    headers = { { "From", "<a@pass.milter.example.net>" },
                { "authentication-results", "mx.example.net" },
                { "authentication-results", "" }, { AR, ";;;" } } })
check("odd A-R values: accepted", r == "a", "reply " .. r)
check("A-R that is only our id: deleted (index 1)", mt.eom_check(c, MT_HDRDELETE, AR, 1))
check("empty A-R and ';;;': kept (index 2, 3)", not mt.eom_check(c, MT_HDRDELETE, AR, 2)
    and not mt.eom_check(c, MT_HDRDELETE, AR, 3))
mt.disconnect(c)

-- Two hundred header fields in one message, most of them A-R of another
-- host and a few of ours among them: every one of ours is deleted.
c = open("192.0.2.10")
local hdrs = { { "From", "<a@pass.milter.example.net>" } }
for i = 1, 200 do
	if i % 50 == 0 then
		hdrs[#hdrs + 1] = { AR, "mx.example.net; dmarc=pass header.from=forged" .. i .. ".example.org" }
	else
		hdrs[#hdrs + 1] = { AR, "relay" .. i .. ".example.org; spf=pass smtp.mailfrom=x@example.org" }
	end
end
r = send(c, { from = "pass@pass.milter.example.net", qid = "MANY", headers = hdrs })
check("200 A-R fields: accepted", r == "a", "reply " .. r)
check("200 A-R fields: ours at 50, 100, 150, 200 all deleted",
    mt.eom_check(c, MT_HDRDELETE, AR, 50) and mt.eom_check(c, MT_HDRDELETE, AR, 100)
    and mt.eom_check(c, MT_HDRDELETE, AR, 150) and mt.eom_check(c, MT_HDRDELETE, AR, 200))
check("200 A-R fields: a foreign one (49) kept", not mt.eom_check(c, MT_HDRDELETE, AR, 49))
check_match("200 A-R fields: still judged", our_ar(c), "dmarc=pass")
mt.disconnect(c)
done()
