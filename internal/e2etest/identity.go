package e2etest

import (
	"context"
	"encoding/hex"
	"net/http"
	"testing"

	"github.com/fibergate/fibergate/client"
	"github.com/fibergate/fibergate/crypto/sr25519"
	"github.com/fibergate/fibergate/crypto/ss58"
	"github.com/fibergate/fibergate/wallet"
)

// Identity is an sr25519 key the tests sign with or name in configs.
type Identity struct {
	// URI is the Substrate dev URI the key is derived from ("//Alice"),
	// empty for a key made from a seed (Seeded).
	URI string
	// SeedHex is the 32-byte mini secret as 0x and 64 hex digits, as
	// `fibergate client --seed` and egress's seed_env take it.
	SeedHex string
	// SS58 is the public key's address with Bittensor's prefix 42.
	SS58 string
}

// The Substrate dev identities of the end-to-end configs, as
// testdata/vectors lists them (sr25519.json for //Alice and //Bob,
// ss58.json for //Dave's address); TestIdentities holds them to it.
var (
	// Alice validates: every config lists her with stake 5000.
	Alice = Identity{
		URI:     "//Alice",
		SeedHex: "0xe5be9a5092b81bca64be81d212e7f2f9eba183bb7a90954f7b76361f6edb5c0a",
		SS58:    "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY",
	}
	// Bob mines: the hotkey every fibergate of the tests serves.
	Bob = Identity{
		URI:     "//Bob",
		SeedHex: "0x398f0c28f98885e046333d4a41c19cee4c37368a9832c6502f6cfd182e2aef89",
		SS58:    "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty",
	}
	// Dave is a second validator, listed or not, with or without the
	// stake, as each test needs.
	Dave = Identity{
		URI:     "//Dave",
		SeedHex: "0x868020ae0687dda7d57565093a69090211449845a7e11453612800b663307246",
		SS58:    "5DAAnrj7VHTznn2AWBemMuyBwZWs6FNFjdyVXUeYum3PTXFy",
	}
)

// Seeded returns the identity of the key made from seed: a validator no
// config lists, or one a test lists itself.
func Seeded(seed [32]byte) Identity {
	kp, err := sr25519.KeypairFromSeed(seed)
	if err != nil {
		panic("e2etest: a keypair from a 32-byte seed: " + err.Error())
	}
	return Identity{SeedHex: "0x" + hex.EncodeToString(seed[:]), SS58: ss58.Encode(kp.Public(), ss58.Bittensor)}
}

// Seed returns the mini secret. The identities' seeds are fixed and
// tested, so a malformed one is the caller's bug: it panics.
func (id Identity) Seed() [32]byte {
	seed, err := wallet.ParseSeedHex(id.SeedHex)
	if err != nil {
		panic("e2etest: identity " + id.SS58 + ": " + err.Error())
	}
	return seed
}

// Public returns the 32-byte public key.
func (id Identity) Public() [32]byte {
	pub, _, err := ss58.Decode(id.SS58)
	if err != nil {
		panic("e2etest: identity " + id.SS58 + ": " + err.Error())
	}
	return pub
}

// Keypair returns the signing key.
func (id Identity) Keypair(t testing.TB) *sr25519.Keypair {
	t.Helper()
	kp, err := sr25519.KeypairFromSeed(id.Seed())
	if err != nil {
		t.Fatal(err)
	}
	return kp
}

// Client returns a validator client signing as id for the miner //Bob at
// addr (host:port), before any handshake. Keep-alives are off, so a
// client can outlive the process it talks to, and a request takes at most
// IOTimeout.
func (id Identity) Client(t testing.TB, addr string) *client.Client {
	t.Helper()
	c, err := client.New(client.Options{
		BaseURL:     "http://" + addr,
		Keypair:     id.Keypair(t),
		MinerHotkey: Bob.SS58,
		HTTP: &http.Client{
			Timeout:   IOTimeout,
			Transport: &http.Transport{DisableKeepAlives: true},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Handshaken is Client after its key exchange with addr; a failed exchange
// fails t.
func (id Identity) Handshaken(t testing.TB, addr string) *client.Client {
	t.Helper()
	c := id.Client(t, addr)
	ctx, cancel := context.WithTimeout(context.Background(), IOTimeout)
	defer cancel()
	if err := c.Handshake(ctx); err != nil {
		t.Fatalf("handshake as %s with %s: %v", id.SS58, addr, err)
	}
	return c
}
