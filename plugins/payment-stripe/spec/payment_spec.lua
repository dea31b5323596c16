-- souq plugin test plugins/payment-stripe: the PaymentIntents calls against faked Stripe answers.
local conf = { secret_key = "sk_test_spec", base_url = "https://stripe.test" }
local req = { provider = "stripe", payment_id = "pay_1", idempotency_key = "cart_1:key_1", currency = "eur",
              amount = 2500, email = "buyer@example.com", data = { payment_method = "pm_card_visa" } }

local function intent(status, extra)
  local pi = { id = "pi_1", object = "payment_intent", status = status, amount = 2500, currency = "eur" }
  for k, v in pairs(extra or {}) do pi[k] = v end
  return { status = 200, headers = { ["content-type"] = "application/json" }, body = souq.json.encode(pi) }
end

local function form_has(body, pair) spec.contains("&" .. body .. "&", "&" .. pair .. "&") end

spec.test("authorize confirms a manual-capture intent with the checkout's idempotency key", function()
  spec.http.respond("POST", "https://stripe.test/v1/payment_intents", intent("requires_capture"))
  spec.eq(spec.call("payment_authorize", req, conf), { status = "authorized", provider_ref = "pi_1" })
  local sent = spec.http.requests()
  spec.eq(#sent, 1)
  spec.eq(sent[1].headers["idempotency-key"], "cart_1:key_1")
  spec.eq(sent[1].headers["authorization"], "Bearer sk_test_spec")
  spec.eq(sent[1].headers["content-type"], "application/x-www-form-urlencoded")
  form_has(sent[1].body, "amount=2500")
  form_has(sent[1].body, "capture_method=manual")
  form_has(sent[1].body, "confirm=true")
  form_has(sent[1].body, "payment_method=pm_card_visa")
  form_has(sent[1].body, "metadata%5Bsouq_payment_id%5D=pay_1")
end)

spec.test("a card decline (402 card_error) is declined with Stripe's decline code", function()
  spec.http.respond("POST", "https://stripe.test/v1/payment_intents", { status = 402,
    body = souq.json.encode({ error = { type = "card_error", code = "card_declined", decline_code = "insufficient_funds" } }) })
  spec.eq(spec.call("payment_authorize", req, conf), { status = "declined", decline_code = "insufficient_funds" })
end)

spec.test("3-D Secure answers requires_action with the redirect", function()
  spec.http.respond("POST", "https://stripe.test/v1/payment_intents", intent("requires_action",
    { next_action = { type = "redirect_to_url", redirect_to_url = { url = "https://hooks.stripe.test/3ds/1" } } }))
  local out = spec.call("payment_authorize", req, conf)
  spec.eq(out.status, "requires_action")
  spec.eq(out.next_action, { type = "redirect_to_url", url = "https://hooks.stripe.test/3ds/1" })
end)

spec.test("the buyer back from 3-D Secure: the intent's state is read, nothing is created", function()
  spec.http.respond("GET", "https://stripe.test/v1/payment_intents/pi_1", intent("requires_capture"))
  local back = { provider_ref = "pi_1" }
  for k, v in pairs(req) do back[k] = v end
  spec.eq(spec.call("payment_authorize", back, conf).status, "authorized")
  spec.eq(spec.http.requests()[1].method, "GET")
end)

spec.test("Stripe down or answering 500 fails the call (502 to the buyer, nothing paid)", function()
  spec.http.respond("POST", "https://stripe.test/v1/payment_intents", { error = "timeout" })
  spec.eq(spec.fails("payment_authorize", req, conf).code, "error")
  spec.http.respond("POST", "https://stripe.test/v1/payment_intents", { status = 500, body = '{"error":{"type":"api_error"}}' })
  local e = spec.fails("payment_authorize", req, conf)
  spec.contains(e.message, "HTTP 500")
  spec.truthy(not string.find(e.message, "sk_test_spec", 1, true), "the secret key never appears in an error")
end)

spec.test("capture, cancel and refund", function()
  local paid = { payment_id = "pay_1", provider_ref = "pi_1", amount = 2500, currency = "eur", idempotency_key = "ref_1" }
  spec.http.respond("POST", "https://stripe.test/v1/payment_intents/pi_1/capture", intent("succeeded"))
  spec.eq(spec.call("payment_capture", paid, conf), { status = "captured", provider_ref = "pi_1" })
  spec.http.respond("POST", "https://stripe.test/v1/payment_intents/pi_1/cancel", intent("canceled"))
  spec.eq(spec.call("payment_cancel", paid, conf).status, "voided")
  spec.http.respond("POST", "https://stripe.test/v1/refunds", { status = 200, body = '{"id":"re_1","status":"succeeded"}' })
  spec.eq(spec.call("payment_refund", paid, conf), { status = "refunded", provider_ref = "re_1" })
  local sent = spec.http.requests()
  spec.eq(sent[#sent].headers["idempotency-key"], "ref_1")
  form_has(sent[#sent].body, "payment_intent=pi_1")
end)

spec.test("webhooks: a bad or stale Stripe-Signature is rejected", function()
  local wconf = { secret_key = "sk_test_spec", webhook_secret = "whsec_spec" }
  local body = '{"id":"evt_1","type":"payment_intent.succeeded","data":{"object":{"id":"pi_1"}}}'
  local t = souq.time.now()
  local good = souq.crypto.hmac_sha256("whsec_spec", t .. "." .. body)
  local function hook(sig)
    return spec.call("handle_webhook", { method = "POST", headers = { ["stripe-signature"] = sig }, body = body }, wconf)
  end
  spec.eq(hook("t=" .. t .. ",v1=" .. string.rep("0", 64)).status, "rejected")
  spec.eq(hook("t=" .. (t - 301) .. ",v1=" .. souq.crypto.hmac_sha256("whsec_spec", (t - 301) .. "." .. body)).status, "rejected")
  local ok = hook("t=" .. t .. ",v1=" .. good)
  spec.eq(ok.status, "accepted")
  spec.eq(ok.event_id, "evt_1")
end)
