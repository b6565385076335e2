package events

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
)

// MinSaltLen is the shortest deployment salt accepted (bytes).
const MinSaltLen = 16

// Salt is a deployment's secret key for the keyed hashes Orbitflow stores
// in place of personal data (people.email_salt, or the file email-salt
// generated in the data dir). Every service of a deployment must use the
// same salt: e-mail merges compare the keyed hashes, and a tombstone is
// found again only with the salt that wrote it. Safe for concurrent use.
//
// Without the salt, a stored hash cannot be tested against a guessed
// address or identity (an unsalted SHA-256 of an address can: addresses
// are guessable); with it, it can, so the salt is a secret like an API key.
type Salt struct {
	key []byte
}

// NewSalt returns the salt of secret (its bytes are the HMAC key). It must
// be at least MinSaltLen bytes.
func NewSalt(secret string) (*Salt, error) {
	if len(secret) < MinSaltLen {
		return nil, fmt.Errorf("want at least %d bytes of secret, got %d (generate one with `openssl rand -hex 32`)", MinSaltLen, len(secret))
	}
	return &Salt{key: []byte(secret)}, nil
}

// MustSalt is NewSalt for constants and tests; it panics on a short secret.
func MustSalt(secret string) *Salt {
	s, err := NewSalt(secret)
	if err != nil {
		panic(err)
	}
	return s
}

func (s *Salt) mac(parts ...string) string {
	m := hmac.New(sha256.New, s.key)
	for i, p := range parts {
		if i > 0 {
			m.Write([]byte{0})
		}
		m.Write([]byte(p))
	}
	return hex.EncodeToString(m.Sum(nil))
}

// Email returns what is stored for an actor's e-mail: HMAC-SHA256 with the
// salt as key over the 64 lowercase hex digits of email_sha256 (as events
// carry it), in lowercase hex; "" for "". In SQL (ClickHouse 25.x and
// later): lower(hex(HMAC('SHA256', email_sha256, salt))).
func (s *Salt) Email(emailSHA256 string) string {
	if emailSHA256 == "" {
		return ""
	}
	return s.mac(emailSHA256)
}

// Tombstone returns the keyed hash a forgotten identity is recorded by:
// HMAC-SHA256(salt, "forget" 0x00 community 0x00 key), lowercase hex. key
// is an identity key ("github:583231") or a username reference
// ("github:login:jane"). The hash names no one without the salt.
func (s *Salt) Tombstone(community, key string) string {
	return s.mac("forget", community, key)
}

// Fingerprint identifies the salt without revealing it (16 hex digits),
// so stored state can tell whether it was written with another salt.
func (s *Salt) Fingerprint() string {
	return s.mac("orbitflow salt fingerprint")[:16]
}

// ErrSaltMismatch: state was written with another salt than the one
// configured.
var ErrSaltMismatch = errors.New("the data was hashed with another people.email_salt")
