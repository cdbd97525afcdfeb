// Package ss58 decodes and encodes SS58 addresses of 32-byte Substrate
// account ids, the form in which Bittensor hotkeys travel in Fiber headers.
// It follows @polkadot/util-crypto's decodeAddress, narrowed to what a hotkey
// can be: a one- or two-byte network prefix (reserved prefixes refused), a
// payload of exactly 32 bytes and a two-byte BLAKE2b checksum. 0x-hex input is
// refused. Decoding allocates nothing unless it fails, so the proxy can run it on every
// request header; callers compare decoded keys, never address strings,
// because one key has more than one valid spelling.
package ss58
