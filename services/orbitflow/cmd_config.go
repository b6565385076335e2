package main

import (
	"flag"
	"io"

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
	enc := yaml.NewEncoder(stdout)
	enc.SetIndent(2)
	defer enc.Close()
	return enc.Encode(cfg)
}
