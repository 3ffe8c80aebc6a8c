-- mod_clearinghouse: this server's local federation policy, enforced with the
-- clearinghouse's signed policy table ("policy push").
--
-- The clearinghouse publishes a table of the community's domains (level,
-- groups, enabled flag), with a serial and a validity end, signed with
-- Ed25519 (`chpolicy export table --sign`). This module loads it, checks the
-- signature and the validity period, and applies this server's own rule
-- (`clearinghouse_allow`) to every remote domain:
--
--   outbound  a stanza to a domain outside the rule is bounced with
--             policy-violation before any DNS lookup or connection
--             (hook route/remote, ahead of mod_s2s);
--   inbound   a stream from such a domain is closed with policy-violation
--             as soon as its domain is known (stream header 'from',
--             a dialback request, SASL EXTERNAL).
--
-- The table file is watched (mtime, size, inode) and reloaded without a
-- restart. A table that fails to verify, is older than the one in use, or
-- has expired is refused and the last good table stays (fail-static), also
-- across restarts (a verified copy is kept in clearinghouse_state_dir). Past
-- its validity end a table is still used for clearinghouse_grace, with a
-- warning; after that clearinghouse_fail decides ("closed": every remote
-- domain is denied, "open": every one is allowed but the deny list).
--
-- The table is the JSON of `chpolicy export table` (docs/chpolicy.md, "The
-- policy table"), its signature FILE.sig the base64 of the Ed25519 signature
-- over the file's exact bytes. Prosody 13's util.crypto checks it when it is
-- there; Prosody 0.12 has no Ed25519 of its own, and the openssl command
-- (Debian's openssl) checks it instead. See contrib/prosody/README.md and
-- docs/policy-push.md.

module:set_global();

local lfs = require "lfs";
local json = require "util.json";
local st = require "util.stanza";
local encodings = require "util.encodings";
local idna_to_ascii = encodings.idna.to_ascii;
local base64_decode = encodings.base64.decode;
local sha256 = require "util.hashes".sha256;

local have_crypto, crypto = pcall(require, "util.crypto");
if not (have_crypto and type(crypto) == "table" and crypto.ed25519_verify and crypto.import_public_pem) then
	crypto = nil;
end

local hosts = prosody.hosts;
local os_time = os.time;
local s_format = string.format;
local t_concat, t_insert, t_sort = table.concat, table.insert, table.sort;
local floor = math.floor;

-- (Lua 5.1 to 5.4: no math.type, no //)
local function is_integer(v)
	return type(v) == "number" and v == floor(v) and v > -2^53 and v < 2^53;
end

-- ------------------------------------------------------------------ options

-- durations: a number of seconds, or "30s", "15m", "12h", "7d", "2w"
local function parse_duration(v)
	if type(v) == "number" and v >= 0 then return math.floor(v); end
	if type(v) ~= "string" then return nil; end
	local n, unit = v:match("^%s*(%d+)%s*([smhdw]?)%s*$");
	if not n then return nil; end
	local mult = ({ [""] = 1, s = 1, m = 60, h = 3600, d = 86400, w = 604800 })[unit];
	return tonumber(n) * mult;
end

local default_table = "/var/lib/clearinghouse/table.json";
local table_path = module:get_option_path("clearinghouse_table", default_table);
local sig_path = module:get_option_path("clearinghouse_signature", table_path .. ".sig");
local pubkey_opt = module:get_option_string("clearinghouse_pubkey");
local openssl_cmd = module:get_option_string("clearinghouse_openssl", "openssl");
local state_dir = module:get_option_path("clearinghouse_state_dir",
	(prosody.paths.data or ".") .. "/clearinghouse");
local watch_interval = module:get_option_number("clearinghouse_watch_interval", 5);
local max_table_size = module:get_option_number("clearinghouse_max_table_size", 64 * 1024 * 1024);

local grace_opt = module:get_option("clearinghouse_grace", "7d");
local grace = parse_duration(grace_opt);
if not grace then
	module:log("error", "clearinghouse_grace = %q is not a duration (seconds, or e.g. \"7d\", \"12h\"); using 7 days",
		tostring(grace_opt));
	grace = 7 * 86400;
end

local fail_mode = module:get_option_string("clearinghouse_fail", "closed");
if fail_mode ~= "closed" and fail_mode ~= "open" then
	module:log("error", "clearinghouse_fail = %q: must be \"closed\" or \"open\"; using \"closed\"", fail_mode);
	fail_mode = "closed";
end

-- ------------------------------------------------------------------ helpers

local function shell_quote(s)
	return "'" .. tostring(s):gsub("'", "'\\''") .. "'";
end

local function read_file(path, limit)
	local f, err = io.open(path, "rb");
	if not f then return nil, err; end
	local size = f:seek("end");
	if limit and size and size > limit then
		f:close();
		return nil, s_format("%s: %d bytes, more than clearinghouse_max_table_size (%d)", path, size, limit);
	end
	f:seek("set", 0);
	local data = f:read("*a");
	f:close();
	if not data then return nil, path .. ": could not be read"; end
	return data;
end

-- write_file PATH DATA: written to PATH.tmp, then renamed over PATH
local function write_file(path, data)
	local tmp = path .. ".tmp";
	local f, err = io.open(tmp, "wb");
	if not f then return nil, err; end
	local ok, werr = f:write(data);
	local cok, cerr = f:close();
	if not ok or not cok then
		os.remove(tmp);
		return nil, werr or cerr;
	end
	local rok, rerr = os.rename(tmp, path);
	if not rok then return nil, rerr; end
	return true;
end

-- the days since 1970-01-01 of a civil date (proleptic Gregorian)
local function days_from_civil(y, m, d)
	if m <= 2 then y = y - 1; end
	local era = floor((y >= 0 and y or y - 399) / 400);
	local yoe = y - era * 400;
	local mp = (m + 9) % 12;
	local doy = floor((153 * mp + 2) / 5) + d - 1;
	local doe = yoe * 365 + floor(yoe / 4) - floor(yoe / 100) + doy;
	return era * 146097 + doe - 719468;
end

-- a time in the table: seconds since the epoch, or "YYYY-MM-DDTHH:MM:SSZ"
-- ("T" or a space; "Z", "+00:00" or nothing: always UTC)
local function parse_time(v)
	if is_integer(v) then return v; end
	if type(v) ~= "string" then return nil; end
	local y, mo, d, h, mi, s, rest = v:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)[T ](%d%d):(%d%d):(%d%d)(.*)$");
	if not y then return nil; end
	rest = rest:gsub("^%.%d+", "");
	if rest ~= "" and rest ~= "Z" and rest ~= "+00:00" and rest ~= "+0000" then return nil; end
	y, mo, d, h, mi, s = tonumber(y), tonumber(mo), tonumber(d), tonumber(h), tonumber(mi), tonumber(s);
	if mo < 1 or mo > 12 or d < 1 or d > 31 or h > 23 or mi > 59 or s > 60 then return nil; end
	return days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
end

local function fmt_time(t)
	if not t then return "never"; end
	return os.date("!%Y-%m-%d %H:%M:%S UTC", t);
end

local function fmt_duration(sec)
	if sec % 86400 == 0 and sec >= 86400 then return s_format("%dd", floor(sec / 86400)); end
	if sec % 3600 == 0 and sec >= 3600 then return s_format("%dh", floor(sec / 3600)); end
	if sec % 60 == 0 and sec >= 60 then return s_format("%dm", floor(sec / 60)); end
	return s_format("%ds", sec);
end

-- A domain name as the table writes it: A-labels, lower case, no trailing
-- dot. Returns nil for anything that is not a host name.
local function canonical_domain(name)
	if type(name) ~= "string" or name == "" then return nil; end
	name = name:gsub("%.$", "");
	local ascii = idna_to_ascii(name);
	if not ascii then return nil; end
	ascii = ascii:lower();
	if #ascii == 0 or #ascii > 253 then return nil; end
	for label in (ascii .. "."):gmatch("([^.]*)%.") do
		if #label == 0 or #label > 63 or not label:match("^[a-z0-9-]+$")
			or label:match("^%-") or label:match("%-$") then
			return nil;
		end
	end
	return ascii;
end

-- in_domain_set SET NAME: NAME or one of its parent domains is in SET
local function in_domain_set(s, name)
	local n = name;
	while n do
		if s[n] then return n; end
		n = n:match("^[^.]*%.(.+)$");
	end
	return nil;
end

-- ------------------------------------------------------------------ signature

local pubkey_file; -- the PEM file openssl reads: the configured path, or a copy of inline PEM
local pubkey_obj;  -- the key as util.crypto holds it (Prosody 13)
local verifier = crypto and "util.crypto" or "openssl";

local function ensure_state_dir()
	if lfs.attributes(state_dir, "mode") == "directory" then return true; end
	local parent = state_dir:match("^(.*)/[^/]+$");
	if parent and parent ~= "" and lfs.attributes(parent, "mode") ~= "directory" then
		lfs.mkdir(parent);
	end
	local ok, err = lfs.mkdir(state_dir);
	if not ok and lfs.attributes(state_dir, "mode") ~= "directory" then
		return nil, err;
	end
	return true;
end

-- run CMD: its output and whether it exited 0. Prosody's own SIGCHLD
-- handling can hide the exit status; then only the output is known.
-- Returns the output, then false when it is known to have failed (an exit
-- status other than 0, a signal), true otherwise.
local function run(cmd)
	local p = io.popen(cmd .. " 2>&1", "r");
	if not p then return nil, false; end
	local out = p:read("*a") or "";
	local ok, how = p:close();
	if ok ~= true and (how == "exit" or how == "signal") then
		return out, false;
	end
	return out, true;
end

local function setup_pubkey()
	if not pubkey_opt or pubkey_opt == "" then
		return nil, "clearinghouse_pubkey is not set: no table can be verified";
	end
	if pubkey_opt:match("%-%-%-%-%-BEGIN") then
		local ok, err = ensure_state_dir();
		if not ok then return nil, "clearinghouse_state_dir " .. state_dir .. ": " .. tostring(err); end
		local pem = pubkey_opt:gsub("^%s+", ""):gsub("%s*$", "\n");
		pem = pem:gsub("\n[ \t]+", "\n");
		local path = state_dir .. "/pubkey.pem";
		local wok, werr = write_file(path, pem);
		if not wok then return nil, path .. ": " .. tostring(werr); end
		pubkey_file = path;
	else
		pubkey_file = module:get_option_path("clearinghouse_pubkey");
	end
	if crypto then
		local pem = read_file(pubkey_file, 65536);
		local key = pem and crypto.import_public_pem(pem);
		if not key or key:get_type() ~= "ED25519" then
			pubkey_file = nil;
			return nil, "clearinghouse_pubkey is not an Ed25519 public key in PEM (SubjectPublicKeyInfo)";
		end
		pubkey_obj = key;
		return true;
	end
	local out, ok = run(s_format("%s pkey -pubin -in %s -noout -text", openssl_cmd, shell_quote(pubkey_file)));
	if not ok or not out or not out:match("^ED25519 Public%-Key") then
		pubkey_file = nil;
		return nil, s_format("clearinghouse_pubkey is not an Ed25519 public key (%s said: %s)",
			openssl_cmd, ((out or ""):gsub("%s+$", "")):sub(1, 200));
	end
	return true;
end

-- The signature file: one line, the standard base64 of the 64 signature bytes.
local function decode_signature(sig)
	local text = sig:match("^([A-Za-z0-9+/]+=*)\r?\n?$");
	if not text or #text ~= 88 then return nil; end
	local raw = base64_decode(text);
	if raw and #raw == 64 then return raw; end
	return nil;
end

-- verify DATA SIG: true when SIG is the clearinghouse key's Ed25519 signature of
-- DATA. The bytes are copied to the state directory first, so that what is
-- verified is exactly what is then parsed.
local function verify_signature(data, sig)
	if not pubkey_file and not pubkey_obj then return nil, "no public key (clearinghouse_pubkey)"; end
	local raw = decode_signature(sig);
	if not raw then
		return nil, s_format("the signature file (%d bytes) is not one line of base64 of a 64-byte Ed25519 signature", #sig);
	end
	if pubkey_obj then
		local ok, good = pcall(crypto.ed25519_verify, pubkey_obj, data, raw);
		if ok and good == true then return true; end
		return nil, "signature does not verify with clearinghouse_pubkey (util.crypto)";
	end
	local ok, err = ensure_state_dir();
	if not ok then return nil, "clearinghouse_state_dir " .. state_dir .. ": " .. tostring(err); end
	local data_file, sig_file = state_dir .. "/verify.data", state_dir .. "/verify.sig";
	local wok, werr = write_file(data_file, data);
	if wok then wok, werr = write_file(sig_file, raw); end
	if not wok then return nil, "cannot write to " .. state_dir .. ": " .. tostring(werr); end
	local out, not_failed = run(s_format("%s pkeyutl -verify -pubin -inkey %s -rawin -in %s -sigfile %s",
		openssl_cmd, shell_quote(pubkey_file), shell_quote(data_file), shell_quote(sig_file)));
	os.remove(data_file);
	os.remove(sig_file);
	out = (out or ""):gsub("%s+$", "");
	-- "Signature Verified Successfully" and exit 0; "Signature Verification Failure" and exit 1
	if not_failed and out:match("^Signature Verified Successfully$") then
		return true;
	end
	return nil, "signature does not verify with clearinghouse_pubkey (" .. openssl_cmd .. ": "
		.. (out:match("[^\n]*") or "") .. ")";
end

-- ------------------------------------------------------------------ the table

-- parse_table TEXT: the table as the module uses it, or nil and why.
local function parse_table(text)
	local doc, err = json.decode(text);
	if type(doc) ~= "table" then return nil, "not JSON: " .. tostring(err); end
	if doc.format ~= "xmpp-clearinghouse-policy-table" then
		return nil, s_format("format %q is not \"xmpp-clearinghouse-policy-table\"", tostring(doc.format));
	end
	if doc.version ~= 1 then
		return nil, s_format("version %s is not 1", tostring(doc.version));
	end
	local serial = doc.serial;
	if not is_integer(serial) then
		return nil, "no integer 'serial'";
	end
	local valid_until = parse_time(doc.valid_until);
	if not valid_until then return nil, "no valid 'valid_until' (UTC time)"; end
	local made = parse_time(doc.made);
	if not made then return nil, "no valid 'made' (UTC time)"; end
	if type(doc.domains) ~= "table" then return nil, "no 'domains' list"; end
	local domains, count = {}, 0;
	for i, d in ipairs(doc.domains) do
		if type(d) ~= "table" then return nil, s_format("domains[%d] is not an object", i); end
		local name = d.name;
		if type(name) ~= "string" or canonical_domain(name) ~= name then
			return nil, s_format("domains[%d]: invalid name %q", i, tostring(name));
		end
		if domains[name] then return nil, s_format("domain %s is listed twice", name); end
		local level = d.level;
		if not is_integer(level) then
			return nil, s_format("domain %s: level is not an integer", name);
		end
		if level < 0 then return nil, s_format("domain %s: negative level", name); end
		local enabled = d.enabled;
		if enabled == nil then enabled = true; end
		if enabled == 1 then enabled = true; elseif enabled == 0 then enabled = false; end
		if type(enabled) ~= "boolean" then return nil, s_format("domain %s: 'enabled' is not a boolean", name); end
		local groups = {};
		if d.groups ~= nil then
			if type(d.groups) ~= "table" then return nil, s_format("domain %s: 'groups' is not a list", name); end
			for _, g in ipairs(d.groups) do
				if type(g) ~= "string" or not g:match("^[a-z0-9:._-]+$") then
					return nil, s_format("domain %s: invalid group name %q", name, tostring(g));
				end
				groups[g] = true;
			end
		end
		domains[name] = { name = name, level = math.floor(level), enabled = enabled, groups = groups };
		count = count + 1;
	end
	return {
		serial = math.floor(serial);
		valid_until = valid_until;
		made = made;
		domains = domains;
		count = count;
		digest = sha256(text, true):sub(1, 16);
	};
end

-- what is in use
local current = nil;        -- the last good table
local current_source = nil; -- where it came from
local table_state = "none"; -- none | valid | grace | expired
local last_error = nil;     -- the last refusal, for status
local last_check = nil;
local watched = nil;        -- stat of the table and signature files last tried

local function state_of(t, now)
	if not t then return "none"; end
	if now <= t.valid_until then return "valid"; end
	if now <= t.valid_until + grace then return "grace"; end
	return "expired";
end

-- ------------------------------------------------------------------ local policy

local policies = {}; -- host -> the host's policy (see read_policy)

local rule_keys = { min_level = true, max_level = true, groups = true, require_groups = true };

local function string_list(v, what)
	if type(v) == "string" then v = { v }; end
	if type(v) ~= "table" then return nil, what .. " must be a list of names"; end
	local out = {};
	for _, item in ipairs(v) do
		if type(item) ~= "string" or item == "" then return nil, what .. " must be a list of names"; end
		t_insert(out, item);
	end
	for k in pairs(v) do
		if type(k) ~= "number" then return nil, what .. " must be a list of names, not a table with keys"; end
	end
	return out;
end

local function describe_rule(r)
	local parts = {};
	if r.min_level then t_insert(parts, "min_level " .. r.min_level); end
	if r.max_level then t_insert(parts, "max_level " .. r.max_level); end
	if r.groups then t_insert(parts, "groups any of " .. t_concat(r.groups, ", ")); end
	if r.require_groups then t_insert(parts, "require_groups " .. t_concat(r.require_groups, ", ")); end
	if #parts == 0 then return "any community domain"; end
	return t_concat(parts, ", ");
end

local function compile_rule(r, where)
	if type(r) ~= "table" then return nil, where .. " is not a table"; end
	for k in pairs(r) do
		if not rule_keys[k] then
			return nil, s_format("%s: unknown key %q (known: min_level, max_level, groups, require_groups)", where, tostring(k));
		end
	end
	local out = {};
	for _, k in ipairs({ "min_level", "max_level" }) do
		local v = r[k];
		if v ~= nil then
			if type(v) ~= "number" or v ~= math.floor(v) or v < 0 then
				return nil, s_format("%s: %s must be an integer >= 0", where, k);
			end
			out[k] = math.floor(v);
		end
	end
	if out.min_level and out.max_level and out.min_level > out.max_level then
		return nil, s_format("%s: min_level %d is above max_level %d", where, out.min_level, out.max_level);
	end
	for _, k in ipairs({ "groups", "require_groups" }) do
		if r[k] ~= nil then
			local list, err = string_list(r[k], where .. ": " .. k);
			if not list then return nil, err; end
			if #list == 0 then return nil, s_format("%s: %s is empty", where, k); end
			out[k] = list;
		end
	end
	out.text = describe_rule(out);
	return out;
end

-- read_policy HOSTMODULE: the host's local policy from its configuration.
-- A mistake in it denies every remote domain (and says so): a typo must not
-- open federation.
local function read_policy(hm)
	local p = { host = hm.host, errors = {} };
	local function bad(msg) t_insert(p.errors, msg); end

	local allow = hm:get_option("clearinghouse_allow");
	local rules = {};
	if allow == nil then
		rules[1] = compile_rule({}, "clearinghouse_allow");
		p.default_rule = true;
	elseif type(allow) ~= "table" then
		bad("clearinghouse_allow must be a table");
	elseif type(allow[1]) == "table" then
		for k in pairs(allow) do
			if type(k) ~= "number" then
				bad("clearinghouse_allow: a list of rules cannot also have keys (" .. tostring(k) .. ")");
				break;
			end
		end
		for i, r in ipairs(allow) do
			local cr, err = compile_rule(r, s_format("clearinghouse_allow[%d]", i));
			if cr then t_insert(rules, cr); else bad(err); end
		end
	else
		local cr, err = compile_rule(allow, "clearinghouse_allow");
		if cr then t_insert(rules, cr); else bad(err); end
	end
	p.rules = rules;
	local texts = {};
	for _, r in ipairs(rules) do t_insert(texts, r.text); end
	p.rule_text = #texts > 0 and t_concat(texts, "; or ") or "nothing";

	p.allow_domains, p.deny_domains = {}, {};
	for _, which in ipairs({ "allow_domains", "deny_domains" }) do
		local opt = "clearinghouse_" .. which;
		local v = hm:get_option(opt);
		if v ~= nil then
			local list, err = string_list(v, opt);
			if not list then
				bad(err);
			else
				for _, name in ipairs(list) do
					local c = canonical_domain(name);
					if c then p[which][c] = true; else bad(s_format("%s: %q is not a domain name", opt, name)); end
				end
			end
		end
	end

	p.unknown = hm:get_option_string("clearinghouse_unknown_peer", "deny");
	if p.unknown ~= "deny" and p.unknown ~= "allow" then
		bad(s_format("clearinghouse_unknown_peer = %q: must be \"deny\" or \"allow\"", p.unknown));
		p.unknown = "deny";
	end
	local mode = hm:get_option_string("clearinghouse_mode", "enforce");
	if mode ~= "enforce" and mode ~= "dry-run" then
		bad(s_format("clearinghouse_mode = %q: must be \"enforce\" or \"dry-run\"", mode));
		mode = "enforce";
	end
	p.mode = mode;
	p.dry_run = (mode == "dry-run");
	p.counts = { allow = 0, deny_out = 0, deny_in = 0, would_deny = 0 };
	return p;
end

-- ------------------------------------------------------------------ the decision

local function describe_peer(e)
	local groups = {};
	for g in pairs(e.groups) do t_insert(groups, g); end
	t_sort(groups);
	return s_format("level %d, groups %s", e.level, #groups > 0 and t_concat(groups, ", ") or "none");
end

local function rule_matches(r, e)
	if r.min_level and e.level < r.min_level then return false; end
	if r.max_level and e.level > r.max_level then return false; end
	if r.groups then
		local any = false;
		for _, g in ipairs(r.groups) do
			if e.groups[g] then any = true; break; end
		end
		if not any then return false; end
	end
	if r.require_groups then
		for _, g in ipairs(r.require_groups) do
			if not e.groups[g] then return false; end
		end
	end
	return true;
end

local function table_ref()
	if not current then return "no clearinghouse table"; end
	return s_format("clearinghouse table serial %d", current.serial);
end

-- decide POLICY PEER: allowed (boolean), reason (a short word) and a sentence
-- naming the peer, what the table says of it, and the local rule.
local function decide(p, peer_raw)
	local host = p.host;
	local peer = canonical_domain(peer_raw) or (peer_raw or ""):lower();
	-- its own domain, the names below it and every host of this server
	if hosts[peer_raw] or hosts[peer] or peer == host or peer:sub(-(#host + 1)) == "." .. host then
		return true, "local", peer .. " is served here";
	end
	if #p.errors > 0 then
		return false, "config-error", s_format("%s's clearinghouse settings are invalid (%s); every remote domain is denied",
			host, p.errors[1]);
	end
	local listed = in_domain_set(p.deny_domains, peer);
	if listed then
		return false, "deny-list", s_format("%s is on %s's deny list (clearinghouse_deny_domains: %s)", peer, host, listed);
	end
	local now = os_time();
	local state = state_of(current, now);
	if state == "none" or state == "expired" then
		local why;
		if state == "none" then
			why = "no verified clearinghouse table";
		else
			why = s_format("the clearinghouse table (serial %d) expired at %s and its grace period (%s) ended at %s",
				current.serial, fmt_time(current.valid_until), fmt_duration(grace), fmt_time(current.valid_until + grace));
		end
		if fail_mode == "open" then
			return true, "fail-open", s_format("%s; clearinghouse_fail = \"open\": %s allowed", why, peer);
		end
		return false, "fail-closed", s_format("%s has %s; clearinghouse_fail = \"closed\": every remote domain is denied (%s)",
			host, why, peer);
	end
	local domains = current.domains;
	local in_table = in_domain_set(domains, peer);
	local e = in_table and domains[in_table];
	if e and not e.enabled then
		return false, "disabled", s_format("%s is disabled in the %s", in_table == peer and peer or (peer .. " (" .. in_table .. ")"), table_ref());
	end
	listed = in_domain_set(p.allow_domains, peer);
	if listed then
		return true, "allow-list", s_format("%s is on %s's allow list (clearinghouse_allow_domains: %s)", peer, host, listed);
	end
	if not e then
		if p.unknown == "allow" then
			return true, "unknown-peer", s_format("%s is not in the %s; clearinghouse_unknown_peer = \"allow\"", peer, table_ref());
		end
		return false, "unknown-peer", s_format("%s is not in the %s; %s federates only with the community (clearinghouse_unknown_peer = \"deny\")",
			peer, table_ref(), host);
	end
	local who = in_table == peer and peer or (peer .. " (as " .. in_table .. ")");
	for _, r in ipairs(p.rules) do
		if rule_matches(r, e) then
			return true, "rule", s_format("%s (%s) matches %s's rule: %s", who, describe_peer(e), host, r.text);
		end
	end
	return false, "rule", s_format("%s (%s) is outside %s's rule: %s (%s)", who, describe_peer(e), host, p.rule_text, table_ref());
end

-- ------------------------------------------------------------------ open streams

-- After a change of table or state: close the streams the policy now denies.
local function recheck_sessions(why)
	local to_close = {};
	for session in pairs(prosody.incoming_s2s or {}) do
		local p = session.to_host and policies[session.to_host];
		if p and not session.destroyed then
			local peers = {};
			if session.from_host then peers[session.from_host] = true; end
			for h in pairs(session.hosts or {}) do peers[h] = true; end
			for peer in pairs(peers) do
				local ok, _, text = decide(p, peer);
				if not ok then t_insert(to_close, { session, p, text, peer }); break; end
			end
		end
	end
	for host, p in pairs(policies) do
		local h = hosts[host];
		for peer, session in pairs(h and h.s2sout or {}) do
			local ok, _, text = decide(p, peer);
			if not ok then t_insert(to_close, { session, p, text, peer }); end
		end
	end
	for _, item in ipairs(to_close) do
		local session, p, text, peer = item[1], item[2], item[3], item[4];
		if p.dry_run then
			module:log("info", "dry-run: would close the stream %s %s (%s): %s", p.host,
				session.direction == "outgoing" and "->" or "<-", peer, text);
			p.counts.would_deny = p.counts.would_deny + 1;
		else
			module:log("info", "closing the stream %s %s %s after %s: %s", p.host,
				session.direction == "outgoing" and "->" or "<-", peer, why, text);
			session:close({ condition = "policy-violation", text = text });
		end
	end
end

-- ------------------------------------------------------------------ loading

local function file_stamp(path)
	local a = lfs.attributes(path);
	if not a then return "missing", 0; end
	return s_format("%s:%s:%s:%s", tostring(a.modification), tostring(a.change), tostring(a.size), tostring(a.ino)),
		math.max(a.modification or 0, a.change or 0);
end

-- A table and its signature are two files, replaced one after the other: a
-- check between the two sees a mismatch. A pair that fails within this many
-- seconds of a change is tried again at the next check before it is refused.
local settle_time = 2;

-- load_candidate TABLEPATH SIGPATH: the verified, parsed table or nil, why.
local function load_candidate(tpath, spath)
	local text, err = read_file(tpath, max_table_size);
	if not text then return nil, "cannot read the table: " .. tostring(err); end
	local sig;
	sig, err = read_file(spath, 4096);
	if not sig then return nil, "cannot read the signature: " .. tostring(err); end
	local ok;
	ok, err = verify_signature(text, sig);
	if not ok then return nil, err; end
	local t;
	t, err = parse_table(text);
	if not t then return nil, "signature good, but the table is not usable: " .. err; end
	t.text, t.sig = text, sig;
	return t;
end

local function save_last_good(t)
	local ok, err = ensure_state_dir();
	if ok then ok, err = write_file(state_dir .. "/last-good.json", t.text); end
	if ok then ok, err = write_file(state_dir .. "/last-good.json.sig", t.sig); end
	if not ok then
		module:log("warn", "could not keep a copy of the table in %s (%s): a restart with a bad table file would find no last good table",
			state_dir, tostring(err));
	end
end

local function log_state(now)
	local s = state_of(current, now);
	if s == "valid" then
		module:log("info", "clearinghouse table serial %d (%d domains) valid until %s", current.serial, current.count,
			fmt_time(current.valid_until));
	elseif s == "grace" then
		module:log("warn", "clearinghouse table serial %d EXPIRED at %s; still in use for the grace period (%s), until %s: publish a new table",
			current.serial, fmt_time(current.valid_until), fmt_duration(grace), fmt_time(current.valid_until + grace));
	elseif s == "expired" then
		module:log("error", "clearinghouse table serial %d expired at %s and the grace period ended at %s: clearinghouse_fail = %q applies (%s)",
			current.serial, fmt_time(current.valid_until), fmt_time(current.valid_until + grace), fail_mode,
			fail_mode == "closed" and "every remote domain is denied" or "every remote domain is allowed, but the deny lists");
	else
		module:log("error", "no verified clearinghouse table: clearinghouse_fail = %q applies (%s)", fail_mode,
			fail_mode == "closed" and "every remote domain is denied" or "every remote domain is allowed, but the deny lists");
	end
end

-- consider T (verified) from SOURCE: take it unless it is older than the
-- table in use, or expired while a table is in use.
local clock_skew = 300; -- a table made up to 5 minutes "in the future" is taken

local function consider(t, source, now)
	if t.made > now + clock_skew then
		return nil, s_format("serial %d is made in the future (%s; this clock says %s): refused", t.serial,
			fmt_time(t.made), fmt_time(now));
	end
	if current then
		if t.serial < current.serial then
			return nil, s_format("serial %d is older than the table in use (serial %d): refused (a replayed table?)",
				t.serial, current.serial);
		end
		if t.serial == current.serial and t.digest == current.digest then
			return "same";
		end
		-- the same serial again: a re-export of an unchanged policy, which
		-- extends the validity; never one that shortens it (a replay)
		if t.serial == current.serial and (t.valid_until < current.valid_until or t.made < current.made) then
			return nil, s_format("serial %d again, but made %s and valid until %s, not after the table in use (made %s, valid until %s): refused",
				t.serial, fmt_time(t.made), fmt_time(t.valid_until), fmt_time(current.made), fmt_time(current.valid_until));
		end
		if now > t.valid_until then
			return nil, s_format("serial %d expired at %s: refused; serial %d stays in use", t.serial,
				fmt_time(t.valid_until), current.serial);
		end
	end
	local before = current;
	current, current_source = t, source;
	if before then
		module:log("info", "clearinghouse table serial %d -> %d (%d domains) from %s", before.serial, t.serial, t.count, source);
	else
		module:log("info", "clearinghouse table serial %d (%d domains) from %s", t.serial, t.count, source);
	end
	return "taken";
end

local function check(initial)
	local now = os_time();
	last_check = now;
	local tstamp, tchanged = file_stamp(table_path);
	local sstamp, schanged = file_stamp(sig_path);
	local stamp = tstamp .. "|" .. sstamp;
	local changed = false;
	if stamp ~= watched then
		watched = stamp;
		local t, err = load_candidate(table_path, sig_path);
		if not t and not initial and now - math.max(tchanged, schanged) < settle_time then
			-- perhaps half replaced: try again at the next check
			module:log("debug", "%s does not verify yet (%s); trying again", table_path, err);
			watched = nil;
			err = nil;
		end
		if t then
			local result;
			result, err = consider(t, table_path, now);
			if result == "taken" then
				save_last_good(t);
				t.text, t.sig = nil, nil; -- only needed for the copy
				last_error = nil;
				changed = true;
			elseif result == "same" then
				last_error = nil;
			end
		end
		if err then
			last_error = s_format("%s: %s", fmt_time(now), err);
			module:log("error", "refused %s: %s; %s", table_path, err, current
				and s_format("table serial %d stays in use (%s)", current.serial, state_of(current, now))
				or "no table in use");
		end
	end
	local new_state = state_of(current, now);
	if changed or new_state ~= table_state or initial then
		local old = table_state;
		table_state = new_state;
		log_state(now);
		if not initial and (changed or old ~= new_state) then
			recheck_sessions(changed and "a new table" or ("the table state " .. old .. " -> " .. new_state));
		end
	end
end

local function startup()
	local ok, err = setup_pubkey();
	if not ok then module:log("error", "%s", err); end
	-- the last good table of a previous run, so that a bad table file found
	-- at start-up does not leave the server without one
	local lg = state_dir .. "/last-good.json";
	if pubkey_file and lfs.attributes(lg, "mode") == "file" then
		local t, lerr = load_candidate(lg, lg .. ".sig");
		if t then
			t.text, t.sig = nil, nil;
			current, current_source = t, lg;
			module:log("info", "last good clearinghouse table from %s: serial %d", lg, t.serial);
		else
			module:log("warn", "ignoring %s: %s", lg, lerr);
		end
	end
	check(true);
end

startup();
module:add_timer(watch_interval, function ()
	local ok, err = pcall(check, false);
	if not ok then module:log("error", "checking the clearinghouse table: %s", tostring(err)); end
	return watch_interval;
end);

-- ------------------------------------------------------------------ per host

local bounce_types = { message = true, iq = true };

-- refuse_stream P SESSION PEER STAGE: close SESSION with policy-violation
-- when P denies PEER (in dry-run mode only say so). True when it was closed.
local function refuse_stream(p, session, peer, stage)
	local ok, _, text = decide(p, peer);
	if ok then return nil; end
	local what = session.direction == "outgoing" and ("outbound stream to " .. peer)
		or ("inbound stream from " .. peer);
	if p.dry_run then
		p.counts.would_deny = p.counts.would_deny + 1;
		module:log("info", "%s: dry-run: would close the %s (%s): %s", p.host, what, stage, text);
		return nil;
	end
	if session.direction == "outgoing" then
		p.counts.deny_out = p.counts.deny_out + 1;
	else
		p.counts.deny_in = p.counts.deny_in + 1;
	end
	module:log("info", "%s: closing the %s (%s): %s", p.host, what, stage, text);
	session:close({ condition = "policy-violation", text = text });
	return true;
end

function module.add_host(hm)
	local host = hm.host;
	local p = read_policy(hm);
	policies[host] = p;
	if #p.errors > 0 then
		for _, e in ipairs(p.errors) do hm:log("error", "clearinghouse settings: %s", e); end
		hm:log("error", "clearinghouse settings are invalid: every remote domain is denied until they are fixed");
	end
	hm:log("info", "clearinghouse policy (%s): allow %s%s; unknown peers: %s", p.mode, p.rule_text,
		p.default_rule and " (clearinghouse_allow not set)" or "", p.unknown);

	hm:hook_global("config-reloaded", function ()
		local np = read_policy(hm);
		np.counts = p.counts;
		policies[host] = np;
		p = np;
		hm:log("info", "clearinghouse policy reloaded (%s): allow %s", p.mode, p.rule_text);
		recheck_sessions("a configuration reload");
	end);

	-- outbound: ahead of mod_s2s (route/remote at -1 and -10), before any
	-- lookup or connection
	hm:hook("route/remote", function (event)
		local to_host, stanza = event.to_host, event.stanza;
		local ok, reason, text = decide(p, to_host);
		if ok then
			if reason ~= "local" then p.counts.allow = p.counts.allow + 1; end
			return nil;
		end
		if p.dry_run then
			p.counts.would_deny = p.counts.would_deny + 1;
			hm:log("info", "dry-run: would stop %s to %s: %s", stanza.name, to_host, text);
			return nil;
		end
		p.counts.deny_out = p.counts.deny_out + 1;
		local t = stanza.attr.type;
		if bounce_types[stanza.name] and t ~= "error" and t ~= "result" and not stanza.attr.xmlns
			or (stanza.name == "presence" and t == "subscribe") then
			hm:log("info", "bounced %s to %s (policy-violation): %s", stanza.name, to_host, text);
			local reply = st.error_reply(stanza, "cancel", "policy-violation", text, host);
			hm:send(reply);
		else
			hm:log("debug", "dropped %s%s to %s: %s", stanza.name, t and ("/" .. t) or "", to_host, text);
		end
		return true;
	end, 100);

	-- inbound: the stream header's 'from' is known when features are offered
	hm:hook("s2s-stream-features", function (event)
		local session = event.origin;
		if session.from_host and session.direction == "incoming" then
			return refuse_stream(p, session, session.from_host, "stream header");
		end
	end, 100);

	-- inbound dialback request (also a domain piggybacked on another stream)
	hm:hook("stanza/jabber:server:dialback:result", function (event)
		local origin, from = event.origin, event.stanza.attr.from;
		if from and (origin.type == "s2sin_unauthed" or origin.type == "s2sin") then
			return refuse_stream(p, origin, from, "dialback");
		end
	end, 100);

	-- any authentication (dialback, SASL EXTERNAL), both directions: a
	-- refused one does not reach mod_s2s, the stream stays unauthenticated
	hm:hook("s2s-authenticated", function (event)
		if event.host and refuse_stream(p, event.session, event.host, "authentication") then
			return false;
		end
	end, 100);

	function hm.unload()
		if policies[host] == p then policies[host] = nil; end
	end
end

-- ------------------------------------------------------------------ admin shell

-- prosodyctl shell "clearinghouse:status()" and "clearinghouse:check('peer.example')"
local shell_env = module:shared("/*/admin_shell/env");
shell_env.clearinghouse = {};

function shell_env.clearinghouse:status()
	local print = self.session.print;
	local now = os_time();
	print(s_format("table file:   %s (signature %s)", table_path, sig_path));
	if current then
		print(s_format("in use:       serial %d, %d domains, from %s", current.serial, current.count, current_source));
		print(s_format("valid until:  %s; grace until %s", fmt_time(current.valid_until), fmt_time(current.valid_until + grace)));
	else
		print("in use:       none");
	end
	print(s_format("state:        %s%s", state_of(current, now),
		(state_of(current, now) == "none" or state_of(current, now) == "expired")
		and s_format(" (clearinghouse_fail = %q)", fail_mode) or ""));
	print(s_format("last refusal: %s", last_error or "none"));
	print(s_format("last check:   %s (every %d s)", fmt_time(last_check), watch_interval));
	local hs = {};
	for host in pairs(policies) do t_insert(hs, host); end
	t_sort(hs);
	for _, host in ipairs(hs) do
		local p = policies[host];
		print(s_format("%s: %s, allow %s; unknown peers %s; allowed %d, denied out %d, denied in %d, dry-run would deny %d",
			host, p.mode, p.rule_text, p.unknown, p.counts.allow, p.counts.deny_out, p.counts.deny_in, p.counts.would_deny));
	end
	return true, s_format("clearinghouse: %s", state_of(current, now));
end

-- check("a.example b.example", [host]): the decision for each peer (names
-- separated by spaces or commas), on every host or on one
function shell_env.clearinghouse:check(peers, host)
	local print = self.session.print;
	local n = 0;
	for peer in tostring(peers):gmatch("[^%s,]+") do
		for h, p in pairs(policies) do
			if not host or host == h then
				local ok, reason, text = decide(p, peer);
				print(s_format("%s -> %s: %s (%s%s): %s", h, peer, ok and "allow" or "deny", reason,
					p.dry_run and ", dry-run" or "", text));
				n = n + 1;
			end
		end
	end
	return true, s_format("%d decision(s)", n);
end
