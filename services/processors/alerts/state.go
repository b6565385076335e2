package alerts

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/orbitflow/orbitflow/schemas/alerts"
)

// Alert is one episode of one rule's condition for one community and key:
// it starts pending (or firing), and ends resolved. At most one episode
// per fingerprint (rule, community, key) is open at a time.
type Alert struct {
	ID          string            `json:"id"`
	Fingerprint string            `json:"fingerprint"`
	Rule        string            `json:"rule"`
	Community   string            `json:"community"`
	Key         string            `json:"key"`
	Severity    string            `json:"severity"`
	State       string            `json:"state"`
	Version     uint64            `json:"version"`
	StartedAt   time.Time         `json:"started_at"`
	FiredAt     time.Time         `json:"fired_at"`
	ResolvedAt  time.Time         `json:"resolved_at"`
	AckedAt     time.Time         `json:"acknowledged_at"`
	AckedBy     string            `json:"acknowledged_by"`
	NotifiedAt  time.Time         `json:"notified_at"` // when the firing was notified (zero: not notified)
	Value       float64           `json:"value"`
	Baseline    float64           `json:"baseline"`
	Summary     string            `json:"summary"`
	Labels      map[string]string `json:"labels"`
}

// Open reports whether the episode has not resolved.
func (a *Alert) Open() bool { return a.State == alerts.StatePending || a.State == alerts.StateFiring }

// fingerprint identifies one rule's alert for one community and key.
func fingerprint(rule, community, key string) string {
	h := sha256.Sum256([]byte(rule + "\x00" + community + "\x00" + key))
	return hex.EncodeToString(h[:8])
}

// Book holds the alerts of every rule: the open episodes, and per
// fingerprint when a firing was last notified (the cooldown). It is not
// safe for concurrent use; the evaluator serializes access.
type Book struct {
	open     map[string]*Alert    // by fingerprint
	notified map[string]time.Time // by fingerprint: the last firing notification
}

// NewBook returns an empty book.
func NewBook() *Book {
	return &Book{open: map[string]*Alert{}, notified: map[string]time.Time{}}
}

// Restore puts back an open alert read from ClickHouse at start.
func (b *Book) Restore(a *Alert) {
	if a.Open() {
		b.open[a.Fingerprint] = a
	}
	if a.NotifiedAt.After(b.notified[a.Fingerprint]) {
		b.notified[a.Fingerprint] = a.NotifiedAt
	}
}

// Open lists the open alerts, oldest first.
func (b *Book) Open() []*Alert {
	out := make([]*Alert, 0, len(b.open))
	for _, a := range b.open {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].StartedAt.Before(out[j].StartedAt) || out[i].StartedAt.Equal(out[j].StartedAt) && out[i].ID < out[j].ID
	})
	return out
}

// Keys lists the keys of the open alerts of rule in community, sorted.
func (b *Book) Keys(rule, community string) []string {
	var out []string
	for _, a := range b.open {
		if a.Rule == rule && a.Community == community {
			out = append(out, a.Key)
		}
	}
	sort.Strings(out)
	return out
}

// Find returns the open alert with id, or nil.
func (b *Book) Find(id string) *Alert {
	for _, a := range b.open {
		if a.ID == id {
			return a
		}
	}
	return nil
}

// Transition is one change of an alert, with whether it notifies.
type Transition struct {
	Alert  Alert // after the change
	Change alerts.Change
	Notify bool
}

// Apply moves the rule's alerts of community to the detectors' decisions
// at now. Keys with an open alert and no decision are resolved (their
// member or source no longer qualifies) unless partial is set (the
// decisions cover some keys only). silenced says whether a key's
// notifications are silenced. Transitions come in key order.
func (b *Book) Apply(r Rule, community string, decs []Decision, now time.Time, partial bool, silenced func(key string) bool) []Transition {
	var out []Transition
	seen := map[string]bool{}
	for _, d := range decs {
		fp := fingerprint(r.Name, community, d.Key)
		seen[fp] = true
		a := b.open[fp]
		if d.Skipped != "" && (a == nil || d.Hold) {
			continue // no verdict: nothing opens; an open alert whose condition may hold stays
		}
		switch {
		case d.Firing && a == nil:
			a = &Alert{ID: fp + "-" + strconv.FormatInt(now.Unix(), 36), Fingerprint: fp, Rule: r.Name, Community: community,
				Key: d.Key, Severity: r.Severity, State: alerts.StateInactive, StartedAt: now}
			b.open[fp] = a
			to := alerts.StatePending
			if r.For.D() == 0 {
				to = alerts.StateFiring
			}
			out = append(out, b.move(a, to, d, now, silenced(d.Key), r))
		case d.Firing && a.State == alerts.StatePending && now.Sub(a.StartedAt) >= r.For.D():
			out = append(out, b.move(a, alerts.StateFiring, d, now, silenced(d.Key), r))
		case d.Firing || a != nil && d.Hold && d.Skipped == "":
			if a != nil { // still pending or firing: no change
				a.Value, a.Baseline, a.Summary = d.Value, d.Baseline, d.Summary
			}
		case a != nil:
			if d.Skipped != "" {
				d.Summary = "no verdict any more (" + d.Skipped + "); " + d.Summary
			}
			out = append(out, b.move(a, alerts.StateResolved, d, now, silenced(d.Key), r))
		}
	}
	if !partial {
		for fp, a := range b.open {
			if a.Rule == r.Name && a.Community == community && !seen[fp] {
				d := Decision{Key: a.Key, Value: a.Value, Baseline: a.Baseline, Summary: "no longer applies: " + a.Summary}
				out = append(out, b.move(a, alerts.StateResolved, d, now, silenced(a.Key), r))
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Alert.Key < out[j].Alert.Key })
	return out
}

// ResolveRule resolves every open alert of a rule that was removed or
// disabled.
func (b *Book) ResolveRule(rule string, now time.Time) []Transition {
	var out []Transition
	for _, a := range b.Open() {
		if a.Rule == rule {
			d := Decision{Key: a.Key, Value: a.Value, Baseline: a.Baseline, Summary: "the rule was removed or disabled"}
			out = append(out, b.move(a, alerts.StateResolved, d, now, true, Rule{Name: rule}))
		}
	}
	return out
}

// Ack acknowledges an open alert: recorded as a change, no notification.
func (b *Book) Ack(a *Alert, by string, now time.Time) Transition {
	a.AckedAt, a.AckedBy = now, by
	a.Version++
	return Transition{Alert: *a, Change: changeOf(a, a.State, alerts.Acknowledged, now, by)}
}

// move changes a's state. A firing notifies unless silenced or within
// the cooldown of the fingerprint's last notified firing; a resolve
// notifies when its firing did.
func (b *Book) move(a *Alert, to string, d Decision, now time.Time, silenced bool, r Rule) Transition {
	from := a.State
	a.State, a.Version = to, a.Version+1
	a.Value, a.Baseline, a.Summary = d.Value, d.Baseline, d.Summary
	if d.Labels != nil {
		a.Labels = d.Labels
	}
	notify := false
	switch to {
	case alerts.StateFiring:
		a.FiredAt = now
		if !silenced && now.Sub(b.notified[a.Fingerprint]) >= r.Cooldown.D() {
			notify = true
			a.NotifiedAt = now
			b.notified[a.Fingerprint] = now
		}
	case alerts.StateResolved:
		a.ResolvedAt = now
		notify = !a.NotifiedAt.IsZero() && !silenced && from == alerts.StateFiring
		delete(b.open, a.Fingerprint)
	}
	return Transition{Alert: *a, Change: changeOf(a, from, to, now, ""), Notify: notify}
}

func changeOf(a *Alert, from, to string, now time.Time, by string) alerts.Change {
	return alerts.Change{EventID: a.ID + "." + strconv.FormatUint(a.Version, 10), AlertID: a.ID, Version: a.Version, Rule: a.Rule,
		Community: a.Community, Key: a.Key, Severity: a.Severity, From: from, To: to, At: now, Value: a.Value,
		Baseline: a.Baseline, Summary: a.Summary, By: by}
}

// Notification groups the notifying transitions of one rule and
// community from one evaluation into one message; nil if none notifies.
func notification(r Rule, community string, ts []Transition, externalURL string, now time.Time) *alerts.Notification {
	var list []alerts.Alert
	ids := []string{}
	firing := 0
	for _, t := range ts {
		if !t.Notify {
			continue
		}
		a := t.Alert
		x := alerts.Alert{ID: a.ID, Key: a.Key, State: a.State, Value: a.Value, Baseline: a.Baseline, Summary: a.Summary,
			StartedAt: a.StartedAt, Labels: a.Labels}
		if a.State == alerts.StateResolved {
			at := a.ResolvedAt
			x.ResolvedAt = &at
		} else {
			firing++
		}
		list = append(list, x)
		ids = append(ids, t.Change.EventID)
	}
	if len(list) == 0 {
		return nil
	}
	h := sha256.Sum256([]byte(strings.Join(ids, ",")))
	n := &alerts.Notification{ID: "n-" + hex.EncodeToString(h[:10]), Rule: r.Name, Community: community, Severity: r.Severity,
		Status: alerts.StateResolved, At: now, Alerts: list}
	if firing > 0 {
		n.Status = alerts.StateFiring
	}
	what := r.Description
	if what == "" {
		what = r.Name
	}
	switch {
	case firing == 0:
		n.Title = fmt.Sprintf("Resolved: %s (%s)", what, community)
	case len(list) == 1:
		n.Title = fmt.Sprintf("%s: %s (%s)", strings.ToUpper(r.Severity[:1])+r.Severity[1:], what, community)
	default:
		n.Title = fmt.Sprintf("%s: %s (%s): %d alerts", strings.ToUpper(r.Severity[:1])+r.Severity[1:], what, community, len(list))
	}
	var lines []string
	for i, a := range list {
		if i == 20 {
			lines = append(lines, fmt.Sprintf("… and %d more", len(list)-20))
			break
		}
		lines = append(lines, fmt.Sprintf("- [%s] %s (value %s, baseline %s)", a.State, a.Summary, num(a.Value), num(a.Baseline)))
	}
	n.Text = strings.Join(lines, "\n")
	if externalURL != "" {
		n.URL = strings.TrimSuffix(externalURL, "/") + "/api/v1/alerts?community=" + community + "&rule=" + r.Name
	}
	return n
}
