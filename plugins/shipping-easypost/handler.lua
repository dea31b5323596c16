-- plugins/shipping-easypost/handler.lua: carrier rates, labels and tracking through EasyPost's REST API (v2).
--
-- rates         POST /v2/shipments {shipment: {to_address, from_address, parcel}} -> the shipment's rates; the cheapest
--               rate of the allowed carriers and services, in the cart's currency, prices the option (another
--               currency, or no rate: not offered)
-- create_label  POST /v2/shipments, then POST /v2/shipments/{id}/buy {rate: {id}} with the rate of the service staff
--               named (else the cheapest allowed) -> tracking_code, postage_label.label_url, tracker.public_url
-- track         GET /v2/trackers/{id} -> status
-- webhooks      Event objects; tracker.updated carries the Tracker: its tracking_code and status. X-Hmac-Signature is
--               "hmac-sha256-hex=" .. hex HMAC-SHA256 of the raw body with the webhook secret.
--
-- Authentication is HTTP Basic with the API key as the user name. The key goes only into that header: never logged,
-- never in an error message. Amounts: EasyPost's decimal strings ("7.58") become minor units by string arithmetic,
-- never through floats.
local souq, string, tostring, tonumber, type, pcall, error, ipairs, pairs, math =
      souq, string, tostring, tonumber, type, pcall, error, ipairs, pairs, math
local plugin = {}

-- One EasyPost call: the decoded answer and the HTTP status. Transport failures and answers that are not JSON raise.
local function easypost(conf, method, path, body)
  local headers = {
    ["Authorization"] = "Basic " .. souq.crypto.base64_encode(conf.api_key .. ":"),
    ["Accept"] = "application/json",
  }
  local payload
  if body ~= nil then
    headers["Content-Type"] = "application/json"
    payload = souq.json.encode(body)
  end
  local ok, res = pcall(souq.http.request, { method = method, url = conf.base_url .. path, headers = headers, body = payload,
                                             timeout_ms = conf.timeout_ms })
  if not ok then
    local code = type(res) == "table" and res.code or "error"
    souq.log.warn("easypost " .. method .. " " .. path .. " failed: " .. tostring(code))
    error("easypost unreachable: " .. tostring(code), 0)
  end
  local dok, answer = pcall(souq.json.decode, res.body)
  if not dok or type(answer) ~= "table" then
    error("easypost answered HTTP " .. res.status .. " without JSON", 0)
  end
  if res.status < 200 or res.status > 299 then
    local e = type(answer.error) == "table" and answer.error or {}
    souq.log.warn("easypost " .. method .. " " .. path .. ": HTTP " .. res.status .. " " .. tostring(e.code))
    error("easypost " .. method .. " " .. path .. " failed: HTTP " .. res.status .. " " .. tostring(e.code), 0)
  end
  return answer
end

-- "7.58" -> 758 (two decimals: EasyPost bills in USD-like currencies); nil for anything that is not a decimal.
local function minor(s)
  if type(s) == "number" then s = string.format("%.2f", s) end
  if type(s) ~= "string" then return nil end
  local int, frac = string.match(s, "^(%d+)%.?(%d*)$")
  if not int or #int > 12 then return nil end
  frac = frac .. "00"
  local v = tonumber(int) * 100 + tonumber(string.sub(frac, 1, 2))
  if tonumber(string.sub(frac, 3, 3)) >= 5 then v = v + 1 end -- half up on the third decimal
  return v
end

local function str(v) return type(v) == "string" and v ~= "" and v or nil end

-- A Souq address (the API's Address shape) as an EasyPost Address.
local function address(a, email)
  a = type(a) == "table" and a or {}
  local name = str(((a.first_name or "") .. " " .. (a.last_name or "")):match("^%s*(.-)%s*$"))
  return {
    name = name, company = str(a.company), street1 = str(a.address_1), street2 = str(a.address_2), city = str(a.city),
    state = str(a.province), zip = str(a.postal_code), country = a.country_code and string.upper(a.country_code) or nil,
    phone = str(a.phone), email = str(email or a.email),
  }
end

local function from_address(conf, loc)
  local out = address(loc)
  for k, v in pairs(conf.from_address or {}) do out[k] = v end
  return out
end

-- Grams -> ounces with one decimal, at least min_weight_g.
local function parcel(conf, grams)
  grams = math.max(grams or 0, conf.min_weight_g)
  local tenths = (grams * 100000 + 283494) // 283495 -- 1 oz = 28.3495 g, rounded up to a tenth
  return { weight = tenths / 10 }
end

local function allowed(list, v)
  if type(list) ~= "table" or #list == 0 then return true end
  for _, x in ipairs(list) do if x == v then return true end end
  return false
end

-- The cheapest rate of the allowed carriers and services (and of service when given) in currency (nil: any), or nil.
local function pick(conf, rates, currency, service)
  local best, best_amount
  for _, r in ipairs(type(rates) == "table" and rates or {}) do
    local amount = minor(r.rate)
    if amount and type(r.currency) == "string" and (currency == nil or string.lower(r.currency) == currency)
       and allowed(conf.carriers, r.carrier)
       and allowed(conf.services, r.service) and (service == nil or r.service == service)
       and (best == nil or amount < best_amount) then
      best, best_amount = r, amount
    end
  end
  return best, best_amount
end

function plugin.shipping_rates(conf, req)
  if type(req.address) ~= "table" or not req.address.country_code then return nil end -- no address yet: not offered
  local shipment = easypost(conf, "POST", "/v2/shipments", { shipment = {
    to_address = address(req.address), from_address = from_address(conf, nil), parcel = parcel(conf, req.weight_g) } })
  local rate, amount = pick(conf, shipment.rates, req.currency, nil)
  if not rate then return nil end
  if req.free_over ~= nil and req.item_total >= req.free_over then amount = 0 end
  return { amount = souq.money.add(amount, req.amount) } -- the option's amount is a handling fee on top
end

function plugin.shipping_create_label(conf, req)
  local shipment = easypost(conf, "POST", "/v2/shipments", { shipment = {
    to_address = address(req.to), from_address = from_address(conf, req.from), parcel = parcel(conf, req.weight_g),
    reference = req.fulfillment_id } })
  local rate = pick(conf, shipment.rates, nil, req.service)
  if not rate then error("easypost offered no rate for service " .. tostring(req.service), 0) end
  local bought = easypost(conf, "POST", "/v2/shipments/" .. shipment.id .. "/buy", { rate = { id = rate.id } })
  local label = type(bought.postage_label) == "table" and bought.postage_label or {}
  local tracker = type(bought.tracker) == "table" and bought.tracker or {}
  local sel = type(bought.selected_rate) == "table" and bought.selected_rate or rate
  return {
    tracking_number = bought.tracking_code, carrier = sel.carrier, label_url = label.label_url,
    tracking_url = str(tracker.public_url), provider_ref = str(tracker.id), cost = minor(sel.rate),
    cost_currency = type(sel.currency) == "string" and string.lower(sel.currency) or nil,
  }
end

local statuses = { unknown = true, pre_transit = true, in_transit = true, out_for_delivery = true, delivered = true,
                   available_for_pickup = true, return_to_sender = true, failure = true, cancelled = true }

local function status_of(s) return statuses[s] and s or "unknown" end -- EasyPost's "error" and anything new

function plugin.shipping_track(conf, req)
  if not string.match(req.ref, "^trk_[%w_]+$") then error("not an EasyPost tracker id", 0) end
  local tracker = easypost(conf, "GET", "/v2/trackers/" .. req.ref)
  return { status = status_of(tracker.status) }
end

function plugin.handle_webhook(conf, req)
  local secret = conf.webhook_secret
  local header = req.headers["x-hmac-signature"]
  if type(secret) ~= "string" or type(header) ~= "string" then return { status = "rejected" } end
  local sig = string.match(header, "^hmac%-sha256%-hex=(%x+)$")
  if not sig or not souq.crypto.equals(string.lower(sig), souq.crypto.hmac_sha256(secret, req.body)) then
    return { status = "rejected" }
  end
  local dok, event = pcall(souq.json.decode, req.body)
  if not dok or type(event) ~= "table" or type(event.id) ~= "string" or type(event.description) ~= "string" then
    return { status = "rejected" }
  end
  local out = { status = "accepted", event_id = event.id, event_type = string.sub(event.description, 1, 128) }
  local t = event.result
  if event.description == "tracker.updated" or event.description == "tracker.created" then
    if type(t) ~= "table" or type(t.tracking_code) ~= "string" then return { status = "rejected" } end
    out.tracking = { provider = "easypost", tracking_number = t.tracking_code, status = status_of(t.status) }
    out.data = { tracker_id = str(t.id), tracking_code = t.tracking_code, status = status_of(t.status), carrier = str(t.carrier) }
  end
  return out
end

return plugin
