-- plugins/shipping-weight-table/handler.lua: shipping priced by the cart's total weight.
--
-- rates  the bands of the most specific zone (the address's country, the cart's region, then "*"); the first band
--        whose max_g holds the weight prices it, plus the option's amount when add_option_amount is set; the
--        option's free_over still makes it free. No zone or no band: the option is not offered (nil).
-- The weight is the sum over the cart's lines that require shipping of quantity x weight_g (default_weight_g for a
-- variant without a weight). A zones setting of the wrong shape raises (the option is then not offered, and the
-- failure is logged and counted with the reason), so a typo never sells shipping at a wrong price.
local souq, type, ipairs, error, tostring, math = souq, type, ipairs, error, tostring, math
local plugin = {}

local function cart_weight(conf, req)
  local g = 0
  for _, it in ipairs(req.items or {}) do
    if it.requires_shipping then
      local w = it.weight_g
      if type(w) ~= "number" then w = conf.default_weight_g end
      g = g + w * it.quantity
    end
  end
  return g
end

local function band_price(bands, grams, where)
  if type(bands) ~= "table" or #bands == 0 then
    error("zones[" .. where .. "] must be a non-empty list of {max_g, amount}", 0)
  end
  local prev = -1
  for i, b in ipairs(bands) do
    if type(b) ~= "table" or math.type(b.amount) ~= "integer" or b.amount < 0 then
      error("zones[" .. where .. "][" .. i .. "].amount must be a non-negative integer", 0)
    end
    if b.max_g == nil then
      if i ~= #bands then error("zones[" .. where .. "][" .. i .. "]: only the last band may omit max_g", 0) end
      return b.amount
    end
    if math.type(b.max_g) ~= "integer" or b.max_g <= prev then
      error("zones[" .. where .. "][" .. i .. "].max_g must be an integer above the previous band's", 0)
    end
    prev = b.max_g
    if grams <= b.max_g then return b.amount end
  end
  return nil -- heavier than every band
end

function plugin.shipping_rates(conf, req)
  local zones = conf.zones
  local where = nil
  if req.country_code and zones[req.country_code] ~= nil then
    where = req.country_code
  elseif req.region_id and zones[req.region_id] ~= nil then
    where = req.region_id
  elseif zones["*"] ~= nil then
    where = "*"
  end
  if where == nil then return nil end
  local grams = cart_weight(conf, req)
  local price = band_price(zones[where], grams, tostring(where))
  if price == nil then return nil end
  if conf.add_option_amount then price = souq.money.add(price, req.amount) end
  if req.free_over ~= nil and req.item_total >= req.free_over then price = 0 end
  return { amount = price }
end

return plugin
