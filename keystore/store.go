package keystore

import (
	"errors"
	"time"

	"github.com/fibergate/fibergate/crypto/fernet"
)

// Defaults for MemoryOptions and RedisOptions.
const (
	// DefaultTTL is how long a key stays usable after its exchange, as in
	// Fiber.
	DefaultTTL = 5 * time.Hour
	// DefaultMaxPerValidator bounds the keys one validator can hold.
	DefaultMaxPerValidator = 64
	// DefaultShards is the number of independently locked shards.
	DefaultShards = 64
	// MaxUUIDLen bounds the uuid of an entry in bytes; Fiber's client sends
	// 64 hex digits.
	MaxUUIDLen = 256
)

// Entry is one exchanged key. Entries handed out by a Store are shared and
// must not be modified.
type Entry struct {
	// Validator is the validator's sr25519 public key.
	Validator [32]byte
	// UUID is the symmetric-key-uuid the validator chose.
	UUID string
	// Key is the Fernet key the validator sent.
	Key *fernet.Key
	// Created is when the key was exchanged.
	Created time.Time
	// Expires is when the key stops being usable; an entry is usable while
	// now is before Expires.
	Expires time.Time
}

// Store is where exchanged keys live. Implementations are safe for
// concurrent use.
type Store interface {
	// Get returns the entry stored under (validator, uuid) if it has not
	// expired at now; ErrNotFound if there is none; an error wrapping
	// ErrUnavailable if the store cannot be reached (a shared backend).
	// It does not retain uuid.
	Get(validator [32]byte, uuid []byte, now time.Time) (*Entry, error)
	// Put stores e, replacing any entry under the same (validator, uuid).
	Put(e *Entry, now time.Time) error
	// Delete removes the entry under (validator, uuid), if any.
	Delete(validator [32]byte, uuid []byte)
	// Len returns the number of entries held, expired ones not yet removed
	// included.
	Len() int
}

// Errors of Get.
var (
	// ErrNotFound means no live entry is stored under (validator, uuid).
	ErrNotFound = errors.New("keystore: no such key")
	// ErrUnavailable means the store could not be reached; callers must
	// fail closed (refuse), never treat it as "not found".
	ErrUnavailable = errors.New("keystore: store unavailable")
)

// Errors of Put.
var (
	// ErrInvalidEntry means an entry lacks a key or a uuid, has a uuid over
	// MaxUUIDLen bytes, or names the all-zero validator key.
	ErrInvalidEntry = errors.New("keystore: invalid entry")
	// ErrExpired means the entry had already expired when it was put.
	ErrExpired = errors.New("keystore: entry already expired")
)
