package replay

import (
	"math/bits"
	"sort"
)

// A table is an open-addressing set of 64-bit keyed hashes with linear
// probing: 8 bytes a slot, 0 marking an empty slot (hashes are never 0).
// A slot's home is the hash scaled to the table's length (the high half of
// hash × len), so tables need not be powers of two and can grow in small
// steps; that is what keeps the bytes per entry low.
//
// Tables come in classes of fixed lengths, each about 1.19 times the one
// before, so a table given up by an expired bucket fits the next bucket of
// about the same size (see pool).

const (
	// minSlots is the length of the smallest table class.
	minSlots = 16
	// maxSlots bounds the largest class: 2 GiB, beyond any budget a
	// sidecar would be given for one second of nonces.
	maxSlots = 1 << 28
	// A table is chosen so that its entries fill at most fillNum/fillDen
	// of it, and grows once they would fill more than growNum/growDen.
	// Between growths the load is thus between 3/4 ÷ 1.19 = 0.63 (right
	// after a choice) and 7/8 (right before a growth); linear probing
	// stays short (about 4 probes for a miss at 7/8).
	fillNum, fillDen = 3, 4
	growNum, growDen = 7, 8
)

// classes holds the slot count of each table class: 16, then about ×1.19
// (19/16) per class, rounded up to a multiple of 8.
var classes = func() []int {
	c := []int{minSlots}
	for c[len(c)-1] < maxSlots {
		n := c[len(c)-1]
		c = append(c, max((n*19/16+7)&^7, n+8))
	}
	return c
}()

// classFor returns the smallest class whose tables hold n entries at no
// more than the fill target.
func classFor(n int) uint8 {
	k := sort.Search(len(classes), func(k int) bool {
		return classes[k]/fillDen*fillNum >= n
	})
	return uint8(min(k, len(classes)-1))
}

// full reports whether a table of slots slots holding n entries must grow
// before it takes add more.
func full(slots, n, add int) bool {
	return (n+add)*growDen > slots*growNum
}

// home returns the first slot to probe for h in a table of n slots.
func home(h uint64, n int) int {
	hi, _ := bits.Mul64(h, uint64(n))
	return int(hi)
}

// tableHas reports whether t holds h.
func tableHas(t []uint64, h uint64) bool {
	i := home(h, len(t))
	for {
		switch t[i] {
		case h:
			return true
		case 0:
			return false
		}
		if i++; i == len(t) {
			i = 0
		}
	}
}

// tableAdd puts h, which t does not hold, into t, which has a free slot.
func tableAdd(t []uint64, h uint64) {
	i := home(h, len(t))
	for t[i] != 0 {
		if i++; i == len(t) {
			i = 0
		}
	}
	t[i] = h
}
