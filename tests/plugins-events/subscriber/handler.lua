-- tests/plugins-events/subscriber/handler.lua: forwards each event to conf.url; an event whose data asks for it fails.
local souq, error, tostring = souq, error, tostring
local plugin = {}

function plugin.on_event(conf, event)
  if event.data and event.data.fail then error("asked to fail", 0) end
  local res = souq.http.request({ method = "POST", url = conf.url .. "/status/200", headers = { ["Content-Type"] = "application/json",
    ["Souq-Event-Id"] = event.id }, body = souq.json.encode({ id = event.id, type = event.type, data = event.data }) })
  if res.status ~= 200 then error("receiver answered " .. tostring(res.status), 0) end
  return { ok = true }
end

return plugin
