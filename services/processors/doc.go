// Package processors holds what consumes the activity stream to compute the
// Orbit Model (../shared/guide/ORBIT-MODEL.md):
//
//   - scoring/: love, presence, the 12 orbit steps with milestones and
//     scheduled downgrades, the reach graph and gravity, as a pure,
//     deterministic library (every constant in deploy/config/scoring.yaml);
//   - identity/: identities to members, merges on strong evidence only,
//     suggestions otherwise, unmerges.
//
// The stream processor that runs them on the activity stream and writes
// their tables is not built yet: activities flow from the stream straight to
// ClickHouse through services/sink. Each package reads subjects declared in
// schemas/subjects and writes tables declared in schemas/clickhouse; none
// imports another service.
package processors
