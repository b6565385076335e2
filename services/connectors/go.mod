module github.com/orbitflow/orbitflow/services/connectors

go 1.26

replace (
	github.com/orbitflow/orbitflow/schemas => ../../schemas
	github.com/orbitflow/orbitflow/services/kit => ../kit
)

require (
	github.com/orbitflow/orbitflow/schemas v0.0.0-00010101000000-000000000000
	github.com/orbitflow/orbitflow/services/kit v0.0.0-00010101000000-000000000000
)
