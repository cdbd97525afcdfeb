package sr25519

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/fibergate/fibergate/crypto/ss58"
	"github.com/fibergate/fibergate/internal/testvectors"
)

type vectorKey struct {
	Label         string `json:"label"`
	MiniSecretHex string `json:"mini_secret_hex"`
	PublicKeyHex  string `json:"public_key_hex"`
	SS58          string `json:"ss58"`
}

type sigFile struct {
	Keys  []vectorKey `json:"keys"`
	Cases []sigCase   `json:"cases"`
}

type sigCase struct {
	ID           string `json:"id"`
	PublicKeyHex string `json:"public_key_hex"`
	SS58         string `json:"ss58"`
	MessageHex   string `json:"message_hex"`
	SignatureHex string `json:"signature_hex"`
	Valid        bool   `json:"valid"`
	ValidStrict  bool   `json:"valid_strict"`
	Note         string `json:"note"`
}

// Cases whose signature is not 64 bytes: ParseSignature must refuse them.
var badLengthCases = map[string]bool{
	"signature_63_bytes": true,
	"signature_65_bytes": true,
}

// Cases whose public key NewPublicKey must refuse, and why.
var badKeyCases = map[string]error{
	"identity_public_key_forgery": ErrIdentityKey,
	"public_key_not_a_point":      ErrInvalidPublicKey,
	// An Ed25519 public key need not be a valid Ristretto encoding; this one
	// is not, so its signature fails already at decoding.
	"ed25519_signature_as_sr25519": ErrInvalidPublicKey,
}

func unhexT(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.TrimPrefix(s, "0x"))
	if err != nil {
		t.Fatalf("bad hex %q in vectors: %v", s, err)
	}
	return b
}

func key32(t *testing.T, s string) [32]byte {
	t.Helper()
	b := unhexT(t, s)
	if len(b) != 32 {
		t.Fatalf("key %q in vectors is %d bytes", s, len(b))
	}
	return [32]byte(b)
}

func checkKeys(t *testing.T, keys []vectorKey) {
	t.Helper()
	if len(keys) == 0 {
		t.Fatal("no keys in vectors")
	}
	for _, k := range keys {
		t.Run(k.Label, func(t *testing.T) {
			kp, err := KeypairFromSeed(key32(t, k.MiniSecretHex))
			if err != nil {
				t.Fatalf("key %s: KeypairFromSeed: %v", k.Label, err)
			}
			want := key32(t, k.PublicKeyHex)
			if got := kp.Public(); got != want {
				t.Errorf("key %s: got public key %x, want %x", k.Label, got, want)
			}
			if got, _ := schnorrkelPublic(key32(t, k.MiniSecretHex)); got != want {
				t.Errorf("key %s: go-schnorrkel derives %x, want %x", k.Label, got, want)
			}
			if got := ss58.Encode(kp.Public(), ss58.Bittensor); got != k.SS58 {
				t.Errorf("key %s: got address %s, want %s", k.Label, got, k.SS58)
			}
		})
	}
}

func TestSR25519Vectors(t *testing.T) {
	var v sigFile
	testvectors.Load(t, "sr25519.json", &v)
	t.Run("keys", func(t *testing.T) { checkKeys(t, v.Keys) })
	if len(v.Cases) == 0 {
		t.Fatal("no cases in sr25519.json")
	}
	for _, c := range v.Cases {
		t.Run(c.ID, func(t *testing.T) {
			if c.ValidStrict && !c.Valid {
				t.Fatalf("case %s (%s): vector is valid_strict but not valid", c.ID, c.Note)
			}
			sig, err := ParseSignature([]byte(c.SignatureHex))
			if badLengthCases[c.ID] {
				if !errors.Is(err, ErrSignatureFormat) {
					t.Errorf("case %s (%s): ParseSignature got %v, want %v", c.ID, c.Note, err, ErrSignatureFormat)
				}
				if c.Valid {
					t.Errorf("case %s (%s): a bad-length case is marked valid", c.ID, c.Note)
				}
				return
			}
			if err != nil {
				t.Fatalf("case %s (%s): ParseSignature: %v", c.ID, c.Note, err)
			}
			pubBytes := key32(t, c.PublicKeyHex)
			if pub, _, err := ss58.Decode(c.SS58); err != nil || pub != pubBytes {
				t.Errorf("case %s (%s): address %s decodes to (%x, %v), want %x", c.ID, c.Note, c.SS58, pub, err, pubBytes)
			}
			msg := unhexT(t, c.MessageHex)

			key, err := NewPublicKey(pubBytes)
			base, baseErr := newSchnorrkelKey(pubBytes)
			if want, ok := badKeyCases[c.ID]; ok {
				if !errors.Is(err, want) {
					t.Errorf("case %s (%s): NewPublicKey got %v, want %v", c.ID, c.Note, err, want)
				}
				if !errors.Is(baseErr, want) {
					t.Errorf("case %s (%s): go-schnorrkel baseline got %v, want %v", c.ID, c.Note, baseErr, want)
				}
				if c.Valid {
					t.Errorf("case %s (%s): a refused key is marked valid", c.ID, c.Note)
				}
				return
			}
			if err != nil || baseErr != nil {
				t.Fatalf("case %s (%s): NewPublicKey: %v; baseline: %v", c.ID, c.Note, err, baseErr)
			}
			if got := key.Bytes(); got != pubBytes {
				t.Errorf("case %s (%s): Bytes got %x, want %x", c.ID, c.Note, got, pubBytes)
			}
			if got := key.Verify(msg, &sig); got != c.Valid {
				t.Errorf("case %s (%s): Verify got %v, want %v", c.ID, c.Note, got, c.Valid)
			}
			if got := key.VerifyStrict(msg, &sig); got != c.ValidStrict {
				t.Errorf("case %s (%s): VerifyStrict got %v, want %v", c.ID, c.Note, got, c.ValidStrict)
			}
			// The precomputed-table check and curve25519-voi's own agree.
			if got := key.verifyLibrary(msg, &sig); got != c.ValidStrict {
				t.Errorf("case %s (%s): curve25519-voi's PublicKey.Verify got %v, want %v", c.ID, c.Note, got, c.ValidStrict)
			}
			if got := base.verify(msg, &sig); got != c.Valid {
				t.Errorf("case %s (%s): go-schnorrkel baseline verify got %v, want %v", c.ID, c.Note, got, c.Valid)
			}
			if got := base.verifyStrict(msg, &sig); got != c.ValidStrict {
				t.Errorf("case %s (%s): go-schnorrkel baseline verifyStrict got %v, want %v", c.ID, c.Note, got, c.ValidStrict)
			}
		})
	}
}

type fiberFile struct {
	Keys  []vectorKey `json:"keys"`
	Cases []fiberCase `json:"cases"`
}

type fiberCase struct {
	ID                    string            `json:"id"`
	Mode                  string            `json:"mode"`
	Note                  string            `json:"note"`
	Nonce                 string            `json:"nonce"`
	MinerHotkey           string            `json:"miner_hotkey"`
	ValidatorHotkey       string            `json:"validator_hotkey"`
	ValidatorSeedHex      string            `json:"validator_seed_hex"`
	ValidatorPublicKeyHex string            `json:"validator_public_key_hex"`
	SymmetricKeyUUID      *string           `json:"symmetric_key_uuid"`
	BodyB64               *string           `json:"body_b64"`
	BodySHA256Hex         *string           `json:"body_sha256_hex"`
	Message               string            `json:"message"`
	Signature             string            `json:"signature"`
	Headers               map[string]string `json:"headers"`
	Valid                 bool              `json:"valid"`
}

// fiberMessage builds the string a Fiber validator signs:
// "{nonce}:{miner-hotkey}:{third}", where third is the symmetric-key uuid in
// encrypted mode and the body's lower-case hex SHA-256 in signed mode.
func fiberMessage(nonce, miner, third string) []byte {
	return []byte(nonce + ":" + miner + ":" + third)
}

func TestFiberMessageVectors(t *testing.T) {
	var v fiberFile
	testvectors.Load(t, "fiber_message.json", &v)
	t.Run("keys", func(t *testing.T) { checkKeys(t, v.Keys) })
	if len(v.Cases) == 0 {
		t.Fatal("no cases in fiber_message.json")
	}
	for _, c := range v.Cases {
		t.Run(c.ID, func(t *testing.T) {
			var third string
			switch c.Mode {
			case "encrypted":
				if c.SymmetricKeyUUID == nil {
					t.Fatalf("case %s (%s): encrypted case without uuid", c.ID, c.Note)
				}
				third = *c.SymmetricKeyUUID
				if got := c.Headers["symmetric-key-uuid"]; got != third {
					t.Errorf("case %s (%s): uuid header %q, want %q", c.ID, c.Note, got, third)
				}
			case "signed":
				if c.BodyB64 == nil || c.BodySHA256Hex == nil {
					t.Fatalf("case %s (%s): signed case without body", c.ID, c.Note)
				}
				body, err := base64.StdEncoding.DecodeString(*c.BodyB64)
				if err != nil {
					t.Fatalf("case %s (%s): body: %v", c.ID, c.Note, err)
				}
				sum := sha256.Sum256(body)
				third = hex.EncodeToString(sum[:])
				if third != *c.BodySHA256Hex {
					t.Errorf("case %s (%s): body hash got %s, want %s", c.ID, c.Note, third, *c.BodySHA256Hex)
				}
			default:
				t.Fatalf("case %s (%s): unknown mode %q", c.ID, c.Note, c.Mode)
			}
			msg := fiberMessage(c.Headers["nonce"], c.Headers["miner-hotkey"], third)
			if string(msg) != c.Message {
				t.Errorf("case %s (%s): got message %q, want %q", c.ID, c.Note, msg, c.Message)
			}
			if c.Headers["nonce"] != c.Nonce || c.Headers["miner-hotkey"] != c.MinerHotkey ||
				c.Headers["validator-hotkey"] != c.ValidatorHotkey || c.Headers["signature"] != c.Signature {
				t.Errorf("case %s (%s): headers %v disagree with the case fields", c.ID, c.Note, c.Headers)
			}

			pubBytes := key32(t, c.ValidatorPublicKeyHex)
			if pub, _, err := ss58.Decode(c.Headers["validator-hotkey"]); err != nil || pub != pubBytes {
				t.Errorf("case %s (%s): validator-hotkey decodes to (%x, %v), want %x", c.ID, c.Note, pub, err, pubBytes)
			}
			kp, err := KeypairFromSeed(key32(t, c.ValidatorSeedHex))
			if err != nil || kp.Public() != pubBytes {
				t.Errorf("case %s (%s): validator seed gives (%v, %v), want %x", c.ID, c.Note, kp, err, pubBytes)
			}
			key, err := NewPublicKey(pubBytes)
			if err != nil {
				t.Fatalf("case %s (%s): NewPublicKey: %v", c.ID, c.Note, err)
			}
			sig, err := ParseSignature([]byte(c.Headers["signature"]))
			if err != nil {
				t.Fatalf("case %s (%s): ParseSignature: %v", c.ID, c.Note, err)
			}
			if got := key.Verify(msg, &sig); got != c.Valid {
				t.Errorf("case %s (%s): Verify got %v, want %v", c.ID, c.Note, got, c.Valid)
			}
			if got := key.VerifyStrict(msg, &sig); got != c.Valid {
				t.Errorf("case %s (%s): VerifyStrict got %v, want %v", c.ID, c.Note, got, c.Valid)
			}
			if got := key.verifyLibrary(msg, &sig); got != c.Valid {
				t.Errorf("case %s (%s): curve25519-voi's PublicKey.Verify got %v, want %v", c.ID, c.Note, got, c.Valid)
			}
			// The signature binds every field of the message.
			for i, other := range [][]byte{
				fiberMessage(c.Nonce+"0", c.MinerHotkey, third),
				fiberMessage(c.Nonce, c.ValidatorHotkey, third),
				fiberMessage(c.Nonce, c.MinerHotkey, third+"0"),
			} {
				if key.Verify(other, &sig) {
					t.Errorf("case %s (%s): Verify accepted altered message %d %q", c.ID, c.Note, i, other)
				}
			}
		})
	}
}

type transcriptFile struct {
	Validator struct {
		SS58 string `json:"ss58"`
		Seed string `json:"seed"`
	} `json:"validator"`
	Miner struct {
		SS58 string `json:"ss58"`
		Seed string `json:"seed"`
	} `json:"miner"`
	Exchanges []struct {
		Name    string `json:"name"`
		Request struct {
			Headers [][2]string `json:"headers"`
		} `json:"request"`
	} `json:"exchanges"`
}

func TestTranscriptFiber21(t *testing.T) {
	var v transcriptFile
	testvectors.Load(t, "transcript-fiber-2.1.json", &v)

	validator, err := KeypairFromSeed(key32(t, v.Validator.Seed))
	if err != nil {
		t.Fatal(err)
	}
	if got := ss58.Encode(validator.Public(), ss58.Bittensor); got != v.Validator.SS58 {
		t.Fatalf("validator seed: got address %s, want %s", got, v.Validator.SS58)
	}
	miner, err := KeypairFromSeed(key32(t, v.Miner.Seed))
	if err != nil {
		t.Fatal(err)
	}
	if got := ss58.Encode(miner.Public(), ss58.Bittensor); got != v.Miner.SS58 {
		t.Fatalf("miner seed: got address %s, want %s", got, v.Miner.SS58)
	}
	key, err := NewPublicKey(validator.Public())
	if err != nil {
		t.Fatal(err)
	}

	type signed struct {
		name string
		msg  []byte
		sig  [64]byte
	}
	var all []signed
	for _, e := range v.Exchanges {
		h := map[string]string{}
		for _, kv := range e.Request.Headers {
			h[strings.ToLower(kv[0])] = kv[1]
		}
		if _, ok := h["signature"]; !ok {
			continue
		}
		t.Run(e.Name, func(t *testing.T) {
			if h["validator-hotkey"] != v.Validator.SS58 || h["miner-hotkey"] != v.Miner.SS58 {
				t.Errorf("exchange %s: hotkey headers %q, %q", e.Name, h["validator-hotkey"], h["miner-hotkey"])
			}
			sig, err := ParseSignature([]byte(h["signature"]))
			if err != nil {
				t.Fatalf("exchange %s: ParseSignature: %v", e.Name, err)
			}
			msg := fiberMessage(h["nonce"], h["miner-hotkey"], h["symmetric-key-uuid"])
			if !key.Verify(msg, &sig) || !key.VerifyStrict(msg, &sig) {
				t.Errorf("exchange %s: signature does not verify over %q", e.Name, msg)
			}
			all = append(all, signed{e.Name, msg, sig})
		})
	}
	if len(all) != 4 {
		t.Fatalf("got %d signed exchanges, want 4 (exchange and three posts)", len(all))
	}
	// No signature verifies over another exchange's message.
	for _, a := range all {
		for _, b := range all {
			if a.name != b.name && key.Verify(b.msg, &a.sig) {
				t.Errorf("signature of %s verifies over the message of %s", a.name, b.name)
			}
		}
	}
}
