-- souq plugin test plugins/shipping-weight-table: bands by weight, zones by country, region and "*".
local conf = { zones = {
  de = { { max_g = 1000, amount = 490 }, { max_g = 5000, amount = 790 }, { amount = 1890 } },
  reg_eu = { { max_g = 2000, amount = 1200 } },
  ["*"] = { { max_g = 500, amount = 2500 } },
} }

local function req(country, region, items, extra)
  local r = { provider = "weight_table", option_id = "so_1", currency = "eur", amount = 0, item_total = 5000, item_count = 1,
              weight_g = 0, country_code = country, region_id = region, items = items }
  for k, v in pairs(extra or {}) do r[k] = v end
  return r
end
local function line(weight_g, quantity, ships)
  return { variant_id = "var_1", quantity = quantity, weight_g = weight_g, requires_shipping = ships ~= false }
end

spec.test("the first band that holds the weight prices the option; its bound is inclusive", function()
  spec.eq(spec.call("shipping_rates", req("de", "reg_eu", { line(250, 4) }), conf), { amount = 490 })
  spec.eq(spec.call("shipping_rates", req("de", "reg_eu", { line(250, 5) }), conf), { amount = 790 })
  spec.eq(spec.call("shipping_rates", req("de", "reg_eu", { line(6000, 2) }), conf), { amount = 1890 })
end)

spec.test("zones: the country, else the cart's region, else *; heavier than every band is not offered", function()
  spec.eq(spec.call("shipping_rates", req("fr", "reg_eu", { line(1500, 1) }), conf), { amount = 1200 })
  spec.eq(spec.call("shipping_rates", req("fr", "reg_eu", { line(1500, 2) }), conf), nil)
  spec.eq(spec.call("shipping_rates", req("us", "reg_us", { line(100, 1) }), conf), { amount = 2500 })
  spec.eq(spec.call("shipping_rates", req("us", "reg_us", { line(100, 1) }), { zones = { de = conf.zones.de } }), nil)
end)

spec.test("lines that do not ship weigh nothing; unweighed variants count default_weight_g", function()
  spec.eq(spec.call("shipping_rates", req("de", nil, { line(900, 1), line(900, 1, false) }), conf), { amount = 490 })
  spec.eq(spec.call("shipping_rates", req("de", nil, { line(nil, 3) }), conf), { amount = 490 })
  local c = { zones = conf.zones, default_weight_g = 400 }
  spec.eq(spec.call("shipping_rates", req("de", nil, { line(nil, 3) }), c), { amount = 790 })
end)

spec.test("the option's amount is a handling fee (unless add_option_amount is false); free_over makes it free", function()
  spec.eq(spec.call("shipping_rates", req("de", nil, { line(100, 1) }, { amount = 500 }), conf), { amount = 990 })
  local c = { zones = conf.zones, add_option_amount = false }
  spec.eq(spec.call("shipping_rates", req("de", nil, { line(100, 1) }, { amount = 500 }), c), { amount = 490 })
  spec.eq(spec.call("shipping_rates", req("de", nil, { line(100, 1) }, { amount = 500, free_over = 5000 }), conf), { amount = 0 })
end)

spec.test("zones of the wrong shape fail the call instead of pricing shipping", function()
  for _, bands in ipairs({ {}, { { max_g = 10, amount = 1.5 } }, { { max_g = 10, amount = 1 }, { max_g = 5, amount = 2 } },
                           { { amount = 1 }, { max_g = 10, amount = 2 } } }) do
    spec.eq(spec.fails("shipping_rates", req("de", nil, { line(100, 1) }), { zones = { de = bands } }).code, "error")
  end
  spec.eq(#spec.http.requests(), 0)
end)
