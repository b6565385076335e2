package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/orbitflow/orbitflow/services/api/structure"
)

// The community structure endpoints (package structure): every one loads
// the community's reach graph as it stands now, within api.query_timeout.

// serveStructure validates the community, runs build within the query
// timeout, and answers its value as JSON (a structure.InputError is a 400
// naming the parameter).
func (s *Server) serveStructure(w http.ResponseWriter, r *http.Request, build func(ctx context.Context, q query) (any, error)) {
	q, err := newQuery(r)
	if err != nil {
		s.respond(w, r, nil, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.QueryTimeout)
	defer cancel()
	v, err := build(ctx, q)
	var in structure.InputError
	if errors.As(err, &in) {
		err = badRequest{in.Field, in.Want, in.Got}
	}
	if err != nil {
		s.respond(w, r, nil, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// segmentParam reads ?segment=kind:value; nil when absent and optional.
func segmentParam(r *http.Request, required bool) (*structure.Segment, error) {
	v, ok := r.URL.Query()["segment"]
	if !ok || v[0] == "" {
		if required {
			return nil, badRequest{"segment", "kind:value with kind one of source, channel, tag, organization (e.g. organization:acme)", ""}
		}
		return nil, nil
	}
	seg, err := structure.ParseSegment("segment", v[0])
	if err != nil {
		return nil, err
	}
	return &seg, nil
}

// communityStructure answers GET /communities/{community}/structure.
func (s *Server) communityStructure(w http.ResponseWriter, r *http.Request) {
	s.serveStructure(w, r, func(ctx context.Context, q query) (any, error) {
		seg, err := segmentParam(r, false)
		if err != nil {
			return nil, err
		}
		return structure.Summarize(ctx, s.deps.CH, q.params["community"], seg)
	})
}

// structureSegments answers GET /communities/{community}/structure/segments.
func (s *Server) structureSegments(w http.ResponseWriter, r *http.Request) {
	s.serveStructure(w, r, func(ctx context.Context, q query) (any, error) {
		limit, err := q.intParam(r, "limit", 20, 1, structure.MaxSegmentsPerKind)
		if err != nil {
			return nil, err
		}
		minMembers, err := q.intParam(r, "min_members", 3, 1, 1_000_000)
		if err != nil {
			return nil, err
		}
		segs, err := structure.Segments(ctx, s.deps.CH, q.params["community"], limit, minMembers)
		if err != nil {
			return nil, err
		}
		return map[string]any{"community": q.params["community"], "limit": limit, "min_members": minMembers, "segments": segs}, nil
	})
}

// bridges answers GET /communities/{community}/bridges.
func (s *Server) bridges(w http.ResponseWriter, r *http.Request) {
	s.serveStructure(w, r, func(ctx context.Context, q query) (any, error) {
		if err := q.floatParam(r, "min_strength", structure.DefaultPocketMinStrength, 0); err != nil {
			return nil, err
		}
		minStrength, _ := strconv.ParseFloat(q.params["min_strength"], 64)
		if !(minStrength > 0) {
			return nil, badRequest{"min_strength", "a number > 0", r.URL.Query().Get("min_strength")}
		}
		perPair, err := q.intParam(r, "per_pair", 5, 1, structure.MaxBridgesPerPair)
		if err != nil {
			return nil, err
		}
		return structure.FindBridges(ctx, s.deps.CH, q.params["community"], minStrength, perPair)
	})
}

// introductions answers GET /communities/{community}/introductions.
func (s *Server) introductions(w http.ResponseWriter, r *http.Request) {
	s.serveStructure(w, r, func(ctx context.Context, q query) (any, error) {
		var err error
		// Every parameter given is checked before any missing one is
		// reported, so an error names the bad value first.
		member := r.URL.Query().Get("member")
		if member != "" && !isMemberID(member) {
			return nil, badRequest{"member", "a member id or an identity source:id (e.g. github:583231), at most 512 bytes, no spaces", member}
		}
		var seg *structure.Segment
		if v := r.URL.Query().Get("segment"); v != "" {
			if seg, err = segmentParam(r, true); err != nil {
				return nil, err
			}
		}
		limit, err := q.intParam(r, "limit", 10, 1, structure.MaxLimit)
		if err != nil {
			return nil, err
		}
		if member == "" {
			return nil, badRequest{"member", "a member id or an identity source:id (e.g. github:583231)", ""}
		}
		if seg == nil {
			return nil, badRequest{"segment", "kind:value with kind one of source, channel, tag, organization (e.g. organization:acme)", ""}
		}
		return structure.Introduce(ctx, s.deps.CH, q.params["community"], member, *seg, limit)
	})
}

// amplifiers answers GET /communities/{community}/amplifiers.
func (s *Server) amplifiers(w http.ResponseWriter, r *http.Request) {
	s.serveStructure(w, r, func(ctx context.Context, q query) (any, error) {
		seg, err := segmentParam(r, false)
		if err != nil {
			return nil, err
		}
		limit, err := q.intParam(r, "limit", 20, 1, structure.MaxLimit)
		if err != nil {
			return nil, err
		}
		return structure.Amplify(ctx, s.deps.CH, q.params["community"], seg, limit)
	})
}

// isMemberID reports whether s looks like a member id or an identity:
// source:id, the source a token, the id without spaces or control
// characters, at most 512 bytes in all.
func isMemberID(s string) bool {
	source, id, ok := strings.Cut(s, ":")
	return ok && len(s) <= 512 && isToken(source) && id != "" && utf8.ValidString(id) &&
		!strings.ContainsFunc(id, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) })
}
