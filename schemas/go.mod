module github.com/orbitflow/orbitflow/schemas

go 1.26
