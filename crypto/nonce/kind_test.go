package nonce_test

import (
	"testing"

	"github.com/fibergate/fibergate/crypto/nonce"
)

func TestKindString(t *testing.T) {
	for k, want := range map[nonce.Kind]string{
		nonce.KindHeader: "header",
		nonce.KindBody:   "body",
		7:                "kind(7)",
	} {
		if got := k.String(); got != want {
			t.Errorf("Kind(%d).String() = %q, want %q", k, got, want)
		}
	}
}
