-- souq plugin test plugins/pricing-bulk-discount: the threshold, the percentage of what is left, rounding, labels.
local conf = { min_quantity = 10, percent_bp = 1000, code = "BULK" }

local function item(n, quantity, unit_price, discount_total)
  return { item = n, id = "cli_" .. n, variant_id = "var_" .. n, product_id = "prod_" .. n, sku = "SKU" .. n, quantity = quantity,
           unit_price = unit_price, subtotal = quantity * unit_price, discount_total = discount_total or 0 }
end
local function cart(items)
  return { currency = "eur", sales_channel_id = "sc_1", customer_group_ids = {}, items = items, item_subtotal = 0, discount_total = 0 }
end

spec.test("lines of min_quantity units or more get percent_bp off; smaller lines nothing", function()
  spec.eq(spec.call("pricing_adjust", cart({ item(1, 10, 250), item(2, 9, 1000) }), conf),
    { adjustments = { { item = 1, amount = 250, code = "BULK", description = "10% off 10+ units" } } })
  spec.eq(spec.call("pricing_adjust", cart({ item(1, 3, 250) }), conf), { adjustments = {} })
end)

spec.test("the percentage is of what is left after earlier discounts, rounded half away from zero", function()
  spec.eq(spec.call("pricing_adjust", cart({ item(1, 12, 105, 300) }), conf).adjustments[1].amount, 96) -- 10% of 960
  spec.eq(spec.call("pricing_adjust", cart({ item(1, 10, 5) }), conf).adjustments[1].amount, 5)           -- 10% of 50
  spec.eq(spec.call("pricing_adjust", cart({ item(1, 10, 100, 1000) }), conf), { adjustments = {} })     -- nothing left
end)

spec.test("the label follows the settings; a description setting replaces it", function()
  local c = { min_quantity = 5, percent_bp = 1250, code = "VOL" }
  spec.eq(spec.call("pricing_adjust", cart({ item(1, 5, 100) }), c).adjustments[1],
    { item = 1, amount = 63, code = "VOL", description = "12.5% off 5+ units" })
  c.description = "Wholesale price"
  spec.eq(spec.call("pricing_adjust", cart({ item(1, 5, 100) }), c).adjustments[1].description, "Wholesale price")
  spec.eq(#spec.http.requests(), 0)
end)
