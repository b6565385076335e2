package github

import (
	"bytes"
	"strconv"
	"time"

	"github.com/segmentio/encoding/json"
)

// The structs below hold only the fields the mapping reads: the decoder
// skips the rest of a payload without building it. One payload struct
// serves webhooks and GH Archive, whose payload is the webhook body less
// sender and repository (the archive has actor and repo at the top level).

type user struct {
	Login string `json:"login"`
	ID    int64  `json:"id"`
	Type  string `json:"type"` // "User", "Bot", "Organization"; absent in old archives
}

type repository struct {
	ID       int64  `json:"id"`
	FullName string `json:"full_name"`
	HTMLURL  string `json:"html_url"`
	// PushedAt is a Unix time in push payloads and a string elsewhere.
	PushedAt flexTime `json:"pushed_at"`
}

type issue struct {
	ID          int64           `json:"id"`
	Number      int64           `json:"number"`
	Title       string          `json:"title"`
	HTMLURL     string          `json:"html_url"`
	Body        json.RawMessage `json:"body"`
	User        *user           `json:"user"`
	Assignee    *user           `json:"assignee"`
	Assignees   []user          `json:"assignees"`
	CreatedAt   time.Time       `json:"created_at"`
	UpdatedAt   time.Time       `json:"updated_at"`
	ClosedAt    time.Time       `json:"closed_at"`
	PullRequest *struct{}       `json:"pull_request"` // present when the issue is a pull request
	Labels      []label         `json:"labels"`
}

type label struct {
	Name string `json:"name"`
}

type pullRequest struct {
	ID        int64           `json:"id"`
	Number    int64           `json:"number"`
	Title     string          `json:"title"`
	HTMLURL   string          `json:"html_url"`
	Body      json.RawMessage `json:"body"`
	User      *user           `json:"user"`
	Assignee  *user           `json:"assignee"`
	Assignees []user          `json:"assignees"`
	CreatedAt time.Time       `json:"created_at"`
	UpdatedAt time.Time       `json:"updated_at"`
	ClosedAt  time.Time       `json:"closed_at"`
	MergedAt  time.Time       `json:"merged_at"`
	Merged    bool            `json:"merged"`
	MergedBy  *user           `json:"merged_by"`
}

// comment is an issue, review, commit or discussion comment.
type comment struct {
	ID                  int64           `json:"id"`
	HTMLURL             string          `json:"html_url"`
	Body                json.RawMessage `json:"body"`
	User                *user           `json:"user"`
	CreatedAt           time.Time       `json:"created_at"`
	CommitID            string          `json:"commit_id"`
	PullRequestReviewID int64           `json:"pull_request_review_id"`
	InReplyToID         int64           `json:"in_reply_to_id"`
	ParentID            int64           `json:"parent_id"` // discussion comment replied to
}

type review struct {
	ID          int64           `json:"id"`
	HTMLURL     string          `json:"html_url"`
	Body        json.RawMessage `json:"body"`
	State       string          `json:"state"`
	User        *user           `json:"user"`
	SubmittedAt time.Time       `json:"submitted_at"`
}

type release struct {
	ID          int64     `json:"id"`
	TagName     string    `json:"tag_name"`
	Name        string    `json:"name"`
	HTMLURL     string    `json:"html_url"`
	Author      *user     `json:"author"`
	CreatedAt   time.Time `json:"created_at"`
	PublishedAt time.Time `json:"published_at"`
	Prerelease  bool      `json:"prerelease"`
}

type forkee struct {
	ID        int64     `json:"id"`
	FullName  string    `json:"full_name"`
	HTMLURL   string    `json:"html_url"`
	CreatedAt time.Time `json:"created_at"`
}

type wikiPage struct {
	PageName string `json:"page_name"`
	Title    string `json:"title"`
	Action   string `json:"action"`
	SHA      string `json:"sha"`
	HTMLURL  string `json:"html_url"`
}

type discussion struct {
	ID        int64           `json:"id"`
	Number    int64           `json:"number"`
	Title     string          `json:"title"`
	HTMLURL   string          `json:"html_url"`
	Body      json.RawMessage `json:"body"`
	User      *user           `json:"user"`
	CreatedAt time.Time       `json:"created_at"`
	// AnswerChosenAt is when the answer was marked (answered events).
	AnswerChosenAt time.Time `json:"answer_chosen_at"`
}

type pusher struct {
	Name  string `json:"name"`
	Email string `json:"email"`
}

type headCommit struct {
	ID        string    `json:"id"`
	Timestamp time.Time `json:"timestamp"`
}

// Bodies are kept raw (json.RawMessage): only those holding an @ are
// decoded, for their mentions (see bodyText).

// bodyText returns the text of a raw JSON string body when it may hold a
// mention, else "": unescaping every body was a tenth of archive decoding.
// A body that is not a JSON string has no text.
func bodyText(raw json.RawMessage) string {
	if len(raw) < 2 || raw[0] != '"' || bytes.IndexByte(raw, '@') < 0 {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

// payload is a webhook body or a GH Archive payload.
type payload struct {
	Action     string       `json:"action"`
	Sender     *user        `json:"sender"`
	Repository *repository  `json:"repository"`
	Issue      *issue       `json:"issue"`
	Comment    *comment     `json:"comment"`
	PR         *pullRequest `json:"pull_request"`
	Review     *review      `json:"review"`
	Release    *release     `json:"release"`
	Forkee     *forkee      `json:"forkee"`
	Pages      []wikiPage   `json:"pages"`
	Member     *user        `json:"member"`
	Discussion *discussion  `json:"discussion"`
	Answer     *comment     `json:"answer"`
	StarredAt  time.Time    `json:"starred_at"`

	// create (and delete)
	Ref     string `json:"ref"`
	RefType string `json:"ref_type"`

	// push: webhooks carry after, commits, deleted, pusher and head_commit;
	// archives carry head, size, push_id and commits (up to 20).
	After      string          `json:"after"`
	Head       string          `json:"head"`
	Size       *int64          `json:"size"`
	Commits    json.RawMessage `json:"commits"` // only counted, when size is absent
	Deleted    bool            `json:"deleted"`
	Compare    string          `json:"compare"`
	Pusher     *pusher         `json:"pusher"`
	HeadCommit *headCommit     `json:"head_commit"`
}

// flexTime reads an RFC 3339 string, a Unix time in seconds, or null.
type flexTime struct{ time.Time }

func (t *flexTime) UnmarshalJSON(b []byte) error {
	switch {
	case string(b) == "null":
		t.Time = time.Time{}
		return nil
	case len(b) > 0 && b[0] == '"':
		s, err := strconv.Unquote(string(b))
		if err != nil {
			return err
		}
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return err
		}
		t.Time = v
		return nil
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return err
	}
	t.Time = time.Unix(n, 0).UTC()
	return nil
}
