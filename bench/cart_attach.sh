#!/usr/bin/env bash
# cart_attach.sh: the database cost of POST /carts/{id}/customer (souq_cart_attach merging a 3-line cart) with
# pgbench, one client, on a private cluster: per transaction a fresh customer, a 3-line customer cart and a
# 2-line guest cart, without and with the attach. Needs bin/souq (make). Prints both latencies twice.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d); chmod 755 $work
pgport=$(scripts/free-port.sh)
trap 'scripts/pg.sh stop $work/pg >/dev/null 2>&1 || true; rm -rf $work' EXIT
scripts/pg.sh start $work/pg $pgport >/dev/null
P="psql -h $work/pg/sock -p $pgport -U souq"
$P -d postgres -qc "CREATE DATABASE souq" >/dev/null
export SOUQ_DATABASE_URL="postgresql://souq@/souq?host=$work/pg/sock&port=$pgport"
export SOUQ_JWT_SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
export SOUQ_OWNER_EMAIL=bench-owner@example.com SOUQ_OWNER_PASSWORD=bench-owner-password-1
bin/souq migrate >/dev/null
bin/souq seed >/dev/null
$P -d souq -qAt <<'SQL' > $work/vars
UPDATE product_variants SET manage_inventory = false;

INSERT INTO products (id, title, handle, status) VALUES ('prod_bench', 'Bench', 'bench', 'active');
INSERT INTO product_sales_channels (product_id, sales_channel_id) SELECT 'prod_bench', id FROM sales_channels;
INSERT INTO product_variants (product_id, title, sku, manage_inventory) SELECT 'prod_bench', 'v' || g, 'BENCH-' || g, false FROM generate_series(1, 4) g;
INSERT INTO prices (variant_id, currency_code, amount) SELECT id, 'eur', 1000 FROM product_variants WHERE product_id = 'prod_bench';
SELECT string_agg(v.id, ' ') FROM (SELECT pv.id FROM product_variants pv JOIN prices pr ON pr.variant_id = pv.id AND pr.price_list_id IS NULL
  JOIN products p ON p.id = pv.product_id AND p.status = 'active' JOIN product_sales_channels psc ON psc.product_id = p.id
  WHERE pr.currency_code = (SELECT min(currency_code) FROM prices) GROUP BY pv.id ORDER BY pv.id LIMIT 4) v;
SELECT id FROM sales_channels ORDER BY created_at LIMIT 1;
SELECT min(currency_code) FROM prices;
SQL
read -r v1 v2 v3 v4 < <(sed -n 1p $work/vars)
ch=$(sed -n 2p $work/vars); cur=$(sed -n 3p $work/vars)
items="[{\"variant_id\":\"$v1\",\"quantity\":1},{\"variant_id\":\"$v2\",\"quantity\":2},{\"variant_id\":\"$v3\",\"quantity\":1}]"
gitems="[{\"variant_id\":\"$v1\",\"quantity\":1},{\"variant_id\":\"$v4\",\"quantity\":1}]"
cat > $work/create.sql <<SQL
\set r random(1, 1000000000)
INSERT INTO customers (id, email) VALUES ('cus_' || :client_id || '_' || :r, 'b@example.com') ON CONFLICT DO NOTHING;
SELECT souq_cart_create('cart_o' || lpad(:client_id::text, 4, '0') || substr(md5(random()::text || :r), 1, 32) || 'aaaaaa', '$ch', 'cus_' || :client_id || '_' || :r, '{"currency_code":"$cur","items":$items}');
SELECT souq_cart_create('cart_g' || lpad(:client_id::text, 4, '0') || substr(md5(random()::text || :r), 1, 32) || 'aaaaaa', '$ch', NULL, '{"currency_code":"$cur","items":$gitems}');
SQL
cat > $work/attach.sql <<SQL
\set r random(1, 1000000000)
INSERT INTO customers (id, email) VALUES ('cus_' || :client_id || '_' || :r, 'b@example.com') ON CONFLICT DO NOTHING;
SELECT souq_cart_create('cart_o' || lpad(:client_id::text, 4, '0') || substr(md5(random()::text || :r), 1, 32) || 'aaaaaa', '$ch', 'cus_' || :client_id || '_' || :r, '{"currency_code":"$cur","items":$items}');
\set g random(1, 1000000000)
BEGIN;
SELECT souq_cart_create('cart_g' || lpad(:client_id::text, 4, '0') || substr(md5(:g::text), 1, 32) || 'aaaaaa', '$ch', NULL, '{"currency_code":"$cur","items":$gitems}');
SELECT souq_cart_attach('cart_g' || lpad(:client_id::text, 4, '0') || substr(md5(:g::text), 1, 32) || 'aaaaaa', '$ch', 'cus_' || :client_id || '_' || :r, 2592000, NULL);
COMMIT;
SQL
PB="pgbench -h $work/pg/sock -p $pgport -U souq -n -c 1 -T 10 souq"
for i in 1 2; do
  echo "create two carts: $($PB -f $work/create.sql | grep -E 'latency average|tps')"
  echo "create two carts + attach (3-line merge): $($PB -f $work/attach.sql | grep -E 'latency average|tps')"
done
$P -d souq -qAtc "SELECT 'merged carts: ' || count(*) FILTER (WHERE merged_at IS NOT NULL) || ', reports with drops: ' || count(*) FILTER (WHERE jsonb_array_length(last_merge->'dropped') > 0) FROM carts"
