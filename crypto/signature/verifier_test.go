package signature

import (
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/fibergate/fibergate/crypto/sr25519"
	"github.com/fibergate/fibergate/internal/testvectors"
)

type vectorFile struct {
	Keys       []vectorKey `json:"keys"`
	Ed25519Key *struct {
		SeedHex      string `json:"seed_hex"`
		PublicKeyHex string `json:"public_key_hex"`
	} `json:"ed25519_key"`
	Cases []vectorCase `json:"cases"`
}

type vectorKey struct {
	Label        string `json:"label"`
	SeedHex      string `json:"seed_hex"`
	PublicKeyHex string `json:"public_key_hex"`
}

type vectorCase struct {
	ID           string `json:"id"`
	Signer       string `json:"signer"`
	PublicKeyHex string `json:"public_key_hex"`
	MessageHex   string `json:"message_hex"`
	SignatureHex string `json:"signature_hex"`
	Valid        bool   `json:"valid"`
	Note         string `json:"note"`
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

// sig64 returns the case's signature, or false when it is not 64 bytes
// (ParseSignature refuses those before any Verifier sees them).
func sig64(t *testing.T, c vectorCase) ([64]byte, bool) {
	t.Helper()
	sig, err := sr25519.ParseSignature([]byte(c.SignatureHex))
	if err != nil {
		if len(unhexT(t, c.SignatureHex)) == 64 {
			t.Fatalf("case %s (%s): ParseSignature: %v", c.ID, c.Note, err)
		}
		return sig, false
	}
	return sig, true
}

// strictEd25519 lists the ed25519.json cases where fibergate deliberately
// refuses what Substrate's ZIP-215 verifier accepts: a small-order key,
// for which anyone can make a signature over any message.
var strictEd25519 = map[string]bool{
	"small_order_key_forgery_zip215": true,
}

// srSignedEd25519Cases are ed25519.json cases whose signature is a genuine
// sr25519 signature by the key: refused as Ed25519 (the vector's verdict),
// accepted by a Verifier because it checks sr25519 as well.
var srSignedEd25519Cases = map[string]bool{
	"sr25519_signature_as_ed25519": true,
}

func TestEd25519Vectors(t *testing.T) {
	var v vectorFile
	testvectors.Load(t, "ed25519.json", &v)
	t.Run("keys", func(t *testing.T) {
		for _, k := range v.Keys {
			priv := ed25519.NewKeyFromSeed(unhexT(t, k.SeedHex))
			if got, want := hex.EncodeToString(priv.Public().(ed25519.PublicKey)), strings.TrimPrefix(k.PublicKeyHex, "0x"); got != want {
				t.Errorf("key %s: got public key %s, want %s", k.Label, got, want)
			}
		}
	})
	if len(v.Cases) == 0 {
		t.Fatal("no cases in ed25519.json")
	}
	for _, c := range v.Cases {
		t.Run(c.ID, func(t *testing.T) {
			sig, ok := sig64(t, c)
			if !ok {
				if c.Valid {
					t.Errorf("case %s (%s): a bad-length signature is marked valid", c.ID, c.Note)
				}
				return
			}
			pub := key32(t, c.PublicKeyHex)
			msg := unhexT(t, c.MessageHex)

			on, err := NewVerifier(pub, Options{AllowEd25519: true})
			switch {
			case strictEd25519[c.ID]:
				if !c.Valid || !ed25519.Verify(pub[:], msg, sig[:]) {
					t.Fatalf("case %s (%s): expected a forgery that plain Ed25519 accepts", c.ID, c.Note)
				}
				if !errors.Is(err, ErrInvalidKey) || !errors.Is(err, ErrSmallOrderKey) {
					t.Errorf("case %s (%s): NewVerifier got %v, want %v and %v", c.ID, c.Note, err, ErrInvalidKey, ErrSmallOrderKey)
				}
				return
			case err != nil:
				t.Fatalf("case %s (%s): NewVerifier with Ed25519: %v", c.ID, c.Note, err)
			}
			if got := on.verifyEd25519(msg, &sig); got != c.Valid {
				t.Errorf("case %s (%s): Ed25519 path got %v, want %v", c.ID, c.Note, got, c.Valid)
			}
			want := c.Valid
			if srSignedEd25519Cases[c.ID] {
				want = true
			}
			if got := on.Verify(msg, &sig); got != want {
				t.Errorf("case %s (%s): Verify with Ed25519 got %v, want %v", c.ID, c.Note, got, want)
			}

			// Without AllowEd25519 no Ed25519 signature passes: the key is
			// refused, or it is an sr25519 key and the signature fails as
			// sr25519.
			off, err := NewVerifier(pub, Options{})
			if err != nil {
				if !errors.Is(err, ErrInvalidKey) {
					t.Errorf("case %s (%s): NewVerifier without Ed25519 got %v, want %v", c.ID, c.Note, err, ErrInvalidKey)
				}
				return
			}
			if got := off.Verify(msg, &sig); got != srSignedEd25519Cases[c.ID] {
				t.Errorf("case %s (%s): Verify without Ed25519 got %v, want %v", c.ID, c.Note, got, srSignedEd25519Cases[c.ID])
			}
			if off.verifyEd25519(msg, &sig) {
				t.Errorf("case %s (%s): Ed25519 path active without AllowEd25519", c.ID, c.Note)
			}
		})
	}
}

// edSignedSR25519Cases are sr25519.json cases whose signature is a genuine
// Ed25519 signature by the key: refused as sr25519 (the vector's verdict),
// accepted by a Verifier only when Ed25519 is allowed.
var edSignedSR25519Cases = map[string]bool{
	"ed25519_signature_as_sr25519": true,
}

func TestSR25519VectorsThroughVerifier(t *testing.T) {
	var v vectorFile
	testvectors.Load(t, "sr25519.json", &v)
	if v.Ed25519Key == nil {
		t.Fatal("sr25519.json has no ed25519_key")
	}
	priv := ed25519.NewKeyFromSeed(unhexT(t, v.Ed25519Key.SeedHex))
	if got := hex.EncodeToString(priv.Public().(ed25519.PublicKey)); got != strings.TrimPrefix(v.Ed25519Key.PublicKeyHex, "0x") {
		t.Fatalf("ed25519_key: got public key %s, want %s", got, v.Ed25519Key.PublicKeyHex)
	}
	if len(v.Cases) == 0 {
		t.Fatal("no cases in sr25519.json")
	}
	for _, c := range v.Cases {
		t.Run(c.ID, func(t *testing.T) {
			sig, ok := sig64(t, c)
			if !ok {
				if c.Valid {
					t.Errorf("case %s (%s): a bad-length signature is marked valid", c.ID, c.Note)
				}
				return
			}
			pub := key32(t, c.PublicKeyHex)
			msg := unhexT(t, c.MessageHex)
			_, srErr := sr25519.NewPublicKey(pub)
			for _, opts := range []Options{{}, {AllowEd25519: true}} {
				want := c.Valid
				if edSignedSR25519Cases[c.ID] {
					want = opts.AllowEd25519
				}
				ver, err := NewVerifier(pub, opts)
				if err != nil {
					if want {
						t.Errorf("case %s (%s) %+v: NewVerifier: %v", c.ID, c.Note, opts, err)
					}
					if !errors.Is(err, ErrInvalidKey) {
						t.Errorf("case %s (%s) %+v: NewVerifier got %v, want %v", c.ID, c.Note, opts, err, ErrInvalidKey)
					}
					// The sr25519 reason is kept.
					for _, reason := range []error{sr25519.ErrIdentityKey, sr25519.ErrInvalidPublicKey} {
						if errors.Is(err, reason) != errors.Is(srErr, reason) {
							t.Errorf("case %s (%s) %+v: NewVerifier got %v, want the sr25519 reason %v", c.ID, c.Note, opts, err, srErr)
						}
					}
					continue
				}
				if got := ver.Verify(msg, &sig); got != want {
					t.Errorf("case %s (%s) %+v: Verify got %v, want %v", c.ID, c.Note, opts, got, want)
				}
				if got := ver.PublicKey(); got != pub {
					t.Errorf("case %s (%s): PublicKey got %x, want %x", c.ID, c.Note, got, pub)
				}
			}
		})
	}
}

func TestIdentityKeyRefused(t *testing.T) {
	for _, opts := range []Options{{}, {AllowEd25519: true}} {
		_, err := NewVerifier([32]byte{}, opts)
		if !errors.Is(err, ErrInvalidKey) || !errors.Is(err, sr25519.ErrIdentityKey) {
			t.Errorf("%+v: got %v, want %v wrapping %v", opts, err, ErrInvalidKey, sr25519.ErrIdentityKey)
		}
		if opts.AllowEd25519 && !errors.Is(err, ErrSmallOrderKey) {
			t.Errorf("%+v: got %v, want it to wrap %v (32 zero bytes are a point of order 4)", opts, err, ErrSmallOrderKey)
		}
	}
}

func TestEd25519WrappedLongMessage(t *testing.T) {
	priv := ed25519.NewKeyFromSeed(make([]byte, 32))
	pub := [32]byte(priv.Public().(ed25519.PublicKey))
	v, err := NewVerifier(pub, Options{AllowEd25519: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{0, wrapStack - len(wrapOpen) - len(wrapClose), wrapStack, 4 * wrapStack} {
		msg := []byte(strings.Repeat("m", n))
		sig := [64]byte(ed25519.Sign(priv, []byte(wrapOpen+string(msg)+wrapClose)))
		if !v.Verify(msg, &sig) {
			t.Errorf("%d-byte message: wrapped Ed25519 signature refused", n)
		}
		if v.Verify(append(msg, 'x'), &sig) {
			t.Errorf("%d-byte message: wrapped signature accepted for another message", n)
		}
	}
}

func TestNilVerifier(t *testing.T) {
	var v *Verifier
	var sig [64]byte
	if v.Verify(nil, &sig) {
		t.Error("nil Verifier accepted a signature")
	}
}
