-- A member's activities (the member page, love by source and channel,
-- latest activities, identity rebuilds) are found by identity, which the
-- sort key (community, event_id) does not order: without an index each
-- such query reads every granule of the community. A bloom filter per
-- granule skips those that cannot hold the identity. Measured on 20M
-- activities of one community (200k identities, ~100 activities each,
-- embedded engine, 2 cores): the member scan read 112 of 2452 granules
-- and took 0.4 s instead of 1.3 s. It works under the activities view's
-- FINAL.
--
-- MATERIALIZE builds the index for the parts written before this
-- migration, as a background mutation; new parts get it as they are
-- written.
ALTER TABLE activities_raw ADD INDEX IF NOT EXISTS identity_bf identity TYPE bloom_filter(0.01) GRANULARITY 1;

ALTER TABLE activities_raw MATERIALIZE INDEX identity_bf;
