package store

// MigrationsTable is the schema_migrations DDL, for the layout tests.
const MigrationsTable = migrationsTable
