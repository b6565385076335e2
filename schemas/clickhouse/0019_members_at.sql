-- members_at(as_of): the members view with love, reach and gravity decayed
-- to as_of instead of now: a fixed point in time, so pages of members
-- sorted by love or reach (the query API's cursors) stay in one order
-- while the scores decay between requests.
CREATE OR REPLACE VIEW members_at AS
WITH
    greatest(dateDiff('millisecond', love_at, {as_of:DateTime64(3)}), 0) AS love_age_ms,
    greatest(dateDiff('millisecond', reach_at, {as_of:DateTime64(3)}), 0) AS reach_age_ms,
    love * pow(love_factor, love_age_ms / love_period_ms) AS love_then,
    reach * pow(reach_factor, reach_age_ms / reach_period_ms) AS reach_then
SELECT
    member_id, community, display_name, first_seen, last_seen,
    love_then AS love, love_at, presence_7d, presence_30d, presence_90d, presence_at,
    orbit_level, orbit_step, reach_then AS reach, love_then * reach_then AS member_gravity,
    roles, is_bot, is_teammate, model_version, config_hash, updated_at
FROM members_raw FINAL
WHERE merged_into = '';
