package app

import (
	"github.com/orbitflow/orbitflow/services/processors/alerts"
	"github.com/orbitflow/orbitflow/services/processors/signals"
)

// LoadSignalRules reads the signal rules of the alert rules file at path,
// validated with the whole file (a missing file has none), and its
// external_url.
func LoadSignalRules(path string) ([]signals.Rule, string, error) {
	f, err := alerts.LoadFile(path)
	if err != nil {
		return nil, "", err
	}
	return f.Signals, f.ExternalURL, nil
}
