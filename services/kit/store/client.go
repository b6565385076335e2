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
		create := "CREATE DATABASE IF NOT EXISTS `" + ep.Database + "`"
		if c.Cluster.Name != "" {
			// Every replica needs the database before the migrations'
			// ON CLUSTER statements reach it.
			create += " ON CLUSTER " + c.Cluster.Name
		}
		err = conn.Exec(ctx, create)
		conn.Close()
		if err != nil {
			return nil, fmt.Errorf("store: create database %s: %w", ep.Database, err)
		}
	}
	return dial(ctx, ep, c)
}

// settings are the session settings of every connection. On a cluster,
// replicated tables drop an inserted block whose hash (or
// insert_deduplication_token) they saw among their last
// replicated_deduplication_window blocks. A retried insert whose first
// attempt wrote the source table but failed in a materialized view would
// then be dropped whole and the view never fed; with
// deduplicate_blocks_in_dependent_materialized_views the retry feeds every
// view, each deduplicating its own blocks. One server has no block
// deduplication (non_replicated_deduplication_window is 0): a retry inserts
// again, and the tables collapse the copies by key either way
// (schemas/clickhouse/README.md#layouts).
func settings(c Config) clickhouse.Settings {
	s := clickhouse.Settings{}
	if c.Cluster.Name != "" {
		s["deduplicate_blocks_in_dependent_materialized_views"] = 1
	}
	return s
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
		Settings:     settings(c),
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
