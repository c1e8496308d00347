-- Incoming Authentication-Results fields that carry our authserv-id are
-- deleted (RFC 8601 section 5), each by its position among the
-- Authentication-Results fields (smfi_chgheader with a NULL value, which
-- the MTA sees as SMFIR_CHGHEADER with an empty value); those of other
-- hosts stay.
dofile(MT_DIR .. "/lib.lua")

local c = open("192.0.2.10")
local r = send(c, { from = "pass@pass.milter.example.net", qid = "FORGED1",
    headers = {
	{ AR, "relay.example.org; spf=pass smtp.mailfrom=x@example.org" },          -- 1
	{ "From", "<a@pass.milter.example.net>" },
	{ AR, "mx.example.net; dmarc=pass header.from=paypal.com" },                -- 2
	{ "Subject", "forged results" },
	{ AR, "(a comment) MX.Example.NET 1; spf=pass smtp.mailfrom=x@paypal.com" }, -- 3
	{ AR, "mx.example.net.evil.example.org; dmarc=pass header.from=x.example.org" }, -- 4
	{ AR, "mx.example.net;dkim=pass header.d=paypal.com" },                     -- 5
    } })
check("forged A-R: message accepted", r == "a", "reply " .. r)
check("forged A-R: ours (plain) deleted at A-R index 2", mt.eom_check(c, MT_HDRDELETE, AR, 2))
check("forged A-R: ours (comment, other case, version) deleted at index 3",
    mt.eom_check(c, MT_HDRDELETE, AR, 3))
check("forged A-R: ours (no space after ;) deleted at index 5", mt.eom_check(c, MT_HDRDELETE, AR, 5))
-- (The checks below that nothing was changed rely on MT_HDRCHANGE
-- seeing these deletions at all.)
check("forged A-R: the deletions show as header changes", mt.eom_check(c, MT_HDRCHANGE, AR))
check("forged A-R: another host's (index 1) kept", not mt.eom_check(c, MT_HDRDELETE, AR, 1))
check("forged A-R: a longer id that starts with ours (index 4) kept",
    not mt.eom_check(c, MT_HDRDELETE, AR, 4))
check("forged A-R: no other header field touched", not mt.eom_check(c, MT_HDRCHANGE, "From")
    and not mt.eom_check(c, MT_HDRCHANGE, "Subject"))
-- The forged results never reach the evaluator: DMARC is judged on SPF
-- for the real From, not on the forged dkim=pass for paypal.com.
local ar = our_ar(c)
check_match("forged A-R: our own result added", ar, "dmarc=pass (p=reject dis=none) header.from=pass.milter.example.net")
check_nomatch("forged A-R: nothing of the forged content in ours", ar, "paypal")
mt.disconnect(c)

-- A message with no A-R at all: nothing deleted.
c = open("192.0.2.10")
r = send(c, { from = "pass@pass.milter.example.net", qid = "FORGED2",
    headers = { { "From", "<a@pass.milter.example.net>" } } })
check("no incoming A-R: nothing deleted", r == "a" and not mt.eom_check(c, MT_HDRCHANGE),
    "reply " .. r)
mt.disconnect(c)
done()
