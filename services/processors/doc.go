// Package processors will hold the stream processors that consume the
// activity stream: scoring/ (the Orbit Model: love, presence, levels),
// graph/ (the reach graph and gravity), health/ and alerts/. Each reads
// subjects declared in schemas/subjects and writes tables declared in
// schemas/clickhouse; none imports another service.
//
// The foundation ships no processor yet: activities flow from the stream
// straight to ClickHouse through services/sink.
package processors
