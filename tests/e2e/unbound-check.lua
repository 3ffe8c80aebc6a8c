-- Where does Prosody's resolver send its queries? Run by tests/e2e/run.sh in
-- a server's namespace, with /etc/resolv.conf bind-mounted to name a decoy.
--
--   lua5.4 unbound-check.lua MODE FORWARD N
--
-- Builds a libunbound context through lua-unbound exactly as Prosody 0.12's
-- net/unbound.lua does (its `unbound` setting, then hoststxt = false, then
-- lua-unbound's own defaults for every key left unset) and resolves N
-- distinct names. MODE is the `unbound` setting tried:
--   forward-only   unbound = { forward = FORWARD }
--   recommended    unbound = { resolvconf = false; forward = FORWARD }
-- Prints "answered K of N" (K: answers that came from resolverd).
local lunbound = require "lunbound"
local mode, forward, n = arg[1], arg[2], tonumber(arg[3] or "8")

local conf
if mode == "forward-only" then
    conf = { forward = forward }
elseif mode == "recommended" then
    conf = { resolvconf = false, forward = forward }
else
    io.stderr:write("unknown mode ", tostring(mode), "\n")
    os.exit(2)
end
-- the test community lives under .test (a special-use zone libunbound
-- answers itself unless told otherwise)
conf.options = { ["local-zone:"] = "test. transparent" }

-- net/unbound.lua's add_defaults
local builtin_defaults = { hoststxt = false }
for option, default in pairs(builtin_defaults) do
    if conf[option] == nil then conf[option] = default end
end
for option, default in pairs(lunbound.config) do
    if conf[option] == nil then conf[option] = default end
end

local ub = lunbound.new(conf)
local answered = 0
for i = 1, n do
    local r = ub:resolve(string.format("check%d-%d.alpha.test", i, os.time()), 1)
    -- NXDOMAIN is the right answer (the names do not exist): it came from
    -- resolverd; the decoy answers REFUSED, which libunbound turns into SERVFAIL
    if r and (r.rcode == 0 or r.nxdomain) then answered = answered + 1 end
end
print(string.format("answered %d of %d", answered, n))
