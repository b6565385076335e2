package app

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/orbitflow/orbitflow/schemas/subjects"
	"github.com/orbitflow/orbitflow/services/kit/bus"
	"github.com/orbitflow/orbitflow/services/kit/store"
)

// OpsConfig is the operations listener of a split-mode process that runs
// no API: /healthz, /readyz and /metrics (the metrics behind a read key of
// api.api_keys or api.tokens).
type OpsConfig struct {
	// Listen is host:port; "" disables it. The api and all targets serve
	// the same paths on api.listen instead.
	Listen string `yaml:"listen"`
	// LeaseTTL bounds how long what runs once (the alert evaluator, a
	// scoring or sink shard) is without an active instance when its
	// instance dies: one instance holds its lease, the others take over
	// once it expires. Renewed every third of it.
	LeaseTTL time.Duration `yaml:"lease_ttl"`
}

// Target is what one `orbitflow run --target` process runs.
type Target struct {
	Name  string
	Parts Parts
	// Split: the target is one stage of a pipeline whose bus and store
	// are shared servers (nats.mode and clickhouse.mode external).
	Split bool
	// Consumers are the name prefixes of the consumers whose lag the
	// target's /readyz judges (api.Deps.Consumers; nil: all of them).
	Consumers []string
	// Lease, if set, is the key of the lease the target's guarded parts
	// (Guarded) wait for: one process at a time runs them.
	Lease   string
	Guarded Parts
	Help    string
}

// Targets are the values of `orbitflow run --target`.
var Targets = map[string]Target{
	"all": {Name: "all", Parts: All, Help: "every part in one process (the default)"},
	"connectors": {Name: "connectors", Parts: Parts{Bus: true, Gateway: true}, Split: true, Consumers: []string{},
		Help: "the webhook gateway and the Discord gateway client: they publish to the activity stream"},
	// Every processors instance scores its share of scoring.shards (a
	// community's activities in order, by one instance at a time); the
	// alert evaluator notifies once: one instance runs it, the others
	// stand by for the lease.
	"processors": {Name: "processors", Parts: Parts{ClickHouse: true, Bus: true, ScoringGroup: true}, Split: true,
		Consumers: []string{"scoring-", "alerts-watch-"}, Lease: "processors", Guarded: Parts{Alerts: true},
		Help: "the scoring processor, sharing scoring.shards with the other instances, and the alert evaluator and notifier (one instance active, the others standby)"},
	// Every sink instance writes its share of sink.shards: a community's
	// messages, forget commands included, in order, by one instance at a
	// time. The owner of shard 0 also writes the dead letters and runs
	// the health rollup refresher.
	"sink": {Name: "sink", Parts: Parts{ClickHouse: true, Bus: true, SinkGroup: true}, Split: true,
		Consumers: []string{subjects.SinkActivities, subjects.SinkDeadLetters},
		Help:      "the ClickHouse writer, sharing sink.shards with the other instances; the owner of shard 0 also writes the dead letters and refreshes the health rollups"},
	"api": {Name: "api", Parts: Parts{ClickHouse: true, Bus: true, API: true}, Split: true, Help: "the query API and the dashboard"},
	// For a machine without servers (and the tests of split mode): the
	// embedded servers alone, for other processes to connect to.
	"nats":       {Name: "nats", Parts: Parts{Bus: true}, Help: "the embedded NATS server alone (nats.embedded.listen), with the streams declared"},
	"clickhouse": {Name: "clickhouse", Parts: Parts{ClickHouse: true}, Help: "the embedded ClickHouse engine's HTTP interface alone (clickhouse.embedded.listen), migrated"},
}

// StartParts is what Start starts for t: its parts, and for a split-mode
// target without the API, the ops endpoints judging its own consumers.
func (t Target) StartParts() Parts {
	p := t.Parts
	if t.Split && !p.API {
		p.Ops, p.OpsConsumers = true, t.Consumers
	}
	return p
}

// TargetNames lists the targets, sorted.
func TargetNames() []string { return slices.Sorted(maps.Keys(Targets)) }

// CheckTarget says what the config lacks to run t.
func (c Config) CheckTarget(t Target) error {
	var errs []string
	if t.Split {
		if t.Parts.Bus && c.NATS.Mode != bus.ModeExternal {
			errs = append(errs, "nats.mode: want external (the NATS servers every stage shares; for a local try, `orbitflow run --target nats` serves one)")
		}
		if t.Parts.ClickHouse && c.ClickHouse.Mode != store.ModeExternal {
			errs = append(errs, "clickhouse.mode: want external (the ClickHouse every stage shares; for a local try, `orbitflow run --target clickhouse` serves one)")
		}
		if (t.Parts.Sink || t.Parts.SinkGroup || t.Parts.ScoringGroup) && c.People.EmailSalt == "" {
			errs = append(errs, "people.email_salt: set it, the same secret for every process: the sink and the processors key e-mail hashes and find forgotten members with it (a generated one would differ per process)")
		}
	}
	switch t.Name {
	case "nats":
		if c.NATS.Mode != bus.ModeEmbedded || c.NATS.Embedded.Listen == "" {
			errs = append(errs, "nats: the nats target serves the embedded server: want nats.mode embedded and nats.embedded.listen set")
		}
	case "clickhouse":
		if c.ClickHouse.Mode != store.ModeEmbedded || c.ClickHouse.Embedded.Listen == "" {
			errs = append(errs, "clickhouse: the clickhouse target serves the embedded engine: want clickhouse.mode embedded and clickhouse.embedded.listen set")
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("--target %s: %s", t.Name, strings.Join(errs, "; "))
	}
	return nil
}
