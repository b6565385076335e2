package notify

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/orbitflow/orbitflow/schemas/alerts"
)

// webhookBody is a delivery's webhook body and kind: the Signal for a
// signal, the Notification for an alert.
func webhookBody(d alerts.Delivery) ([]byte, string, error) {
	if d.Kind == alerts.KindSignal {
		if d.Signal == nil {
			return nil, "", fmt.Errorf("signal delivery %s carries no signal", d.ID)
		}
		body, err := json.Marshal(d.Signal)
		return body, alerts.KindSignal, err
	}
	body, err := json.Marshal(d.Notification)
	return body, alerts.KindAlert, err
}

// notificationOf is what Slack and e-mail targets render of a delivery: an
// alert's notification, or a signal told as one (severity "signal", the
// evidence and the reasons in the text).
func notificationOf(d alerts.Delivery) alerts.Notification {
	if d.Kind != alerts.KindSignal || d.Signal == nil {
		return d.Notification
	}
	s := d.Signal
	who := s.Member.DisplayName
	if who == "" {
		who = s.Member.ID
	}
	title := fmt.Sprintf("%s: %s", s.Rule, who)
	if s.Activity.Title != "" {
		title += fmt.Sprintf(" — %q", s.Activity.Title)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s, %s) %s in %s", who, s.Member.ID, s.Member.LevelName, s.Activity.Type, s.Activity.Source)
	if s.Activity.Channel != "" {
		fmt.Fprintf(&b, " / %s", s.Activity.Channel)
	}
	fmt.Fprintf(&b, " at %s.\n", s.At.Format("2006-01-02 15:04 UTC"))
	if s.Member.Organization != "" {
		fmt.Fprintf(&b, "Organization: %s.\n", s.Member.Organization)
	}
	if len(s.Member.Roles) > 0 {
		fmt.Fprintf(&b, "Roles: %s.\n", strings.Join(s.Member.Roles, ", "))
	}
	b.WriteString("Why:\n")
	for _, r := range s.Reasons {
		b.WriteString("- " + r + "\n")
	}
	if s.Activity.URL != "" {
		b.WriteString(s.Activity.URL + "\n")
	}
	return alerts.Notification{ID: s.ID, Rule: s.Rule, Community: s.Community, Severity: alerts.KindSignal, Status: alerts.KindSignal,
		Title: title, Text: b.String(), URL: s.URL, At: s.At}
}
