// Package topics finds the pain points of a community: the recurring
// topics of its question-like items (questions.go) over a period, by
// frequency and growth against the period before, with the share left
// unanswered and the median time to the first response.
//
// A topic is a term of the items' titles (services/kit/text: a Porter
// stem, or two stems adjacent once stop words are gone), shown by the
// words the titles used most. Items and their first responses come from
// the health rollups (table items: the first response by another member,
// not a bot), chat threads from the activities; titles, addresses and
// labels from the opening activity.
package topics

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/orbitflow/orbitflow/services/kit/text"
)

// Defaults and bounds of Options.
const (
	DefaultLimit    = 20
	MaxLimit        = 200
	DefaultMinItems = 2
	DefaultExamples = 3
	MaxExamples     = 20
	// MaxDays bounds a period (the previous period doubles what is read).
	MaxDays = 366
	// MaxItems bounds the question-like items read for both periods.
	MaxItems = 200_000
)

// Options says what to compute. Zero values take the defaults.
type Options struct {
	Community string
	// From and To are the period's first and last day (UTC dates; the
	// time of day is ignored). Zero: the last full ISO week before now
	// (LastFullWeek).
	From, To time.Time
	// Limit is the most topics returned (DefaultLimit, at most MaxLimit).
	Limit int
	// MinItems is the fewest items of the period a topic needs to be
	// listed (DefaultMinItems): one-offs are not pain points.
	MinItems int
	// Examples is the most example items per topic (DefaultExamples).
	Examples int
	// Now is the clock for the default period (time.Now when nil).
	Now func() time.Time
}

// Report is the pain points of a period.
type Report struct {
	Community string
	// From, To: the period; PreviousFrom, PreviousTo: the as many days
	// before it, for growth. All UTC dates, inclusive.
	From, To, PreviousFrom, PreviousTo time.Time
	// Questions and PreviousQuestions count the question-like items
	// opened in each period; Unanswered those of the period with no
	// response yet; MedianResponseSeconds is over the answered ones (nil
	// when none was answered).
	Questions, PreviousQuestions, Unanswered int
	UnansweredShare                          float64
	MedianResponseSeconds                    *float64
	// Topics are ranked by Items, then Growth, then Key.
	Topics []Topic
}

// MarshalJSON writes the report with its dates as YYYY-MM-DD.
func (r Report) MarshalJSON() ([]byte, error) {
	topics := r.Topics
	if topics == nil {
		topics = []Topic{}
	}
	return json.Marshal(struct {
		Community             string   `json:"community"`
		From                  string   `json:"from"`
		To                    string   `json:"to"`
		PreviousFrom          string   `json:"previous_from"`
		PreviousTo            string   `json:"previous_to"`
		Questions             int      `json:"questions"`
		PreviousQuestions     int      `json:"previous_questions"`
		Unanswered            int      `json:"unanswered"`
		UnansweredShare       float64  `json:"unanswered_share"`
		MedianResponseSeconds *float64 `json:"median_response_seconds"`
		Topics                []Topic  `json:"topics"`
	}{r.Community, r.From.Format(time.DateOnly), r.To.Format(time.DateOnly), r.PreviousFrom.Format(time.DateOnly),
		r.PreviousTo.Format(time.DateOnly), r.Questions, r.PreviousQuestions, r.Unanswered, r.UnansweredShare,
		r.MedianResponseSeconds, topics})
}

// Topic is one recurring topic of the period.
type Topic struct {
	// Key is the stem or the two stems ("configur sso"); Label the
	// words most titles used for it ("configuring sso").
	Key   string `json:"key"`
	Label string `json:"label"`
	// Items and PreviousItems count the question-like items whose title
	// has the topic, in the period and in the one before.
	Items         int `json:"items"`
	PreviousItems int `json:"previous_items"`
	// Growth is Items − PreviousItems; GrowthRatio is Growth divided by
	// PreviousItems, or by 1 when there were none (New): 3 items after 0
	// grow by 3.0, as 6 after 2 do by 2.0.
	Growth      int     `json:"growth"`
	GrowthRatio float64 `json:"growth_ratio"`
	New         bool    `json:"new"`
	// Unanswered counts the period's items with no response yet;
	// UnansweredShare is Unanswered / Items.
	Unanswered      int     `json:"unanswered"`
	UnansweredShare float64 `json:"unanswered_share"`
	// MedianResponseSeconds is the median time to the first response of
	// the answered items (the mean of the middle two for an even count);
	// nil when none was answered.
	MedianResponseSeconds *float64 `json:"median_response_seconds"`
	// Examples are the period's latest items with the topic.
	Examples []Example `json:"examples"`
}

// Example is one question-like item.
type Example struct {
	ID       string    `json:"id"`   // the item's thread id
	Type     string    `json:"type"` // its opening activity type
	URL      string    `json:"url"`
	Title    string    `json:"title"`
	OpenedAt time.Time `json:"opened_at"`
	Answered bool      `json:"answered"`
}

// Item is a question-like item as read from ClickHouse.
type Item struct {
	Example
	ResponseSeconds uint64 // when Answered
}

// LastFullWeek returns the Monday and the Sunday (UTC) of the last ISO
// week that ended before now.
func LastFullWeek(now time.Time) (from, to time.Time) {
	d := day(now)
	monday := d.AddDate(0, 0, -((int(d.Weekday()) + 6) % 7))
	return monday.AddDate(0, 0, -7), monday.AddDate(0, 0, -1)
}

func day(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// withDefaults fills the zero options and checks them; the error names
// the field.
func (o Options) withDefaults() (Options, error) {
	if o.Community == "" {
		return o, errors.New("topics: community: required")
	}
	if o.From.IsZero() != o.To.IsZero() {
		return o, errors.New("topics: from and to: give both or neither")
	}
	if o.From.IsZero() {
		now := time.Now
		if o.Now != nil {
			now = o.Now
		}
		o.From, o.To = LastFullWeek(now())
	}
	o.From, o.To = day(o.From), day(o.To)
	if o.From.After(o.To) {
		return o, fmt.Errorf("topics: from: want a date not after to (%s), got %s", o.To.Format(time.DateOnly), o.From.Format(time.DateOnly))
	}
	if days(o.From, o.To) > MaxDays {
		return o, fmt.Errorf("topics: from: want a period of at most %d days, got %d", MaxDays, days(o.From, o.To))
	}
	var err error
	if o.Limit, err = bounded("limit", o.Limit, DefaultLimit, MaxLimit); err != nil {
		return o, err
	}
	if o.MinItems, err = bounded("min_items", o.MinItems, DefaultMinItems, MaxItems); err != nil {
		return o, err
	}
	if o.Examples, err = bounded("examples", o.Examples, DefaultExamples, MaxExamples); err != nil {
		return o, err
	}
	return o, nil
}

func bounded(name string, v, def, hi int) (int, error) {
	switch {
	case v == 0:
		return def, nil
	case v < 0 || v > hi:
		return 0, fmt.Errorf("topics: %s: want 1..%d, got %d", name, hi, v)
	}
	return v, nil
}

// days counts the days of [from, to].
func days(from, to time.Time) int { return int(to.Sub(from).Hours()/24) + 1 }

// itemsSQL reads the question-like candidates of [from, to]: the items
// opened by a question type, with the title, address and labels of their
// first opening activity. IsQuestion decides the rest in Go.
const itemsSQL = `SELECT i.thread_id, i.item_type, i.opened_at, i.answered, i.response_seconds, o.title, o.url, o.labels
FROM (
    SELECT thread_id, item_type, opened_at, answered, response_seconds
    FROM items FINAL
    WHERE community = {community:String} AND opened_day BETWEEN {from:Date} AND {to:Date}
      AND item_type IN {types:Array(String)}
) AS i
INNER JOIN (
    SELECT thread_id, argMin(title, occurred_at) AS title, argMin(url, occurred_at) AS url,
           argMin(attributes['labels'], occurred_at) AS labels
    FROM activities
    WHERE community = {community:String} AND type IN {types:Array(String)} AND thread_id != ''
      AND occurred_at >= {from:Date} AND occurred_at < {to:Date} + 1
    GROUP BY thread_id
) AS o ON o.thread_id = i.thread_id
ORDER BY i.opened_at, i.thread_id
LIMIT {limit:UInt32}`

// chatSQL reads the chat threads of [from, to] (types chat, opened by
// a member who is not a bot) with their first response: the first reply
// (types replies) in the thread by another member, not a bot, at or
// after the opening. Same columns as itemsSQL.
const chatSQL = `SELECT o.thread_id, o.opening_type, o.opened_at,
       countIf(r.first >= o.opened_at AND r.member_id != o.opener) > 0 AS answered,
       toUInt64(greatest(dateDiff('second', o.opened_at,
           minIf(r.first, r.first >= o.opened_at AND r.member_id != o.opener)), 0)) AS response_seconds,
       o.title, o.url, '' AS labels
FROM (
    SELECT thread_id, argMin(type, occurred_at) AS opening_type, min(occurred_at) AS opened_at,
           argMin(member_id, occurred_at) AS opener, argMin(is_bot, occurred_at) AS bot,
           argMin(title, occurred_at) AS title, argMin(url, occurred_at) AS url
    FROM activities
    WHERE community = {community:String} AND type IN {chat:Array(String)} AND thread_id != ''
      AND occurred_at >= {from:Date} AND occurred_at < {to:Date} + 1
    GROUP BY thread_id
    HAVING NOT bot
) AS o
LEFT JOIN (
    SELECT thread_id, member_id, min(occurred_at) AS first
    FROM activities
    WHERE community = {community:String} AND type IN {replies:Array(String)} AND NOT is_bot AND thread_id != ''
      AND occurred_at >= {from:Date}
    GROUP BY thread_id, member_id
) AS r ON r.thread_id = o.thread_id
GROUP BY o.thread_id, o.opening_type, o.opened_at, o.title, o.url
ORDER BY o.opened_at, o.thread_id
LIMIT {limit:UInt32}`

// ErrTooMany is returned when the periods hold more than MaxItems items.
var ErrTooMany = fmt.Errorf("topics: more than %d question-like items in the period and the one before; narrow the period", MaxItems)

// Compute reads the question-like items of the period and the one before
// from ClickHouse and returns the period's topics. It blocks for two
// queries; ctx bounds them.
func Compute(ctx context.Context, conn driver.Conn, opt Options) (Report, error) {
	opt, err := opt.withDefaults()
	if err != nil {
		return Report{}, err
	}
	n := days(opt.From, opt.To)
	prevFrom := opt.From.AddDate(0, 0, -n)
	items, err := load(ctx, conn, opt.Community, prevFrom, opt.To)
	if err != nil {
		return Report{}, err
	}
	return Rank(items, opt)
}

func load(ctx context.Context, conn driver.Conn, community string, from, to time.Time) ([]Item, error) {
	var itemTypes, chat, replies []string
	for _, t := range QuestionTypes() {
		if r, ok := chatReplies[t]; ok {
			chat, replies = append(chat, t), append(replies, r...)
		} else {
			itemTypes = append(itemTypes, t)
		}
	}
	params := clickhouse.Parameters{
		"community": community,
		"from":      from.Format(time.DateOnly),
		"to":        to.Format(time.DateOnly),
		"types":     arrayParam(itemTypes),
		"chat":      arrayParam(chat),
		"replies":   arrayParam(replies),
		"limit":     fmt.Sprint(MaxItems + 1),
	}
	var out []Item
	read := 0
	for _, sql := range []string{itemsSQL, chatSQL} {
		rows, err := conn.Query(clickhouse.Context(ctx, clickhouse.WithParameters(params)), sql)
		if err != nil {
			return nil, fmt.Errorf("topics: read items: %w", err)
		}
		for rows.Next() {
			var (
				it     Item
				labels string
			)
			if err := rows.Scan(&it.ID, &it.Type, &it.OpenedAt, &it.Answered, &it.ResponseSeconds, &it.Title, &it.URL, &labels); err != nil {
				rows.Close()
				return nil, fmt.Errorf("topics: read items: %w", err)
			}
			if read++; read > MaxItems {
				rows.Close()
				return nil, ErrTooMany
			}
			if IsQuestion(it.Type, it.Title, labels) {
				it.OpenedAt = it.OpenedAt.UTC()
				out = append(out, it)
			}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("topics: read items: %w", err)
		}
	}
	return out, nil
}

// arrayParam writes ss as a ClickHouse Array(String) parameter value;
// ss are the question types, constants without quotes or backslashes.
func arrayParam(ss []string) string {
	return "['" + strings.Join(ss, "','") + "']"
}

// Rank computes the report of opt's period from items of that period
// and of the as many days before it; items outside both are ignored.
// Pure: Compute's second half, for callers that read items themselves.
func Rank(items []Item, opt Options) (Report, error) {
	opt, err := opt.withDefaults()
	if err != nil {
		return Report{}, err
	}
	n := days(opt.From, opt.To)
	r := Report{Community: opt.Community, From: opt.From, To: opt.To,
		PreviousFrom: opt.From.AddDate(0, 0, -n), PreviousTo: opt.From.AddDate(0, 0, -1)}
	end := opt.To.AddDate(0, 0, 1)

	type acc struct {
		cur  []int // indexes into items
		prev int
	}
	byKey := map[string]*acc{}
	var surfaces text.Surfaces
	var answered []uint64
	for i, it := range items {
		cur := !it.OpenedAt.Before(opt.From) && it.OpenedAt.Before(end)
		if !cur && (it.OpenedAt.Before(r.PreviousFrom) || !it.OpenedAt.Before(opt.From)) {
			continue
		}
		terms := text.Terms(it.Title)
		if cur {
			r.Questions++
			if it.Answered {
				answered = append(answered, it.ResponseSeconds)
			} else {
				r.Unanswered++
			}
			surfaces.Add(terms)
		} else {
			r.PreviousQuestions++
		}
		for _, t := range terms {
			a := byKey[t.Key]
			if a == nil {
				a = &acc{}
				byKey[t.Key] = a
			}
			if cur {
				a.cur = append(a.cur, i)
			} else {
				a.prev++
			}
		}
	}
	r.UnansweredShare = share(r.Unanswered, r.Questions)
	r.MedianResponseSeconds = median(answered)

	// A stem whose items are exactly those of a listed pair holding it
	// says less than the pair: it is left out.
	listed := map[string]bool{}
	for k, a := range byKey {
		if len(a.cur) >= opt.MinItems {
			listed[k] = true
		}
	}
	pairSets := map[string]bool{}
	for k := range listed {
		if a, b, ok := splitPair(k); ok {
			set := fmt.Sprint(byKey[k].cur)
			pairSets[a+"\x00"+set], pairSets[b+"\x00"+set] = true, true
		}
	}
	for k := range listed {
		if _, _, pair := splitPair(k); !pair && pairSets[k+"\x00"+fmt.Sprint(byKey[k].cur)] {
			delete(listed, k)
		}
	}

	for k := range listed {
		a := byKey[k]
		t := Topic{Key: k, Label: surfaces.Best(k), Items: len(a.cur), PreviousItems: a.prev, New: a.prev == 0}
		t.Growth = t.Items - t.PreviousItems
		t.GrowthRatio = float64(t.Growth) / float64(max(t.PreviousItems, 1))
		var secs []uint64
		for _, i := range a.cur {
			if items[i].Answered {
				secs = append(secs, items[i].ResponseSeconds)
			} else {
				t.Unanswered++
			}
		}
		t.UnansweredShare = share(t.Unanswered, t.Items)
		t.MedianResponseSeconds = median(secs)
		latest := slices.Clone(a.cur)
		slices.SortFunc(latest, func(x, y int) int {
			return cmp.Or(items[y].OpenedAt.Compare(items[x].OpenedAt), cmp.Compare(items[x].ID, items[y].ID))
		})
		for _, i := range latest[:min(len(latest), opt.Examples)] {
			t.Examples = append(t.Examples, items[i].Example)
		}
		r.Topics = append(r.Topics, t)
	}
	slices.SortFunc(r.Topics, func(x, y Topic) int {
		return cmp.Or(cmp.Compare(y.Items, x.Items), cmp.Compare(y.Growth, x.Growth), cmp.Compare(x.Key, y.Key))
	})
	if len(r.Topics) > opt.Limit {
		r.Topics = r.Topics[:opt.Limit]
	}
	return r, nil
}

func splitPair(key string) (a, b string, ok bool) {
	for i := 0; i < len(key); i++ {
		if key[i] == ' ' {
			return key[:i], key[i+1:], true
		}
	}
	return "", "", false
}

func share(n, of int) float64 {
	if of == 0 {
		return 0
	}
	return float64(n) / float64(of)
}

// median is the median of xs (the mean of the middle two for an even
// count), nil for none. It sorts xs.
func median(xs []uint64) *float64 {
	if len(xs) == 0 {
		return nil
	}
	slices.Sort(xs)
	m := float64(xs[len(xs)/2])
	if len(xs)%2 == 0 {
		m = (float64(xs[len(xs)/2-1]) + m) / 2
	}
	return &m
}
