package fernet

import (
	"crypto/aes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"math"
	"slices"
	"time"
	"unsafe"
)

const (
	version = 0x80
	// Offsets in a decoded token.
	tsOffset  = 1
	ivOffset  = tsOffset + 8
	ctOffset  = ivOffset + aes.BlockSize
	macSize   = sha256.Size
	overhead  = ctOffset + macSize // bytes around the ciphertext: 57
	minRawLen = overhead + aes.BlockSize
	// minTokenLen is the encoded length of the shortest well-formed token
	// (one ciphertext block).
	minTokenLen = (minRawLen + 2) / 3 * 4
)

// ErrInvalidToken is the only error Decrypt returns, whatever check failed,
// and the error Timestamp returns for a token it cannot read.
var ErrInvalidToken = errors.New("fernet: invalid token")

// strictEncoding is URL-safe base64 with '=' padding that also refuses
// non-zero bits in the final character, so every token has one spelling.
// It still skips '\r' and '\n', which Decrypt rules out by length.
var strictEncoding = base64.URLEncoding.Strict()

// EncodedLen returns the length of the token Encrypt and Seal produce for a
// plaintext of plaintextLen bytes (0 for a negative length).
func EncodedLen(plaintextLen int) int {
	if plaintextLen < 0 {
		return 0
	}
	return base64.URLEncoding.EncodedLen(rawLen(plaintextLen))
}

// rawLen is the decoded token length for a plaintext of n bytes.
func rawLen(n int) int {
	return overhead + (n/aes.BlockSize+1)*aes.BlockSize
}

// MaxDecodedLen returns the room Decrypt needs past len(dst) to decrypt a
// token of tokenLen bytes without allocating: Decrypt decodes the token into
// dst's spare capacity and leaves the plaintext (always shorter) at its
// start. Callers sizing a buffer for a token of tokenLen bytes should give
// dst at least this much spare capacity.
func MaxDecodedLen(tokenLen int) int {
	if tokenLen < 0 {
		return 0
	}
	return tokenLen / 4 * 3
}

// Decrypt checks token and appends its plaintext to dst, returning the
// extended slice and the token's creation time in unix seconds. A time past
// math.MaxInt64 (the format allows an unsigned 64-bit value) is returned as
// math.MaxInt64, so it still reads as far in the future. Decrypt does no
// time check: use CheckAge on created.
//
// The token must be URL-safe base64 with '=' padding and nothing else (no
// whitespace, no standard alphabet, no trailing data), decode to version
// 0x80 with at least one whole ciphertext block, carry a correct HMAC
// (compared in constant time before anything is decrypted) and end in valid
// PKCS#7 padding of 1 to 16 bytes. Any failure returns dst unchanged, 0 and
// ErrInvalidToken. Decrypt never panics on any token.
//
// Decrypt uses dst's spare capacity as scratch (see MaxDecodedLen), so it
// allocates only when that is too small. That scratch may overlap token (to
// decrypt in place, pass token[:0] as dst); Decrypt then works on a copy of
// token, which allocates. Decrypt does not retain dst or token.
func (k *Key) Decrypt(dst, token []byte) (plaintext []byte, created int64, err error) {
	if k == nil || k.block == nil {
		return dst, 0, ErrInvalidToken
	}
	tl := len(token)
	if tl < minTokenLen || tl%4 != 0 {
		return dst, 0, ErrInvalidToken
	}
	pad := 0
	if token[tl-1] == '=' {
		pad++
		if token[tl-2] == '=' {
			pad++
		}
	}
	n := tl/4*3 - pad
	if (n-overhead)%aes.BlockSize != 0 {
		return dst, 0, ErrInvalidToken
	}

	out := slices.Grow(dst, n)
	buf := out[len(dst) : len(dst)+n]
	if overlaps(buf, token) {
		token = slices.Clone(token)
	}
	// The base64 decoder skips '\r' and '\n'; a token holding any decodes
	// to fewer bytes than its length implies, so m != n catches them.
	m, err := strictEncoding.Decode(buf, token)
	if err != nil || m != n || buf[0] != version {
		return dst, 0, ErrInvalidToken
	}

	s := k.pool.Get().(*scratch)
	defer k.pool.Put(s)
	s.mac.Reset()
	s.mac.Write(buf[:n-macSize])
	if !hmac.Equal(s.mac.Sum(s.sum[:0]), buf[n-macSize:]) {
		return dst, 0, ErrInvalidToken
	}

	// CBC-decrypt the ciphertext so that plaintext block i lands at
	// buf[16i:]: that region lies before ciphertext block i (which starts
	// at 25+16i), so the cipher never reads what it has just written; only
	// the previous ciphertext block, which the write may cover, is kept
	// aside (in two words, which is cheaper than a 16-byte XOR call).
	created = created64(buf[tsOffset:ivOffset])
	ct := buf[ctOffset : n-macSize]
	prev0, prev1 := le.Uint64(buf[ivOffset:]), le.Uint64(buf[ivOffset+8:])
	for i := 0; i+aes.BlockSize <= len(ct); i += aes.BlockSize {
		c := ct[i : i+aes.BlockSize]
		p := buf[i : i+aes.BlockSize]
		c0, c1 := le.Uint64(c), le.Uint64(c[8:])
		k.block.Decrypt(p, c)
		le.PutUint64(p, le.Uint64(p)^prev0)
		le.PutUint64(p[8:], le.Uint64(p[8:])^prev1)
		prev0, prev1 = c0, c1
	}

	size := len(ct)
	padLen, ok := unpad(buf[:size])
	if !ok {
		clear(buf)
		return dst, 0, ErrInvalidToken
	}
	return out[:len(dst)+size-padLen], created, nil
}

// unpad returns the PKCS#7 padding length of b (whose length is a positive
// multiple of 16) and whether the padding is well formed: a last byte p of 1
// to 16 and p bytes all equal to p. The check does not branch on the
// plaintext.
func unpad(b []byte) (int, bool) {
	tail := b[len(b)-aes.BlockSize:]
	p := tail[aes.BlockSize-1]
	good := subtle.ConstantTimeLessOrEq(1, int(p)) & subtle.ConstantTimeLessOrEq(int(p), aes.BlockSize)
	for j := 0; j < aes.BlockSize; j++ {
		inPad := subtle.ConstantTimeLessOrEq(j+1, int(p))
		same := subtle.ConstantTimeByteEq(tail[aes.BlockSize-1-j], p)
		good &= same | (inPad ^ 1)
	}
	return int(p), good == 1
}

// created64 reads a big-endian token timestamp, saturating values that do
// not fit an int64.
func created64(b []byte) int64 {
	ts := binary.BigEndian.Uint64(b)
	if ts > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(ts)
}

// Timestamp returns the creation time (unix seconds, saturated as in
// Decrypt) written in token, without the key and without checking the
// token's authenticity: use it for logging or to refuse an old token early,
// never to trust it. It checks only the token's length and its first 12
// characters (which must decode to version 0x80 and a timestamp), and returns
// ErrInvalidToken when they are wrong.
func Timestamp(token []byte) (int64, error) {
	if len(token) < minTokenLen || len(token)%4 != 0 {
		return 0, ErrInvalidToken
	}
	var hdr [9]byte
	n, err := strictEncoding.Decode(hdr[:], token[:12])
	if err != nil || n != len(hdr) || hdr[0] != version {
		return 0, ErrInvalidToken
	}
	return created64(hdr[tsOffset:]), nil
}

// Encrypt appends to dst the token of plaintext made at time now (unix
// seconds; a negative now is written as 0) with the given IV, and returns
// the extended slice. It is deterministic, for tests and vectors; use Seal
// for real tokens, as reusing an IV under a key leaks plaintext. Encrypt
// grows dst by exactly EncodedLen(len(plaintext)) and allocates nothing when
// dst has that much spare capacity. It panics if k was not made by NewKey or
// ParseKey.
func (k *Key) Encrypt(dst, plaintext []byte, now int64, iv *[aes.BlockSize]byte) []byte {
	if k == nil || k.block == nil {
		panic("fernet: Encrypt with a Key not made by NewKey or ParseKey")
	}
	s := k.pool.Get().(*scratch)
	defer k.pool.Put(s)
	return k.encrypt(s, dst, plaintext, now, iv)
}

// Seal appends to dst the token of plaintext made now with a random IV from
// crypto/rand, and returns the extended slice. Like Encrypt it allocates
// nothing when dst has EncodedLen(len(plaintext)) spare capacity. The error
// is non-nil only if k was not made by NewKey or ParseKey.
func (k *Key) Seal(dst, plaintext []byte) ([]byte, error) {
	if k == nil || k.block == nil {
		return dst, errors.New("fernet: sealing: key not made by NewKey or ParseKey")
	}
	s := k.pool.Get().(*scratch)
	defer k.pool.Put(s)
	// crypto/rand.Read never fails (a broken source stops the program).
	_, _ = rand.Read(s.iv[:])
	return k.encrypt(s, dst, plaintext, time.Now().Unix(), &s.iv), nil
}

func (k *Key) encrypt(s *scratch, dst, plaintext []byte, now int64, iv *[aes.BlockSize]byte) []byte {
	size := EncodedLen(len(plaintext))
	out := slices.Grow(dst, size)
	w := out[len(dst) : len(dst)+size]
	if overlaps(w, plaintext) {
		plaintext = slices.Clone(plaintext)
	}
	e := &s.enc
	e.start(s, w)

	hdr := e.room(ctOffset)
	hdr[0] = version
	binary.BigEndian.PutUint64(hdr[tsOffset:], uint64(max(now, 0)))
	copy(hdr[ivOffset:], iv[:])
	s.prev0, s.prev1 = le.Uint64(iv[:]), le.Uint64(iv[8:])

	for len(plaintext) >= aes.BlockSize {
		k.encryptBlock(s, e.room(aes.BlockSize), plaintext[:aes.BlockSize])
		plaintext = plaintext[aes.BlockSize:]
	}
	// The final block holds the rest and 1 to 16 bytes of padding.
	n := copy(s.last[:], plaintext)
	p := byte(aes.BlockSize - n)
	for i := n; i < aes.BlockSize; i++ {
		s.last[i] = p
	}
	k.encryptBlock(s, e.room(aes.BlockSize), s.last[:])

	e.hash()
	sum := s.mac.Sum(s.sum[:0])
	copy(e.room(macSize), sum)
	e.finish()
	return out[:len(dst)+size]
}

// encryptBlock CBC-encrypts one block of src into dst, chaining on s.prev.
func (k *Key) encryptBlock(s *scratch, dst, src []byte) {
	dst, src = dst[:aes.BlockSize], src[:aes.BlockSize]
	le.PutUint64(dst, le.Uint64(src)^s.prev0)
	le.PutUint64(dst[8:], le.Uint64(src[8:])^s.prev1)
	k.block.Encrypt(dst, dst)
	s.prev0, s.prev1 = le.Uint64(dst), le.Uint64(dst[8:])
}

// le reads and writes the 64-bit words that CBC chaining XORs; the byte
// order is irrelevant as long as loads and stores agree.
var le = binary.LittleEndian

// encChunk is the size of the encoder's staging buffer: a multiple of 16
// (whole blocks) and of 3 (whole base64 groups).
const encChunk = 3072

// encoder stages raw token bytes, feeds them to the HMAC and writes their
// base64 to the output a chunk at a time, so encrypting needs no buffer the
// size of the token.
type encoder struct {
	s      *scratch
	buf    [encChunk]byte
	n      int // staged bytes
	hashed int // staged bytes already written to the HMAC
	out    []byte
	o      int // bytes of out written
}

func (e *encoder) start(s *scratch, out []byte) {
	e.s, e.out, e.n, e.hashed, e.o = s, out, 0, 0, 0
	s.mac.Reset()
}

// room returns the next size staged bytes to fill, flushing whole base64
// groups first when the buffer is full. size is at most 48.
func (e *encoder) room(size int) []byte {
	if e.n+size > len(e.buf) {
		e.flush()
	}
	b := e.buf[e.n : e.n+size]
	e.n += size
	return b
}

// hash writes the staged bytes not yet hashed to the HMAC.
func (e *encoder) hash() {
	e.s.mac.Write(e.buf[e.hashed:e.n])
	e.hashed = e.n
}

// flush hashes the staged bytes and encodes all whole 3-byte groups, keeping
// the remainder (at most 2 bytes) staged.
func (e *encoder) flush() {
	e.hash()
	m := e.n - e.n%3
	base64.URLEncoding.Encode(e.out[e.o:], e.buf[:m])
	e.o += m / 3 * 4
	e.n = copy(e.buf[:], e.buf[m:e.n])
	e.hashed = e.n
}

// finish encodes everything staged, with padding. It does not hash: the
// last staged bytes are the HMAC itself.
func (e *encoder) finish() {
	base64.URLEncoding.Encode(e.out[e.o:], e.buf[:e.n])
	e.o += base64.URLEncoding.EncodedLen(e.n)
	e.n, e.hashed, e.out = 0, 0, nil
}

// overlaps reports whether a and b share any memory.
func overlaps(a, b []byte) bool {
	if len(a) == 0 || len(b) == 0 {
		return false
	}
	pa := uintptr(unsafe.Pointer(unsafe.SliceData(a)))
	pb := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	return pa < pb+uintptr(len(b)) && pb < pa+uintptr(len(a))
}
