package sink_test

import (
	"context"
	"testing"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/schemas/events"
	"github.com/orbitflow/orbitflow/schemas/subjects"
)

// TestSinkStoresEmailDomainHashes: activities_raw.email_domain_sha256
// holds the event's domain hash as it comes (accounts match it), except a
// free-mail domain's, which is stored empty; identity_domains follows.
func TestSinkStoresEmailDomainHashes(t *testing.T) {
	e := newEnv(t)
	e.startSink(testConfig())
	for i, addr := range []string{"jane@Example.org", "joe@gmail.com", ""} {
		ev := event(i + 1)
		ev.Actor.EmailDomainSHA256 = events.HashEmailDomain(addr)
		data, err := events.Encode(&ev)
		require.NoError(t, err)
		e.publish(subjects.Activity(ev.Community, ev.Source), data, ev.ID)
	}
	e.eventually("SELECT count() FROM activities_raw", 3)
	rows, err := e.ch.Query(context.Background(), "SELECT email_domain_sha256 FROM activities_raw ORDER BY email_domain_sha256 DESC")
	require.NoError(t, err)
	var got []string
	for rows.Next() {
		var h string
		require.NoError(t, rows.Scan(&h))
		got = append(got, h)
	}
	require.NoError(t, rows.Err())
	require.Equal(t, []string{events.HashDomain("example.org"), "", ""}, got, "gmail.com is not kept")
	// The view's rows land after the table's, within the same insert: a
	// reader between the two sees the activities first.
	e.eventually("SELECT count() FROM identity_domains", 1)
	var identity string
	require.NoError(t, e.ch.QueryRow(withHash(events.HashDomain("example.org")),
		"SELECT identity FROM identity_domains WHERE domain_sha256 = {h:String}").Scan(&identity))
	require.Equal(t, "github:1", identity, "identity_domains: the identity and its domain hash")
}

func withHash(h string) context.Context {
	return clickhouse.Context(context.Background(), clickhouse.WithParameters(clickhouse.Parameters{"h": h}))
}
