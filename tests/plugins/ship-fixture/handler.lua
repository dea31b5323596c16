-- tests/plugins/ship-fixture/handler.lua: rate = 2 x the option's amount + 1 per started 100 g; the amount picks a
-- misbehaviour (13 spins, 666 raises, 7 answers a number, 8 answers available = false, 9 answers a negative amount);
-- French addresses are not served (nil).
local souq = souq
local plugin = {}
function plugin.shipping_rates(conf, req)
  if req.amount == 13 then while true do end end
  if req.amount == 666 then error("carrier down") end
  if req.amount == 7 then return 42 end
  if req.amount == 8 then return { available = false } end
  if req.amount == 9 then return { amount = -1 } end
  if req.country_code == "fr" then return nil end
  local extra = (req.weight_g + 99) // 100
  return { amount = souq.money.mul(req.amount, 2) + extra }
end
-- webhooks (unsigned: a fixture): the body names the tracking the plugin reports, so tests can make it lie
function plugin.handle_webhook(conf, req)
  local ev = souq.json.decode(req.body)
  return { status = "accepted", event_id = ev.id, event_type = "tracking",
           tracking = { provider = ev.provider, tracking_number = ev.tracking_number, status = ev.status } }
end
return plugin
