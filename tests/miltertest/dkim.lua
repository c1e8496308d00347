-- DKIM inside the milter: the body is asked for, hashed as it streams
-- and skipped when there is nothing to verify. The shell script signs
-- the ESP's newsletter for dkim.example.org (p=reject) with dkimpy
-- (tests/dkim/sign) into SIGNED, and writes its unsigned twin to
-- UNSIGNED (CRLF line ends, as the signer writes them). The client is
-- 203.0.113.7 and MAIL FROM is at bounce.esp.example.net: SPF fails
-- there, so only the aligned DKIM signature can make DMARC pass, and
-- the configuration has dmarc_reject = reject.
dofile(MT_DIR .. "/lib.lua")

local ESP_FROM = "bounce@bounce.esp.example.net"

-- The header fields ({name, value}, the value with its leading space
-- and its folding, LF between lines as Postfix passes them) and the
-- body of a message file.
local function read_message(path)
	local f = io.open(path, "rb")
	if f == nil then
		must("open " .. path, "cannot read it")
	end
	local data = f:read("a")
	f:close()
	local hend = data:find("\r\n\r\n", 1, true)
	local head, body = data:sub(1, hend + 1), data:sub(hend + 4)
	local fields = {}
	for line in head:gmatch("(.-)\r\n") do
		if line:match("^[ \t]") and #fields > 0 then
			fields[#fields][2] = fields[#fields][2] .. "\n" .. line
		else
			local name, value = line:match("^([^:]+):(.*)$")
			fields[#fields + 1] = { name, value }
		end
	end
	return fields, body
end

-- The body in three chunks, the first one ending between a CR and its
-- LF: a line end cut in two must hash as one.
local function chunks(body)
	local p = body:find("\r\n", 1, true)
	return { body:sub(1, p), body:sub(p + 1, p + 5), body:sub(p + 6) }
end

-- Up to the end of the header, as send() in lib.lua does; a value loses
-- its leading space when the milter did not ask to keep it (the MTA
-- drops one space then).
local function start(conn, qid, fields, from)
	must("mt.macro", mt.macro(conn, SMFIC_MAIL, "i", qid))
	must("mt.mailfrom", mt.mailfrom(conn, "<" .. (from or ESP_FROM) .. ">"))
	if not mt.test_option(conn, SMFIP_NORCPT) then
		must("mt.rcptto", mt.rcptto(conn, "<rcpt@example.net>"))
	end
	for _, h in ipairs(fields) do
		local v = h[2]
		if not mt.test_option(conn, SMFIP_HDR_LEADSPC) then
			v = v:gsub("^ ", "")
		end
		must("mt.header " .. h[1], mt.header(conn, h[1], v))
	end
	if not mt.test_option(conn, SMFIP_NOEOH) then
		must("mt.eoh", mt.eoh(conn))
	end
end

-- The signed newsletter, its body in three chunks: each one continued,
-- then accepted at end of message with dkim=pass and dmarc=pass.
local fields, body = read_message(SIGNED)
local c = open("203.0.113.7")
start(c, "DKIM1", fields)
for i, part in ipairs(chunks(body)) do
	must("mt.bodystring", mt.bodystring(c, part))
	check("signed: body chunk " .. i .. " continued", reply(c) == "c", "reply " .. reply(c))
end
must("mt.eom", mt.eom(c))
local r, ar = reply(c), our_ar(c)
check("signed: accepted", r == "a", "reply " .. r)
check_match("signed: A-R says dkim=pass for d=dkim.example.org s=s2048", ar,
    "dkim=pass header.d=dkim.example.org header.s=s2048 header.b=")
check_match("signed: A-R says dmarc=pass under p=reject", ar,
    "dmarc=pass (p=reject dis=none) header.from=dkim.example.org")
check_match("signed: spf=fail is still said", ar, "spf=fail smtp.mailfrom=" .. ESP_FROM)
mt.disconnect(c)

-- Its unsigned twin: the first body chunk is answered SMFIS_SKIP, and
-- the message is refused under p=reject.
fields, body = read_message(UNSIGNED)
c = open("203.0.113.7")
start(c, "DKIM2", fields)
must("mt.bodystring", mt.bodystring(c, chunks(body)[1]))
check("unsigned: the first body chunk is answered SMFIS_SKIP", reply(c) == "s",
    "reply " .. reply(c))
must("mt.eom", mt.eom(c))
check("unsigned: refused (p=reject, nothing aligned)", reply(c) == "y", "reply " .. reply(c))
check("unsigned: 550 5.7.1 naming dkim.example.org",
    mt.eom_check(c, MT_SMTPREPLY, "550", "5.7.1",
        "Message rejected by the DMARC policy of dkim.example.org"))
mt.disconnect(c)

-- A client in skip_networks is not verified: the signed body is skipped too.
fields, body = read_message(SIGNED)
c = open("198.51.100.7")
start(c, "DKIM3", fields)
must("mt.bodystring", mt.bodystring(c, chunks(body)[1]))
check("skipped client: its signed body is answered SMFIS_SKIP", reply(c) == "s",
    "reply " .. reply(c))
must("mt.eom", mt.eom(c))
check("skipped client: accepted without A-R of ours",
    reply(c) == "a" and not mt.eom_check(c, MT_HDRINSERT, AR), "reply " .. reply(c))
mt.disconnect(c)

-- An unsigned message with no body chunk at all: end of message alone.
c = open("192.0.2.10")
start(c, "DKIM4", { { "From", " Bob <bob@pass.milter.example.net>" } },
    "pass@pass.milter.example.net")
must("mt.eom", mt.eom(c))
r, ar = reply(c), our_ar(c)
check("no body: accepted", r == "a", "reply " .. r)
check_match("no body: dkim=none in our A-R", ar, ";\n\tdkim=none;\n\tdmarc=pass")
-- With SMFIP_HDR_LEADSPC the MTA writes what we add as "Name:value":
-- our values carry the space themselves.
check("no body: our A-R value starts with the space (SMFIP_HDR_LEADSPC)",
    not mt.test_option(c, SMFIP_HDR_LEADSPC) or (ar ~= nil and ar:sub(1, 1) == " "),
    "value: [" .. tostring(ar) .. "]")
mt.disconnect(c)
done()
