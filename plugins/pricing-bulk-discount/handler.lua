-- plugins/pricing-bulk-discount/handler.lua: percent_bp off what is left of every line of min_quantity units or more.
local souq, ipairs, string = souq, ipairs, string
local plugin = {}

local function label(conf)
  if conf.description then return conf.description end
  local whole, frac = conf.percent_bp // 100, conf.percent_bp % 100
  local pct = frac == 0 and string.format("%d", whole) or string.format("%d.%02d", whole, frac):gsub("0$", "")
  return string.format("%s%% off %d+ units", pct, conf.min_quantity)
end

function plugin.pricing_adjust(conf, cart)
  local out = {}
  for _, it in ipairs(cart.items) do
    local left = it.subtotal - it.discount_total
    if it.quantity >= conf.min_quantity and left > 0 then
      local amount = souq.money.percent(left, conf.percent_bp)
      if amount > 0 then
        out[#out + 1] = { item = it.item, amount = amount, code = conf.code, description = label(conf) }
      end
    end
  end
  return { adjustments = out }
end

return plugin
