-- wrk script of bench/serve_bench.sh: POSTs a different request body on
-- every request, for load tests of single-use enrollment tokens.
--
-- Environment:
--   SB_BODIES  file of request lines, one per request:
--              "BASIC<TAB>BODY" (EST: BASIC is base64(id:token), sent as
--              "Authorization: Basic BASIC"; BODY the base64 DER CSR), or
--              a JSON body alone (cfssl: no tab)
--   SB_FROM    first line to use (1-based); lines before it were used by
--              earlier rounds
--   SB_THREADS wrk's -t: thread k takes lines FROM+k-1, FROM+k-1+T, ...
--   SB_CTYPE   Content-Type of the body
--   SB_PATH    request path
--   SB_WRAP    1: start again at the thread's first line when out of lines
--              (for peers without single-use credentials)
-- done() prints one line for serve_bench.sh:
--   lua: sent=N used=U exhausted=E status200=A non200=B codes=401:3,...
-- used: lines consumed (the next round starts at FROM+used); exhausted:
-- requests sent after a thread ran out of lines (they repeat its last line,
-- so they would fail on a spent token).

local from = tonumber(os.getenv("SB_FROM") or "1")
local nthreads = tonumber(os.getenv("SB_THREADS") or "2")
local ctype = os.getenv("SB_CTYPE") or "application/pkcs10"
local path = os.getenv("SB_PATH") or "/"
local file = os.getenv("SB_BODIES")
local wrap = os.getenv("SB_WRAP") == "1"

local threads = {}
local nsetup = 0

function setup(thread)
	nsetup = nsetup + 1
	thread:set("tid", nsetup)
	table.insert(threads, thread)
end

-- per thread
local auths, bodies = {}, {}
n, i = 0, 0
sent, exhausted, ok, bad = 0, 0, 0, 0
codes = {}

function init(args)
	local k = 0
	local mine = (tid - 1) % nthreads
	for line in io.lines(file) do
		k = k + 1
		if k >= from and (k - from) % nthreads == mine then
			n = n + 1
			local tab = line:find("\t", 1, true)
			if tab then
				auths[n] = "Basic " .. line:sub(1, tab - 1)
				bodies[n] = line:sub(tab + 1)
			else
				bodies[n] = line
			end
		end
	end
end

function request()
	sent = sent + 1
	if i < n then
		i = i + 1
	elseif wrap then
		i = 1
	else
		exhausted = exhausted + 1
	end
	local h = { ["Content-Type"] = ctype }
	if auths[i] then
		h["Authorization"] = auths[i]
	end
	return wrk.format("POST", path, h, bodies[i])
end

function response(status, headers, body)
	if status == 200 then
		ok = ok + 1
	else
		bad = bad + 1
		codes[status] = (codes[status] or 0) + 1
	end
end

function done(summary, latency, requests)
	local s, e, a, b, used = 0, 0, 0, 0, 0
	local all = {}
	for _, t in ipairs(threads) do
		s = s + t:get("sent")
		e = e + t:get("exhausted")
		a = a + t:get("ok")
		b = b + t:get("bad")
		local u = t:get("i")
		if u > used then
			used = u
		end
		for code, c in pairs(t:get("codes")) do
			all[code] = (all[code] or 0) + c
		end
	end
	local list = {}
	for code, c in pairs(all) do
		table.insert(list, code .. ":" .. c)
	end
	-- each thread took every T-th line: the round consumed T * max(used)
	io.write(string.format("lua: sent=%d used=%d exhausted=%d status200=%d non200=%d codes=%s\n",
		s, used * nthreads, e, a, b, #list > 0 and table.concat(list, ",") or "-"))
end
