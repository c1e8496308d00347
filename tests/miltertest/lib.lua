-- Helpers shared by the miltertest scripts of
-- tests/integration/milter-protocol.sh, which runs each script as
--   miltertest -D MT_DIR=<this directory> -D SOCK=<milter socket> -s X.lua
-- and loads this file first with dofile(MT_DIR .. "/lib.lua").
--
-- A script reports each check on its own line, "ok - DESC" or
-- "not ok - DESC" followed by "# ..." diagnostics; the shell script
-- numbers them into TAP. A script ends with done(): without that line
-- the shell counts the script as having stopped early (a Lua error or
-- a miltertest crash), so a check never passes by not running.
--
-- Facts about miltertest (Debian 2.11.0~beta2, "v1.6.0") that shape
-- these helpers, read from its source and measured:
-- * mt.negotiate(conn, version, steps, actions): the third argument is
--   the protocol steps and the fourth the actions, the other way round
--   from miltertest(8).
-- * The negotiated steps matter: miltertest raises a Lua error when a
--   script sends a step the milter asked to skip (mt.rcptto after
--   SMFIP_NORCPT), so send() asks mt.test_option first.
-- * mt.header, mt.mailfrom and mt.helo copy into a 1024-byte stack
--   buffer, mt.header without a bounds check: a longer header smashes
--   miltertest's stack. Values are also cut at the first NUL (strlen).
--   Longer or NUL-carrying input goes through tests/miltertest/rawmilter.py.
-- * mt.eom_check(MT_HDRCHANGE, name, value, index) compares the index
--   with the value converted to a number; MT_HDRDELETE (name, index)
--   compares the index properly (and wants an empty value).
-- * MT_SMTPREPLY compares the whole reply, "CODE XCODE TEXT", exactly.

AR = "Authentication-Results"

local function report(good, desc, diag)
	if good then
		mt.echo("ok - " .. desc)
	else
		mt.echo("not ok - " .. desc)
		if diag ~= nil then
			for line in (tostring(diag) .. "\n"):gmatch("([^\n]*)\n") do
				mt.echo("# " .. line)
			end
		end
	end
	return good
end

-- check(DESC, COND[, DIAG]): one result line.
function check(desc, cond, diag)
	return report(cond and true or false, desc, diag)
end

-- check_match(DESC, VALUE, PATTERN): VALUE (a string) contains the plain
-- text PATTERN; the diagnostic shows what came instead.
function check_match(desc, value, pattern)
	local good = type(value) == "string" and value:find(pattern, 1, true) ~= nil
	return report(good, desc, "wanted: " .. pattern .. "\ngot: " .. tostring(value))
end

function check_nomatch(desc, value, pattern)
	local good = type(value) == "string" and value:find(pattern, 1, true) == nil
	return report(good, desc, "unwanted: " .. pattern .. "\ngot: " .. tostring(value))
end

-- must(WHAT, ERR): an mt.* call returned an error string; nothing after
-- it would mean anything, so stop the script (the shell reports it).
-- The reason is echoed first: this miltertest does not print the error
-- that ends a script, only its exit status says so.
function must(what, err)
	if err ~= nil then
		mt.echo("stopped: " .. what .. ": " .. tostring(err))
		error(what .. ": " .. tostring(err))
	end
end

-- The last reply as its one-letter code: "c" continue, "a" accept,
-- "r" reject, "t" tempfail, "y" reply code set (smfi_setreply).
function reply(conn)
	local r = mt.getreply(conn)
	if r == 0 then
		return "(none)"
	end
	return string.char(r)
end

-- open(IP[, HOST]): a connection to the milter, negotiated with what
-- miltertest offers by default, connect info sent and answered.
function open(ip, host)
	-- (mt.connect raises an error itself when it cannot connect.)
	local conn = mt.connect(SOCK, 20, 0.1)
	must("mt.negotiate", mt.negotiate(conn, nil, nil, nil))
	must("mt.conninfo", mt.conninfo(conn, host or "client.example.org", ip))
	if not mt.test_option(conn, SMFIP_NR_CONN) and reply(conn) ~= "c" then
		must("connect", "answered " .. reply(conn))
	end
	if not mt.test_option(conn, SMFIP_NOHELO) then
		must("mt.helo", mt.helo(conn, "client.example.org"))
	end
	return conn
end

-- send(CONN, MSG): one message up to its end, where MSG is a table:
--   from     envelope sender (without <>), "" for the null sender
--   qid      the {i} macro, none when nil
--   headers  { {name, value}, ... } in order
-- Returns the one-letter reply at end of message.
function send(conn, msg)
	if msg.qid ~= nil then
		must("mt.macro", mt.macro(conn, SMFIC_MAIL, "i", msg.qid))
	end
	must("mt.mailfrom", mt.mailfrom(conn, "<" .. msg.from .. ">"))
	if reply(conn) ~= "c" then
		return reply(conn)
	end
	if not mt.test_option(conn, SMFIP_NORCPT) then
		must("mt.rcptto", mt.rcptto(conn, "<rcpt@example.net>"))
	end
	for _, h in ipairs(msg.headers or {}) do
		must("mt.header " .. h[1], mt.header(conn, h[1], h[2]))
	end
	if not mt.test_option(conn, SMFIP_NOEOH) then
		must("mt.eoh", mt.eoh(conn))
	end
	must("mt.eom", mt.eom(conn))
	return reply(conn)
end

-- Our Authentication-Results header as inserted at end of message, or nil.
function our_ar(conn)
	return mt.getheader(conn, AR, 0)
end

function done()
	mt.echo("done")
end
