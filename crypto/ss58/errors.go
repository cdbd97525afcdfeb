package ss58

import "errors"

// Errors returned by Decode and DecodeBytes, each wrapped with the details of
// the failure. Branch on them with errors.Is.
var (
	// ErrEmpty means the address was the empty string.
	ErrEmpty = errors.New("empty address")
	// ErrHex means the address was 0x-prefixed hex, not SS58.
	ErrHex = errors.New("hex string, not an ss58 address")
	// ErrAlphabet means the address held a character outside the base58
	// alphabet (including whitespace, which is never trimmed).
	ErrAlphabet = errors.New("invalid base58 character")
	// ErrLength means the address does not decode to a prefix, a 32-byte
	// account id and a two-byte checksum.
	ErrLength = errors.New("invalid decoded address length")
	// ErrPrefix means the network prefix is reserved (46, 47, or a first
	// byte of 0x80 and above).
	ErrPrefix = errors.New("reserved network prefix")
	// ErrChecksum means the checksum does not match the prefix and account id.
	ErrChecksum = errors.New("invalid address checksum")
)
