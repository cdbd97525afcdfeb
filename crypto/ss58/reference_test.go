package ss58

import (
	"github.com/mr-tron/base58"
)

// encodeRaw spells raw bytes in base58, for building addresses by hand.
func encodeRaw(raw []byte) string { return base58.Encode(raw) }

// referenceDecode is a plain transcription of the decoding rules on top of
// mr-tron/base58, used to cross-check the allocation-free decoder. It
// reports only whether the address is accepted and what it holds.
func referenceDecode(addr string) (pub [32]byte, prefix uint16, ok bool) {
	if len(addr) == 0 || (len(addr) >= 2 && addr[0] == '0' && (addr[1] == 'x' || addr[1] == 'X')) {
		return pub, 0, false
	}
	d, err := base58.Decode(addr)
	if err != nil || len(d) < 1 || d[0]&0x80 != 0 {
		return pub, 0, false
	}
	prefixLen := 1
	prefix = uint16(d[0])
	if d[0]&0x40 != 0 {
		if len(d) < 2 {
			return pub, 0, false
		}
		prefixLen = 2
		prefix = uint16(d[0]&0x3f)<<2 | uint16(d[1]>>6) | uint16(d[1]&0x3f)<<8
	}
	if len(d) != prefixLen+34 || prefix == 46 || prefix == 47 {
		return pub, 0, false
	}
	sum := checksum(d[:len(d)-2])
	if sum[0] != d[len(d)-2] || sum[1] != d[len(d)-1] {
		return pub, 0, false
	}
	copy(pub[:], d[prefixLen:])
	return pub, prefix, true
}
