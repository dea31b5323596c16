-- tests/plugins-ratecache/ship-uncached/handler.lua: shipping:uncached asks a rate service at conf.base_url for every rate;
-- the rate is the service's answer + conf.markup; a service error is a Lua error (never a rate), and
-- {available = false} takes the option off the cart
local souq, error = souq, error
local plugin = {}
function plugin.shipping_rates(conf, req)
  local res = souq.http.request({ method = "POST", url = conf.base_url .. "/rate", timeout_ms = 5000,
    headers = { ["Content-Type"] = "application/json" }, body = souq.json.encode(req) })
  if res.status ~= 200 then error("rate service answered " .. res.status) end
  local out = souq.json.decode(res.body)
  if out.available == false then return { available = false } end
  return { amount = out.amount + conf.markup }
end
return plugin
