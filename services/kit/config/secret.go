package config

import (
	"fmt"
	"os"
	"strings"
)

// ResolveSecret reads a secret written as "env:NAME" (an environment
// variable) or "file:PATH" (a file's content, trimmed); any other value is
// the secret itself. These forms keep secrets out of config files. Errors
// never contain the secret.
func ResolveSecret(s string) (string, error) {
	switch {
	case strings.HasPrefix(s, "env:"):
		name := strings.TrimPrefix(s, "env:")
		v, ok := os.LookupEnv(name)
		if !ok || v == "" {
			return "", fmt.Errorf("environment variable %s is not set", name)
		}
		return v, nil
	case strings.HasPrefix(s, "file:"):
		name := strings.TrimPrefix(s, "file:")
		b, err := os.ReadFile(name)
		if err != nil {
			return "", fmt.Errorf("read secret file: %w", err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	return s, nil
}
