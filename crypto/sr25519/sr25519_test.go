package sr25519

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

const aliceSigHex = "0x9a2ec66eddb898b8342f509914f220da4690db423611e5b7f88eeb3d99a67647997e013be73ed703b43cb90fee463c53a4dc0f15e5bc3a0d330bc88d03f3bc8f"

func TestParseSignature(t *testing.T) {
	want, _ := hex.DecodeString(aliceSigHex[2:])
	digits := aliceSigHex[2:]
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"lower case", aliceSigHex, true},
		{"upper case digits", "0x" + strings.ToUpper(digits), true},
		{"mixed case digits", "0x" + strings.ToUpper(digits[:64]) + digits[64:], true},
		{"upper case 0X", "0X" + digits, false},
		{"no prefix", digits, false},
		{"no prefix, 130 digits", digits + "00", false},
		{"63 bytes", aliceSigHex[:len(aliceSigHex)-2], false},
		{"65 bytes", aliceSigHex + "00", false},
		{"odd length", aliceSigHex[:len(aliceSigHex)-1], false},
		{"empty", "", false},
		{"prefix only", "0x", false},
		{"leading space", " " + aliceSigHex[:len(aliceSigHex)-1], false},
		{"trailing newline", aliceSigHex[:len(aliceSigHex)-1] + "\n", false},
		{"inner space", aliceSigHex[:10] + " " + aliceSigHex[11:], false},
		{"non-hex g", aliceSigHex[:20] + "g" + aliceSigHex[21:], false},
		{"non-hex last", aliceSigHex[:len(aliceSigHex)-1] + "G", false},
		{"high byte", aliceSigHex[:20] + "\xff" + aliceSigHex[21:], false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sig, err := ParseSignature([]byte(tt.in))
			if !tt.ok {
				if !errors.Is(err, ErrSignatureFormat) {
					t.Errorf("ParseSignature(%q): got error %v, want %v", tt.in, err, ErrSignatureFormat)
				}
				if sig != ([64]byte{}) {
					t.Errorf("ParseSignature(%q): got %x with an error, want zero", tt.in, sig)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseSignature(%q): got error %v", tt.in, err)
			}
			if !bytes.Equal(sig[:], want) {
				t.Errorf("ParseSignature(%q): got %x, want %x", tt.in, sig, want)
			}
		})
	}
}

func TestParseSignatureAllocs(t *testing.T) {
	in := []byte(aliceSigHex)
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := ParseSignature(in); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("ParseSignature: got %v allocations, want 0", allocs)
	}
}

// countingReader is a deterministic witness source.
type countingReader struct{ b byte }

func (r *countingReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = r.b
		r.b++
	}
	return len(p), nil
}

func TestSignVerifyRoundTrip(t *testing.T) {
	msgs := [][]byte{
		nil,
		[]byte("1732550400123456789_HJrsIs7wtT:5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty:d0836bbd"),
		bytes.Repeat([]byte{0}, wrapStack),
		bytes.Repeat([]byte("x"), 4096),
	}
	for seedByte := range 3 {
		seed := sha256.Sum256([]byte{byte(seedByte)})
		kp, err := KeypairFromSeed(seed)
		if err != nil {
			t.Fatal(err)
		}
		key, err := NewPublicKey(kp.Public())
		if err != nil {
			t.Fatal(err)
		}
		base, err := newSchnorrkelKey(kp.Public())
		if err != nil {
			t.Fatal(err)
		}
		for i, msg := range msgs {
			name := fmt.Sprintf("seed%d/msg%d", seedByte, i)
			sig, err := kp.Sign(msg, &countingReader{})
			if err != nil {
				t.Fatalf("%s: Sign: %v", name, err)
			}
			if sig[63]&0x80 == 0 {
				t.Errorf("%s: signature lacks the schnorrkel marker bit", name)
			}
			if !key.VerifyStrict(msg, &sig) || !key.Verify(msg, &sig) {
				t.Errorf("%s: own signature does not verify", name)
			}
			if !base.verifyStrict(msg, &sig) {
				t.Errorf("%s: go-schnorrkel does not verify the signature", name)
			}
			altered := append(append([]byte{}, msg...), '!')
			if key.Verify(altered, &sig) {
				t.Errorf("%s: signature verifies over an altered message", name)
			}
			// A signature over the wrapped message passes Verify only.
			wrapped := append(append([]byte(wrapOpen), msg...), wrapClose...)
			wsig, err := kp.Sign(wrapped, &countingReader{})
			if err != nil {
				t.Fatal(err)
			}
			if key.VerifyStrict(msg, &wsig) || !key.Verify(msg, &wsig) {
				t.Errorf("%s: wrapped signature: got strict %v, plain %v, want false, true",
					name, key.VerifyStrict(msg, &wsig), key.Verify(msg, &wsig))
			}
		}
	}
}

func TestSignUsesRand(t *testing.T) {
	kp, err := KeypairFromSeed([32]byte{1})
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("same message")
	a, err := kp.Sign(msg, &countingReader{b: 0})
	if err != nil {
		t.Fatal(err)
	}
	a2, err := kp.Sign(msg, &countingReader{b: 0})
	if err != nil {
		t.Fatal(err)
	}
	b, err := kp.Sign(msg, &countingReader{b: 7})
	if err != nil {
		t.Fatal(err)
	}
	if a != a2 {
		t.Errorf("same witness stream: got different signatures %x and %x", a, a2)
	}
	if a == b {
		t.Errorf("different witness streams: got the same signature %x", a)
	}
}

func TestZeroPublicKeyVerifiesNothing(t *testing.T) {
	// The identity-key forgery from sr25519.json: with a zero-value
	// PublicKey (never built by NewPublicKey) it must still fail.
	sig, err := ParseSignature([]byte("0x04753645d9f5d11de5070e87997a2af50e38139e6abc442c825ded4914e45c20efcdab9078563412000000000000000000000000000000000000000000000080"))
	if err != nil {
		t.Fatal(err)
	}
	var k PublicKey
	if k.Verify([]byte("Hello, Bittensor!"), &sig) {
		t.Error("zero-value PublicKey accepted the identity forgery")
	}
	var nilKey *PublicKey
	if nilKey.Verify(nil, &sig) || nilKey.VerifyStrict(nil, &sig) {
		t.Error("nil PublicKey accepted a signature")
	}
	if _, err := NewPublicKey([32]byte{}); !errors.Is(err, ErrIdentityKey) {
		t.Errorf("NewPublicKey(zero): got %v, want %v", err, ErrIdentityKey)
	}
}

func TestKeypairRedacts(t *testing.T) {
	seed := [32]byte{0xe5, 0xbe, 0x9a, 0x50}
	kp, err := KeypairFromSeed(seed)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	log.Info("loaded", "key", kp)
	outputs := map[string]string{
		"slog": buf.String(),
		"%v":   fmt.Sprintf("%v", kp),
		"%+v":  fmt.Sprintf("%+v", kp),
		"%#v":  fmt.Sprintf("%#v", kp),
		"%s":   fmt.Sprintf("%s", kp),
	}
	pub := kp.Public()
	sk, err := kp.kp.SecretKey().MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	secrets := []string{hex.EncodeToString(seed[:4]), hex.EncodeToString(sk[:4]), hex.EncodeToString(sk[32:36])}
	for how, out := range outputs {
		if !strings.Contains(out, hex.EncodeToString(pub[:])) {
			t.Errorf("%s: got %q, want the public key in it", how, out)
		}
		if !strings.Contains(out, "REDACTED") {
			t.Errorf("%s: got %q, want REDACTED in it", how, out)
		}
		for _, secret := range secrets {
			if strings.Contains(out, secret) {
				t.Errorf("%s: got %q, which shows secret bytes %s", how, out, secret)
			}
		}
	}
}

// TestVerifyFallbackStackBuffer: the wrapped retry builds short messages on
// the stack, so it allocates one object fewer than for a message too long
// for the stack buffer.
func TestVerifyFallbackStackBuffer(t *testing.T) {
	kp, err := KeypairFromSeed([32]byte{2})
	if err != nil {
		t.Fatal(err)
	}
	key, err := NewPublicKey(kp.Public())
	if err != nil {
		t.Fatal(err)
	}
	allocs := func(n int) float64 {
		msg := bytes.Repeat([]byte("m"), n)
		sig, err := kp.Sign(append(append([]byte(wrapOpen), msg...), wrapClose...), &countingReader{})
		if err != nil {
			t.Fatal(err)
		}
		return testing.AllocsPerRun(20, func() {
			if !key.Verify(msg, &sig) {
				t.Fatal("wrapped signature refused")
			}
		})
	}
	short := allocs(wrapStack - len(wrapOpen) - len(wrapClose))
	long := allocs(wrapStack - len(wrapOpen) - len(wrapClose) + 1)
	if long != short+1 {
		t.Errorf("wrapped retry: got %v allocations for a message that fits the stack buffer and %v for one that does not, want one fewer", short, long)
	}
}

// TestVerifyAllocs: a verification with a decoded key allocates nothing,
// whether the signature holds or not. (An R that is no point costs the one
// error curve25519-voi's decoding makes.)
func TestVerifyAllocs(t *testing.T) {
	kp, err := KeypairFromSeed([32]byte{7})
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("1732550400123456789_HJrsIs7wtT:5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty:d0836bbd")
	sig, err := kp.Sign(msg, nil)
	if err != nil {
		t.Fatal(err)
	}
	k, err := NewPublicKey(kp.Public())
	if err != nil {
		t.Fatal(err)
	}
	bad := sig
	bad[40] ^= 0x08 // a wrong s, still canonical
	for _, tc := range []struct {
		name string
		sig  [64]byte
		want bool
	}{{"valid", sig, true}, {"invalid", bad, false}} {
		if allocs := testing.AllocsPerRun(50, func() {
			if k.VerifyStrict(msg, &tc.sig) != tc.want {
				t.Fatalf("%s: VerifyStrict = %v", tc.name, !tc.want)
			}
		}); allocs != 0 {
			t.Errorf("%s: VerifyStrict allocated %.1f times, want 0", tc.name, allocs)
		}
	}
}
