module github.com/orbitflow/orbitflow/services/orbitflow

go 1.26

replace (
	github.com/orbitflow/orbitflow/schemas => ../../schemas
	github.com/orbitflow/orbitflow/services/kit => ../kit
	github.com/orbitflow/orbitflow/services/connectors => ../connectors
	github.com/orbitflow/orbitflow/services/processors => ../processors
	github.com/orbitflow/orbitflow/services/sink => ../sink
	github.com/orbitflow/orbitflow/services/api => ../api
)
