package nonce

import "strconv"

// Kind says which nonce of a request is recorded, so a header nonce and a
// body nonce with the same text do not collide.
type Kind uint8

const (
	// KindHeader is the nonce in the request's `nonce` header.
	KindHeader Kind = iota
	// KindBody is the `"nonce"` field inside the decrypted JSON body.
	KindBody
)

// String returns "header", "body" or "kind(N)".
func (k Kind) String() string {
	switch k {
	case KindHeader:
		return "header"
	case KindBody:
		return "body"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Scope is the namespace a nonce is recorded under: the same nonce under
// another scope is a different entry.
type Scope struct {
	// Who is the public key of the hotkey that signed the request.
	Who [32]byte
	// Kind says where in the request the nonce was found.
	Kind Kind
}

// Record is one nonce to remember: its scope, text and timestamp (unix ns,
// the one the nonce's own text carries).
type Record struct {
	Scope Scope
	Nonce []byte
	TS    int64
}
