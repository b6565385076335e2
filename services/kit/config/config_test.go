package config

import (
	"strings"
	"testing"
	"time"
)

type inner struct {
	Listen string        `yaml:"listen"`
	Addrs  []string      `yaml:"addrs"`
	Wait   time.Duration `yaml:"wait"`
}

type sample struct {
	DataDir string  `yaml:"data_dir"`
	Size    int     `yaml:"size"`
	Ratio   float64 `yaml:"ratio"`
	On      bool    `yaml:"on"`
	Inner   inner   `yaml:"inner"`
}

func TestDecodeYAMLIsStrictAndKeepsDefaults(t *testing.T) {
	cfg := sample{DataDir: "./data", Size: 3}
	if err := DecodeYAML([]byte("size: 7\ninner:\n  listen: 127.0.0.1:1\n"), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.DataDir != "./data" || cfg.Size != 7 || cfg.Inner.Listen != "127.0.0.1:1" {
		t.Fatalf("decoded %+v", cfg)
	}
	err := DecodeYAML([]byte("size: 1\ninner:\n  lisen: x\n"), &cfg)
	if err == nil || !strings.Contains(err.Error(), "lisen") || !strings.Contains(err.Error(), "line 3") {
		t.Fatalf("an unknown key must be an error naming it and its line, got %v", err)
	}
	if err := DecodeYAML([]byte("size: 1\n---\nsize: 2\n"), &cfg); err == nil {
		t.Fatal("two documents must be an error")
	}
	if err := DecodeYAML(nil, &cfg); err != nil {
		t.Fatalf("an empty file is fine: %v", err)
	}
}

func TestApplyEnv(t *testing.T) {
	env := map[string]string{
		"ORBITFLOW_DATA_DIR":     "/var/lib/of",
		"ORBITFLOW_SIZE":         "42",
		"ORBITFLOW_RATIO":        "0.5",
		"ORBITFLOW_ON":           "true",
		"ORBITFLOW_INNER_ADDRS":  "a:1, b:2",
		"ORBITFLOW_INNER_WAIT":   "3s",
		"ORBITFLOW_INNER_LISTEN": ":9",
	}
	var cfg sample
	if err := ApplyEnv("ORBITFLOW_", &cfg, func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
		t.Fatal(err)
	}
	want := sample{DataDir: "/var/lib/of", Size: 42, Ratio: 0.5, On: true, Inner: inner{Listen: ":9", Addrs: []string{"a:1", "b:2"}, Wait: 3 * time.Second}}
	if cfg.DataDir != want.DataDir || cfg.Size != want.Size || cfg.Ratio != want.Ratio || !cfg.On ||
		cfg.Inner.Listen != want.Inner.Listen || strings.Join(cfg.Inner.Addrs, "|") != "a:1|b:2" || cfg.Inner.Wait != want.Inner.Wait {
		t.Fatalf("got %+v", cfg)
	}
	bad := map[string]string{"ORBITFLOW_SIZE": "many", "ORBITFLOW_INNER_WAIT": "soon"}
	err := ApplyEnv("ORBITFLOW_", &cfg, func(k string) (string, bool) { v, ok := bad[k]; return v, ok })
	if err == nil || !strings.Contains(err.Error(), "ORBITFLOW_SIZE") || !strings.Contains(err.Error(), "ORBITFLOW_INNER_WAIT") {
		t.Fatalf("every malformed variable must be reported by name, got %v", err)
	}
}

func TestPaths(t *testing.T) {
	got := strings.Join(Paths(sample{}), " ")
	if got != "data_dir size ratio on inner.listen inner.addrs inner.wait" {
		t.Fatalf("got %q", got)
	}
}
