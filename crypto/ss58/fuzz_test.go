package ss58

import (
	"errors"
	"testing"

	"github.com/mr-tron/base58"
)

func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		"5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY",
		"Zp5wgt7iipcBBD8qrDbgQerUy6vWeg3np21675SE43SmZaPo9",
		"111111111111111111111111111111111HC1",
		"yNYQYW6MSYsp2Ar4BJQY8WhcDKw6JTMzpwN5kN2QmGYutwPWu",
		"KW618V8mHNPEJ5hhXSVGHGyK6PhDPJ3DCcF9WF6Mwqgg7kqiX",
		"J3dP1ZXrHEUd1c3N61DT9ZYpoDWXFstSX3cKwsvv4jNjwVjd",
		"5g1axYPrdA2VeKsqmz8WKpa8f3n4T9ou8Qv3f8BaeheH3ApS",
		"0xd43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d",
		"",
		"1",
		"zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz",
		"5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, addr string) {
		pub, prefix, err := Decode(addr)
		bpub, bprefix, berr := DecodeBytes([]byte(addr))
		if pub != bpub || prefix != bprefix || (err == nil) != (berr == nil) {
			t.Fatalf("%q: Decode (%x, %d, %v) and DecodeBytes (%x, %d, %v) differ", addr, pub, prefix, err, bpub, bprefix, berr)
		}
		rpub, rprefix, ok := referenceDecode(addr)
		if ok != (err == nil) {
			t.Fatalf("%q: got error %v, reference decoder accepts=%v", addr, err, ok)
		}
		if err != nil {
			if !errors.Is(err, ErrEmpty) && !errors.Is(err, ErrHex) && !errors.Is(err, ErrAlphabet) &&
				!errors.Is(err, ErrLength) && !errors.Is(err, ErrPrefix) && !errors.Is(err, ErrChecksum) {
				t.Fatalf("%q: error %v wraps no sentinel", addr, err)
			}
			if _, derr := base58.Decode(addr); derr == nil && errors.Is(err, ErrAlphabet) {
				t.Fatalf("%q: got %v, but it is valid base58", addr, err)
			}
			return
		}
		if pub != rpub || prefix != rprefix {
			t.Fatalf("%q: got (%x, %d), reference (%x, %d)", addr, pub, prefix, rpub, rprefix)
		}
		again := Encode(pub, prefix)
		pub2, prefix2, err := Decode(again)
		if err != nil || pub2 != pub || prefix2 != prefix {
			t.Fatalf("%q re-encoded as %q decodes to (%x, %d, %v), want (%x, %d)", addr, again, pub2, prefix2, err, pub, prefix)
		}
	})
}
