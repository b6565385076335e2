package github

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"iter"
	"strconv"
	"time"

	"github.com/segmentio/encoding/json"

	"github.com/orbitflow/orbitflow/schemas/events"
	"github.com/orbitflow/orbitflow/services/connectors/ingest"
	"github.com/orbitflow/orbitflow/services/connectors/source"
)

// MaxArchiveLineBytes bounds one GH Archive line. A longer line is rejected
// (its first events.MaxEventBytes go to the dead letter) and reading goes
// on with the next.
const MaxArchiveLineBytes = 8 << 20

// archiveTypes maps the /events API types of GH Archive to webhook event
// names; the payloads match but for sender and repository, which the
// archive has at the top level (actor, repo).
var archiveTypes = map[string]string{
	"CommitCommentEvent":            "commit_comment",
	"CreateEvent":                   "create",
	"DeleteEvent":                   "delete",
	"DiscussionEvent":               "discussion",
	"DiscussionCommentEvent":        "discussion_comment",
	"ForkEvent":                     "fork",
	"GollumEvent":                   "gollum",
	"IssueCommentEvent":             "issue_comment",
	"IssuesEvent":                   "issues",
	"MemberEvent":                   "member",
	"PublicEvent":                   "public",
	"PullRequestEvent":              "pull_request",
	"PullRequestReviewEvent":        "pull_request_review",
	"PullRequestReviewCommentEvent": "pull_request_review_comment",
	"PullRequestReviewThreadEvent":  "pull_request_review_thread",
	"PushEvent":                     "push",
	"ReleaseEvent":                  "release",
	"SponsorshipEvent":              "sponsorship",
	"WatchEvent":                    "watch",
	// Retired types still present in older hours.
	"FollowEvent":    "follow",
	"GistEvent":      "gist",
	"DownloadEvent":  "download",
	"ForkApplyEvent": "fork_apply",
	"TeamAddEvent":   "team_add",
}

// archiveEvent is one GH Archive line (the format of 2015 and later).
type archiveEvent struct {
	Type      string       `json:"type"`
	Actor     *user        `json:"actor"`
	Repo      *archiveRepo `json:"repo"`
	Payload   payload      `json:"payload"`
	CreatedAt time.Time    `json:"created_at"`
}

type archiveRepo struct {
	ID   int64  `json:"id"`
	Name string `json:"name"` // owner/name
}

// NormalizeArchive maps one GH Archive line (an /events API event). An
// unknown type is unmapped ("github:<Type>"); malformed input is a
// *source.InputError. Event ids match those of the webhook of the same
// activity. line is not retained.
func NormalizeArchive(env source.Env, line []byte) (source.Result, error) {
	return normalizeArchive(env, line, json.DontMatchCaseInsensitiveStructFields)
}

// normalizeArchive decodes with flags; with json.ZeroCopy the events'
// strings point into line, which the caller must then keep unchanged.
func normalizeArchive(env source.Env, line []byte, flags json.ParseFlags) (source.Result, error) {
	var ae archiveEvent
	rest, err := json.Parse(line, &ae, flags)
	if err != nil {
		return source.Result{}, &source.InputError{Field: "line", Reason: "malformed JSON: " + err.Error()}
	}
	if len(rest) > 0 {
		return source.Result{}, &source.InputError{Field: "line", Reason: "malformed JSON: data after the event"}
	}
	if ae.Type == "" {
		return source.Result{}, source.Missing("type")
	}
	name, ok := archiveTypes[ae.Type]
	if !ok {
		return source.Unmapped(Source, ae.Type), nil
	}
	if ae.CreatedAt.IsZero() {
		return source.Result{}, source.Missing("created_at")
	}
	p := &ae.Payload
	p.Sender = ae.Actor
	if ae.Repo != nil {
		p.Repository = &repository{ID: ae.Repo.ID, FullName: ae.Repo.Name}
	} else {
		p.Repository = nil
	}
	it := item{env: env, name: name, p: p, at: ae.CreatedAt, archive: true}
	return it.normalize()
}

// ReadArchive yields the records of GH Archive lines read from r, one or
// more per non-blank line (see ingest.FromResult); name prefixes positions
// ("name:42"). A read error ends the sequence with a record carrying it
// and no Raw bytes (ingest.Run stops on it: it is not bad input). Each
// record's Raw is its own copy of the line.
func ReadArchive(r io.Reader, name string, env source.Env) iter.Seq[ingest.Record] {
	return func(yield func(ingest.Record) bool) {
		lr := lineReader{br: bufio.NewReaderSize(r, 1<<20)}
		n := 0
		for {
			raw, tooLong, err := lr.next()
			if len(raw) > 0 || tooLong || err == nil {
				n++
			}
			if tooLong || len(bytes.TrimSpace(raw)) > 0 {
				pos := name + ":" + strconv.Itoa(n)
				var recs []ingest.Record
				if tooLong {
					err := &source.InputError{Field: "line", Reason: fmt.Sprintf("longer than %d bytes", MaxArchiveLineBytes)}
					recs = ingest.FromResult(source.Result{}, err, raw, pos)
				} else {
					// raw is this record's own copy and stays unchanged, so
					// the events may point into it.
					res, err := normalizeArchive(env, raw, json.ZeroCopy|json.DontMatchCaseInsensitiveStructFields)
					recs = ingest.FromResult(res, err, raw, pos)
				}
				for _, rec := range recs {
					if !yield(rec) {
						return
					}
				}
			}
			if err == io.EOF {
				return
			}
			if err != nil {
				yield(ingest.Record{Pos: fmt.Sprintf("%s:%d", name, n+1), Err: fmt.Errorf("read: %w", err)})
				return
			}
		}
	}
}

// lineReader splits lines, copying each into an arena of large chunks:
// one allocation per many lines instead of one per line. A line's slice is
// capped at its length, so nothing can append over its neighbour; a chunk
// lives while a record refers to it.
type lineReader struct {
	br    *bufio.Reader
	arena []byte
}

const (
	arenaChunk   = 1 << 20
	arenaMaxLine = 64 << 10 // longer lines get their own allocation
)

// next returns the next line without its line ending, as a slice no later
// call changes. A line over MaxArchiveLineBytes is cut to
// events.MaxEventBytes and the rest skipped.
func (lr *lineReader) next() (line []byte, tooLong bool, err error) {
	var buf []byte
	size := 0
	for {
		frag, e := lr.br.ReadSlice('\n')
		size += len(frag)
		switch {
		case size > MaxArchiveLineBytes:
			if !tooLong {
				buf = append(buf, frag[:min(len(frag), max(0, events.MaxEventBytes-len(buf)))]...)
				buf = bytes.Clone(buf[:min(len(buf), events.MaxEventBytes)])
				tooLong = true
			}
		case e != bufio.ErrBufferFull && buf == nil:
			buf = lr.copy(frag) // the common case: the line fits the buffer
		default:
			buf = append(buf, frag...)
		}
		if e == bufio.ErrBufferFull {
			continue
		}
		err = e
		break
	}
	if !tooLong {
		buf = bytes.TrimRight(buf, "\r\n")
	}
	return buf, tooLong, err
}

func (lr *lineReader) copy(b []byte) []byte {
	if len(b) > arenaMaxLine {
		return bytes.Clone(b)
	}
	if cap(lr.arena)-len(lr.arena) < len(b) {
		lr.arena = make([]byte, 0, arenaChunk)
	}
	n := len(lr.arena)
	lr.arena = append(lr.arena, b...)
	return lr.arena[n : n+len(b) : n+len(b)]
}

// ArchiveFiles yields the records of GH Archive files in order (hourly
// files such as 2015-01-01-15.json.gz); names ending in .gz are
// decompressed, "-" is standard input. A file that cannot be opened yields
// one record carrying the error and no Raw bytes.
func ArchiveFiles(names []string, env source.Env) iter.Seq[ingest.Record] {
	return func(yield func(ingest.Record) bool) {
		for _, name := range names {
			rc, err := ingest.Open(name)
			if err != nil {
				if !yield(ingest.Record{Pos: name, Err: err}) {
					return
				}
				continue
			}
			ok := true
			for rec := range ReadArchive(rc, name, env) {
				if !yield(rec) {
					ok = false
					break
				}
			}
			rc.Close()
			if !ok {
				return
			}
		}
	}
}
