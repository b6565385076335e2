module github.com/orbitflow/orbitflow/services/processors

go 1.26.0

replace (
	github.com/orbitflow/orbitflow/schemas => ../../schemas
	github.com/orbitflow/orbitflow/services/kit => ../kit
)

require (
	github.com/orbitflow/orbitflow/schemas v0.0.0-00010101000000-000000000000
	github.com/orbitflow/orbitflow/services/kit v0.0.0-00010101000000-000000000000
	github.com/stretchr/testify v1.12.1
)

require (
	github.com/segmentio/asm v1.2.1 // indirect
	github.com/segmentio/encoding v0.5.4 // indirect
	go.yaml.in/yaml/v3 v3.0.5 // indirect
	golang.org/x/sys v0.49.0 // indirect
	gopkg.in/yaml.v3 v3.0.1 // indirect
)
