-- seed_catalog.sql: the demo and benchmark catalog, embedded in the binary (scripts/embed.sh) and run by
-- `souq seed --demo` / `souq seed --bench N` (core/seed_db.c). It defines a session-only function, so nothing of it
-- stays in the schema; the function builds the whole catalog set-based (a few dozen statements whatever N is)
-- and deterministically: product i always gets the same title, category, options, prices and stock.
--
-- pg_temp.souq_seed_catalog(n, demo) returns a JSON summary. It does nothing (seeded: false) when the catalog
-- already has products, categories or collections, so running it twice never duplicates anything.
-- demo: about 200 products with German translations; bench: n products, same shapes, English only, each
-- title numbered. Needs the base seed (currencies, the default sales channel) first.

CREATE FUNCTION pg_temp.souq_seed_catalog(n int, demo boolean) RETURNS json LANGUAGE plpgsql AS $seed$
DECLARE
    channel text;
    berlin text;
    newark text;
    sale text;
    existing bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(7297283102); -- one catalog seed at a time
    PERFORM set_config('souq.price_source', 'seed', true); -- no ledger rows or price.changed events (0035)
    SELECT (SELECT count(*) FROM products) + (SELECT count(*) FROM categories) + (SELECT count(*) FROM collections) INTO existing;
    IF existing > 0 THEN
        RETURN json_build_object('seeded', false, 'reason',
            format('the catalog is not empty (%s products, %s categories, %s collections)', (SELECT count(*) FROM products),
                   (SELECT count(*) FROM categories), (SELECT count(*) FROM collections)));
    END IF;
    SELECT id INTO channel FROM sales_channels WHERE is_default;
    IF channel IS NULL OR NOT EXISTS (SELECT 1 FROM currencies WHERE code = 'eur') THEN
        RAISE EXCEPTION 'run the base seed first (currencies and the default sales channel)';
    END IF;

    -- the store speaks English and German; regions give storefront requests a currency
    UPDATE store_settings SET locales = ARRAY(SELECT DISTINCT x FROM unnest(locales || ARRAY['en', 'de']) x ORDER BY 1), updated_at = now();
    -- European prices include VAT (the region is tax-inclusive); US prices get sales tax added
    INSERT INTO regions (name, currency_code, tax_inclusive) SELECT 'Europe', 'eur', true WHERE NOT EXISTS (SELECT 1 FROM regions WHERE currency_code = 'eur');
    INSERT INTO regions (name, currency_code) SELECT 'United States', 'usd' WHERE NOT EXISTS (SELECT 1 FROM regions WHERE currency_code = 'usd');
    INSERT INTO region_countries (country_code, region_id)
    SELECT c, (SELECT id FROM regions WHERE currency_code = CASE WHEN c = 'us' THEN 'usd' ELSE 'eur' END ORDER BY created_at, id LIMIT 1)
      FROM unnest(ARRAY['de', 'at', 'fr', 'nl', 'be', 'it', 'es', 'ie', 'us']) c
    ON CONFLICT (country_code) DO NOTHING;
    UPDATE sales_channels SET default_region_id = (SELECT id FROM regions WHERE currency_code = 'eur' ORDER BY created_at, id LIMIT 1)
     WHERE id = channel AND default_region_id IS NULL;

    -- tax and shipping (migrations/0020), so the demo store can check out: VAT per European country (standard, and
    -- Germany's reduced 7% for the reduced class) with 20% as the region's default; US sales tax for a few states
    -- (a US address elsewhere pays none); a flat-rate Standard (free over 50.00) and Express option per region
    IF NOT EXISTS (SELECT 1 FROM tax_rates) THEN
        INSERT INTO tax_rates (region_id, tax_class, rate_bp, name, code)
        SELECT id, 'standard', 2000, 'VAT 20%', 'VAT' FROM regions WHERE currency_code = 'eur' ORDER BY created_at, id LIMIT 1;
        INSERT INTO tax_rates (country_code, tax_class, rate_bp, name, code)
        SELECT c, 'standard', bp, 'VAT ' || (bp / 100) || '%', 'VAT'
          FROM (VALUES ('de', 1900), ('at', 2000), ('fr', 2000), ('nl', 2100), ('be', 2100), ('it', 2200), ('es', 2100), ('ie', 2300)) v (c, bp);
        INSERT INTO tax_rates (country_code, tax_class, rate_bp, name, code) VALUES ('de', 'reduced', 700, 'VAT 7%', 'VAT');
        INSERT INTO tax_rates (country_code, province_code, tax_class, rate_bp, name, code)
        SELECT 'us', st, 'standard', bp, name || ' sales tax', upper(st)
          FROM (VALUES ('ca', 725, 'California'), ('ny', 400, 'New York'), ('tx', 625, 'Texas'), ('nj', 663, 'New Jersey')) v (st, bp, name);
    END IF;
    IF NOT EXISTS (SELECT 1 FROM shipping_options) THEN
        INSERT INTO shipping_options (name, region_id, provider, amount, free_over)
        SELECT o.name, r.id, 'flat_rate', o.amount, o.free_over
          FROM regions r
          JOIN (VALUES ('eur', 'Standard', 495, 5000), ('eur', 'Express', 1495, NULL), ('usd', 'Standard', 695, 5000), ('usd', 'Express', 1995, NULL))
               o (cur, name, amount, free_over) ON o.cur = r.currency_code
         WHERE r.id IN (SELECT DISTINCT ON (currency_code) id FROM regions WHERE currency_code IN ('eur', 'usd') ORDER BY currency_code, created_at, id);
    END IF;

    -- two warehouses the default channel sells from, Berlin first
    INSERT INTO stock_locations (name, address_1, city, postal_code, country_code)
    VALUES ('Berlin Warehouse', 'Am Borsigturm 10', 'Berlin', '13507', 'de') RETURNING id INTO berlin;
    INSERT INTO stock_locations (name, address_1, city, postal_code, country_code)
    VALUES ('Newark Warehouse', '100 Port Street', 'Newark', '07114', 'us') RETURNING id INTO newark;
    INSERT INTO sales_channel_locations (sales_channel_id, location_id, priority) VALUES (channel, berlin, 0), (channel, newark, 1);

    -- the category tree: 4 departments, 13 leaves; each leaf says what its products are made of
    CREATE TEMP TABLE seed_cat ON COMMIT DROP AS
    SELECT * FROM (VALUES
        (1, NULL::int, 'apparel', 'Apparel', 'Bekleidung', 'Clothing for every day and every season.', 'Kleidung für jeden Tag und jede Jahreszeit.'),
        (2, NULL, 'shoes', 'Shoes', 'Schuhe', 'Sneakers, boots and sandals.', 'Sneaker, Stiefel und Sandalen.'),
        (3, NULL, 'home', 'Home', 'Wohnen', 'Kitchen, bedroom and lighting.', 'Küche, Schlafzimmer und Beleuchtung.'),
        (4, NULL, 'electronics', 'Electronics', 'Elektronik', 'Audio and power for your devices.', 'Audio und Strom für deine Geräte.'),
        (5, 1, 't-shirts', 'T-Shirts', 'T-Shirts', 'Soft organic cotton tees.', 'Weiche T-Shirts aus Bio-Baumwolle.'),
        (6, 1, 'hoodies-sweatshirts', 'Hoodies & Sweatshirts', 'Hoodies & Sweatshirts', 'Warm layers.', 'Warme Lagen.'),
        (7, 1, 'jackets', 'Jackets', 'Jacken', 'For wind, rain and snow.', 'Für Wind, Regen und Schnee.'),
        (8, 1, 'trousers', 'Trousers', 'Hosen', 'Chinos, jeans and more.', 'Chinos, Jeans und mehr.'),
        (9, 2, 'sneakers', 'Sneakers', 'Sneaker', 'Everyday sneakers.', 'Sneaker für jeden Tag.'),
        (10, 2, 'boots', 'Boots', 'Stiefel', 'Built for the outdoors.', 'Gemacht für draußen.'),
        (11, 2, 'sandals', 'Sandals', 'Sandalen', 'Light shoes for summer.', 'Leichte Schuhe für den Sommer.'),
        (12, 3, 'kitchen', 'Kitchen', 'Küche', 'Tools for cooks.', 'Werkzeug für Köche.'),
        (13, 3, 'bedding', 'Bedding', 'Bettwäsche', 'Linen and wool for good sleep.', 'Leinen und Wolle für guten Schlaf.'),
        (14, 3, 'lighting', 'Lighting', 'Beleuchtung', 'Lamps for every room.', 'Lampen für jeden Raum.'),
        (15, 4, 'headphones', 'Headphones', 'Kopfhörer', 'Wired and wireless sound.', 'Klang mit und ohne Kabel.'),
        (16, 4, 'chargers-cables', 'Chargers & Cables', 'Ladegeräte & Kabel', 'Keep everything charged.', 'Alles immer geladen.'),
        (17, 4, 'speakers', 'Speakers', 'Lautsprecher', 'Sound for the whole room.', 'Klang für den ganzen Raum.')
    ) AS c(n, parent, handle, name_en, name_de, desc_en, desc_de);
    ALTER TABLE seed_cat ADD COLUMN id text;
    UPDATE seed_cat SET id = souq_id('pcat');
    INSERT INTO categories (id, name, handle, description, parent_id, rank)
    SELECT c.id, c.name_en, c.handle, c.desc_en, p.id, c.n FROM seed_cat c LEFT JOIN seed_cat p ON p.n = c.parent ORDER BY c.parent NULLS FIRST, c.n;
    INSERT INTO category_translations (category_id, locale, name, description) SELECT id, 'de', name_de, desc_de FROM seed_cat;

    -- what each leaf sells: 4 product kinds (English, German), one option with its values, a base price in euro
    -- cents (step: extra per larger variant), a weight and tags
    CREATE TEMP TABLE seed_leaf ON COMMIT DROP AS
    SELECT * FROM (VALUES
        (1, 5, 'TEE', 'T-Shirt', ARRAY['Crew Neck T-Shirt', 'V-Neck T-Shirt', 'Pocket Tee', 'Long Sleeve Tee'],
         ARRAY['T-Shirt mit Rundhalsausschnitt', 'T-Shirt mit V-Ausschnitt', 'T-Shirt mit Brusttasche', 'Langarmshirt'],
         'Size', 'Größe', ARRAY['S', 'M', 'L', 'XL'], ARRAY['S', 'M', 'L', 'XL'], 2499, 0, 180, ARRAY['cotton', 'summer'],
         'Made from organic cotton jersey with a relaxed fit.', 'Aus Bio-Baumwoll-Jersey mit lockerer Passform.'),
        (2, 6, 'HOD', 'Hoodie', ARRAY['Pullover Hoodie', 'Zip Hoodie', 'Crewneck Sweatshirt', 'Fleece Hoodie'],
         ARRAY['Kapuzenpullover', 'Kapuzenjacke', 'Sweatshirt', 'Fleece-Kapuzenpullover'],
         'Size', 'Größe', ARRAY['S', 'M', 'L', 'XL'], ARRAY['S', 'M', 'L', 'XL'], 5999, 0, 520, ARRAY['cotton', 'winter'],
         'Brushed inside, heavyweight and warm.', 'Innen angeraut, schwer und warm.'),
        (3, 7, 'JKT', 'Jacket', ARRAY['Rain Jacket', 'Down Jacket', 'Denim Jacket', 'Softshell Jacket'],
         ARRAY['Regenjacke', 'Daunenjacke', 'Jeansjacke', 'Softshelljacke'],
         'Size', 'Größe', ARRAY['S', 'M', 'L'], ARRAY['S', 'M', 'L'], 12999, 0, 800, ARRAY['outdoor', 'winter'],
         'Windproof, water-repellent and packable.', 'Winddicht, wasserabweisend und klein verstaubar.'),
        (4, 8, 'TRS', 'Trousers', ARRAY['Chino Trousers', 'Slim Jeans', 'Cargo Trousers', 'Linen Trousers'],
         ARRAY['Chinohose', 'Slim-Jeans', 'Cargohose', 'Leinenhose'],
         'Waist', 'Bundweite', ARRAY['30', '32', '34'], ARRAY['30', '32', '34'], 6999, 0, 450, ARRAY[]::text[],
         'A straight leg with a little stretch.', 'Gerades Bein mit etwas Stretch.'),
        (5, 9, 'SNK', 'Sneaker', ARRAY['Canvas Sneaker', 'Leather Sneaker', 'Running Shoe', 'High-Top Sneaker'],
         ARRAY['Canvas-Sneaker', 'Leder-Sneaker', 'Laufschuh', 'High-Top-Sneaker'],
         'Size', 'Größe', ARRAY['40', '42', '44'], ARRAY['40', '42', '44'], 8999, 0, 750, ARRAY['summer'],
         'A cushioned sole that lasts.', 'Eine gedämpfte Sohle, die lange hält.'),
        (6, 10, 'BOT', 'Boot', ARRAY['Chelsea Boot', 'Hiking Boot', 'Winter Boot', 'Work Boot'],
         ARRAY['Chelsea-Boot', 'Wanderschuh', 'Winterstiefel', 'Arbeitsstiefel'],
         'Size', 'Größe', ARRAY['40', '42', '44'], ARRAY['40', '42', '44'], 14999, 0, 1200, ARRAY['outdoor', 'winter'],
         'Full-grain leather, resoleable.', 'Vollnarbenleder, neu besohlbar.'),
        (7, 11, 'SND', 'Sandal', ARRAY['Slide Sandal', 'Trekking Sandal', 'Leather Sandal', 'Flip-Flop'],
         ARRAY['Badeschlappe', 'Trekkingsandale', 'Ledersandale', 'Zehentrenner'],
         'Size', 'Größe', ARRAY['40', '42', '44'], ARRAY['40', '42', '44'], 3999, 0, 400, ARRAY['summer'],
         'Light, quick-drying straps.', 'Leichte, schnell trocknende Riemen.'),
        (8, 12, 'KIT', 'Kitchenware', ARRAY['Chef''s Knife', 'Cast Iron Pan', 'Ceramic Mug', 'Cutting Board'],
         ARRAY['Kochmesser', 'Gusseisenpfanne', 'Keramikbecher', 'Schneidebrett'],
         'Color', 'Farbe', ARRAY['Black', 'White', 'Sage'], ARRAY['Schwarz', 'Weiß', 'Salbei'], 3499, 0, 900, ARRAY['gift'],
         'Made to be used every day for years.', 'Gemacht, um jahrelang täglich benutzt zu werden.'),
        (9, 13, 'BED', 'Bedding', ARRAY['Duvet Cover', 'Linen Sheet Set', 'Pillowcase Pair', 'Wool Blanket'],
         ARRAY['Bettbezug', 'Leinen-Bettlaken-Set', 'Kissenbezüge im Paar', 'Wolldecke'],
         'Size', 'Größe', ARRAY['Single', 'Double', 'King'], ARRAY['Einzelbett', 'Doppelbett', 'Kingsize'], 4999, 1000, 1100,
         ARRAY[]::text[], 'Stonewashed European linen.', 'Stonewashed-Leinen aus Europa.'),
        (10, 14, 'LMP', 'Lamp', ARRAY['Desk Lamp', 'Floor Lamp', 'Pendant Light', 'String Lights'],
         ARRAY['Schreibtischlampe', 'Stehlampe', 'Pendelleuchte', 'Lichterkette'],
         'Color', 'Farbe', ARRAY['Black', 'Brass'], ARRAY['Schwarz', 'Messing'], 5999, 0, 1500, ARRAY[]::text[],
         'Warm dimmable LED light.', 'Warmes, dimmbares LED-Licht.'),
        (11, 15, 'HPH', 'Headphones', ARRAY['Wireless Headphones', 'Noise-Cancelling Headphones', 'Earbuds', 'Studio Headphones'],
         ARRAY['Kabellose Kopfhörer', 'Kopfhörer mit Geräuschunterdrückung', 'In-Ear-Kopfhörer', 'Studiokopfhörer'],
         'Color', 'Farbe', ARRAY['Black', 'White', 'Blue'], ARRAY['Schwarz', 'Weiß', 'Blau'], 7999, 0, 250, ARRAY['gift'],
         '30 hours of battery and a clear, balanced sound.', '30 Stunden Akku und ein klarer, ausgewogener Klang.'),
        (12, 16, 'CHG', 'Charger', ARRAY['USB-C Charger', 'Charging Cable', 'Power Bank', 'Wireless Charger'],
         ARRAY['USB-C-Ladegerät', 'Ladekabel', 'Powerbank', 'Kabelloses Ladegerät'],
         'Color', 'Farbe', ARRAY['Black', 'White'], ARRAY['Schwarz', 'Weiß'], 1999, 0, 120, ARRAY['gift'],
         'Fast charging for phones and laptops.', 'Schnelles Laden für Handys und Laptops.'),
        (13, 17, 'SPK', 'Speaker', ARRAY['Bluetooth Speaker', 'Smart Speaker', 'Bookshelf Speaker', 'Soundbar'],
         ARRAY['Bluetooth-Lautsprecher', 'Smarter Lautsprecher', 'Regallautsprecher', 'Soundbar'],
         'Color', 'Farbe', ARRAY['Black', 'Grey'], ARRAY['Schwarz', 'Grau'], 9999, 0, 1300, ARRAY[]::text[],
         'Room-filling sound with deep bass.', 'Raumfüllender Klang mit tiefem Bass.')
    ) AS l(leaf, cat, prefix, type, nouns_en, nouns_de, opt_en, opt_de, vals_en, vals_de, price, step, weight, tags, blurb_en, blurb_de);

    -- products: leaf round-robin; the k-th product of a leaf is a (model line, kind) pair no other product of it has
    CREATE TEMP TABLE seed_p ON COMMIT DROP AS
    SELECT i, leaf, k, souq_id('prod') AS id, souq_id('opt') AS opt_id, line,
           (ARRAY['Northwind', 'Alder & Co', 'Fjell', 'Kestrel', 'Lumen', 'Sora', 'Tidewater', 'Volta'])[(i * 7) % 8 + 1] AS brand,
           l.nouns_en[k % 4 + 1] AS noun_en, l.nouns_de[k % 4 + 1] AS noun_de,
           -- euro price: the leaf's price +-20%, ending in 99 cents; dollars about 8% more
           greatest(((l.price * (80 + (i * 37) % 41) / 100 + 50) / 100) * 100 - 1, 99)::bigint AS eur
      FROM (SELECT i, (i - 1) % 13 + 1 AS leaf, (i - 1) / 13 AS k,
                   (ARRAY['Aurora', 'Basalt', 'Cedar', 'Drift', 'Ember', 'Fjord', 'Harbor', 'Summit'])[((i - 1) / 13 / 4 + (i - 1) / 13) % 8 + 1] AS line
              FROM generate_series(1, n) i) g
      JOIN seed_leaf l USING (leaf);
    ALTER TABLE seed_p ADD COLUMN title text, ADD COLUMN handle text;
    UPDATE seed_p SET title = line || ' ' || noun_en || CASE WHEN demo THEN '' ELSE ' ' || i END;
    UPDATE seed_p SET handle = souq_slug(title);
    ALTER TABLE seed_p ADD PRIMARY KEY (i);

    INSERT INTO products (id, title, handle, subtitle, description, status, type, brand, tags, seo_title, seo_description, created_at, updated_at)
    SELECT p.id, p.title, p.handle, p.brand || ' · ' || l.type,
           format('The %s %s by %s. %s', p.line, p.noun_en, p.brand, l.blurb_en), 'active', l.type, p.brand,
           l.tags || CASE WHEN p.i % 10 = 3 THEN ARRAY['sale'] ELSE ARRAY[]::text[] END
                  || CASE WHEN p.i % 5 = 0 THEN ARRAY['new'] ELSE ARRAY[]::text[] END,
           p.title || ' | ' || p.brand, left(l.blurb_en, 160),
           now() - (n - p.i) * interval '1 minute', now() - (n - p.i) * interval '1 minute'
      FROM seed_p p JOIN seed_leaf l USING (leaf) ORDER BY p.i;
    INSERT INTO product_sales_channels (product_id, sales_channel_id) SELECT id, channel FROM seed_p;
    INSERT INTO product_categories (product_id, category_id)
    SELECT p.id, c.id FROM seed_p p JOIN seed_leaf l USING (leaf) JOIN seed_cat c ON c.n = l.cat;
    INSERT INTO product_media (product_id, url, alt, rank)
    SELECT p.id, format('https://picsum.photos/seed/%s-%s/800/800', p.handle, r), p.title || CASE r WHEN 0 THEN ', front view' ELSE ', detail' END, r
      FROM seed_p p CROSS JOIN generate_series(0, 1) r WHERE r = 0 OR demo;

    -- one option per product, one variant per option value
    INSERT INTO product_options (id, product_id, title, rank) SELECT p.opt_id, p.id, l.opt_en, 0 FROM seed_p p JOIN seed_leaf l USING (leaf);
    CREATE TEMP TABLE seed_v ON COMMIT DROP AS
    SELECT p.i, v.j, p.id AS product_id, souq_id('var') AS id, souq_id('optval') AS val_id, souq_id('iitem') AS item_id,
           l.vals_en[v.j] AS val_en, l.vals_de[v.j] AS val_de, l.prefix || '-' || lpad(p.i::text, 6, '0') || '-' || upper(l.vals_en[v.j]) AS sku,
           l.weight + (v.j - 1) * l.weight / 10 AS weight_g, p.eur + (v.j - 1) * l.step AS eur,
           ((p.eur + (v.j - 1) * l.step + 1) * 108 / 100 / 100) * 100 + 99 AS usd, l.step, p.title
      FROM seed_p p JOIN seed_leaf l USING (leaf) CROSS JOIN LATERAL generate_series(1, cardinality(l.vals_en)) AS v(j);
    ALTER TABLE seed_v ADD COLUMN seq bigint;
    UPDATE seed_v v SET seq = s.seq FROM (SELECT i, j, row_number() OVER (ORDER BY i, j) AS seq FROM seed_v) s WHERE s.i = v.i AND s.j = v.j;
    INSERT INTO product_option_values (id, option_id, value, rank)
    SELECT v.val_id, p.opt_id, v.val_en, v.j - 1 FROM seed_v v JOIN seed_p p USING (i);
    INSERT INTO product_variants (id, product_id, title, sku, barcode, weight_g, length_mm, width_mm, height_mm, rank)
    SELECT v.id, v.product_id, v.val_en, v.sku,
           -- an EAN-13 in the 400-440 (Germany) range with its check digit
           b12 || ((10 - (SELECT sum(substr(b12, d, 1)::int * CASE WHEN d % 2 = 0 THEN 3 ELSE 1 END) FROM generate_series(1, 12) d) % 10) % 10),
           v.weight_g, 300, 200, 50 + v.j * 10, v.j - 1
      FROM (SELECT v.*, '400' || lpad(v.seq::text, 9, '0') AS b12 FROM seed_v v) v ORDER BY v.i, v.j;
    INSERT INTO variant_option_values (variant_id, option_value_id) SELECT id, val_id FROM seed_v;

    -- prices in EUR and USD; every 7th product shows a compare-at price; every 10th is in the sale (20% off)
    INSERT INTO prices (variant_id, currency_code, amount, compare_at_amount)
    SELECT v.id, c.code, c.amount, CASE WHEN v.i % 7 = 0 THEN (c.amount * 13 / 10 / 100) * 100 + 99 END
      FROM seed_v v CROSS JOIN LATERAL (VALUES ('eur', v.eur), ('usd', v.usd)) AS c(code, amount) ORDER BY v.i, v.j, c.code;
    INSERT INTO price_lists (title, description, kind, status, priority, starts_at, ends_at)
    VALUES ('Seasonal Sale', '20% off selected products', 'sale', 'active', 10, now() - interval '1 day', now() + interval '30 days')
    RETURNING id INTO sale;
    INSERT INTO prices (variant_id, price_list_id, currency_code, amount)
    SELECT v.id, sale, c.code, (c.amount * 8 / 10 / 100) * 100 + 99
      FROM seed_v v CROSS JOIN LATERAL (VALUES ('eur', v.eur), ('usd', v.usd)) AS c(code, amount) WHERE v.i % 10 = 3;

    -- stock: an item per variant; most are well stocked, some low (Berlin only), some sold out everywhere;
    -- every level is explained by a 'receive' row in the ledger
    INSERT INTO inventory_items (id, sku, title, low_stock_threshold) SELECT item_id, sku, title || ' / ' || val_en, 5 FROM seed_v;
    INSERT INTO variant_inventory_items (variant_id, inventory_item_id) SELECT id, item_id FROM seed_v;
    CREATE TEMP TABLE seed_stock ON COMMIT DROP AS
    SELECT v.item_id, s.location_id, s.qty
      FROM (SELECT item_id, (i * 31 + j * 17) % 100 AS h FROM seed_v) v
      CROSS JOIN LATERAL (VALUES (berlin, CASE WHEN v.h < 4 THEN 0 WHEN v.h < 12 THEN v.h % 3 + 1 ELSE 20 + (v.h * 7) % 180 END),
                                 (newark, CASE WHEN v.h < 12 THEN 0 ELSE (v.h * 3) % 60 END)) AS s(location_id, qty);
    INSERT INTO inventory_levels (inventory_item_id, location_id, on_hand) SELECT item_id, location_id, qty FROM seed_stock ORDER BY 1, 2;
    INSERT INTO inventory_ledger (inventory_item_id, location_id, delta_on_hand, reason, note, actor)
    SELECT item_id, location_id, qty, 'receive', 'initial stock', 'seed' FROM seed_stock WHERE qty > 0;

    -- collections: a hand-picked one and two that follow rules
    INSERT INTO collections (handle, title, description, kind) VALUES ('staff-picks', 'Staff Picks', 'What our team uses every day.', 'manual');
    INSERT INTO collection_products (collection_id, product_id, rank)
    SELECT (SELECT id FROM collections WHERE handle = 'staff-picks'), p.id, row_number() OVER (ORDER BY p.i) FROM seed_p p WHERE p.i % 17 = 1;
    INSERT INTO collections (handle, title, description, kind, rule_currency, rule_price_max)
    VALUES ('under-50', 'Under €50', 'Good things that cost less than 50 euros.', 'rule', 'eur', 4999);
    INSERT INTO collections (handle, title, description, kind, rule_tags)
    VALUES ('summer-essentials', 'Summer Essentials', 'Light clothes and shoes for warm days.', 'rule', ARRAY['summer']);
    INSERT INTO collection_translations (collection_id, locale, title, description)
    SELECT c.id, 'de', t.title, t.description FROM collections c JOIN (VALUES
        ('staff-picks', 'Empfehlungen des Teams', 'Was unser Team jeden Tag benutzt.'),
        ('under-50', 'Unter 50 €', 'Gute Dinge, die weniger als 50 Euro kosten.'),
        ('summer-essentials', 'Sommer-Essentials', 'Leichte Kleidung und Schuhe für warme Tage.')) AS t(handle, title, description) USING (handle);

    -- German: products, options, option values and variants (demo only; the bench catalog stays English)
    IF demo THEN
        INSERT INTO product_translations (product_id, locale, title, subtitle, description, seo_title)
        SELECT p.id, 'de', p.noun_de || ' ' || p.line, p.brand || ' · ' || l.type,
               format('%s %s von %s. %s', p.noun_de, p.line, p.brand, l.blurb_de), p.noun_de || ' ' || p.line || ' | ' || p.brand
          FROM seed_p p JOIN seed_leaf l USING (leaf);
        INSERT INTO option_translations (option_id, locale, title) SELECT p.opt_id, 'de', l.opt_de FROM seed_p p JOIN seed_leaf l USING (leaf);
        INSERT INTO option_value_translations (option_value_id, locale, value) SELECT val_id, 'de', val_de FROM seed_v WHERE val_de <> val_en;
        INSERT INTO variant_translations (variant_id, locale, title) SELECT id, 'de', val_de FROM seed_v WHERE val_de <> val_en;
    END IF;

    -- the seed is data, not news: no price.changed events for prices that never had another amount
    DELETE FROM outbox_events WHERE type = 'price.changed' AND payload->>'old_amount' IS NULL
       AND payload->>'variant_id' IN (SELECT id FROM seed_v);

    RETURN json_build_object('seeded', true, 'mode', CASE WHEN demo THEN 'demo' ELSE 'bench' END,
        'products', (SELECT count(*) FROM seed_p), 'variants', (SELECT count(*) FROM seed_v),
        'categories', (SELECT count(*) FROM seed_cat), 'collections', 3,
        'prices', (SELECT count(*) FROM prices), 'stock_locations', 2,
        'locales', (SELECT locales FROM store_settings));
END $seed$;
