-- Verdicts at end of message, one connection per sender domain of
-- tests/zones/milter.example.net.zone, all from 192.0.2.10. The shell
-- script's configuration has dmarc_reject = reject and
-- dmarc_quarantine = quarantine.
dofile(MT_DIR .. "/lib.lua")

local c, r, ar

-- SPF pass from 192.0.2.0/24, aligned From, p=reject: accepted, and our
-- header goes first (index 0), above every Received line.
c = open("192.0.2.10")
r = send(c, { from = "pass@pass.milter.example.net", qid = "PASS1",
    headers = { { "From", "Alice <a@pass.milter.example.net>" },
                { "Subject", "pass" } } })
ar = our_ar(c)
check("pass: accepted", r == "a", "reply " .. r)
check_match("pass: A-R starts with our authserv-id and spf=pass", ar,
    "mx.example.net; spf=pass smtp.mailfrom=pass@pass.milter.example.net;")
check_match("pass: A-R has dmarc=pass under p=reject", ar,
    "dmarc=pass (p=reject dis=none) header.from=pass.milter.example.net")
check("pass: A-R inserted at index 0",
    ar ~= nil and mt.eom_check(c, MT_HDRINSERT, AR, ar, 0))
check("pass: exactly one A-R added", mt.getheader(c, AR, 1) == nil, mt.getheader(c, AR, 1))
check("pass: no header deleted", not mt.eom_check(c, MT_HDRCHANGE))
check("pass: not quarantined", not mt.eom_check(c, MT_QUARANTINE))
check("pass: no Received-SPF (received_spf = no)", not mt.eom_check(c, MT_HDRINSERT, "Received-SPF"))
mt.disconnect(c)

-- SPF softfail, p=none: accepted with the result on record.
c = open("192.0.2.10")
r = send(c, { from = "softfail@soft.milter.example.net", qid = "SOFT1",
    headers = { { "From", "<a@soft.milter.example.net>" } } })
ar = our_ar(c)
check("softfail: accepted", r == "a", "reply " .. r)
check_match("softfail: spf=softfail", ar, "spf=softfail smtp.mailfrom=softfail@soft.milter.example.net")
check_match("softfail: dmarc=fail under p=none", ar, "dmarc=fail (p=none dis=none)")
mt.disconnect(c)

-- No SPF and no DMARC record anywhere.
c = open("192.0.2.10")
r = send(c, { from = "x@none.milter.example.net", qid = "NONE1",
    headers = { { "From", "<a@none.milter.example.net>" } } })
ar = our_ar(c)
check("none: accepted", r == "a", "reply " .. r)
check_match("none: spf=none", ar, "spf=none smtp.mailfrom=x@none.milter.example.net")
check_match("none: dmarc=none", ar, "dmarc=none")
mt.disconnect(c)

-- SPF fail, p=quarantine, dmarc_quarantine = quarantine: accepted but
-- quarantined, and still labelled.
c = open("192.0.2.10")
r = send(c, { from = "fail@quar.milter.example.net", qid = "QUAR1",
    headers = { { "From", "<a@quar.milter.example.net>" } } })
ar = our_ar(c)
check("p=quarantine: accepted", r == "a", "reply " .. r)
check("p=quarantine: quarantined (smfi_quarantine)", mt.eom_check(c, MT_QUARANTINE, "DMARC p=quarantine"))
check_match("p=quarantine: A-R says dmarc=fail dis=quarantine", ar,
    "dmarc=fail (p=quarantine dis=quarantine) header.from=quar.milter.example.net")
mt.disconnect(c)

-- SPF fail, p=reject, dmarc_reject = reject: refused with a reply code
-- of our own, and nothing added to a message that will not exist.
c = open("192.0.2.10")
r = send(c, { from = "fail@fail.milter.example.net", qid = "REJ1",
    headers = { { "From", "CEO <ceo@fail.milter.example.net>" } } })
check("p=reject: answered with a reply code (SMFIR_REPLYCODE)", r == "y", "reply " .. r)
check("p=reject: 550 5.7.1 naming the policy domain",
    mt.eom_check(c, MT_SMTPREPLY, "550", "5.7.1",
        "Message rejected by the DMARC policy of fail.milter.example.net"))
check("p=reject: no A-R added to a rejected message", not mt.eom_check(c, MT_HDRINSERT))
mt.disconnect(c)

-- SPF passes for pass.milter.example.net, but the From domain demands
-- strict SPF alignment (aspf=s) and p=reject: the spoof is refused.
c = open("192.0.2.10")
r = send(c, { from = "pass@pass.milter.example.net", qid = "SPOOF1",
    headers = { { "From", "<ceo@spoof.milter.example.net>" } } })
check("aspf=s spoof: answered with a reply code", r == "y", "reply " .. r)
check("aspf=s spoof: 550 5.7.1 naming spoof.milter.example.net",
    mt.eom_check(c, MT_SMTPREPLY, "550", "5.7.1",
        "Message rejected by the DMARC policy of spoof.milter.example.net"))
mt.disconnect(c)

-- Every lookup SERVFAILs: temperror, accepted under the default
-- temperror action, and said so in the header.
c = open("192.0.2.10")
r = send(c, { from = "t@temp.milter.example.net", qid = "TEMP1",
    headers = { { "From", "<a@temp.milter.example.net>" } } })
ar = our_ar(c)
check("temperror: accepted (temperror = accept)", r == "a", "reply " .. r)
check_match("temperror: spf=temperror", ar, "spf=temperror")
check_match("temperror: dmarc=temperror", ar, "dmarc=temperror")
mt.disconnect(c)
done()
