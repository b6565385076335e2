module github.com/orbitflow/orbitflow/services/api

go 1.26

replace (
	github.com/orbitflow/orbitflow/schemas => ../../schemas
	github.com/orbitflow/orbitflow/services/kit => ../kit
)
