package identity

import (
	"cmp"
	"encoding/gob"
	"fmt"
	"io"
	"slices"
)

// state is the resolver's snapshot form: records in first-seen order (the
// member lists and the e-mail index follow from them), the username index
// and the pinned pairs, sorted, so equal resolvers write equal bytes.
type state struct {
	Version int
	Records []stateRecord
	Names   [][3]string // source, lowercase username, identity key
	Pinned  [][2]string
	Seen    int
}

type stateRecord struct {
	ID     Identity
	Member string
	Order  int
}

// WriteSnapshot writes the resolver's state.
func (r *Resolver) WriteSnapshot(w io.Writer) error {
	st := state{Version: 1, Seen: r.seen}
	for _, rec := range r.sorted() {
		st.Records = append(st.Records, stateRecord{ID: rec.id, Member: rec.member, Order: rec.order})
	}
	for src, names := range r.byName {
		for n, k := range names {
			st.Names = append(st.Names, [3]string{src, n, k})
		}
	}
	slices.SortFunc(st.Names, func(a, b [3]string) int { return cmp.Or(cmp.Compare(a[0], b[0]), cmp.Compare(a[1], b[1])) })
	for p := range r.pinned {
		st.Pinned = append(st.Pinned, p)
	}
	slices.SortFunc(st.Pinned, func(a, b [2]string) int { return cmp.Or(cmp.Compare(a[0], b[0]), cmp.Compare(a[1], b[1])) })
	return gob.NewEncoder(w).Encode(st)
}

// ReadSnapshot restores a resolver written by WriteSnapshot.
func ReadSnapshot(rd io.Reader) (*Resolver, error) {
	var st state
	if err := gob.NewDecoder(rd).Decode(&st); err != nil {
		return nil, fmt.Errorf("identity: read snapshot: %w", err)
	}
	if st.Version != 1 {
		return nil, fmt.Errorf("identity: snapshot version %d, want 1", st.Version)
	}
	r := New()
	r.seen = st.Seen
	for _, sr := range st.Records {
		rec := &record{id: sr.ID, member: sr.Member, order: sr.Order}
		r.ids[sr.ID.Key()] = rec
		r.members[sr.Member] = append(r.members[sr.Member], sr.ID.Key())
	}
	for _, n := range st.Names {
		if r.byName[n[0]] == nil {
			r.byName[n[0]] = map[string]string{}
		}
		r.byName[n[0]][n[1]] = n[2]
	}
	for _, p := range st.Pinned {
		r.pinned[p] = true
	}
	r.reindexEmails()
	return r, nil
}
