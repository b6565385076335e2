package config

import (
	"crypto/tls"
	"fmt"
	"net"
)

// ServerTLS is a server certificate and its key (PEM files). Set, an
// HTTP server speaks HTTPS (TLS 1.2 or newer) only.
type ServerTLS struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// Enabled reports whether a certificate is configured.
func (t ServerTLS) Enabled() bool { return t.CertFile != "" || t.KeyFile != "" }

// Validate loads the pair; path prefixes the error (e.g. "api.tls").
func (t ServerTLS) Validate(path string) error {
	if !t.Enabled() {
		return nil
	}
	if _, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile); err != nil {
		return fmt.Errorf("%s: want cert_file and key_file, a PEM certificate and its key: %w", path, err)
	}
	return nil
}

// Listener wraps ln in TLS when enabled (ln is closed on error).
func (t ServerTLS) Listener(ln net.Listener) (net.Listener, error) {
	if !t.Enabled() {
		return ln, nil
	}
	cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("tls: %w", err)
	}
	return tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}), nil
}
