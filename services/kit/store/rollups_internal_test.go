package store

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestRefreshesBackOffWhenTheyAreSlow: under a live stream a refresh costs
// about the same however soon it comes (it recomputes today for every
// member active today); at 5 s intervals the refresher took a third of the
// pipeline's CPU in `orbitflow bench`.
func TestRefreshesBackOffWhenTheyAreSlow(t *testing.T) {
	r := NewRollups(nil, nil)
	require.Equal(t, 5*time.Second, r.nextWait(5*time.Second, 100*time.Millisecond), "a quick refresh keeps the interval")
	require.Equal(t, 12*time.Second, r.nextWait(5*time.Second, 3*time.Second), "a 3 s refresh is followed by 12 s without one")
}
