package scoring

import (
	"bufio"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
)

// snapshotMagic starts a scorer snapshot; the number after it is the
// format's version.
const snapshotMagic = "orbitflow-scorer\x00\x02"

// WriteSnapshot writes the scorer's whole state: a processor saves it with
// the stream sequence it reflects, and restores it with ReadSnapshot to
// replay only what came after. The encoding is deterministic: the same
// state writes the same bytes.
func (s *Scorer) WriteSnapshot(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	e := encoder{w: bw}
	e.bytes([]byte(snapshotMagic))
	e.str(s.cfg.Hash())
	e.i64(s.newest)
	e.i64(s.nextEval)
	s.Drain()
	e.u64(uint64(len(s.ids)))
	for i, id := range s.ids {
		m := s.at(uint32(i))
		e.str(id)
		e.f64(m.Love.Value)
		e.i64(m.Love.At)
		e.f64(m.Reach.Value)
		e.i64(m.Reach.At)
		e.i64(m.First)
		e.i64(m.Last)
		for _, d := range m.days {
			e.u64(d)
		}
		e.u64(uint64(uint32(m.lastDay)))
		for _, d := range m.weightDay {
			e.u64(uint64(d))
		}
		e.u64(uint64(m.Step) | b2u(m.Bot)<<8 | b2u(m.Teammate)<<9 | b2u(m.gone)<<10 | uint64(m.periodStep)<<16)
	}
	// Edges partition by partition, each in index order, so that a
	// restored table with as many partitions has the same layout.
	e.u64(uint64(s.Edges()))
	for _, p := range s.parts {
		keys := make([]uint64, p.edges.n)
		for i, k := range p.edges.keys {
			if k != 0 {
				keys[p.edges.slots[i]] = k
			}
		}
		for idx, k := range keys {
			ed := &p.edges.chunks[idx/edgeChunk][idx%edgeChunk]
			e.u64(k)
			e.f64(ed.Strength.Value)
			e.i64(ed.Strength.At)
			e.u64(uint64(ed.Direct)<<32 | uint64(ed.Indirect))
			e.u64(uint64(ed.First)<<32 | uint64(ed.Last))
		}
	}
	type threadDay struct {
		thread string
		day    int32
		parts  []uint32
	}
	var tds []threadDay
	s.threads.each(func(thread string, day int32, parts []uint32) { tds = append(tds, threadDay{thread, day, parts}) })
	slices.SortFunc(tds, func(a, b threadDay) int { return cmp.Or(cmp.Compare(a.day, b.day), cmp.Compare(a.thread, b.thread)) })
	e.u64(uint64(uint32(s.threads.max)))
	e.u64(uint64(len(tds)))
	for _, k := range tds {
		e.str(k.thread)
		e.u64(uint64(uint32(k.day)))
		e.u64(uint64(len(k.parts)))
		for _, p := range k.parts {
			e.u64(uint64(p))
		}
	}
	s.writeRoles(&e)
	if e.err != nil {
		return e.err
	}
	return bw.Flush()
}

// ReadSnapshot restores a scorer written by WriteSnapshot, with n
// partitions (whatever the count it was written with). The snapshot must
// come from the same config (its hash is checked): numbers from two
// configs are never mixed.
func ReadSnapshot(cfg Config, n int, r io.Reader) (*Scorer, error) {
	d := decoder{r: bufio.NewReaderSize(r, 1<<20)}
	if magic := d.bytes(len(snapshotMagic)); d.err == nil && string(magic) != snapshotMagic {
		return nil, errors.New("scoring: not a scorer snapshot (or another format version)")
	}
	if h := d.str(); d.err == nil && h != cfg.Hash() {
		return nil, fmt.Errorf("scoring: the snapshot was made with scoring config %s, this is %s: replay the stream from the start", h, cfg.Hash())
	}
	s := NewPartitioned(cfg, n)
	s.newest = d.i64()
	s.nextEval = d.i64()
	n = d.count()
	s.ids = make([]string, 0, n)
	s.bots = make([]uint64, 0, (n+63)/64)
	for i := 0; i < n && d.err == nil; i++ {
		id := d.str()
		var m Member
		m.Love = Decayed{Value: d.f64(), At: d.i64()}
		m.Reach = Decayed{Value: d.f64(), At: d.i64()}
		m.First, m.Last = d.i64(), d.i64()
		for j := range m.days {
			m.days[j] = d.u64()
		}
		m.lastDay = int32(uint32(d.u64()))
		for j := range m.weightDay {
			m.weightDay[j] = uint16(d.u64())
		}
		flags := d.u64()
		m.Step, m.Bot, m.Teammate, m.gone, m.periodStep = uint8(flags), flags&(1<<8) != 0, flags&(1<<9) != 0, flags&(1<<10) != 0, uint8(flags>>16)
		g := uint32(len(s.ids))
		if id != "" { // "" is an erased member's slot (Erase)
			s.index[id] = g
		}
		s.ids = append(s.ids, id)
		if int(g/64) == len(s.bots) {
			s.bots = append(s.bots, 0)
		}
		if m.Bot {
			s.bots[g/64] |= 1 << (g % 64)
		}
		p := s.parts[g%uint32(len(s.parts))]
		p.members = append(p.members, m)
	}
	n = d.count()
	for i := 0; i < n && d.err == nil; i++ {
		k := d.u64()
		key := EdgeKey{uint32(k >> 32), uint32(k)}
		if key.A >= key.B || int(key.B) >= len(s.ids) {
			return nil, errors.New("scoring: corrupt snapshot: an edge between unknown members")
		}
		ed, added := s.parts[key.A%uint32(len(s.parts))].edges.upsert(key)
		if !added {
			return nil, errors.New("scoring: corrupt snapshot: an edge twice")
		}
		ed.Strength = Decayed{Value: d.f64(), At: d.i64()}
		c := d.u64()
		ed.Direct, ed.Indirect = uint32(c>>32), uint32(c)
		f := d.u64()
		ed.First, ed.Last = uint32(f>>32), uint32(f)
	}
	s.threads.max = int32(uint32(d.u64()))
	n = d.count()
	for i := 0; i < n && d.err == nil; i++ {
		thread, day := d.str(), int32(uint32(d.u64()))
		parts := make([]uint32, d.count())
		for j := range parts {
			parts[j] = uint32(d.u64())
		}
		if byThread := s.threads.of(day); byThread != nil {
			byThread[thread] = parts
		} else if d.err == nil {
			d.err = fmt.Errorf("corrupt snapshot: thread day %d outside the kept days", day)
		}
	}
	s.readRoles(&d)
	if d.err != nil {
		return nil, fmt.Errorf("scoring: read snapshot: %w", d.err)
	}
	return s, nil
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

type encoder struct {
	w   *bufio.Writer
	buf [binary.MaxVarintLen64]byte
	err error
}

func (e *encoder) bytes(b []byte) {
	if e.err == nil {
		_, e.err = e.w.Write(b)
	}
}
func (e *encoder) u64(v uint64) { e.bytes(binary.AppendUvarint(e.buf[:0], v)) }
func (e *encoder) i64(v int64)  { e.bytes(binary.AppendVarint(e.buf[:0], v)) }
func (e *encoder) f64(v float64) {
	e.bytes(binary.LittleEndian.AppendUint64(e.buf[:0], math.Float64bits(v)))
}
func (e *encoder) str(s string) { e.u64(uint64(len(s))); e.bytes([]byte(s)) }

type decoder struct {
	r   *bufio.Reader
	err error
}

// maxCount bounds a length read from a snapshot (a corrupt one must not
// allocate without limit).
const maxCount = 1 << 31

func (d *decoder) bytes(n int) []byte {
	if d.err != nil {
		return nil
	}
	b := make([]byte, n)
	_, d.err = io.ReadFull(d.r, b)
	return b
}

func (d *decoder) u64() uint64 {
	if d.err != nil {
		return 0
	}
	v, err := binary.ReadUvarint(d.r)
	d.err = err
	return v
}

func (d *decoder) i64() int64 {
	if d.err != nil {
		return 0
	}
	v, err := binary.ReadVarint(d.r)
	d.err = err
	return v
}

func (d *decoder) f64() float64 {
	b := d.bytes(8)
	if d.err != nil {
		return 0
	}
	return math.Float64frombits(binary.LittleEndian.Uint64(b))
}

func (d *decoder) count() int {
	n := d.u64()
	if n > maxCount && d.err == nil {
		d.err = fmt.Errorf("corrupt snapshot: a length of %d", n)
	}
	return int(n)
}

func (d *decoder) str() string {
	n := d.count()
	if n > 1<<20 && d.err == nil {
		d.err = fmt.Errorf("corrupt snapshot: a string of %d bytes", n)
	}
	return string(d.bytes(n))
}

// writeRoles writes the reach cut and every member's role state, in
// member order.
func (s *Scorer) writeRoles(e *encoder) {
	cut := s.parts[0].reachCut
	e.u64(b2u(cut.ok))
	e.i64(cut.at)
	e.u64(uint64(len(cut.values)))
	for _, v := range cut.values {
		e.f64(v)
	}
	var members []uint32
	for _, p := range s.parts {
		for i := range p.roles {
			members = append(members, i)
		}
	}
	slices.Sort(members)
	e.u64(uint64(len(members)))
	for _, i := range members {
		st := s.parts[i%uint32(len(s.parts))].roles[i]
		e.u64(uint64(i))
		e.u64(st.held)
		e.u64(uint64(st.top))
		e.u64(uint64(len(st.times)))
		for _, ts := range st.times {
			e.u64(uint64(len(ts)))
			for _, t := range ts {
				e.i64(t)
			}
		}
	}
}

func (s *Scorer) readRoles(d *decoder) {
	cut := reachCut{ok: d.u64() == 1, at: d.i64()}
	cut.values = make([]float64, d.count())
	for i := range cut.values {
		cut.values[i] = d.f64()
	}
	// Before the first weekly cut there are no values (cut.ok is false).
	if d.err == nil && (cut.ok || len(cut.values) > 0) && len(cut.values) != len(s.book.reachTops) {
		d.err = errors.New("corrupt snapshot: reach cuts do not match the role rules")
	}
	for _, p := range s.parts {
		p.reachCut = cut
	}
	n := d.count()
	for k := 0; k < n && d.err == nil; k++ {
		i := uint32(d.u64())
		if int(i) >= len(s.ids) {
			d.err = errors.New("corrupt snapshot: roles of an unknown member")
			return
		}
		p := s.parts[i%uint32(len(s.parts))]
		st := p.roleState(i)
		st.held = d.u64()
		st.top = uint8(d.u64())
		if r := d.count(); r != len(st.times) && d.err == nil {
			d.err = errors.New("corrupt snapshot: role counts do not match the role rules")
			return
		}
		for b := range st.times {
			ts := make([]int64, d.count())
			for j := range ts {
				ts[j] = d.i64()
			}
			if len(ts) > 0 {
				st.times[b] = ts
			}
		}
		if st.windowed() {
			st.listed = true
			p.windowed = append(p.windowed, i)
		}
	}
}
