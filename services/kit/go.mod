module github.com/orbitflow/orbitflow/services/kit

go 1.26

replace (
	github.com/orbitflow/orbitflow/schemas => ../../schemas
)
