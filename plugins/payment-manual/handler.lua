-- plugins/payment-manual/handler.lua: bank transfer and cash on delivery, the Lua twin of the built-in `manual`
-- provider (core/payment_db.c). No money moves through Souq: authorize leaves the payment pending, capture is
-- staff recording that the money arrived, cancel and refund are bookkeeping.
local plugin = {}

-- Each hook gets the plugin's validated config and a copy of the payment request (core/hooks.h sq_pay_req_t):
-- payment_id, idempotency_key, currency, amount (minor units), data, provider_ref, email, provider.
local function answer(status, req)
  return { status = status, provider_ref = req.payment_id }
end

function plugin.payment_authorize(conf, req)
  return answer("pending", req)
end

function plugin.payment_capture(conf, req)
  return answer("captured", req)
end

function plugin.payment_cancel(conf, req)
  return answer("voided", req)
end

function plugin.payment_refund(conf, req)
  return answer("refunded", req)
end

return plugin
