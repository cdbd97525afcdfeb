package rsakey

import "errors"

// Sentinel errors; functions wrap them with what they were doing.
var (
	// ErrNoPEM means the input holds no PEM block.
	ErrNoPEM = errors.New("no PEM block")
	// ErrEncrypted means the private key is encrypted with a passphrase,
	// which is not supported: protect the file with its permissions.
	ErrEncrypted = errors.New("encrypted private keys are not supported")
	// ErrKeyType means the PEM block is not the expected kind of key, or
	// the key is not RSA.
	ErrKeyType = errors.New("not an RSA key of the expected form")
	// ErrInvalidKey means the key's encoding or its numbers are invalid.
	ErrInvalidKey = errors.New("invalid RSA key")
	// ErrKeySize means the key has an unsupported number of bits.
	ErrKeySize = errors.New("unsupported RSA key size")
	// ErrExists means WriteFile was asked not to overwrite a file that
	// exists.
	ErrExists = errors.New("file already exists")
	// ErrDecrypt is the one error DecryptSymmetricKey returns, whatever
	// went wrong.
	ErrDecrypt = errors.New("decrypting symmetric key failed")
)
