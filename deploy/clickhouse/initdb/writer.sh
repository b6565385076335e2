#!/bin/bash
# Creates the ClickHouse user orbitflow runs as in server mode: everything on
# the orbitflow database (migrations create and alter its tables, views and
# dictionaries; the sink and processors insert; forgetting a member deletes),
# nothing on any other database, no users, grants, settings profiles or
# SYSTEM commands but reloading its own dictionaries. Run by the
# clickhouse-server image on its first start (mounted into
# /docker-entrypoint-initdb.d); the password comes from
# CLICKHOUSE_WRITER_PASSWORD. The admin user (CLICKHOUSE_USER) stays for
# operators; analysts use the read-only "analyst" user (analyst.sh).
set -euo pipefail
: "${CLICKHOUSE_WRITER_PASSWORD:?set CLICKHOUSE_WRITER_PASSWORD for the writer user}"
db=${CLICKHOUSE_DB:-orbitflow}
clickhouse client --user "${CLICKHOUSE_USER:-default}" --password "${CLICKHOUSE_PASSWORD:-}" --multiquery <<EOSQL
CREATE DATABASE IF NOT EXISTS ${db};
CREATE USER IF NOT EXISTS orbitflow_writer IDENTIFIED WITH sha256_password BY '${CLICKHOUSE_WRITER_PASSWORD}';
-- CREATE DATABASE on its own database only: orbitflow opens it with
-- CREATE DATABASE IF NOT EXISTS, which ClickHouse checks even when it exists.
GRANT SELECT, INSERT, ALTER, CREATE TABLE, CREATE VIEW, CREATE DICTIONARY, CREATE DATABASE,
      DROP TABLE, DROP VIEW, DROP DICTIONARY, TRUNCATE, OPTIMIZE, SHOW, dictGet,
      SYSTEM RELOAD DICTIONARY
    ON ${db}.* TO orbitflow_writer;
-- The cluster layout (clickhouse.cluster.name) runs the migrations ON
-- CLUSTER, which takes the CLUSTER privilege (a global one: it cannot be
-- scoped to the database; the statements themselves are still checked
-- against the grants above on every replica).
GRANT CLUSTER ON *.* TO orbitflow_writer;
-- Table functions such as numbers() in the health views need it; it creates
-- nothing outside the session.
GRANT CREATE TEMPORARY TABLE ON *.* TO orbitflow_writer;
EOSQL
