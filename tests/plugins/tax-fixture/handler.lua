-- tests/plugins/tax-fixture/handler.lua: 10% (or the rate a loopback service gives) of every item, one line each;
-- conf.mode picks a misbehaviour.
local souq, error, ipairs = souq, error, ipairs
local plugin = {}
function plugin.tax_calculate(conf, req)
  if conf.mode == "raise" then error("tax service down") end
  if conf.mode == "spin" then while true do end end
  if conf.mode == "none" then return { lines = {} } end -- no taxable line: an empty table where a list is expected
  if conf.mode == "notalist" then return { lines = { item = 1 } } end
  if conf.mode == "wrong" then return { lines = { { item = #req.items + 1, amount = 1, rate_bp = 1000, code = "X", name = "X" } } } end
  local bp = 1000
  if conf.mode == "http" then
    local res = souq.http.request({ method = "POST", url = conf.url, headers = { ["Content-Type"] = "application/json" },
      body = souq.json.encode({ country = req.country_code, items = #req.items }), timeout_ms = 2000 })
    if res.status ~= 200 then error("tax service answered " .. res.status) end
    bp = souq.json.decode(res.body).rate_bp
  end
  local lines = {}
  for _, it in ipairs(req.items) do
    local amount = req.inclusive and (it.amount * bp + (10000 + bp) // 2) // (10000 + bp) or souq.money.percent(it.amount, bp)
    lines[#lines + 1] = { item = it.item, rate_id = "fx_" .. it.tax_class, code = "FX", name = "Fixture tax", rate_bp = bp, amount = amount }
  end
  return { lines = lines }
end
return plugin
