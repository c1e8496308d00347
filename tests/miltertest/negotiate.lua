-- Option negotiation. The milter needs to add and change header fields
-- (insert our Authentication-Results, delete forged ones); an MTA that
-- offers neither gets its connection refused rather than mail that
-- looks checked but is not (mlfi_negotiate returns SMFIS_REJECT, and
-- libmilter then closes the connection without an answer).
dofile(MT_DIR .. "/lib.lua")

-- What the milter asks of an MTA that offers everything (miltertest's
-- defaults). The socket is TCP here: see the comment in mlfi_negotiate
-- for why no "no reply" steps are asked for over TCP.
local c = mt.connect(SOCK, 20, 0.1)
must("mt.negotiate", mt.negotiate(c, nil, nil, nil))
check("full offer: asks to add header fields", mt.test_action(c, SMFIF_ADDHDRS))
check("full offer: asks to change header fields", mt.test_action(c, SMFIF_CHGHDRS))
check("full offer: asks to quarantine", mt.test_action(c, SMFIF_QUARANTINE))
check("full offer: never asks to change the body", not mt.test_action(c, SMFIF_CHGBODY))
check("full offer: never asks to add recipients", not mt.test_action(c, SMFIF_ADDRCPT))
check("full offer: asks for the body (no SMFIP_NOBODY: DKIM hashes it)",
    not mt.test_option(c, SMFIP_NOBODY))
check("full offer: may skip the rest of a body (SMFIP_SKIP)", mt.test_option(c, SMFIP_SKIP))
check("full offer: header values keep their leading space (SMFIP_HDR_LEADSPC)",
    mt.test_option(c, SMFIP_HDR_LEADSPC))
check("full offer: sees the end of the header (no SMFIP_NOEOH)", not mt.test_option(c, SMFIP_NOEOH))
check("full offer over TCP: answers the body (no SMFIP_NR_BODY)", not mt.test_option(c, SMFIP_NR_BODY))
check("full offer over TCP: answers every header (no SMFIP_NR_HDR)",
    not mt.test_option(c, SMFIP_NR_HDR))
check("full offer over TCP: still sees RCPT (no SMFIP_NORCPT)",
    not mt.test_option(c, SMFIP_NORCPT))
mt.disconnect(c)

-- No header actions at all, only quarantine: refused.
c = mt.connect(SOCK, 20, 0.1)
local err = mt.negotiate(c, nil, nil, SMFIF_QUARANTINE)
check("offer without header actions: connection refused", err ~= nil,
    "mt.negotiate returned nil: the milter accepted an MTA that cannot add headers")
mt.disconnect(c, false)

-- Adding without changing: forged results could not be deleted, so this
-- is refused as well.
c = mt.connect(SOCK, 20, 0.1)
err = mt.negotiate(c, nil, nil, SMFIF_ADDHDRS)
check("offer with add but not change header: connection refused", err ~= nil,
    "mt.negotiate returned nil")
mt.disconnect(c, false)

-- Exactly add and change: accepted, and the milter asks for no more than
-- was offered (libmilter would refuse its own request otherwise).
c = mt.connect(SOCK, 20, 0.1)
err = mt.negotiate(c, nil, nil, SMFIF_ADDHDRS + SMFIF_CHGHDRS)
check("offer of exactly add+change header: accepted", err == nil, err)
if err == nil then
	check("offer of exactly add+change: quarantine not asked for",
	    not mt.test_action(c, SMFIF_QUARANTINE))
	must("mt.conninfo", mt.conninfo(c, "client.example.org", "192.0.2.10"))
	local r = send(c, { from = "pass@pass.milter.example.net", qid = "NEG1",
	    headers = { { "From", "<a@pass.milter.example.net>" } } })
	check("offer of exactly add+change: message accepted", r == "a", "reply " .. r)
	check_match("offer of exactly add+change: our A-R is still added", our_ar(c),
	    "mx.example.net; spf=pass")
end
mt.disconnect(c)

-- The refusals above did not take the milter down.
c = open("192.0.2.10")
check("after the refusals: a new connection is answered", reply(c) == "c", "reply " .. reply(c))
mt.disconnect(c)
done()
