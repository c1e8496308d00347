-- Identities are judged whole and as one string (issue 11, points 1
-- and 2): a spoofed From of a p=reject domain must never pass because
-- alignment read another domain than SPF checked, or a cut copy of the
-- envelope sender. The victim is pass.example.com (example.com.zone:
-- p=reject, SPF pass from 192.0.2.0/24 only); the attacker's envelope
-- domain attacker.milter.example.net passes SPF for every client and
-- lies in another organizational domain. Attacks come from 203.0.113.66.
-- (Envelope senders past miltertest's 1024-byte buffer: bounds.py.)
dofile(MT_DIR .. "/lib.lua")

local VICTIM = "pass.example.com"
local ATTACKER = "attacker.milter.example.net"
local REFUSED = "Message rejected by the DMARC policy of " .. VICTIM

-- open_helo(IP, HELO): like open() in lib.lua, with a HELO of our choice.
local function open_helo(ip, helo)
	local conn = mt.connect(SOCK, 20, 0.1)
	must("mt.negotiate", mt.negotiate(conn, nil, nil, nil))
	must("mt.conninfo", mt.conninfo(conn, "client.example.org", ip))
	must("mt.helo", mt.helo(conn, helo))
	return conn
end

local function refused(c, r)
	return r == "y" and mt.eom_check(c, MT_SMTPREPLY, "550", "5.7.1", REFUSED)
end

-- Attack 1: MAIL FROM without '@' names the attacker's domain, which
-- passes SPF; the HELO names the victim. Nothing may align with the HELO
-- name here: the identity SPF checked is the only one that can.
local c = open_helo("203.0.113.66", VICTIM)
local r = send(c, { from = ATTACKER, qid = "SPOOF1",
    headers = { { "From", "<ceo@" .. VICTIM .. ">" } } })
check("attack 1 (MAIL FROM without '@', HELO = victim): refused under p=reject",
    refused(c, r), "reply " .. r)
check("attack 1: no Authentication-Results of ours says dmarc=pass",
    our_ar(c) == nil or not our_ar(c):find("dmarc=pass", 1, true), tostring(our_ar(c)))
mt.disconnect(c)

-- Attack 2: a quoted local part of backslashes, then the victim's domain,
-- then the attacker's. A display copy that escapes '\' as "\x5c" and is
-- cut at 511 bytes ended exactly after the victim's domain: 1 + 5 + 122
-- x 4 + 17 = 511. SPF checks the attacker's domain; so must alignment.
c = open_helo("203.0.113.66", "client.example.org")
r = send(c, { from = "\"abcde" .. string.rep("\\", 122) .. "@" .. VICTIM .. "\"@" .. ATTACKER,
    qid = "SPOOF2", headers = { { "From", "<ceo@" .. VICTIM .. ">" } } })
check("attack 2 (122 backslashes, then @victim\"@attacker): refused under p=reject",
    refused(c, r), "reply " .. r)
mt.disconnect(c)

-- The same attacker under its own name: accepted (no DMARC record), so
-- the refusals above are about the spoof, not about the sender.
c = open_helo("203.0.113.66", "client.example.org")
r = send(c, { from = "x@" .. ATTACKER, qid = "SPOOF3",
    headers = { { "From", "<ceo@" .. ATTACKER .. ">" } } })
check("the attacker under its own From: accepted, spf=pass", r == "a"
    and our_ar(c) ~= nil and our_ar(c):find("spf=pass", 1, true) ~= nil,
    "reply " .. r .. ", A-R " .. tostring(our_ar(c)))
mt.disconnect(c)

-- A 600-byte envelope sender is evaluated whole: the domain at its end
-- passes SPF and aligns with the From. A copy cut at 511 bytes would
-- have lost the domain and failed DMARC (p=reject: refused).
c = open("192.0.2.10")
local long = string.rep("l", 600 - #"@pass.milter.example.net") .. "@pass.milter.example.net"
r = send(c, { from = long, qid = "MF600",
    headers = { { "From", "<a@pass.milter.example.net>" } } })
check("600-byte MAIL FROM: accepted", r == "a", "reply " .. r)
check_match("600-byte MAIL FROM: SPF and DMARC pass for its domain", our_ar(c),
    "dmarc=pass (p=reject dis=none) header.from=pass.milter.example.net")
check_match("600-byte MAIL FROM: spf=pass", our_ar(c), "spf=pass")
mt.disconnect(c)
done()
