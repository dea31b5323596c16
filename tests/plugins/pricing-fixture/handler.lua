-- tests/plugins/pricing-fixture/handler.lua: 10% off every line (or a misbehaviour chosen by conf.mode).
local souq, error, ipairs = souq, error, ipairs
local plugin = {}
function plugin.pricing_adjust(conf, cart)
  local mode, first = conf.mode, cart.items[1]
  if mode == "none" then return nil end
  if mode == "empty" then return { adjustments = {} } end
  if mode == "raise" then error("pricing service down") end
  if mode == "spin" then while true do end end
  if mode == "shape" then return { adjustments = "ten percent" } end
  if mode == "wrong" then return { adjustments = { { item = #cart.items + 1, amount = 1, code = "X" } } } end
  if mode == "big" then return { adjustments = { { item = 1, amount = first.subtotal + 1, code = "X" } } } end
  if mode == "clamp" then
    return { adjustments = { { item = 1, amount = first.subtotal, code = "ALL" }, { item = 1, amount = 5, code = "MORE" } } }
  end
  if mode == "echo" then
    local seen = { c = cart.currency, r = cart.region_id ~= nil, ch = cart.sales_channel_id ~= nil, cu = cart.customer_id ~= nil,
                   g = #cart.customer_group_ids, n = #cart.items, s = cart.item_subtotal, d = cart.discount_total,
                   i = { first.item, first.quantity, first.unit_price, first.subtotal, first.discount_total },
                   v = first.variant_id ~= nil and first.product_id ~= nil and first.id ~= nil }
    return { adjustments = { { item = 1, amount = 1, code = "ECHO", description = souq.json.encode(seen) } } }
  end
  local out = {}
  for _, it in ipairs(cart.items) do
    out[#out + 1] = { item = it.item, amount = souq.money.percent(it.subtotal, 1000), code = "FX10", description = "Fixture 10%" }
  end
  return { adjustments = out }
end
return plugin
