-- tests/plugins/faulty/handler.lua: a payment provider that misbehaves on request (mode = payment.data.mode).
local souq, string, pcall, coroutine, setmetatable, rawset, load, collectgarbage, tostring, error =
      souq, string, pcall, coroutine, setmetatable, rawset, load, collectgarbage, tostring, error
local plugin = {}
local calls = 0 -- lives in the state: resets when the host rebuilds it

local modes = {}

function modes.ok(req) return { status = "authorized", provider_ref = "fx_" .. req.payment_id } end
function modes.counter(req) calls = calls + 1; return { status = "authorized", provider_ref = "n" .. calls } end
function modes.requires_action(req)
  return { status = "requires_action", provider_ref = "fx_" .. req.payment_id,
           next_action = { type = "redirect_to_url", url = "https://bank.example/3ds/" .. req.payment_id } }
end
function modes.declined(req) return { status = "declined", decline_code = "card_declined" } end
function modes.echo(req) return { status = "authorized", provider_ref = req.idempotency_key } end
-- souq.http (tests/unit/plugin_host.c answers through a fake client)
function modes.http(req)
  local r = souq.http.request { method = "POST", url = "https://gw.example/pay", body = "amount=" .. req.amount,
                                headers = { ["X-Key"] = "k1", ["Idempotency-Key"] = req.idempotency_key }, timeout_ms = 2500 }
  local x = 0
  for i = 1, 1000 do x = x + i end -- some work after the wait
  return { status = "authorized", provider_ref = r.status .. ":" .. tostring(r.headers["x-answer"]) .. ":" .. r.body }
end
function modes.http_error()
  local ok, e = pcall(souq.http.request, { url = "https://gw.example/" })
  return { status = "declined", decline_code = ok and "no error" or e.code }
end
function modes.http_bad_header() return souq.http.request { url = "https://gw.example/", headers = { Host = "evil" } } end
function modes.http_in_coroutine()
  return coroutine.wrap(function() return souq.http.request { url = "https://gw.example/" } end)()
end
-- budgets
function modes.loop() while true do end end
function modes.pcall_loop() while true do pcall(function() while true do end end) end end
function modes.coroutine_loop()
  local f = coroutine.wrap(function() while true do coroutine.yield() end end)
  while true do f() end
end
function modes.recursion() local function f() return f() + 1 end return f() end
-- memory
function modes.oom() local t = {} while true do t[#t + 1] = string.rep("x", 1e5) .. #t end end
function modes.rep_bomb() return string.rep("x", 2^31) end
function modes.oom_pcall() local t = {} while true do pcall(function() t[#t + 1] = string.rep("y", 1e5) .. #t end) end end
-- errors
function modes.error() error("boom: secret plugin text") end
function modes.error_table() error({}) end
function modes.error_nil() error(nil) end
function modes.yield() coroutine.yield() end
-- sandbox
function modes.io() return io.open("/etc/passwd") end
function modes.os_execute() return os.execute("id") end
function modes.os_getenv() return os.getenv("SOUQ_DATABASE_URL") end
function modes.require() return require("socket") end
function modes.package() return package.loadlib("x", "y") end
function modes.dofile() return dofile("/etc/passwd") end
function modes.load_bytecode() return load("\27LuaT\0\25\147\r\n\26\n\4\8\8xV\0\0\0\0\0\0\0\0\0\0\0(w@")() end
function modes.string_dump() return string.dump(function() end) end
function modes.method_dump() return ("x"):dump() end
function modes.debug() return debug.getinfo(1) end
function modes.setmetatable_shared() setmetatable(string, {}) end
function modes.rawset_shared() rawset(string, "upper", nil) end
function modes.global_write() x = 1 end
function modes.library_write() string.upper = nil end
function modes.souq_write() souq.config.label = "changed" end
function modes.collectgarbage() collectgarbage("stop") end
function modes.gc_metamethod() setmetatable({}, { __gc = function() while true do end end }) end
function modes.pattern() return string.find(string.rep("a", 1e5), string.rep("a*", 30) .. "b") end
-- outputs
function modes.bad_return() return 42 end
function modes.bad_status() return { status = "maybe" } end
function modes.no_next_action() return { status = "requires_action" } end
function modes.huge_output() return { status = "authorized", provider_ref = string.rep("z", 300 * 1024) } end
function modes.nan() return { status = "authorized", amount = 0/0 } end
function modes.cyclic() local t = {} t.t = t return t end
function modes.function_value() return { status = "authorized", f = function() end } end
function modes.holes() return { [1] = "a", [3] = "c", k = "v" } end -- neither an array nor an object
-- the environment stays pristine: string.upper works and globals are unchanged after the attempts above
function modes.pristine()
  local ok = string.upper("a") == "A" and x == nil and souq.config.label == "faulty" and getmetatable("") == "read-only"
  return { status = ok and "authorized" or "declined", provider_ref = "pristine" }
end
-- the SDK: answers with the values so the test can check them
function modes.sdk(req)
  local j = souq.json.decode('{"a":[1,2,{"b":"c"}],"n":null}')
  local parts = souq.money.split(100, 3)
  local ref = table.concat({
    souq.sdk_version,
    souq.plugin.name,
    souq.json.encode({ 1, 2, 3 }),
    tostring(j.a[3].b),
    tostring(j.n),
    souq.crypto.sha256("abc"),
    souq.crypto.hmac_sha256("key", "The quick brown fox jumps over the lazy dog"),
    tostring(souq.crypto.equals("a", "a")) .. tostring(souq.crypto.equals("a", "b")),
    tostring(#souq.crypto.random_bytes(16)),
    souq.crypto.base64_encode("hello?"),
    souq.crypto.base64_decode("aGVsbG8/"),
    souq.crypto.base64url_encode("hello?"),
    souq.crypto.hex_encode("\1\255"),
    souq.crypto.hex_decode("41ff") == "A\255" and "hexok" or "hexbad",
    tostring(souq.money.add(1, 2)) .. "," .. tostring(souq.money.percent(1000, 1950)) .. "," .. tostring(souq.money.percent(-5, 5000)),
    parts[1] .. "+" .. parts[2] .. "+" .. parts[3],
    tostring(pcall(souq.money.add, math.maxinteger, 1)),
    tostring(souq.time.now() > 1700000000),
    souq.time.iso8601(0),
    souq.config.label,
    souq.config.secret_key,
    tostring(pcall(souq.http.request, { url = "https://example.com" })),
    tostring(req.data.mode),
    tostring(req.amount),
  }, "|")
  souq.log.info("sdk mode ran")
  return { status = "authorized", provider_ref = souq.crypto.sha256(ref):sub(1, 8), sdk = ref }
end

function plugin.payment_authorize(conf, req)
  local mode = req.data and req.data.mode or "ok"
  local f = modes[mode]
  if not f then return { status = "declined", decline_code = "unknown_mode" } end
  return f(req)
end
function plugin.payment_capture(conf, req) return { status = "captured", provider_ref = req.provider_ref } end
function plugin.payment_cancel(conf, req) return { status = "voided", provider_ref = req.provider_ref } end
function plugin.payment_refund(conf, req) return { status = "refunded", provider_ref = req.provider_ref } end

return plugin
