package kittest

import (
	"slices"
	"testing"
	"time"
)

// SettledShards waits until the shards the instances of a group own
// (bus.ShardGroup's Owned) are disjoint, cover all n, and each is at most
// the fair share; it returns them.
func SettledShards(t testing.TB, n int, instances ...interface{ Owned() []int }) [][]int {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		var all []int
		var owned [][]int
		fair := true
		for _, o := range instances {
			shards := o.Owned()
			owned = append(owned, shards)
			all = append(all, shards...)
			fair = fair && len(shards) <= (n+len(instances)-1)/len(instances)
		}
		slices.Sort(all)
		if len(all) == n && len(slices.Compact(all)) == n && fair {
			return owned
		}
		if time.Now().After(deadline) {
			t.Fatalf("the shards never settled: %v", owned)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
