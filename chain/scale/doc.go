// Package scale decodes the subset of Substrate's SCALE codec that a
// subnet's metagraph needs: little-endian fixed-width integers, compact
// integers in all four modes, bool, Option tags, AccountId32 and
// length-prefixed vectors. It decodes strictly, as the Rust codec does
// (non-canonical compacts, bool bytes other than 0 and 1 and Option tags
// other than 0 and 1 are errors), and it is bounded: a vector length that
// cannot fit in the bytes that remain is an error before anything is
// allocated, so no input can make it allocate more than the input's size.
package scale
