package events

import _ "embed"

// JSONSchema is event.schema.json, the published contract.
//
//go:embed event.schema.json
var JSONSchema []byte
