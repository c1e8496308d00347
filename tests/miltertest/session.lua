-- Several messages on one connection: each gets a verdict of its own.
-- Nothing of an earlier message (its envelope sender, From, forged
-- header positions, reply) may leak into the next, whether the earlier
-- one ended at end of message or with SMFIC_ABORT (RSET, or a client
-- that went away in DATA).
dofile(MT_DIR .. "/lib.lua")

local c = open("192.0.2.10")
local r, ar

-- 1: a p=reject failure, refused.
r = send(c, { from = "fail@fail.milter.example.net", qid = "SESS1",
    headers = { { "From", "<ceo@fail.milter.example.net>" },
                { AR, "mx.example.net; dmarc=pass header.from=fail.milter.example.net" } } })
check("message 1 (fail, p=reject): refused", r == "y", "reply " .. r)

-- 2: MAIL again after end of message, from a passing domain.
r = send(c, { from = "pass@pass.milter.example.net", qid = "SESS2",
    headers = { { "From", "<a@pass.milter.example.net>" } } })
ar = our_ar(c)
check("message 2 after a refused one: accepted", r == "a", "reply " .. r)
check_match("message 2: spf=pass for its own sender", ar, "spf=pass smtp.mailfrom=pass@pass.milter.example.net")
check_match("message 2: dmarc=pass for its own From", ar, "dmarc=pass (p=reject dis=none) header.from=pass.milter.example.net")
check("message 2: the forged A-R position of message 1 is not deleted here",
    not mt.eom_check(c, MT_HDRCHANGE))

-- 3: a failing message with a forged A-R, aborted in its headers.
must("mt.macro", mt.macro(c, SMFIC_MAIL, "i", "SESS3"))
must("mt.mailfrom", mt.mailfrom(c, "<fail@fail.milter.example.net>"))
if not mt.test_option(c, SMFIP_NORCPT) then
	must("mt.rcptto", mt.rcptto(c, "<rcpt@example.net>"))
end
must("mt.header", mt.header(c, "From", "<ceo@fail.milter.example.net>"))
must("mt.header", mt.header(c, AR, "mx.example.net; spf=pass smtp.mailfrom=fail.milter.example.net"))
must("mt.abort", mt.abort(c))

-- 4: the next message on the same connection, from a passing domain.
r = send(c, { from = "pass@pass.milter.example.net", qid = "SESS4",
    headers = { { "From", "<b@pass.milter.example.net>" } } })
ar = our_ar(c)
check("message 4 after an aborted failing one: accepted", r == "a", "reply " .. r)
check_match("message 4: spf=pass (not the aborted sender's fail)", ar,
    "spf=pass smtp.mailfrom=pass@pass.milter.example.net")
check_match("message 4: dmarc=pass, one From (the aborted From is gone)", ar,
    "dmarc=pass (p=reject dis=none) header.from=pass.milter.example.net")
check("message 4: no deletion left over from the aborted message", not mt.eom_check(c, MT_HDRCHANGE))

-- 5: aborted right after MAIL, before any header; then 6 passes.
must("mt.mailfrom", mt.mailfrom(c, "<fail@fail.milter.example.net>"))
must("mt.abort", mt.abort(c))
r = send(c, { from = "pass@pass.milter.example.net", qid = "SESS6",
    headers = { { "From", "<c@pass.milter.example.net>" } } })
check_match("message 6 after an abort straight after MAIL: spf=pass", our_ar(c), "spf=pass")

-- 7: an abort with no message open at all (a second RSET), then a
-- failing message: the verdict follows the message, not the history.
must("mt.abort", mt.abort(c))
r = send(c, { from = "fail@fail.milter.example.net", qid = "SESS7",
    headers = { { "From", "<ceo@fail.milter.example.net>" } } })
check("message 7 (fail) after passing ones: refused again", r == "y", "reply " .. r)
mt.disconnect(c)

-- A connection that goes away in the middle of a message (no abort,
-- no quit): the milter frees it and the next connection is served.
c = open("192.0.2.10")
must("mt.mailfrom", mt.mailfrom(c, "<pass@pass.milter.example.net>"))
must("mt.header", mt.header(c, "From", "<a@pass.milter.example.net>"))
mt.disconnect(c, false)
c = open("192.0.2.10")
r = send(c, { from = "pass@pass.milter.example.net", qid = "SESS8",
    headers = { { "From", "<a@pass.milter.example.net>" } } })
check("after a connection dropped mid-message: the next is served", r == "a", "reply " .. r)
mt.disconnect(c)
done()
