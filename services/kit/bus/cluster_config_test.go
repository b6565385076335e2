package bus_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/services/kit/bus"
)

// TestClusterConfigNamesEveryProblem: a cluster node without its name,
// route address, routes, client listener or shared token is refused, each
// problem with its key.
func TestClusterConfigNamesEveryProblem(t *testing.T) {
	c := bus.DefaultConfig()
	c.Embedded.Listen, c.Embedded.Token = "", ""
	c.Embedded.Cluster = bus.ClusterConfig{Name: "prod", Routes: []string{"no-port"}}
	err := c.Validate("nats")
	require.Error(t, err)
	for _, want := range []string{"nats.embedded.cluster.node", "nats.embedded.cluster.listen", "nats.embedded.cluster.routes[0]",
		"embedded.listen (its clients) and embedded.token"} {
		require.ErrorContains(t, err, want)
	}
	c.Embedded.Listen, c.Embedded.Token = "127.0.0.1:4222", "shared-token-0123456789"
	c.Embedded.Cluster = bus.ClusterConfig{Name: "prod", Node: "n1", Listen: "127.0.0.1:6222", Routes: []string{"10.0.0.2:6222", "10.0.0.3:6222"}}
	require.NoError(t, c.Validate("nats"))
}
