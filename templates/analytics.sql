-- The analytics warehouse the dashboard templates query (documented in templates/README.md).
--
-- One file for every environment: the Metabase emulator seeds its `analytics` database (id 2) and
-- every database registered through POST /api/database from it, so `make dev` and the tests run the
-- templates against these rows; on a real warehouse (PostgreSQL) run it once with `psql -f` to get
-- the same schema and sample rows. Every table carries `tenant_id`: the templates' required
-- {{tenant_id}} filter compares against it.
--
-- Sample tenants: acme, globex, initech. Dates are ISO-8601 text so the same SQL runs on SQLite and
-- PostgreSQL.

CREATE TABLE orders (
  id INTEGER PRIMARY KEY,
  tenant_id TEXT NOT NULL,
  created_at TEXT NOT NULL,
  channel TEXT NOT NULL,
  amount REAL NOT NULL
);

INSERT INTO orders (id, tenant_id, created_at, channel, amount) VALUES
  (1, 'acme', '2025-01-01T10:00:00', 'store', 47.25),
  (2, 'acme', '2025-01-02T10:00:00', 'partner', 84.25),
  (3, 'acme', '2025-01-03T10:00:00', 'web', 31.25),
  (4, 'acme', '2025-01-04T10:00:00', 'store', 68.25),
  (5, 'acme', '2025-01-05T10:00:00', 'partner', 15.25),
  (6, 'acme', '2025-01-06T10:00:00', 'web', 52.25),
  (7, 'acme', '2025-01-07T10:00:00', 'store', 89.25),
  (8, 'acme', '2025-01-08T10:00:00', 'partner', 36.25),
  (9, 'acme', '2025-01-09T10:00:00', 'web', 73.25),
  (10, 'acme', '2025-01-10T10:00:00', 'store', 20.25),
  (11, 'acme', '2025-01-11T10:00:00', 'partner', 57.25),
  (12, 'acme', '2025-01-12T10:00:00', 'web', 94.25),
  (13, 'acme', '2025-01-13T10:00:00', 'store', 41.25),
  (14, 'acme', '2025-01-14T10:00:00', 'partner', 78.25),
  (15, 'globex', '2025-01-15T10:00:00', 'web', 25.25),
  (16, 'globex', '2025-01-16T10:00:00', 'store', 62.25),
  (17, 'globex', '2025-01-17T10:00:00', 'partner', 99.25),
  (18, 'globex', '2025-01-18T10:00:00', 'web', 46.25),
  (19, 'globex', '2025-01-19T10:00:00', 'store', 83.25),
  (20, 'globex', '2025-01-20T10:00:00', 'partner', 30.25),
  (21, 'globex', '2025-01-21T10:00:00', 'web', 67.25),
  (22, 'globex', '2025-01-22T10:00:00', 'store', 14.25),
  (23, 'globex', '2025-01-23T10:00:00', 'partner', 51.25),
  (24, 'globex', '2025-01-24T10:00:00', 'web', 88.25),
  (25, 'initech', '2025-01-25T10:00:00', 'store', 35.25),
  (26, 'initech', '2025-01-26T10:00:00', 'partner', 72.25),
  (27, 'initech', '2025-01-27T10:00:00', 'web', 19.25),
  (28, 'initech', '2025-01-28T10:00:00', 'store', 56.25),
  (29, 'initech', '2025-02-01T10:00:00', 'partner', 93.25),
  (30, 'initech', '2025-02-02T10:00:00', 'web', 40.25);

CREATE TABLE campaigns (
  id INTEGER PRIMARY KEY,
  tenant_id TEXT NOT NULL,
  name TEXT NOT NULL,
  platform TEXT NOT NULL,
  status TEXT NOT NULL,
  started_at TEXT NOT NULL,
  spend REAL NOT NULL,
  impressions INTEGER NOT NULL,
  clicks INTEGER NOT NULL,
  conversions INTEGER NOT NULL
);

INSERT INTO campaigns (id, tenant_id, name, platform, status, started_at, spend, impressions, clicks, conversions) VALUES
  (1, 'acme', 'Spring launch', 'meta', 'active', '2025-02-04', 637.0, 17919, 853, 94),
  (2, 'acme', 'Retargeting', 'linkedin', 'ended', '2025-03-07', 774.0, 25838, 1174, 117),
  (3, 'acme', 'Brand search', 'tiktok', 'active', '2025-04-10', 911.0, 33757, 1467, 133),
  (4, 'acme', 'Webinar series', 'google', 'ended', '2025-05-13', 1048.0, 41676, 1736, 144),
  (5, 'acme', 'Holiday promo', 'meta', 'active', '2025-06-16', 1185.0, 49595, 1983, 247),
  (6, 'globex', 'Trade show', 'linkedin', 'paused', '2025-07-19', 1322.0, 17514, 673, 74),
  (7, 'globex', 'Partner push', 'tiktok', 'active', '2025-08-22', 1459.0, 25433, 1271, 127),
  (8, 'globex', 'Search always-on', 'google', 'paused', '2025-09-25', 1596.0, 33352, 1588, 144),
  (9, 'globex', 'Video teaser', 'meta', 'active', '2025-01-01', 1733.0, 41271, 1875, 156),
  (10, 'initech', 'Cold outreach', 'linkedin', 'paused', '2025-02-04', 1870.0, 49190, 2138, 267),
  (11, 'initech', 'Newsletter boost', 'tiktok', 'active', '2025-03-07', 2007.0, 17109, 712, 79),
  (12, 'initech', 'Product hunt', 'google', 'paused', '2025-04-10', 2144.0, 25028, 1001, 100);

CREATE TABLE customers (
  id INTEGER PRIMARY KEY,
  tenant_id TEXT NOT NULL,
  segment TEXT NOT NULL,
  acquired_at TEXT NOT NULL,
  churned_at TEXT,
  orders_count INTEGER NOT NULL,
  revenue REAL NOT NULL
);

INSERT INTO customers (id, tenant_id, segment, acquired_at, churned_at, orders_count, revenue) VALUES
  (1, 'acme', 'mid_market', '2025-02-08', NULL, 6, 318.5),
  (2, 'acme', 'enterprise', '2025-03-15', NULL, 11, 726.5),
  (3, 'acme', 'smb', '2025-04-22', NULL, 16, 1264.5),
  (4, 'acme', 'mid_market', '2025-05-02', '2025-08-15', 4, 368.5),
  (5, 'acme', 'enterprise', '2025-06-09', NULL, 9, 405.5),
  (6, 'acme', 'smb', '2025-01-16', NULL, 14, 812.5),
  (7, 'acme', 'mid_market', '2025-02-23', NULL, 2, 142.5),
  (8, 'acme', 'enterprise', '2025-03-03', '2025-06-15', 7, 588.5),
  (9, 'acme', 'smb', '2025-04-10', NULL, 12, 1164.5),
  (10, 'acme', 'mid_market', '2025-05-17', NULL, 17, 850.5),
  (11, 'acme', 'enterprise', '2025-06-24', NULL, 5, 315.5),
  (12, 'acme', 'smb', '2025-01-04', '2025-04-15', 10, 760.5),
  (13, 'globex', 'mid_market', '2025-02-11', NULL, 15, 1335.5),
  (14, 'globex', 'enterprise', '2025-03-18', NULL, 3, 126.5),
  (15, 'globex', 'smb', '2025-04-25', NULL, 8, 440.5),
  (16, 'globex', 'mid_market', '2025-05-05', '2025-08-15', 13, 884.5),
  (17, 'globex', 'enterprise', '2025-06-12', NULL, 1, 81.5),
  (18, 'globex', 'smb', '2025-01-19', NULL, 6, 564.5),
  (19, 'globex', 'mid_market', '2025-02-26', NULL, 11, 517.5),
  (20, 'globex', 'enterprise', '2025-03-06', '2025-06-15', 16, 960.5),
  (21, 'initech', 'smb', '2025-04-13', NULL, 4, 292.5),
  (22, 'initech', 'mid_market', '2025-05-20', NULL, 9, 774.5),
  (23, 'initech', 'enterprise', '2025-06-27', NULL, 14, 1386.5),
  (24, 'initech', 'smb', '2025-01-07', '2025-04-15', 2, 104.5),
  (25, 'initech', 'mid_market', '2025-02-14', NULL, 7, 455.5),
  (26, 'initech', 'enterprise', '2025-03-21', NULL, 12, 936.5);
