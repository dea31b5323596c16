-- souq plugin test plugins/payment-manual: no money moves through Souq, so every hook is bookkeeping.
local req = { provider = "manual", payment_id = "pay_1", idempotency_key = "k1", currency = "eur", amount = 1200 }

spec.test("authorize leaves the payment pending (staff capture when the money arrives)", function()
  spec.eq(spec.call("payment_authorize", req), { status = "pending", provider_ref = "pay_1" })
end)

spec.test("capture, cancel and refund answer their states", function()
  spec.eq(spec.call("payment_capture", req).status, "captured")
  spec.eq(spec.call("payment_cancel", req).status, "voided")
  spec.eq(spec.call("payment_refund", req).status, "refunded")
end)

spec.test("it never calls out", function()
  spec.call("payment_authorize", req)
  spec.eq(#spec.http.requests(), 0)
end)
