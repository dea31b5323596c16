-- plugins/payment-stripe/handler.lua: card payments through Stripe's PaymentIntents API.
--
-- authorize  POST /v1/payment_intents (amount, currency, payment_method, confirm=true, capture_method=manual),
--            or, when Souq already knows the intent (the buyer came back from 3-D Secure, or a retry),
--            GET /v1/payment_intents/{id}: its current state.
-- capture    POST /v1/payment_intents/{id}/capture (amount_to_capture)
-- cancel     POST /v1/payment_intents/{id}/cancel
-- refund     POST /v1/refunds (payment_intent, amount)
--
-- Every POST carries Idempotency-Key (the checkout's gateway key for authorize, the refund's id for refunds), so a
-- retried call never charges twice. The secret key goes only into the Authorization header: it is never logged,
-- never put into an error message, never returned.
local souq, string, tostring, tonumber, type, pcall, error, pairs, ipairs, table, math =
      souq, string, tostring, tonumber, type, pcall, error, pairs, ipairs, table, math
local plugin = {}

-- application/x-www-form-urlencoded, keys sorted (a stable body for the same request)
local function escape(s)
  return (string.gsub(tostring(s), "[^%w%-%._~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

local function form(fields)
  local keys = {}
  for k in pairs(fields) do keys[#keys + 1] = k end
  table.sort(keys)
  local parts = {}
  for i, k in ipairs(keys) do parts[i] = escape(k) .. "=" .. escape(fields[k]) end
  return table.concat(parts, "&")
end

-- One Stripe call: the decoded answer and the HTTP status. Transport failures (timeout, refused, ssrf_blocked...)
-- and answers that are not Stripe's JSON raise: the host turns that into 502 and nothing is recorded as paid.
local function stripe(conf, method, path, fields, idempotency_key)
  local headers = {
    ["Authorization"] = "Bearer " .. conf.secret_key,
    ["Accept"] = "application/json",
    ["Stripe-Version"] = "2024-06-20",
  }
  local body
  if method == "POST" then
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    body = form(fields or {})
    if idempotency_key then headers["Idempotency-Key"] = idempotency_key end
  end
  local ok, res = pcall(souq.http.request, {
    method = method, url = conf.base_url .. path, headers = headers, body = body, timeout_ms = conf.timeout_ms })
  if not ok then
    local code = type(res) == "table" and res.code or "error"
    souq.log.warn("stripe " .. method .. " " .. path .. " failed: " .. tostring(code))
    error("stripe unreachable: " .. tostring(code), 0)
  end
  local dok, answer = pcall(souq.json.decode, res.body)
  if not dok or type(answer) ~= "table" then
    souq.log.warn("stripe " .. method .. " " .. path .. ": HTTP " .. res.status .. " without a JSON body")
    error("stripe answered HTTP " .. res.status .. " without JSON", 0)
  end
  return answer, res.status
end

-- A declined card: 402 with error.type card_error (Stripe's shape), or an intent back at requires_payment_method.
local function declined(err)
  return { status = "declined", decline_code = string.sub(err.decline_code or err.code or "card_declined", 1, 64) }
end

-- What an intent's status means to Souq.
local function from_intent(pi)
  local s = pi.status
  if s == "requires_capture" then
    return { status = "authorized", provider_ref = pi.id }
  elseif s == "succeeded" then
    return { status = "captured", provider_ref = pi.id }
  elseif s == "processing" then
    return { status = "pending", provider_ref = pi.id }
  elseif s == "requires_action" then
    local na = type(pi.next_action) == "table" and pi.next_action or {}
    local redirect = type(na.redirect_to_url) == "table" and na.redirect_to_url.url
    if type(redirect) ~= "string" then
      error("stripe asked for an action other than a redirect: " .. tostring(na.type), 0)
    end
    return { status = "requires_action", provider_ref = pi.id, next_action = { type = "redirect_to_url", url = redirect } }
  elseif s == "requires_payment_method" or s == "canceled" then
    local e = type(pi.last_payment_error) == "table" and pi.last_payment_error or {}
    return declined({ decline_code = e.decline_code, code = e.code or (s == "canceled" and "canceled" or "authentication_failed") })
  end
  error("unexpected payment intent status " .. tostring(s), 0)
end

-- Anything but 2xx and a card decline is the gateway failing: raise (502 to the client).
local function failed(answer, status, what)
  local e = type(answer.error) == "table" and answer.error or {}
  error(what .. " failed: HTTP " .. status .. " " .. tostring(e.type) .. "/" .. tostring(e.code), 0)
end

function plugin.payment_authorize(conf, req)
  local data = req.data or {}
  if req.provider_ref then -- the buyer is back from 3-D Secure (or this is a retry): where does the intent stand?
    local pi, status = stripe(conf, "GET", "/v1/payment_intents/" .. escape(req.provider_ref))
    if status ~= 200 then failed(pi, status, "retrieving the payment intent") end
    return from_intent(pi)
  end
  local answer, status = stripe(conf, "POST", "/v1/payment_intents", {
    amount = req.amount,
    currency = req.currency,
    payment_method = data.payment_method,
    confirm = "true",
    capture_method = "manual",
    return_url = data.return_url or conf.return_url,
    ["metadata[souq_payment_id]"] = req.payment_id,
    receipt_email = req.email,
  }, req.idempotency_key)
  if status == 402 and type(answer.error) == "table" then
    return declined(answer.error)
  end
  if status ~= 200 then failed(answer, status, "creating the payment intent") end
  return from_intent(answer)
end

function plugin.payment_capture(conf, req)
  local pi, status = stripe(conf, "POST", "/v1/payment_intents/" .. escape(req.provider_ref) .. "/capture",
    { amount_to_capture = req.amount }, "capture_" .. req.payment_id)
  if status ~= 200 then failed(pi, status, "capturing") end
  if pi.status ~= "succeeded" then error("capture left the intent at " .. tostring(pi.status), 0) end
  return { status = "captured", provider_ref = pi.id }
end

function plugin.payment_cancel(conf, req)
  local pi, status = stripe(conf, "POST", "/v1/payment_intents/" .. escape(req.provider_ref) .. "/cancel", {},
    "cancel_" .. req.payment_id)
  if status ~= 200 then failed(pi, status, "cancelling") end
  if pi.status ~= "canceled" then error("cancel left the intent at " .. tostring(pi.status), 0) end
  return { status = "voided", provider_ref = pi.id }
end

function plugin.payment_refund(conf, req)
  local re, status = stripe(conf, "POST", "/v1/refunds", { payment_intent = req.provider_ref, amount = req.amount },
    req.idempotency_key)
  if status ~= 200 then failed(re, status, "refunding") end
  if re.status ~= "succeeded" and re.status ~= "pending" then error("refund status " .. tostring(re.status), 0) end
  return { status = "refunded", provider_ref = re.id }
end

-- Inbound events: POST /v1/hooks/payment-stripe (the endpoint configured in Stripe's dashboard). The host hands
-- over the raw body and headers; Stripe-Signature is "t=<unix time>,v1=<hex HMAC-SHA256 of '<t>.<body>' with the
-- endpoint's signing secret>[,v1=...]". Events older or newer than 5 minutes are refused (replay window); within
-- it, the host applies each event id once.
local TOLERANCE = 300

-- The payment move core applies for an event (once per event id): a payment captured, failed or refunded outside
-- Souq (the Stripe dashboard, a delayed payment method settling, a dispute refund), or echoing what Souq did itself,
-- which core recognizes and leaves alone. nil: nothing to move.
local function payment_move(event, object)
  local t = event.type
  if t == "payment_intent.succeeded" and type(object.id) == "string" then
    return { action = "captured", provider_ref = object.id, currency = object.currency,
             amount = math.type(object.amount_received) == "integer" and object.amount_received > 0 and object.amount_received or nil }
  elseif t == "payment_intent.payment_failed" and type(object.id) == "string" then
    local e = type(object.last_payment_error) == "table" and object.last_payment_error or {}
    local code = e.decline_code or e.code
    return { action = "failed", provider_ref = object.id,
             decline_code = type(code) == "string" and #code > 0 and string.sub(code, 1, 64) or nil }
  elseif t == "charge.refunded" and type(object.payment_intent) == "string" and math.type(object.amount_refunded) == "integer" then
    -- amount_refunded is the charge's running total: core records only what it does not know yet
    return { action = "refunded", provider_ref = object.payment_intent, amount = object.amount_refunded, currency = object.currency }
  end
  return nil
end

function plugin.handle_webhook(conf, req)
  local secret = conf.webhook_secret
  local header = req.headers["stripe-signature"]
  if type(secret) ~= "string" or type(header) ~= "string" or #header > 2048 then
    return { status = "rejected" }
  end
  local t, sigs = nil, {}
  for part in string.gmatch(header, "[^,]+") do
    local k, v = string.match(part, "^%s*([%w_]+)=([%w]+)%s*$")
    if k == "t" then t = tonumber(v) elseif k == "v1" then sigs[#sigs + 1] = v end
  end
  if not t or #sigs == 0 or math.abs(souq.time.now() - t) > TOLERANCE then
    return { status = "rejected" }
  end
  local expected = souq.crypto.hmac_sha256(secret, string.format("%d", t) .. "." .. req.body)
  local ok = false
  for _, s in ipairs(sigs) do
    if souq.crypto.equals(string.lower(s), expected) then ok = true end
  end
  if not ok then return { status = "rejected" } end
  local dok, event = pcall(souq.json.decode, req.body)
  if not dok or type(event) ~= "table" or type(event.id) ~= "string" or type(event.type) ~= "string" then
    return { status = "rejected" }
  end
  local object = type(event.data) == "table" and type(event.data.object) == "table" and event.data.object or {}
  local move = payment_move(event, object)
  if move then move.currency = type(move.currency) == "string" and string.lower(move.currency) or nil end
  return {
    status = "accepted", event_id = event.id, event_type = string.sub(event.type, 1, 128),
    data = { object_id = type(object.id) == "string" and object.id or nil,
             object_status = type(object.status) == "string" and object.status or nil,
             livemode = event.livemode == true },
    payment = move,
  }
end

return plugin
