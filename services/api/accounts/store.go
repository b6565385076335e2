package accounts

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/orbitflow/orbitflow/schemas/events"
)

// Every query here is parameterized (ClickHouse query parameters); no
// value enters the SQL text.

func withParams(ctx context.Context, p map[string]string) context.Context {
	return clickhouse.Context(ctx, clickhouse.WithParameters(clickhouse.Parameters(p)))
}

// ImportResult is what an import did (or, dry, would do).
type ImportResult struct {
	Accounts  int  `json:"accounts"`  // in the file
	Added     int  `json:"added"`     // not there before
	Updated   int  `json:"updated"`   // there, with other values
	Unchanged int  `json:"unchanged"` // there, the same
	Deleted   int  `json:"deleted"`   // there, not in the file (Replace only)
	DryRun    bool `json:"dry_run"`
}

// ConflictError is an import whose domains are held by accounts the file
// does not list: a domain belongs to one account. Nothing was imported.
type ConflictError struct{ Problems []Problem }

func (e *ConflictError) Error() string {
	fe := FileError{Problems: e.Problems}
	return fe.Error()
}

// Import writes accts (from Parse) to accounts_raw with one batch: new
// accounts are added, listed ones replace what was there (an account not
// in the file is left as it is). Importing the same file again changes
// nothing. A domain held by an account the file does not list refuses the
// whole import (*ConflictError). dryRun checks and counts without
// writing. Blocking; ctx bounds it.
func Import(ctx context.Context, conn driver.Conn, accts []Account, dryRun bool) (ImportResult, error) {
	return importAccounts(ctx, conn, accts, dryRun, false)
}

// Replace is Import of the whole customer base: the accounts the file
// does not list are deleted too (their members are linked to no account
// and they leave the reach metrics), and their domains are free for the
// file's accounts. Replacing with the same file again changes nothing.
func Replace(ctx context.Context, conn driver.Conn, accts []Account, dryRun bool) (ImportResult, error) {
	return importAccounts(ctx, conn, accts, dryRun, true)
}

func importAccounts(ctx context.Context, conn driver.Conn, accts []Account, dryRun, replace bool) (ImportResult, error) {
	res := ImportResult{Accounts: len(accts), DryRun: dryRun}
	existing, err := loadAll(ctx, conn)
	if err != nil {
		return res, err
	}
	inFile := map[string]bool{}
	for _, a := range accts {
		inFile[a.ID] = true
	}
	owner := map[string]string{}
	var gone []Account
	for _, e := range existing {
		if inFile[e.ID] {
			continue
		}
		if replace {
			gone = append(gone, e)
			continue
		}
		for _, d := range e.Domains {
			owner[d] = e.ID
		}
	}
	var conflicts []Problem
	for _, a := range accts {
		for _, d := range a.Domains {
			if o, ok := owner[d]; ok {
				conflicts = append(conflicts, Problem{Line: a.Line, Field: "domains",
					Reason: fmt.Sprintf("%s already belongs to account %q, which this file does not list: a domain belongs to one account (remove it there first, or import both)", d, o)})
			}
		}
	}
	if len(conflicts) > 0 {
		return res, &ConflictError{Problems: conflicts}
	}
	for _, a := range accts {
		e, ok := existing[a.ID]
		switch {
		case !ok:
			res.Added++
		case e.Name == a.Name && slices.Equal(e.Domains, a.Domains) && e.Segment == a.Segment && e.Plan == a.Plan && e.Persona == a.Persona:
			res.Unchanged++
		default:
			res.Updated++
		}
	}
	res.Deleted = len(gone)
	if dryRun {
		return res, nil
	}
	now := time.Now().UTC()
	version := uint64(now.UnixNano())
	b, err := conn.PrepareBatch(ctx, "INSERT INTO accounts_raw (account_id, name, domains, domain_hashes, segment, plan, persona, deleted, imported_at, version)")
	if err != nil {
		return res, fmt.Errorf("accounts: import: %w", err)
	}
	defer b.Close()
	for _, a := range accts {
		hashes := make([]string, len(a.Domains))
		for i, d := range a.Domains {
			hashes[i] = events.HashDomain(d)
		}
		if err := b.Append(a.ID, a.Name, a.Domains, hashes, a.Segment, a.Plan, a.Persona, false, now, version); err != nil {
			return res, fmt.Errorf("accounts: import: %w", err)
		}
	}
	for _, a := range gone {
		if err := b.Append(a.ID, a.Name, []string{}, []string{}, a.Segment, a.Plan, a.Persona, true, now, version); err != nil {
			return res, fmt.Errorf("accounts: import: %w", err)
		}
	}
	if err := b.Send(); err != nil {
		return res, fmt.Errorf("accounts: import: %w", err)
	}
	return res, nil
}

func loadAll(ctx context.Context, conn driver.Conn) (map[string]Account, error) {
	rows, err := conn.Query(ctx, "SELECT account_id, name, domains, segment, plan, persona FROM accounts")
	if err != nil {
		return nil, fmt.Errorf("accounts: read the accounts: %w", err)
	}
	defer rows.Close()
	out := map[string]Account{}
	for rows.Next() {
		var a Account
		if err := rows.Scan(&a.ID, &a.Name, &a.Domains, &a.Segment, &a.Plan, &a.Persona); err != nil {
			return nil, err
		}
		out[a.ID] = a
	}
	return out, rows.Err()
}

// ErrNoAccount is a mapping or lookup of an account that was not imported.
var ErrNoAccount = errors.New("no such account")

// Get returns one account (ErrNoAccount if it is not there).
func Get(ctx context.Context, conn driver.Conn, id string) (Account, error) {
	rows, err := conn.Query(withParams(ctx, map[string]string{"id": id}),
		"SELECT account_id, name, domains, segment, plan, persona FROM accounts WHERE account_id = {id:String}")
	if err != nil {
		return Account{}, fmt.Errorf("accounts: %w", err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return Account{}, err
		}
		return Account{}, fmt.Errorf("account %q: %w (import it first: orbitflow accounts import FILE)", id, ErrNoAccount)
	}
	var a Account
	if err := rows.Scan(&a.ID, &a.Name, &a.Domains, &a.Segment, &a.Plan, &a.Persona); err != nil {
		return Account{}, err
	}
	return a, nil
}

// Map links member (a member id or any identity of the member,
// "source:source_id") of community to account explicitly: it wins over a
// domain match. Mapping again replaces the previous mapping.
func Map(ctx context.Context, conn driver.Conn, community, member, account, by string) error {
	if err := checkMember(community, member); err != nil {
		return err
	}
	if _, err := Get(ctx, conn, account); err != nil {
		return err
	}
	return writeMapping(ctx, conn, community, member, account, by, false)
}

// Unmap removes member's explicit mapping (a domain match applies again).
// Unmapping a member without a mapping is no error.
func Unmap(ctx context.Context, conn driver.Conn, community, member, by string) error {
	if err := checkMember(community, member); err != nil {
		return err
	}
	return writeMapping(ctx, conn, community, member, "", by, true)
}

func checkMember(community, member string) error {
	if community == "" || len(community) > 64 || strings.IndexFunc(community, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-')
	}) >= 0 {
		return fmt.Errorf("community: want a community name (a-z, 0-9, _ and -), got %q", community)
	}
	src, id, ok := strings.Cut(member, ":")
	if !ok || src == "" || id == "" || len(member) > 512 || strings.IndexFunc(member, unicode.IsControl) >= 0 {
		return fmt.Errorf("member: want a member id or identity source:source_id (e.g. github:583231), got %q", clip(member))
	}
	return nil
}

func writeMapping(ctx context.Context, conn driver.Conn, community, member, account, by string, deleted bool) error {
	now := time.Now().UTC()
	b, err := conn.PrepareBatch(ctx, "INSERT INTO account_members_raw (community, member, account_id, deleted, mapped_by, mapped_at, version)")
	if err != nil {
		return fmt.Errorf("accounts: map: %w", err)
	}
	defer b.Close()
	if err := b.Append(community, member, account, deleted, by, now, uint64(now.UnixNano())); err != nil {
		return fmt.Errorf("accounts: map: %w", err)
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("accounts: map: %w", err)
	}
	return nil
}
