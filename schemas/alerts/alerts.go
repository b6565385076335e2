// Package alerts is the contract of Orbitflow's alerting: the state change
// every alert transition publishes (Change), the notification a target
// receives (Notification, also the webhook body), the delivery message the
// notifier consumes (Delivery), and the control protocol the API and the
// command line use to talk to the evaluator (ControlRequest, ControlReply).
//
// Only plain data here: the evaluator and notifier live in
// services/processors/alerts.
package alerts

import (
	"encoding/json"
	"time"
)

// States of an alert. An alert is one rule's condition for one community
// and key (a segment, a member or a source): pending while the condition
// holds for less than the rule's `for`, firing after, resolved once it no
// longer holds. Acknowledged is a flag on a firing alert, not a state.
const (
	StatePending  = "pending"
	StateFiring   = "firing"
	StateResolved = "resolved"
	// StateInactive is the "from" of an alert's first change.
	StateInactive = "inactive"
)

// Severities, lowest first.
var Severities = []string{"info", "warning", "critical"}

// Change is one state change of an alert: a row of alert_events and a
// message on subjects.AlertChange(community), with EventID as its message id.
type Change struct {
	EventID   string    `json:"event_id"` // deterministic: alert id and its version
	AlertID   string    `json:"alert_id"`
	Version   uint64    `json:"version"` // the alert's change counter
	Rule      string    `json:"rule"`
	Community string    `json:"community"`
	Key       string    `json:"key"` // "" (the community or segment), a member id, a source
	Severity  string    `json:"severity"`
	From      string    `json:"from"`
	To        string    `json:"to"` // a state, or "acknowledged"
	At        time.Time `json:"at"`
	Value     float64   `json:"value"`
	Baseline  float64   `json:"baseline"`
	Summary   string    `json:"summary"`
	By        string    `json:"by,omitempty"` // who acknowledged
}

// Acknowledged is Change.To when someone acknowledged a firing alert.
const Acknowledged = "acknowledged"

// Notification is what a target receives: the alerts of one rule and
// community that changed in one evaluation, grouped. Webhook targets get it
// as the JSON body, signed (HeaderSignature).
type Notification struct {
	// ID is stable across retries: receivers deduplicate on it.
	ID        string    `json:"id"`
	Rule      string    `json:"rule"`
	Community string    `json:"community"`
	Severity  string    `json:"severity"`
	Status    string    `json:"status"` // firing or resolved: firing if any alert fires
	Title     string    `json:"title"`  // one line
	Text      string    `json:"text"`   // the numbers and the baseline, a few lines
	URL       string    `json:"url,omitempty"`
	At        time.Time `json:"at"`
	Alerts    []Alert   `json:"alerts"`
}

// Alert is one alert in a notification.
type Alert struct {
	ID         string            `json:"id"`
	Key        string            `json:"key"`
	State      string            `json:"state"`
	Value      float64           `json:"value"`
	Baseline   float64           `json:"baseline"`
	Summary    string            `json:"summary"`
	StartedAt  time.Time         `json:"started_at"`
	ResolvedAt *time.Time        `json:"resolved_at,omitempty"`
	Labels     map[string]string `json:"labels,omitempty"`
}

// Delivery is one notification for one target: the message the notifier
// consumes from subjects.AlertDelivery(target), with ID as its message id.
type Delivery struct {
	ID           string       `json:"id"` // notification id + "/" + target
	Target       string       `json:"target"`
	Notification Notification `json:"notification"`
	// Kind is KindSignal for a signal (Signal set, Notification empty);
	// "" or KindAlert for an alert notification.
	Kind   string  `json:"kind,omitempty"`
	Signal *Signal `json:"signal,omitempty"`
}

// Webhook headers.
const (
	// HeaderSignature is "sha256=" and the hex HMAC-SHA256 of
	// HeaderTimestamp + "." + body, keyed with the target's secret.
	HeaderSignature = "X-Orbitflow-Signature"
	// HeaderTimestamp is the Unix time (seconds) of the attempt; receivers
	// should refuse old ones (replays).
	HeaderTimestamp = "X-Orbitflow-Timestamp"
	// HeaderDelivery is the Delivery ID: the same on every retry.
	HeaderDelivery = "X-Orbitflow-Delivery"
)

// ControlRequest is a request to the evaluator on subjects.AlertControl.
type ControlRequest struct {
	Op        string          `json:"op"` // one of the Op* constants
	Rule      string          `json:"rule,omitempty"`
	AlertID   string          `json:"alert_id,omitempty"`
	Silence   string          `json:"silence,omitempty"` // silence id
	By        string          `json:"by,omitempty"`
	State     string          `json:"state,omitempty"`     // list: pending, firing, resolved, or "" (open: pending and firing)
	Community string          `json:"community,omitempty"` // list, silence
	Body      json.RawMessage `json:"body,omitempty"`      // rules.put: the rule (YAML or JSON); silence: SilenceSpec
	Limit     int             `json:"limit,omitempty"`
}

// Control operations.
const (
	OpList       = "list"         // alerts, newest first: State, Community, Limit
	OpEvents     = "events"       // an alert's changes: AlertID
	OpRules      = "rules"        // every rule and target (secrets redacted)
	OpRulePut    = "rules.put"    // create or replace Rule from Body; written to the rules file
	OpRuleDelete = "rules.delete" // remove Rule from the rules file
	OpTest       = "test"         // evaluate Rule now: series, baseline, decision
	OpAck        = "ack"          // acknowledge AlertID (By)
	OpSilence    = "silence"      // create a silence from Body (SilenceSpec)
	OpUnsilence  = "unsilence"    // expire Silence now
	OpSilences   = "silences"     // active silences
)

// SilenceSpec creates a silence: alerts it matches change state as usual
// but notify no one until EndsAt. Rule, Community and Key are exact
// matches; empty matches any.
type SilenceSpec struct {
	Rule      string    `json:"rule,omitempty"`
	Community string    `json:"community,omitempty"`
	Key       string    `json:"key,omitempty"`
	EndsAt    time.Time `json:"ends_at"`
	Comment   string    `json:"comment,omitempty"`
	By        string    `json:"by,omitempty"`
}

// ControlReply is the evaluator's answer: an HTTP-like status (200, 201,
// 400, 404, 409, 500), the body (JSON) on success, the error otherwise.
type ControlReply struct {
	Status int             `json:"status"`
	Body   json.RawMessage `json:"body,omitempty"`
	Error  string          `json:"error,omitempty"`
}
