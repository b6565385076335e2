-- Reach into the customer base: imported customer accounts, the members
-- linked to them (by e-mail domain hash, or mapped explicitly), and the
-- share of accounts with active members. See README.md, "Customer
-- accounts". Addresses are never stored: activities carry the SHA-256 of
-- the actor's e-mail domain (events.HashEmailDomain), accounts the
-- SHA-256 of each of their domains (events.HashDomain), and they meet on
-- the hash.

-- The actor's e-mail domain hash (actor.email_domain_sha256; '' when the
-- connector saw no address or the domain is a free-mail provider's).
ALTER TABLE activities_raw ADD COLUMN IF NOT EXISTS email_domain_sha256 String DEFAULT '';

-- identity_domains: per community, identity and e-mail domain hash, the
-- first and last activity carrying it. Idempotent (min, max): a batch
-- inserted twice changes nothing.
CREATE TABLE IF NOT EXISTS identity_domains
(
    community     LowCardinality(String),
    identity      String,
    domain_sha256 String,
    first_at      SimpleAggregateFunction(min, DateTime64(3, 'UTC')),
    last_at       SimpleAggregateFunction(max, DateTime64(3, 'UTC'))
)
ENGINE = AggregatingMergeTree
ORDER BY (community, identity, domain_sha256);

CREATE MATERIALIZED VIEW IF NOT EXISTS identity_domains_mv TO identity_domains AS
SELECT community, identity, email_domain_sha256 AS domain_sha256, min(occurred_at) AS first_at, max(occurred_at) AS last_at
FROM activities_raw
WHERE email_domain_sha256 != ''
GROUP BY community, identity, domain_sha256;

-- What was there before the view (idempotent: min and max).
INSERT INTO identity_domains
SELECT community, identity, email_domain_sha256 AS domain_sha256, min(occurred_at), max(occurred_at)
FROM activities_raw
WHERE email_domain_sha256 != ''
GROUP BY community, identity, domain_sha256;

-- accounts_raw: customer accounts as imported (`orbitflow accounts
-- import`, POST /api/v1/accounts/import). Deployment-wide: one customer
-- base for every community. A re-import writes every row again with a
-- newer version, so the same file twice changes nothing and a changed row
-- replaces the old one. domains are the account's domains as given
-- (lowercase); domain_hashes their events.HashDomain, what links members.
CREATE TABLE IF NOT EXISTS accounts_raw
(
    account_id    String,
    name          String,
    domains       Array(String),
    domain_hashes Array(String),
    segment       LowCardinality(String),
    plan          LowCardinality(String),
    persona       String,
    deleted       Bool DEFAULT false,
    imported_at   DateTime64(3, 'UTC'),
    version       UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY account_id;

CREATE OR REPLACE VIEW accounts AS
SELECT account_id, name, domains, domain_hashes, segment, plan, persona, imported_at
FROM accounts_raw FINAL
WHERE NOT deleted;

-- account_domains: which account each domain hash belongs to (an import
-- refuses a domain already held by another account).
CREATE OR REPLACE VIEW account_domains AS
SELECT account_id, arrayJoin(domain_hashes) AS domain_sha256
FROM accounts;

-- account_members_raw: explicit links of a member (a member id or any
-- identity of the member) to an account (`orbitflow accounts map`);
-- unmapping writes deleted = true with a newer version.
CREATE TABLE IF NOT EXISTS account_members_raw
(
    community   LowCardinality(String),
    member      String,
    account_id  String,
    deleted     Bool DEFAULT false,
    mapped_by   String,
    mapped_at   DateTime64(3, 'UTC'),
    version     UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (community, member);

-- member_accounts: each member's account. An explicit mapping wins over a
-- domain match; among explicit mappings of a member's identities the
-- latest; among domain matches the domain the member used last (then the
-- smallest account_id, so a tie always resolves the same way). Identities
-- resolve to their member as of now (member_identities, latest row).
CREATE OR REPLACE VIEW member_accounts AS
SELECT community, member_id,
       argMin(acc, (rank, order_key, acc)) AS account_id,
       argMin(how, (rank, order_key, acc)) AS link
FROM (
    SELECT e.community AS community, if(i.member_id = '', e.member, i.member_id) AS member_id,
           e.account_id AS acc, 'explicit' AS how, toUInt8(0) AS rank, -toInt64(e.version) AS order_key
    FROM (SELECT community, member, account_id, version FROM account_members_raw FINAL
          WHERE NOT deleted AND account_id IN (SELECT account_id FROM accounts)) AS e
    LEFT JOIN (SELECT community, identity, argMax(member_id, stream_seq) AS member_id FROM member_identities
               GROUP BY community, identity) AS i ON i.community = e.community AND i.identity = e.member
    UNION ALL
    SELECT d.community AS community, if(i.member_id = '', d.identity, i.member_id) AS member_id,
           a.account_id AS acc, 'domain' AS how, toUInt8(1) AS rank, -toUnixTimestamp64Milli(d.last_at) AS order_key
    FROM (SELECT community, identity, domain_sha256, max(last_at) AS last_at FROM identity_domains
          GROUP BY community, identity, domain_sha256) AS d
    INNER JOIN account_domains AS a ON a.domain_sha256 = d.domain_sha256
    LEFT JOIN (SELECT community, identity, argMax(member_id, stream_seq) AS member_id FROM member_identities
               GROUP BY community, identity) AS i ON i.community = d.community AND i.identity = d.identity
)
GROUP BY community, member_id;

-- account_member_days(community, from, to): per day in [from, to] and
-- member linked to an account, the member's activities that day; bots
-- and teammates left out, as the health metrics do.
CREATE OR REPLACE VIEW account_member_days AS
SELECT a.day AS day, a.member_id AS member_id, ma.account_id AS account_id, sum(a.n) AS activities
FROM (
    SELECT d.day AS day, if(mi.member_id = '', d.identity, mi.member_id) AS member_id, d.n AS n
    FROM (SELECT day, identity, uniqExactMerge(events) AS n FROM identity_daily
          WHERE community = {community:String} AND day BETWEEN {from:Date} AND {to:Date} AND NOT is_bot AND NOT is_teammate
          GROUP BY day, identity) AS d
    LEFT JOIN (SELECT identity, argMax(member_id, stream_seq) AS member_id FROM member_identities
               WHERE community = {community:String} GROUP BY identity) AS mi ON mi.identity = d.identity
) AS a
INNER JOIN (SELECT member_id, account_id FROM member_accounts WHERE community = {community:String}) AS ma
    ON ma.member_id = a.member_id
GROUP BY day, member_id, account_id;

-- account_periods(community, period, from, to): per period (day, week —
-- ISO, Monday — or month) overlapping [from, to] and per account, the
-- active members (any activity in the period) and their activities;
-- every account, 0 when none was active.
CREATE OR REPLACE VIEW account_periods AS
WITH {period:String} AS unit
SELECT cal.p AS period_start, acc.account_id AS account_id, acc.name AS name, acc.segment AS segment, acc.plan AS plan,
       toUInt64(x.active_members) AS active_members, toUInt64(x.activities) AS activities
FROM (
    SELECT DISTINCT toDate(dateTrunc(unit, {from:Date} + number)) AS p
    FROM numbers(toUInt64(greatest(dateDiff('day', {from:Date}, {to:Date}) + 1, 0)))
) AS cal
CROSS JOIN (SELECT account_id, name, segment, plan FROM accounts) AS acc
LEFT JOIN (
    SELECT toDate(dateTrunc(unit, day)) AS p, account_id, uniqExact(member_id) AS active_members, sum(activities) AS activities
    FROM account_member_days(community = {community:String}, from = toDate(dateTrunc(unit, {from:Date})),
        to = addDays(addMonths(toDate(dateTrunc(unit, {to:Date})), if(unit = 'month', 1, 0)), multiIf(unit = 'week', 7, unit = 'day', 1, 0)) - 1)
    GROUP BY p, account_id
) AS x ON x.p = cal.p AND x.account_id = acc.account_id;

-- account_reach(community, period, from, to): per period, the accounts
-- and those with at least one active member, with their share; for all
-- accounts (dimension ''), per segment and per plan.
CREATE OR REPLACE VIEW account_reach AS
SELECT period_start, dimension, value, accounts, active_accounts,
       if(accounts = 0, 0, round(active_accounts / accounts, 6)) AS share, members AS active_members
FROM (
    SELECT period_start, dim.1 AS dimension, dim.2 AS value, count() AS accounts,
           countIf(active_members > 0) AS active_accounts, sum(active_members) AS members
    FROM account_periods(community = {community:String}, period = {period:String}, from = {from:Date}, to = {to:Date})
    ARRAY JOIN [('', ''), ('segment', segment), ('plan', plan)] AS dim
    GROUP BY period_start, dimension, value
)
ORDER BY period_start, dimension, value;

-- account_windows(community, today, days, windows): per account, its
-- active members and activities in window 0 (the `days` whole days before
-- today: today itself is not counted, it is not over) and in windows 1 ..
-- `windows` before it, each `days` long. The account_drop alert detector
-- and the weekly report compare window 0 with the mean of the others.
CREATE OR REPLACE VIEW account_windows AS
WITH {days:UInt32} AS w, {windows:UInt32} AS n, {today:Date} AS t
SELECT acc.account_id AS account_id, acc.name AS name, acc.segment AS segment, acc.plan AS plan, k.number AS window,
       toUInt64(x.active_members) AS active_members, toUInt64(x.activities) AS activities
FROM (SELECT account_id, name, segment, plan FROM accounts) AS acc
CROSS JOIN numbers(toUInt64(n) + 1) AS k
LEFT JOIN (
    SELECT account_id, toUInt64(intDiv(dateDiff('day', day, t - 1), w)) AS k, uniqExact(member_id) AS active_members, sum(activities) AS activities
    FROM account_member_days(community = {community:String}, from = t - w * (n + 1), to = t - 1)
    GROUP BY account_id, k
) AS x ON x.account_id = acc.account_id AND x.k = k.number
ORDER BY account_id, window;
