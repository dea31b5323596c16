-- souq plugin test plugins/notify-email: Postmark's Email API against faked answers.
local conf = { server_token = "pm-spec-token", from = "Shop <shop@example.com>", base_url = "https://postmark.test" }
local msg = { channel = "email", to = "buyer@example.com", subject = "Order #1042 confirmed", text = "Thanks!",
              html = "<p>Thanks!</p>", idempotency_key = "souq-evt_1-order_confirmation", tag = "order_confirmation" }
local BG = { background = true }

local function answer(status, body)
  return { status = status, headers = { ["content-type"] = "application/json" }, body = souq.json.encode(body) }
end

spec.test("a message goes out as Postmark's JSON with the server token header", function()
  spec.http.respond("POST", "https://postmark.test/email", answer(200, { To = "buyer@example.com", ErrorCode = 0,
    Message = "OK", MessageID = "b7bc2f4a-e38e-4336-af7d-e6c392c2f817", SubmittedAt = "2026-11-29T05:00:00Z" }))
  spec.eq(spec.call("notification_send", msg, conf, BG), { status = "sent", message_id = "b7bc2f4a-e38e-4336-af7d-e6c392c2f817" })
  local sent = spec.http.requests()
  spec.eq(#sent, 1)
  spec.eq(sent[1].headers["x-postmark-server-token"], "pm-spec-token")
  spec.eq(sent[1].headers["content-type"], "application/json")
  spec.eq(sent[1].headers["accept"], "application/json")
  local b = souq.json.decode(sent[1].body)
  spec.eq({ b.From, b.To, b.Subject, b.TextBody, b.HtmlBody, b.MessageStream, b.Tag },
          { "Shop <shop@example.com>", "buyer@example.com", "Order #1042 confirmed", "Thanks!", "<p>Thanks!</p>", "outbound",
            "order_confirmation" })
  spec.eq(b.Metadata, { souq_idempotency_key = "souq-evt_1-order_confirmation" })
end)

spec.test("a template kept at Postmark goes to /email/withTemplate", function()
  spec.http.respond("POST", "https://postmark.test/email/withTemplate", answer(200, { ErrorCode = 0, MessageID = "m-2" }))
  local t = { channel = "email", to = "buyer@example.com", template = "order-confirmation", template_data = { number = 1042 },
              idempotency_key = "k" }
  spec.eq(spec.call("notification_send", t, conf, BG).message_id, "m-2")
  local b = souq.json.decode(spec.http.requests()[1].body)
  spec.eq({ b.TemplateAlias, b.TemplateModel, b.Subject }, { "order-confirmation", { number = 1042 }, nil })
end)

spec.test("an inactive recipient (422, ErrorCode 406) is rejected for good, with Postmark's message", function()
  spec.http.respond("POST", "https://postmark.test/email", answer(422, { ErrorCode = 406,
    Message = "You tried to send to a recipient that has been marked as inactive." }))
  local out = spec.call("notification_send", msg, conf, BG)
  spec.eq(out.status, "rejected")
  spec.eq(out.code, "inactive_recipient")
  spec.contains(out.message, "marked as inactive")
  spec.http.respond("POST", "https://postmark.test/email", answer(422, { ErrorCode = 300, Message = "Invalid 'To' address" }))
  spec.eq(spec.call("notification_send", msg, conf, BG).code, "invalid_email_request")
end)

spec.test("a refused token, no credits, rate limits, Postmark down: raised, so Souq retries", function()
  spec.http.respond("POST", "https://postmark.test/email", answer(401, { ErrorCode = 10, Message = "Bad or missing Server API token" }))
  local e = spec.fails("notification_send", msg, conf, BG)
  spec.contains(e.message, "server_token")
  spec.truthy(not string.find(e.message, "pm-spec-token", 1, true), "the token never appears in an error")
  spec.http.respond("POST", "https://postmark.test/email", answer(422, { ErrorCode = 405, Message = "Not allowed to send" }))
  spec.contains(spec.fails("notification_send", msg, conf, BG).message, "ErrorCode 405")
  spec.http.respond("POST", "https://postmark.test/email", { status = 503, body = "unavailable" })
  spec.contains(spec.fails("notification_send", msg, conf, BG).message, "HTTP 503")
  spec.http.respond("POST", "https://postmark.test/email", { error = "timeout" })
  spec.contains(spec.fails("notification_send", msg, conf, BG).message, "unreachable")
end)

spec.test("only email: another channel is rejected without a request", function()
  local sms = { channel = "sms", to = "+4915112345678", text = "hi", idempotency_key = "k" }
  spec.eq(spec.call("notification_send", sms, conf, BG).code, "unsupported_channel")
  spec.eq(#spec.http.requests(), 0)
end)
