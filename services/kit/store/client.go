// Package store is the one ClickHouse client path for every mode:
// clickhouse-go v2 against real servers or against the embedded engine's
// ClickHouse-compatible HTTP interface, plus the versioned migrations of
// schemas/clickhouse.
package store

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Endpoint is what a client needs to reach ClickHouse.
type Endpoint struct {
	Addrs    []string
	Protocol string // "http" or "native"
	Database string
	Username string
	Password string
	TLS      *tls.Config
	// Embedded marks the embedded engine's loopback interface: no
	// compression (it costs CPU and saves nothing on loopback).
	Embedded bool
}

// EndpointFor returns the endpoint of an external config.
func EndpointFor(c Config) (Endpoint, error) {
	ep := Endpoint{
		Addrs:    c.External.Addrs,
		Protocol: c.External.Protocol,
		Database: c.Database,
		Username: c.External.Username,
		Password: c.External.Password,
	}
	if c.External.TLS.Enabled {
		tc, err := tlsConfig(c.External.TLS)
		if err != nil {
			return ep, err
		}
		ep.TLS = tc
	}
	return ep, nil
}

func tlsConfig(t TLSConfig) (*tls.Config, error) {
	tc := &tls.Config{InsecureSkipVerify: t.InsecureSkipVerify, MinVersion: tls.VersionTLS12} //nolint:gosec // user's explicit choice
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("store: tls.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("store: tls.ca_file %s: no PEM certificates", t.CAFile)
		}
		tc.RootCAs = pool
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("store: tls client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// Open connects to ClickHouse, creating the database when it does not
// exist, and checks the connection with a ping.
func Open(ctx context.Context, ep Endpoint, c Config) (driver.Conn, error) {
	if ep.Database != "" && ep.Database != "default" {
		if !identifier.MatchString(ep.Database) {
			return nil, fmt.Errorf("store: database %q is not a valid identifier", ep.Database)
		}
		boot := ep
		boot.Database = "default"
		conn, err := dial(ctx, boot, c)
		if err != nil {
			return nil, err
		}
		err = conn.Exec(ctx, "CREATE DATABASE IF NOT EXISTS `"+ep.Database+"`")
		conn.Close()
		if err != nil {
			return nil, fmt.Errorf("store: create database %s: %w", ep.Database, err)
		}
	}
	return dial(ctx, ep, c)
}

func dial(ctx context.Context, ep Endpoint, c Config) (driver.Conn, error) {
	proto := clickhouse.HTTP
	if ep.Protocol == "native" {
		proto = clickhouse.Native
	}
	compression := &clickhouse.Compression{Method: clickhouse.CompressionLZ4}
	if ep.Embedded {
		compression = nil
	}
	conn, err := clickhouse.Open(&clickhouse.Options{
		Addr:         ep.Addrs,
		Protocol:     proto,
		Auth:         clickhouse.Auth{Database: ep.Database, Username: ep.Username, Password: ep.Password},
		TLS:          ep.TLS,
		Compression:  compression,
		DialTimeout:  c.DialTimeout,
		MaxOpenConns: c.MaxOpenConns,
		MaxIdleConns: c.MaxOpenConns,
		Settings:     clickhouse.Settings{},
	})
	if err != nil {
		return nil, fmt.Errorf("store: open %v: %w", ep.Addrs, err)
	}
	pctx, cancel := context.WithTimeout(ctx, c.DialTimeout)
	defer cancel()
	if err := conn.Ping(pctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("store: ClickHouse at %v (%s) does not answer: %w — is it running? (embedded: is `orbitflow run` up?)", ep.Addrs, ep.Protocol, err)
	}
	return conn, nil
}
