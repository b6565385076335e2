package identity

// Keys returns every identity key seen, in first-seen order.
func (r *Resolver) Keys() []string {
	recs := r.sorted()
	out := make([]string, len(recs))
	for i, rec := range recs {
		out[i] = rec.id.Key()
	}
	return out
}

// Forget removes a member and every identity of it for good (a person
// asked to be forgotten): their records, usernames and e-mail hash, and
// the unmerge pins that name them, so no snapshot written afterwards
// holds them. It returns what activities may have named the member by
// (Refs, taken before). An identity seen again later is new.
func (r *Resolver) Forget(member string) []string {
	keys := r.members[member]
	if len(keys) == 0 {
		return nil
	}
	refs := r.Refs(member)
	gone := map[string]bool{}
	for _, k := range keys {
		gone[k] = true
		delete(r.ids, k)
	}
	delete(r.members, member)
	for src, names := range r.byName {
		for n, k := range names {
			if gone[k] {
				delete(names, n)
			}
		}
		if len(names) == 0 {
			delete(r.byName, src)
		}
	}
	for p := range r.pinned {
		if gone[p[0]] || gone[p[1]] {
			delete(r.pinned, p)
		}
	}
	r.reindexEmails()
	return refs
}

// RekeyEmails replaces every e-mail hash held with f(hash): state written
// before e-mail hashes were keyed (events.Salt.Email) is brought up to date.
func (r *Resolver) RekeyEmails(f func(string) string) {
	for _, rec := range r.ids {
		if rec.id.EmailSHA256 != "" {
			rec.id.EmailSHA256 = f(rec.id.EmailSHA256)
		}
	}
	r.reindexEmails()
}
