-- souq plugin test plugins/shipping-easypost: EasyPost's shipments, buy and trackers against faked answers.
local conf = { api_key = "EZTKspec", base_url = "https://ep.test", webhook_secret = "whsec_spec",
               from_address = { name = "Shop", street1 = "1 Market St", city = "San Francisco", state = "CA", zip = "94105", country = "US" } }
local address = { first_name = "Grace", last_name = "Hopper", address_1 = "417 Montgomery St", city = "San Francisco",
                  province = "CA", postal_code = "94104", country_code = "us" }

local function json(status, body) return { status = status, headers = { ["content-type"] = "application/json" }, body = souq.json.encode(body) } end
local shipment = json(201, { id = "shp_1", object = "Shipment", rates = {
  { id = "rate_1", carrier = "USPS", service = "Priority", rate = "7.58", currency = "USD" },
  { id = "rate_2", carrier = "USPS", service = "Express", rate = "26.35", currency = "USD" },
  { id = "rate_3", carrier = "DHL", service = "Worldwide", rate = "4.00", currency = "EUR" } } })

spec.test("rates: the cheapest rate in the cart's currency plus the option's amount, with Basic auth and the parcel in ounces", function()
  spec.http.respond("POST", "https://ep.test/v2/shipments", shipment)
  local out = spec.call("shipping_rates", { provider = "easypost", currency = "usd", amount = 100, item_total = 100, weight_g = 500,
                                            address = address }, conf)
  spec.eq(out, { amount = 858 })
  local sent = spec.http.requests()[1]
  spec.eq(sent.headers["authorization"], "Basic " .. souq.crypto.base64_encode("EZTKspec:"))
  local body = souq.json.decode(sent.body).shipment
  spec.eq(body.parcel.weight, 17.7)
  spec.eq(body.to_address.zip, "94104")
  spec.eq(body.to_address.country, "US")
  spec.eq(body.from_address.zip, "94105")
end)

spec.test("rates: no address is not offered without asking; only rates in another currency are not offered", function()
  spec.eq(spec.call("shipping_rates", { provider = "easypost", currency = "usd", amount = 0, item_total = 0, weight_g = 0 }, conf), nil)
  spec.eq(#spec.http.requests(), 0)
  spec.http.respond("POST", "https://ep.test/v2/shipments", shipment)
  spec.eq(spec.call("shipping_rates", { provider = "easypost", currency = "gbp", amount = 0, item_total = 0, weight_g = 0, address = address }, conf), nil)
end)

spec.test("labels: create the shipment, buy the named service, answer tracking, label and cost", function()
  spec.http.respond("POST", "https://ep.test/v2/shipments", shipment)
  spec.http.respond("POST", "https://ep.test/v2/shipments/shp_1/buy", json(200, { id = "shp_1", tracking_code = "9400111",
    selected_rate = { id = "rate_2", carrier = "USPS", service = "Express", rate = "26.35", currency = "USD" },
    postage_label = { label_url = "https://files.test/label.png" }, tracker = { id = "trk_1", public_url = "https://track.test/trk_1" } }))
  local out = spec.call("shipping_create_label", { provider = "easypost", fulfillment_id = "ful_1", service = "Express", weight_g = 500,
                                                   to = address, from = { company = "Warehouse", postal_code = "94107", country_code = "us" } }, conf)
  spec.eq(out, { tracking_number = "9400111", carrier = "USPS", label_url = "https://files.test/label.png", tracking_url = "https://track.test/trk_1",
                 provider_ref = "trk_1", cost = 2635, cost_currency = "usd" })
  local sent = spec.http.requests()
  spec.eq(souq.json.decode(sent[2].body), { rate = { id = "rate_2" } })
  spec.eq(souq.json.decode(sent[1].body).shipment.reference, "ful_1")
end)

spec.test("labels and rates: EasyPost errors and outages fail the call", function()
  spec.http.respond("POST", "https://ep.test/v2/shipments", json(422, { error = { code = "ADDRESS.VERIFY.FAILURE", message = "bad" } }))
  spec.eq(spec.fails("shipping_create_label", { provider = "easypost", weight_g = 1, to = address, from = {} }, conf).code, "error")
  spec.http.respond("POST", "https://ep.test/v2/shipments", { error = "timeout" })
  spec.eq(spec.fails("shipping_rates", { provider = "easypost", currency = "usd", amount = 0, item_total = 0, weight_g = 0, address = address }, conf).code, "error")
end)

spec.test("track: GET /v2/trackers/{id}; statuses outside the contract are unknown", function()
  spec.http.respond("GET", "https://ep.test/v2/trackers/trk_1", json(200, { id = "trk_1", status = "delivered" }))
  spec.eq(spec.call("shipping_track", { provider = "easypost", ref = "trk_1" }, conf), { status = "delivered" })
  spec.http.respond("GET", "https://ep.test/v2/trackers/trk_1", json(200, { id = "trk_1", status = "error" }))
  spec.eq(spec.call("shipping_track", { provider = "easypost", ref = "trk_1" }, conf), { status = "unknown" })
end)

spec.test("webhooks: X-Hmac-Signature over the raw body; tracker.updated carries tracking", function()
  local body = souq.json.encode({ id = "evt_1", object = "Event", description = "tracker.updated",
                                  result = { id = "trk_1", object = "Tracker", tracking_code = "9400111", status = "delivered", carrier = "USPS" } })
  local sig = "hmac-sha256-hex=" .. souq.crypto.hmac_sha256("whsec_spec", body)
  local out = spec.call("handle_webhook", { method = "POST", headers = { ["x-hmac-signature"] = sig }, body = body }, conf)
  spec.eq(out.status, "accepted")
  spec.eq(out.event_id, "evt_1")
  spec.eq(out.tracking, { provider = "easypost", tracking_number = "9400111", status = "delivered" })
  for _, bad in ipairs({ "hmac-sha256-hex=00", "sha1=" .. souq.crypto.hmac_sha256("whsec_spec", body),
                         "hmac-sha256-hex=" .. souq.crypto.hmac_sha256("other", body) }) do
    spec.eq(spec.call("handle_webhook", { method = "POST", headers = { ["x-hmac-signature"] = bad }, body = body }, conf).status, "rejected")
  end
  spec.eq(spec.call("handle_webhook", { method = "POST", headers = {}, body = body }, conf).status, "rejected")
end)
