package main

import (
	"flag"
	"io"
	"strings"

	"gopkg.in/yaml.v3"
)

const redacted = "[redacted]"

func cmdConfig(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("config", flag.ContinueOnError)
	var c common
	c.register(fs)
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	cfg, err := c.load()
	if err != nil {
		return err
	}
	// Secrets never leave the process, not even to the terminal.
	for _, s := range []*string{&cfg.NATS.Embedded.Token, &cfg.NATS.External.Password, &cfg.NATS.External.Token,
		&cfg.ClickHouse.Embedded.Password, &cfg.ClickHouse.External.Password} {
		if *s != "" {
			*s = redacted
		}
	}
	// An API key given as sha256:<hex>, or a secret given as env:NAME or
	// file:PATH, names no secret; any other value is one.
	hide := func(s *string, safe ...string) {
		for _, p := range safe {
			if strings.HasPrefix(*s, p) {
				return
			}
		}
		if *s != "" {
			*s = redacted
		}
	}
	for i := range cfg.API.APIKeys {
		hide(&cfg.API.APIKeys[i], "sha256:", "env:", "file:")
	}
	for i := range cfg.API.Tokens {
		hide(&cfg.API.Tokens[i].Key, "sha256:", "env:", "file:")
	}
	for i := range cfg.Gateway.Hooks {
		for j := range cfg.Gateway.Hooks[i].Secrets {
			hide(&cfg.Gateway.Hooks[i].Secrets[j], "env:", "file:")
		}
	}
	hide(&cfg.Discord.Token, "env:", "file:")
	hide(&cfg.People.EmailSalt, "env:", "file:")
	for k, v := range cfg.Telemetry.Traces.Headers {
		hide(&v, "env:", "file:")
		cfg.Telemetry.Traces.Headers[k] = v
	}
	enc := yaml.NewEncoder(stdout)
	enc.SetIndent(2)
	defer enc.Close()
	return enc.Encode(cfg)
}
