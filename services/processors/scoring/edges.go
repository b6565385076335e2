package scoring

import "math/bits"

// edgeTable is the reach graph's edges: an open-addressing hash table of
// packed member pairs pointing into chunked edge storage. A Go map of
// 40-byte values costs ~110 bytes per edge at a million edges; this costs
// 32 bytes per edge plus 12 per slot at a load of 3/8 to 3/4 (~48–64).
type edgeTable struct {
	keys   []uint64 // a<<32 | b with a < b, so never 0: 0 marks an empty slot
	slots  []uint32 // edge index of keys[i]
	chunks [][]Edge
	n      int
	mask   uint64
}

// edgeChunk is how many edges one storage chunk holds: growing adds a
// chunk, never copies (no doubling slack).
const edgeChunk = 4096

func packEdge(k EdgeKey) uint64 { return uint64(k.A)<<32 | uint64(k.B) }

func (t *edgeTable) slot(key uint64) uint64 {
	// Fibonacci hashing: the product's high bits are the well-mixed ones.
	return bits.RotateLeft64(key*0x9E3779B97F4A7C15, 32) & t.mask
}

// get returns the edge of k, or nil.
func (t *edgeTable) get(k EdgeKey) *Edge {
	if t.n == 0 {
		return nil
	}
	key := packEdge(k)
	for i := t.slot(key); ; i = (i + 1) & t.mask {
		switch t.keys[i] {
		case key:
			idx := t.slots[i]
			return &t.chunks[idx/edgeChunk][idx%edgeChunk]
		case 0:
			return nil
		}
	}
}

// upsert returns the edge of k, adding a zero edge if there is none (the
// pointer is valid until the next upsert).
func (t *edgeTable) upsert(k EdgeKey) (e *Edge, added bool) {
	if (t.n+1)*4 > len(t.keys)*3 {
		t.grow()
	}
	key := packEdge(k)
	i := t.slot(key)
	for ; t.keys[i] != 0; i = (i + 1) & t.mask {
		if t.keys[i] == key {
			idx := t.slots[i]
			return &t.chunks[idx/edgeChunk][idx%edgeChunk], false
		}
	}
	idx := uint32(t.n)
	if int(idx)/edgeChunk == len(t.chunks) {
		t.chunks = append(t.chunks, make([]Edge, edgeChunk))
	}
	t.keys[i], t.slots[i] = key, idx
	t.n++
	return &t.chunks[idx/edgeChunk][idx%edgeChunk], true
}

func (t *edgeTable) grow() {
	size := max(len(t.keys)*2, 1024)
	keys, slots := t.keys, t.slots
	t.keys, t.slots, t.mask = make([]uint64, size), make([]uint32, size), uint64(size-1)
	for j, key := range keys {
		if key == 0 {
			continue
		}
		i := t.slot(key)
		for t.keys[i] != 0 {
			i = (i + 1) & t.mask
		}
		t.keys[i], t.slots[i] = key, slots[j]
	}
}

// remove deletes the edge of k, if any: backward-shift deletion keeps
// every probe chain whole, and the last stored edge moves into the freed
// storage slot so storage stays dense.
func (t *edgeTable) remove(k EdgeKey) bool {
	if t.n == 0 {
		return false
	}
	key := packEdge(k)
	i := t.slot(key)
	for ; t.keys[i] != key; i = (i + 1) & t.mask {
		if t.keys[i] == 0 {
			return false
		}
	}
	freed := t.slots[i]
	// Backward shift: pull later entries of the chain into the hole.
	for j := (i + 1) & t.mask; t.keys[j] != 0; j = (j + 1) & t.mask {
		home := t.slot(t.keys[j])
		// Entry j may move to i when its home is not in (i, j] cyclically.
		if (j > i && (home <= i || home > j)) || (j < i && home <= i && home > j) {
			t.keys[i], t.slots[i] = t.keys[j], t.slots[j]
			i = j
		}
	}
	t.keys[i], t.slots[i] = 0, 0
	t.n--
	last := uint32(t.n)
	if freed != last {
		for s, idx := range t.slots {
			if t.keys[s] != 0 && idx == last {
				t.slots[s] = freed
				break
			}
		}
		t.chunks[freed/edgeChunk][freed%edgeChunk] = t.chunks[last/edgeChunk][last%edgeChunk]
	}
	t.chunks[last/edgeChunk][last%edgeChunk] = Edge{}
	return true
}
