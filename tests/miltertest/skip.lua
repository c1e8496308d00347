-- A client in skip_networks (the shell script lists 198.51.100.0/24
-- there) is not judged: no Authentication-Results of ours. But a forged
-- one with our authserv-id is still deleted (RFC 8601 section 5): a
-- trusted client must not be a way to hand a forged result on.
dofile(MT_DIR .. "/lib.lua")

local c = open("198.51.100.7")
local r = send(c, { from = "fail@fail.milter.example.net", qid = "SKIP1",
    headers = { { AR, "other.example.org; spf=pass smtp.mailfrom=x@example.org" },
                { "From", "<ceo@fail.milter.example.net>" },
                { AR, "mx.example.net; dmarc=pass header.from=paypal.com" } } })
check("skipped client: accepted, even from a p=reject failure", r == "a", "reply " .. r)
check("skipped client: no A-R of ours", not mt.eom_check(c, MT_HDRINSERT, AR))
check("skipped client: forged A-R (index 2) deleted", mt.eom_check(c, MT_HDRDELETE, AR, 2))
check("skipped client: another host's A-R (index 1) kept", not mt.eom_check(c, MT_HDRDELETE, AR, 1))

-- The same connection, a second message: still skipped (the skip is a
-- property of the client), and nothing to delete this time.
r = send(c, { from = "pass@pass.milter.example.net", qid = "SKIP2",
    headers = { { "From", "<a@pass.milter.example.net>" } } })
check("skipped client, second message: accepted without A-R",
    r == "a" and not mt.eom_check(c, MT_HDRINSERT, AR), "reply " .. r)
check("skipped client, second message: nothing deleted", not mt.eom_check(c, MT_HDRCHANGE))
mt.disconnect(c)

-- Another documentation network is judged: the skip list is no wider
-- than configured.
c = open("203.0.113.7")
r = send(c, { from = "fail@fail.milter.example.net", qid = "NOSKIP",
    headers = { { "From", "<ceo@fail.milter.example.net>" } } })
check("client outside skip_networks: judged (p=reject failure refused)", r == "y", "reply " .. r)
mt.disconnect(c)
done()
