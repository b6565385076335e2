#!/bin/bash
# Creates the read-only ClickHouse user for analysts (server mode): SELECT on
# the orbitflow database only, bounded queries. Run by the clickhouse-server
# image on its first start (mounted into /docker-entrypoint-initdb.d); the
# password comes from CLICKHOUSE_ANALYST_PASSWORD. Analysts connect with any
# ClickHouse client (Grafana, DBeaver, clickhouse-client, curl) as "analyst".
set -euo pipefail
: "${CLICKHOUSE_ANALYST_PASSWORD:?set CLICKHOUSE_ANALYST_PASSWORD for the analyst user}"
clickhouse client --user "${CLICKHOUSE_USER:-default}" --password "${CLICKHOUSE_PASSWORD:-}" --multiquery <<EOSQL
CREATE SETTINGS PROFILE IF NOT EXISTS analyst_profile SETTINGS
    readonly = 2 CONST,                 -- no writes, no DDL; settings below cannot be raised
    max_execution_time = 60 CONST,
    max_memory_usage = 4000000000 CONST,
    max_result_rows = 1000000 CONST;
CREATE USER IF NOT EXISTS analyst IDENTIFIED WITH sha256_password BY '${CLICKHOUSE_ANALYST_PASSWORD}'
    SETTINGS PROFILE 'analyst_profile';
GRANT SELECT, dictGet ON ${CLICKHOUSE_DB:-orbitflow}.* TO analyst;
EOSQL
