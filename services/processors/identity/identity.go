// Package identity maps identities (an account on one source) to members
// (one person across sources), as ORBIT-MODEL.md §8 asks: merges happen
// automatically only on strong evidence — the same e-mail hash, or an
// explicit link — and are otherwise suggested with their evidence and a
// confidence. Merges and unmerges are decisions recorded in order; the
// scores of the members they touch are rebuilt from their activities by the
// caller, so no number keeps the trace of a wrong merge.
//
// A Resolver is deterministic: the same observations and decisions in the
// same order give the same members, whatever else happens. Member ids are
// the key of the member's first-seen identity ("github:583231"), so they
// are stable as long as that identity stays in the member.
package identity

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Identity is one account on one source.
type Identity struct {
	Source, SourceID string
	Username         string
	DisplayName      string
	EmailSHA256      string
}

// Key is "source:source_id", the identity's id in activities.
func (i Identity) Key() string { return i.Source + ":" + i.SourceID }

// Username references: connectors that know only a name write targets as
// source_id "login:<name>" (GitHub) or "@<name>" (Discourse).
func usernameRef(sourceID string) (string, bool) {
	if name, ok := strings.CutPrefix(sourceID, "login:"); ok {
		return strings.ToLower(name), true
	}
	if name, ok := strings.CutPrefix(sourceID, "@"); ok {
		return strings.ToLower(name), true
	}
	return "", false
}

// Change is a merge or an unmerge the resolver made or was told to make:
// the caller rebuilds the scores of Members from their activities.
type Change struct {
	Kind    string   // "merge" or "unmerge"
	Members []string // the member ids affected (the surviving one first)
	Reason  string   // the evidence: "same e-mail hash", "explicit link", "unmerged by ..."
}

// Suggestion is a possible merge without strong evidence.
type Suggestion struct {
	A, B       string  // member ids, A < B
	Evidence   string  // e.g. `same username "jane" on github and discourse`
	Confidence float64 // 0..1
}

type record struct {
	id     Identity
	member string // current member id
	order  int    // first-seen order
}

// Resolver holds identities and members. Not safe for concurrent use.
type Resolver struct {
	ids     map[string]*record  // identity key → record
	members map[string][]string // member id → identity keys, first-seen order
	byEmail map[string]string   // e-mail hash → member id
	// byName maps source → lowercase username → identity key (latest).
	byName map[string]map[string]string
	// pinned are identity pairs an unmerge separated: never merged again
	// automatically.
	pinned map[[2]string]bool
	seen   int
}

// New returns an empty resolver.
func New() *Resolver {
	return &Resolver{ids: map[string]*record{}, members: map[string][]string{}, byEmail: map[string]string{},
		byName: map[string]map[string]string{}, pinned: map[[2]string]bool{}}
}

// Observe records an identity as seen on an activity (updating its
// username, name and e-mail hash) and returns its member, plus the merge
// that a shared e-mail hash caused, if any.
func (r *Resolver) Observe(id Identity) (member string, merged *Change) {
	key := id.Key()
	rec := r.ids[key]
	if rec == nil {
		rec = &record{id: id, member: key, order: r.seen}
		r.seen++
		r.ids[key] = rec
		r.members[key] = []string{key}
	} else {
		if id.Username != "" {
			rec.id.Username = id.Username
		}
		if id.DisplayName != "" {
			rec.id.DisplayName = id.DisplayName
		}
		if id.EmailSHA256 != "" {
			rec.id.EmailSHA256 = id.EmailSHA256
		}
	}
	if rec.id.Username != "" {
		names := r.byName[id.Source]
		if names == nil {
			names = map[string]string{}
			r.byName[id.Source] = names
		}
		names[strings.ToLower(rec.id.Username)] = key
	}
	if h := rec.id.EmailSHA256; h != "" {
		other, ok := r.byEmail[h]
		switch {
		case !ok:
			r.byEmail[h] = rec.member
		case other != rec.member && !r.separated(other, rec.member):
			merged = r.merge(other, rec.member, "same e-mail hash")
		}
	}
	return r.ids[key].member, merged
}

// Resolve returns the member of the identity source:sourceID, resolving
// username references ("login:jane", "@jane") through the usernames seen on
// that source. An identity never seen is its own member.
func (r *Resolver) Resolve(source, sourceID string) string {
	if rec := r.ids[source+":"+sourceID]; rec != nil {
		return rec.member
	}
	if name, ok := usernameRef(sourceID); ok {
		if key, ok := r.byName[source][name]; ok {
			return r.ids[key].member
		}
	}
	return source + ":" + sourceID
}

// Link merges the members of two identities on an explicit link (a user
// connected their accounts, an admin said so). It returns the change, or nil
// when they are already one member.
func (r *Resolver) Link(a, b Identity) *Change {
	ma, _ := r.Observe(a)
	mb, _ := r.Observe(b)
	if ma == mb {
		return nil
	}
	// An explicit link overrides what earlier unmerges pinned apart.
	for _, x := range r.members[ma] {
		for _, y := range r.members[mb] {
			delete(r.pinned, pair(x, y))
		}
	}
	return r.merge(ma, mb, "explicit link")
}

// Unmerge takes an identity out of its member: it becomes its own member
// again, and is not merged back with the identities it left automatically.
func (r *Resolver) Unmerge(key string) (*Change, error) {
	rec := r.ids[key]
	if rec == nil {
		return nil, fmt.Errorf("identity %s is unknown", key)
	}
	old := rec.member
	keys := r.members[old]
	if len(keys) == 1 {
		return nil, fmt.Errorf("identity %s is alone in member %s: nothing to unmerge", key, old)
	}
	rest := slices.DeleteFunc(slices.Clone(keys), func(k string) bool { return k == key })
	for _, k := range rest {
		r.pinned[pair(key, k)] = true
	}
	delete(r.members, old)
	// The rest keep a member named after their first-seen identity; the
	// identity taken out is its own member.
	survivor := rest[0]
	r.members[survivor] = rest
	for _, k := range rest {
		r.ids[k].member = survivor
	}
	rec.member = key
	r.members[key] = []string{key}
	r.reindexEmails()
	return &Change{Kind: "unmerge", Members: []string{survivor, key}, Reason: "unmerged " + key}, nil
}

// merge joins two members; the one whose first identity was seen first
// survives (deterministic).
func (r *Resolver) merge(a, b, reason string) *Change {
	if r.ids[r.members[b][0]].order < r.ids[r.members[a][0]].order {
		a, b = b, a
	}
	for _, k := range r.members[b] {
		r.ids[k].member = a
	}
	r.members[a] = append(r.members[a], r.members[b]...)
	slices.SortFunc(r.members[a], func(x, y string) int { return cmp.Compare(r.ids[x].order, r.ids[y].order) })
	delete(r.members, b)
	r.reindexEmails()
	return &Change{Kind: "merge", Members: []string{a, b}, Reason: reason}
}

func (r *Resolver) reindexEmails() {
	clear(r.byEmail)
	for _, rec := range r.sorted() {
		if h := rec.id.EmailSHA256; h != "" {
			if _, ok := r.byEmail[h]; !ok {
				r.byEmail[h] = rec.member
			}
		}
	}
}

func (r *Resolver) sorted() []*record {
	recs := make([]*record, 0, len(r.ids))
	for _, rec := range r.ids {
		recs = append(recs, rec)
	}
	slices.SortFunc(recs, func(x, y *record) int { return cmp.Compare(x.order, y.order) })
	return recs
}

// separated reports whether an unmerge pinned any identity of member a
// apart from any of member b.
func (r *Resolver) separated(a, b string) bool {
	for _, x := range r.members[a] {
		for _, y := range r.members[b] {
			if r.pinned[pair(x, y)] {
				return true
			}
		}
	}
	return false
}

func pair(a, b string) [2]string {
	if a > b {
		a, b = b, a
	}
	return [2]string{a, b}
}

// Identities returns the identity keys of a member, first-seen first.
func (r *Resolver) Identities(member string) []string { return slices.Clone(r.members[member]) }

// Suggestions lists possible merges between different members: the same
// username on two sources (confidence 0.6; 0.8 when the display names are
// equal too). Sorted by confidence, then member ids.
func (r *Resolver) Suggestions() []Suggestion {
	type seenAt struct{ member, source string }
	byName := map[string][]seenAt{}
	for _, rec := range r.sorted() {
		if rec.id.Username == "" {
			continue
		}
		n := strings.ToLower(rec.id.Username)
		byName[n] = append(byName[n], seenAt{rec.member, rec.id.Source})
	}
	best := map[[2]string]Suggestion{}
	for name, list := range byName {
		for i := range list {
			for j := i + 1; j < len(list); j++ {
				x, y := list[i], list[j]
				if x.member == y.member || x.source == y.source || r.separated(x.member, y.member) {
					continue
				}
				p := pair(x.member, y.member)
				s := Suggestion{A: p[0], B: p[1], Confidence: 0.6,
					Evidence: fmt.Sprintf("same username %q on %s and %s", name, x.source, y.source)}
				if dn := r.displayName(x.member); dn != "" && strings.EqualFold(dn, r.displayName(y.member)) {
					s.Confidence = 0.8
					s.Evidence += fmt.Sprintf(" and the same display name %q", dn)
				}
				if old, ok := best[p]; !ok || s.Confidence > old.Confidence {
					best[p] = s
				}
			}
		}
	}
	out := make([]Suggestion, 0, len(best))
	for _, s := range best {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b Suggestion) int {
		return cmp.Or(cmp.Compare(b.Confidence, a.Confidence), cmp.Compare(a.A, b.A), cmp.Compare(a.B, b.B))
	})
	return out
}

func (r *Resolver) displayName(member string) string {
	for _, k := range r.members[member] {
		if dn := r.ids[k].id.DisplayName; dn != "" {
			return dn
		}
	}
	return ""
}

// ParseKey splits an identity key "source:source_id".
func ParseKey(key string) (Identity, bool) {
	src, id, ok := strings.Cut(key, ":")
	if !ok || src == "" || id == "" {
		return Identity{}, false
	}
	return Identity{Source: src, SourceID: id}, true
}

// MemberOf returns the member of identity key ("" if never seen).
func (r *Resolver) MemberOf(key string) string {
	if rec := r.ids[key]; rec != nil {
		return rec.member
	}
	return ""
}

// Refs returns every string activities may name the member's identities
// by: their keys, and the username references of the names they use
// ("github:login:jane", "discourse:@jane", in the case seen and lower case).
func (r *Resolver) Refs(member string) []string {
	var out []string
	for _, key := range r.members[member] {
		out = append(out, key)
		id := r.ids[key].id
		if id.Username == "" {
			continue
		}
		for _, name := range []string{id.Username, strings.ToLower(id.Username)} {
			out = append(out, id.Source+":login:"+name, id.Source+":@"+name)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Len is the number of identities seen.
func (r *Resolver) Len() int { return len(r.ids) }

// Username is the latest username seen for identity key ("" if none).
func (r *Resolver) Username(key string) string {
	if rec := r.ids[key]; rec != nil {
		return rec.id.Username
	}
	return ""
}
