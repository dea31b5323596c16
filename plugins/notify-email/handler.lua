-- plugins/notify-email/handler.lua: email through Postmark's Email API.
--
-- send           POST {base_url}/email              {From, To, Subject, HtmlBody, TextBody, MessageStream, Tag, ...}
-- with template  POST {base_url}/email/withTemplate {From, To, TemplateAlias, TemplateModel, MessageStream, Tag, ...}
--
-- Answers: 200 {ErrorCode = 0, MessageID} is sent. A 422 whose ErrorCode says the message itself can never go out
-- (an invalid request or address, an inactive recipient, an unknown or unconfirmed sender, a missing template) is
-- "rejected": Souq records it as failed and does not retry. Everything else raises, and Souq retries on its delivery
-- schedule: a refused token (401 / ErrorCode 10, a setting to fix), no credits (405), rate limits (429), Postmark
-- down (5xx), no answer. The server token goes only into its header: never logged, never in an error.
local souq, string, tostring, type, pcall, error = souq, string, tostring, type, pcall, error
local plugin = {}

-- Postmark API error codes that no retry can fix, and the code Souq's notification log shows for them.
local PERMANENT = {
  [300] = "invalid_email_request",
  [400] = "sender_signature_not_found",
  [401] = "sender_signature_not_confirmed",
  [406] = "inactive_recipient",
  [411] = "forbidden_attachment_type",
  [412] = "account_pending",
  [1101] = "template_not_found",
  [1105] = "template_model_invalid",
}

local function postmark(conf, path, body)
  local ok, res = pcall(souq.http.request, {
    method = "POST", url = conf.base_url .. path, timeout_ms = conf.timeout_ms, body = souq.json.encode(body),
    headers = { ["Accept"] = "application/json", ["Content-Type"] = "application/json",
                ["X-Postmark-Server-Token"] = conf.server_token } })
  if not ok then
    local code = type(res) == "table" and res.code or "error"
    souq.log.warn("postmark POST " .. path .. " failed: " .. tostring(code))
    error("postmark unreachable: " .. tostring(code), 0)
  end
  local dok, answer = pcall(souq.json.decode, res.body)
  if not dok or type(answer) ~= "table" then
    answer = {}
  end
  return answer, res.status
end

function plugin.notification_send(conf, msg)
  if msg.channel ~= "email" then
    return { status = "rejected", code = "unsupported_channel", message = "notify-email sends email only" }
  end
  local body = { From = conf.from, To = msg.to, ReplyTo = conf.reply_to, MessageStream = conf.message_stream,
                 Tag = msg.tag, TrackOpens = false,
                 Metadata = { souq_idempotency_key = msg.idempotency_key },
                 Headers = { { Name = "X-Souq-Idempotency-Key", Value = msg.idempotency_key } } }
  local path = "/email"
  if msg.template then
    path = "/email/withTemplate"
    body.TemplateAlias = msg.template
    body.TemplateModel = msg.template_data or {}
  else
    body.Subject = msg.subject
    body.TextBody = msg.text
    body.HtmlBody = msg.html
  end
  local answer, status = postmark(conf, path, body)
  local code = type(answer.ErrorCode) == "number" and answer.ErrorCode or -1
  if status == 200 and code == 0 and type(answer.MessageID) == "string" and answer.MessageID ~= "" then
    return { status = "sent", message_id = answer.MessageID }
  end
  if status == 422 and PERMANENT[code] then
    return { status = "rejected", code = PERMANENT[code],
             message = string.sub(tostring(answer.Message or "rejected by Postmark"), 1, 150) }
  end
  if status == 401 or code == 10 then
    error("postmark refused the server token (HTTP " .. status .. ", ErrorCode 10): check the server_token setting", 0)
  end
  error("postmark answered HTTP " .. status .. " ErrorCode " .. code .. ": " .. string.sub(tostring(answer.Message), 1, 100), 0)
end

return plugin
