// Package sigcheck is the one sr25519 verification per request that the
// benchmark floors (bench/minproxy, bench/plainproxy with -verify) add, so
// a floor "plus one verification" costs what fibergate's check costs: a
// message the size of Fiber's signed text ("{nonce}:{miner}:{uuid}") under
// a key whose verifier is built once, as fibergate caches one per
// validator. It is a measurement tool, not part of fibergate.
package sigcheck

import (
	"crypto/rand"
	"errors"

	"github.com/fibergate/fibergate/crypto/signature"
	"github.com/fibergate/fibergate/crypto/sr25519"
)

// Check is a signature and the verifier that checks it.
type Check struct {
	v   *signature.Verifier
	msg []byte
	sig [64]byte
}

// New signs a Fiber-sized message with a fresh key and builds its verifier.
func New() (*Check, error) {
	var seed [32]byte
	rand.Read(seed[:])
	kp, err := sr25519.KeypairFromSeed(seed)
	if err != nil {
		return nil, err
	}
	c := &Check{msg: []byte("1733300000000000000_0123456789abcdef:5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")}
	if c.sig, err = kp.Sign(c.msg, rand.Reader); err != nil {
		return nil, err
	}
	if c.v, err = signature.NewVerifier(kp.Public(), signature.Options{}); err != nil {
		return nil, err
	}
	if !c.OK() {
		return nil, errors.New("sigcheck: the signature does not verify")
	}
	return c, nil
}

// OK verifies the signature once; it is always true, at the cost of one
// verification.
func (c *Check) OK() bool { return c.v.Verify(c.msg, &c.sig) }
