package ss58

import "testing"

const alice = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"

func BenchmarkDecode(b *testing.B) {
	b.Run("string", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := Decode(alice); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("bytes", func(b *testing.B) {
		addr := []byte(alice)
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := DecodeBytes(addr); err != nil {
				b.Fatal(err)
			}
		}
	})
	// The same rules on top of mr-tron/base58, for comparison.
	b.Run("mr-tron-baseline", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, ok := referenceDecode(alice); !ok {
				b.Fatal("refused")
			}
		}
	})
	b.Run("bad-checksum", func(b *testing.B) {
		addr := []byte("5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQz")
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := DecodeBytes(addr); err == nil {
				b.Fatal("accepted")
			}
		}
	})
}

func BenchmarkEncode(b *testing.B) {
	pub, _, err := Decode(alice)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if Encode(pub, Bittensor) != alice {
			b.Fatal("mismatch")
		}
	}
}
