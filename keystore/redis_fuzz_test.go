package keystore

import (
	"encoding/hex"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// FuzzRedisValue feeds open whatever JSON a holder of the storage key
// might have sealed: it never panics, and what it accepts is a valid entry
// of the name it was asked for.
func FuzzRedisValue(f *testing.F) {
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer c.Close()
	s, err := NewRedis(RedisOptions{Client: c, StorageKey: storageKey(f)})
	if err != nil {
		f.Fatal(err)
	}
	e := entry(f, 1, "u")
	e.Created, e.Expires = t0, t0.Add(time.Hour)
	good, err := s.seal(e)
	if err != nil {
		f.Fatal(err)
	}
	plain, _, err := s.sk.Decrypt(nil, good)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(plain)
	f.Add([]byte(`{"version":1,"entry":{}}`))
	f.Add([]byte(`{"version":2}`))
	f.Add([]byte(`[]`))
	v1 := validator(1)
	f.Fuzz(func(t *testing.T, plain []byte) {
		token, err := s.sk.Seal(nil, plain)
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.open(token, v1, []byte("u"))
		if err != nil {
			return
		}
		if got.Validator != v1 || got.UUID != "u" || got.Key == nil || checkEntry(got) != nil || !got.Created.Before(got.Expires) {
			t.Fatalf("accepted an invalid entry %+v", got)
		}
	})
}

// FuzzRedisApply feeds the invalidation handler arbitrary channel
// messages: it never panics and never lowers the applied generation.
func FuzzRedisApply(f *testing.F) {
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer c.Close()
	s, err := NewRedis(RedisOptions{Client: c, StorageKey: storageKey(f)})
	if err != nil {
		f.Fatal(err)
	}
	v1 := validator(1)
	f.Add("12:" + hex.EncodeToString(v1[:]) + ":u")
	f.Add("12")
	f.Add("-5:x:y")
	f.Add("99999999999999999999:")
	f.Fuzz(func(t *testing.T, msg string) {
		before := s.applied.Load()
		s.apply(msg)
		if s.applied.Load() < before {
			t.Fatalf("applied generation went down from %d", before)
		}
	})
}
