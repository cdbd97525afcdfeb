package nodes

import (
	"fmt"
	"strings"
	"testing"

	"github.com/fibergate/fibergate/crypto/ss58"
)

// benchFile is a nodes file of n entries as Fiber 2.5 writes them.
func benchFile(n int) []byte {
	var b strings.Builder
	b.WriteString("{")
	for i := 0; i < n; i++ {
		var pub [32]byte
		pub[0], pub[1], pub[2] = byte(i), byte(i>>8), 7
		a := ss58.Encode(pub, 42)
		if i > 0 {
			b.WriteString(",\n")
		}
		fmt.Fprintf(&b, `%q: {"hotkey": %q, "coldkey": %q, "node_id": %d, "incentive": 0.0, "netuid": 19, "alpha_stake": 12.5, "tao_stake": 3.25, "stake": 1234.5, "trust": 0.0, "vtrust": 0.99, "last_updated": 4455667.0, "ip": "192.222.59.%d", "ip_type": 4, "port": 6028, "protocol": 4}`, a, a, a, i, i%256)
	}
	b.WriteString("}")
	return []byte(b.String())
}

// BenchmarkParse reads a subnet-sized file and one at MaxEntries.
func BenchmarkParse(b *testing.B) {
	for _, n := range []int{256, 65536} {
		data := benchFile(n)
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Parse(data, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
