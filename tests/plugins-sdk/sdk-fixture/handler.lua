-- tests/plugins-sdk/sdk-fixture/handler.lua: drives souq.kv and souq.events.emit for tests/api/plugin_sdk.test.mjs.
local souq, pcall, string, tostring, table, type = souq, pcall, string, tostring, table, type
local plugin = {}

local function result(ok, v)
  if ok then return { ok = true, value = v } end
  return { ok = false, error = tostring(v) }
end

function plugin.action_kv(conf, input)
  local op = input.op
  if op == "get" then return result(pcall(souq.kv.get, input.key)) end
  if op == "delete" then return result(pcall(souq.kv.delete, input.key)) end
  if op == "incr" then return result(pcall(souq.kv.incr, input.key, input.by, input.ttl)) end
  local value = input.value or ""
  if input["repeat"] then value = string.rep(value, input["repeat"]) end
  return result(pcall(souq.kv.set, input.key, value, input.ttl))
end

function plugin.action_kv_bytes(conf, input)
  local b = {}
  for i = 0, 255 do b[#b + 1] = string.char(i) end
  local all = table.concat(b)
  souq.kv.set("bytes", all)
  local back = souq.kv.get("bytes")
  return { same = back == all, length = #back }
end

function plugin.action_kv_args(conf, input)
  local out = {}
  local function try(name, f, ...)
    local ok, err = pcall(f, ...)
    out[name] = ok and "no error" or tostring(err)
  end
  try("key_number", souq.kv.get, 42)
  try("key_empty", souq.kv.get, "")
  try("key_long", souq.kv.get, string.rep("k", 257))
  try("key_control", souq.kv.get, "a\nb")
  try("value_table", souq.kv.set, "k", {})
  try("value_large", souq.kv.set, "k", string.rep("v", 65537))
  try("ttl_zero", souq.kv.set, "k", "v", 0)
  try("ttl_float", souq.kv.set, "k", "v", 1.5)
  try("by_float", souq.kv.incr, "k", 0.5)
  try("in_coroutine", function()
    local co = coroutine.create(function() return souq.kv.get("k") end)
    local ok, err = coroutine.resume(co)
    if not ok then error(err, 0) end
  end)
  try("emit_type", souq.events.emit, "Bad Type", {})
  try("emit_dots", souq.events.emit, "a..b", {})
  try("emit_payload", souq.events.emit, "ok", "text")
  try("emit_array", souq.events.emit, "ok", { 1, 2 })
  return out
end

function plugin.action_kv_many(conf, input)
  local n, first = 0, nil
  for i = 1, input.n do
    local ok, err = pcall(souq.kv.get, "many")
    if ok then n = n + 1 elseif not first then first = tostring(err) end
  end
  return { ok = n, error = first }
end

function plugin.action_emit(conf, input)
  local payload = input.payload or {}
  if input.pad then payload.pad = string.rep("x", input.pad) end
  local ok, id = pcall(souq.events.emit, input.type, payload)
  return result(ok, id)
end

function plugin.action_secret_digest(conf, input)
  return { digest = souq.crypto.sha256(conf.token or ""), same = conf.token == souq.config.token }
end

function plugin.action_fail(conf, input)
  error("the fixture fails on purpose")
end

-- a request-path hook that counts its calls in the store
-- (a body {"id": ..., "move": {...}} asks core for that payment move instead)
function plugin.handle_webhook(conf, req)
  local body = souq.json.decode(req.body)
  if type(body) == "table" and body.move ~= nil then
    return { status = "accepted", event_id = body.id, payment = body.move }
  end
  local n = souq.kv.incr("webhooks")
  return { status = "accepted", event_id = "evt_" .. n, data = { count = n } }
end

return plugin
