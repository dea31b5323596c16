-- tests/plugins-tax/avatax-fixture/handler.lua: a tax plugin in the shape of an Avalara AvaTax connector. tax_calculate
-- applies conf.rate_bp locally (no service call on cart reads); the placed order is recorded with the service as a
-- committed SalesInvoice whose per-line tax is Souq's (taxOverride TaxAmount), keyed by the order id (createoradjust:
-- a retry adjusts the same document, never a second one); a cancel voids it (DocVoided); a refund is a refund
-- transaction of the share refunded.
local souq, error, ipairs, tostring, string = souq, error, ipairs, tostring, string
local plugin = {}

-- minor units -> the decimal string AvaTax takes ("12.34"); integers only, no float arithmetic
local function dec(minor)
  local sign = minor < 0 and "-" or ""
  if minor < 0 then minor = -minor end
  return string.format("%s%d.%02d", sign, minor // 100, minor % 100)
end

-- missing_ok: a 404 (the service never recorded the transaction: its commit died) is an answer, not a failure
local function call(conf, path, body, missing_ok)
  local res = souq.http.request({ method = "POST", url = conf.base_url .. path, timeout_ms = 5000,
    headers = { ["Content-Type"] = "application/json",
                ["Authorization"] = "Basic " .. souq.crypto.base64_encode(conf.account_id .. ":" .. conf.license_key) },
    body = souq.json.encode(body) })
  if missing_ok and res.status == 404 then return nil end
  if res.status < 200 or res.status > 299 then error("AvaTax answered " .. res.status) end
  return souq.json.decode(res.body)
end

local function address(a)
  if not a then return nil end
  return { line1 = a.address_1, city = a.city, region = a.province, postalCode = a.postal_code, country = a.country_code }
end

function plugin.tax_calculate(conf, req)
  local lines = {}
  for _, it in ipairs(req.items) do
    local amount = req.inclusive and (it.amount * conf.rate_bp + (10000 + conf.rate_bp) // 2) // (10000 + conf.rate_bp)
      or souq.money.percent(it.amount, conf.rate_bp)
    lines[#lines + 1] = { item = it.item, rate_id = "avatax", code = "AVA", name = "Sales tax", rate_bp = conf.rate_bp, amount = amount }
  end
  return { lines = lines }
end

local function record(conf, order)
  local lines = {}
  for i, l in ipairs(order.items) do
    lines[#lines + 1] = { number = tostring(i), quantity = l.quantity, amount = dec(l.subtotal - l.discount_total),
      itemCode = l.sku, description = l.title, taxIncluded = order.tax_inclusive,
      taxOverride = { type = "TaxAmount", taxAmount = dec(l.tax_total), reason = "Souq checkout" } }
  end
  for _, m in ipairs(order.shipping_methods) do
    lines[#lines + 1] = { number = "shipping", quantity = 1, amount = dec(m.amount - m.discount_total), taxCode = "FR020100",
      taxIncluded = order.tax_inclusive,
      taxOverride = { type = "TaxAmount", taxAmount = dec(m.tax_total), reason = "Souq checkout" } }
  end
  local doc = call(conf, "/api/v2/transactions/createoradjust", { createTransactionModel = {
    type = "SalesInvoice", companyCode = conf.company_code, code = order.id, commit = true,
    date = string.sub(order.placed_at, 1, 10), customerCode = order.customer_id or order.email,
    purchaseOrderNo = tostring(order.number), currencyCode = string.upper(order.currency_code),
    addresses = { shipTo = address(order.shipping_address) }, lines = lines } })
  return { reference = tostring(doc.id) }
end

function plugin.tax_commit(conf, order) return record(conf, order) end

-- an edited order: AvaTax's createoradjust with the same code adjusts the committed transaction to what it is now
function plugin.tax_adjust(conf, order) return record(conf, order) end

function plugin.tax_void(conf, order)
  local doc = call(conf, "/api/v2/companies/" .. conf.company_code .. "/transactions/" .. order.id .. "/void", { code = "DocVoided" }, true)
  return doc and { reference = order.id } or nil -- nothing recorded there: nothing to void
end

function plugin.tax_refund(conf, order, refund)
  local body = { refundTransactionCode = refund.id, refundDate = string.sub(refund.created_at, 1, 10),
    referenceCode = order.id }
  if refund.amount >= order.total then
    body.refundType = "Full"
  else -- the refunded share of the order, in percent with two decimals
    body.refundType = "Percentage"
    body.refundPercentage = dec(refund.amount * 10000 // order.total)
  end
  local doc = call(conf, "/api/v2/companies/" .. conf.company_code .. "/transactions/" .. order.id .. "/refund", body)
  return { reference = tostring(doc.id) }
end

return plugin
