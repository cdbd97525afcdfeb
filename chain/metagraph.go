package chain

import (
	"errors"
	"fmt"

	"github.com/fibergate/fibergate/chain/scale"
)

// ErrNoSubnet means the node answered None: the subnet does not exist.
var ErrNoSubnet = errors.New("no such subnet")

// Metagraph is a subnet's metagraph: the fields fibergate uses or checks,
// with the per-uid vectors indexed by uid. Fields a selective answer left
// out are zero or nil; Has says which were present.
type Metagraph struct {
	NetUID        uint16
	Name, Symbol  []byte // UTF-8 text, one compact per byte on the wire
	OwnerHotkey   [32]byte
	OwnerColdkey  [32]byte
	Block         uint64
	Tempo         uint16
	MaxValidators uint16
	NumUIDs       uint16
	MaxUIDs       uint16

	Hotkeys             [][32]byte
	Coldkeys            [][32]byte
	Identities          int // how many uids have an identity
	Axons               []AxonInfo
	Active              []bool
	ValidatorPermit     []bool
	PruningScore        []uint16
	LastUpdate          []uint64
	Emission            []uint64
	Dividends           []uint16
	Incentives          []uint16
	Consensus           []uint16
	Trust               []uint16 // empty from spec 401 on: no longer computed
	Rank                []uint16
	BlockAtRegistration []uint64
	AlphaStake          []uint64
	TaoStake            []uint64
	TotalStake          []uint64
	// Validators lists the uids of the validators (selective answers only).
	Validators []uint16

	has [selectiveFields]bool
}

// Has reports whether field index i (0 for netuid, 52 for hotkeys, 69
// for total_stake, as the selective call numbers them) was in the answer.
func (m *Metagraph) Has(i int) bool { return i >= 0 && i < len(m.has) && m.has[i] }

// The Metagraph fields by index, as get_selective_metagraph numbers them.
const (
	fieldNetUID          = 0
	fieldHotkeys         = 52
	fieldAxons           = 55
	fieldValidatorPermit = 57
	fieldTotalStake      = 69
	metagraphFields      = 72 // get_metagraph's fields: 0 to 71
	selectiveFields      = 74 // plus validators and commitments
)

// kind is the wire type of a Metagraph field.
type kind uint8

const (
	kC16           kind = iota // Compact<u16>
	kC64                       // Compact<u64>
	kC128                      // Compact<u128>
	kBool                      // bool
	kAccount                   // AccountId32
	kText                      // Vec<Compact<u8>>
	kI128                      // I96F32: i128, 16 bytes
	kSubnetID                  // Option<SubnetIdentityV3>: 8 byte vectors
	kVecAccount                // Vec<AccountId32>
	kVecChainID                // Vec<Option<ChainIdentityV2>>: 7 byte vectors each
	kVecAxon                   // Vec<AxonInfo>
	kVecBool                   // Vec<bool>
	kVecC16                    // Vec<Compact<u16>>
	kVecC64                    // Vec<Compact<u64>>
	kVecAccountC64             // Vec<(AccountId32, Compact<u64>)>
	kVecCommitment             // Vec<(AccountId32, Vec<Compact<u8>>)>
)

// metagraphLayout is the wire type of each field for specs MetagraphFirst
// to NewestKnown. activity_cutoff (28) is a Compact<u16> up to spec 343 and
// a Compact<u64> by 425; reading it as Compact<u64> accepts both.
var metagraphLayout = [selectiveFields]kind{
	kC16, kText, kText, kSubnetID, kC64, kAccount, kAccount, kC64, // 0-7
	kC16, kC64, kC64, kC64, // 8-11
	kC64, kC64, kC64, kC64, kC64, kC64, kC64, kC64, // 12-19
	kC128, kI128, // 20, 21
	kC16, kC16, kC16, kC16, // 22-25
	kC64, kC64, // 26, 27
	kC64, kC16, kC16, kC16, // 28-31
	kC64, kC64, kBool, kBool, kC16, // 32-36
	kC64, kC64, kC64, kC64, kC64, // 37-41
	kC16, kC16, kC16, // 42-44
	kC64, kBool, kC64, kBool, kC16, kC16, kC64, // 45-51
	kVecAccount, kVecAccount, kVecChainID, kVecAxon, kVecBool, kVecBool, // 52-57
	kVecC16, kVecC64, kVecC64, // 58-60
	kVecC16, kVecC16, kVecC16, kVecC16, kVecC16, // 61-65
	kVecC64, kVecC64, kVecC64, kVecC64, // 66-69
	kVecAccountC64, kVecAccountC64, // 70, 71
	kVecC16, kVecCommitment, // 72, 73: selective only
}

// DecodeMetagraph decodes the answer of get_metagraph: an
// Option<Metagraph>. None is ErrNoSubnet. Every byte must be used.
func DecodeMetagraph(b []byte) (*Metagraph, error) {
	return decodeMetagraph(b, false, nil)
}

// DecodeSelectiveMetagraph decodes the answer of get_selective_metagraph
// or get_selective_mechagraph: an Option<SelectiveMetagraph>, whose netuid
// is plain and whose every other field is an Option. None is ErrNoSubnet.
// Every byte must be used.
func DecodeSelectiveMetagraph(b []byte) (*Metagraph, error) {
	return decodeMetagraph(b, true, nil)
}

// span is where a field's value lies in the input, after any Option tag.
type span struct{ start, end int }

// decodeMetagraph decodes either form. When spans is not nil, it records
// where each field's value lies.
func decodeMetagraph(b []byte, selective bool, spans *[selectiveFields]span) (*Metagraph, error) {
	d := scale.NewDecoder(b)
	if !d.Option() {
		if err := d.Finish(); err != nil {
			return nil, fmt.Errorf("decoding metagraph: %w", err)
		}
		return nil, ErrNoSubnet
	}
	fields := metagraphFields
	if selective {
		fields = selectiveFields
	}
	m := &Metagraph{}
	for i := 0; i < fields && d.Err() == nil; i++ {
		if selective && i != fieldNetUID && !d.Option() {
			continue
		}
		start := d.Offset()
		m.decodeField(d, i)
		m.has[i] = d.Err() == nil
		if spans != nil {
			spans[i] = span{start, d.Offset()}
		}
	}
	if err := d.Finish(); err != nil {
		return nil, fmt.Errorf("decoding metagraph: %w", err)
	}
	return m, nil
}

// decodeField decodes field i into m, or skips over it when m keeps no
// copy.
func (m *Metagraph) decodeField(d *scale.Decoder, i int) {
	switch i {
	case 0:
		m.NetUID = d.CompactU16()
	case 1:
		m.Name = text(d)
	case 2:
		m.Symbol = text(d)
	case 5:
		m.OwnerHotkey = d.AccountID()
	case 6:
		m.OwnerColdkey = d.AccountID()
	case 7:
		m.Block = d.Compact()
	case 8:
		m.Tempo = d.CompactU16()
	case 29:
		m.MaxValidators = d.CompactU16()
	case 30:
		m.NumUIDs = d.CompactU16()
	case 31:
		m.MaxUIDs = d.CompactU16()
	case fieldHotkeys:
		m.Hotkeys = accounts(d)
	case 53:
		m.Coldkeys = accounts(d)
	case 54:
		m.Identities = chainIdentities(d)
	case fieldAxons:
		if n := d.Len(axonSize); n > 0 {
			m.Axons = make([]AxonInfo, n)
			for j := range m.Axons {
				decodeAxon(d, &m.Axons[j])
			}
		}
	case 56:
		m.Active = bools(d)
	case fieldValidatorPermit:
		m.ValidatorPermit = bools(d)
	case 58:
		m.PruningScore = compacts16(d)
	case 59:
		m.LastUpdate = compacts64(d)
	case 60:
		m.Emission = compacts64(d)
	case 61:
		m.Dividends = compacts16(d)
	case 62:
		m.Incentives = compacts16(d)
	case 63:
		m.Consensus = compacts16(d)
	case 64:
		m.Trust = compacts16(d)
	case 65:
		m.Rank = compacts16(d)
	case 66:
		m.BlockAtRegistration = compacts64(d)
	case 67:
		m.AlphaStake = compacts64(d)
	case 68:
		m.TaoStake = compacts64(d)
	case fieldTotalStake:
		m.TotalStake = compacts64(d)
	case 72:
		m.Validators = compacts16(d)
	default:
		skip(d, metagraphLayout[i])
	}
}

// skip reads past a field of kind k, checking it as it goes.
func skip(d *scale.Decoder, k kind) {
	switch k {
	case kC16:
		d.CompactU16()
	case kC64:
		d.Compact()
	case kC128:
		d.CompactU128()
	case kBool:
		d.Bool()
	case kAccount:
		d.AccountID()
	case kText:
		text(d)
	case kI128:
		d.U128()
	case kSubnetID:
		if d.Option() {
			byteVecs(d, 8)
		}
	case kVecAccountC64:
		for n := d.Len(32 + 1); n > 0; n-- {
			d.AccountID()
			d.Compact()
		}
	case kVecCommitment:
		for n := d.Len(32 + 1); n > 0; n-- {
			d.AccountID()
			text(d)
		}
	default:
		// Every other kind is decoded into a field, never skipped.
		d.Fail(d.Offset(), "metagraph field", errLayout)
	}
}

var errLayout = errors.New("no decoder for this field kind")

// text reads a Vec<Compact<u8>>: text with each byte as a compact.
func text(d *scale.Decoder) []byte {
	n := d.Len(1)
	if n == 0 {
		return nil
	}
	out := make([]byte, n)
	for i := range out {
		out[i] = d.CompactU8()
	}
	return out
}

// byteVecs reads k Vec<u8> in a row.
func byteVecs(d *scale.Decoder, k int) {
	for range k {
		d.ByteVec()
	}
}

// chainIdentities reads a Vec<Option<ChainIdentityV2>> and returns how
// many are Some.
func chainIdentities(d *scale.Decoder) int {
	some := 0
	for n := d.Len(1); n > 0; n-- {
		if d.Option() {
			byteVecs(d, 7)
			some++
		}
	}
	return some
}

func accounts(d *scale.Decoder) [][32]byte {
	n := d.Len(32)
	if n == 0 {
		return nil
	}
	out := make([][32]byte, n)
	for i := range out {
		out[i] = d.AccountID()
	}
	return out
}

func bools(d *scale.Decoder) []bool {
	n := d.Len(1)
	if n == 0 {
		return nil
	}
	out := make([]bool, n)
	for i := range out {
		out[i] = d.Bool()
	}
	return out
}

func compacts16(d *scale.Decoder) []uint16 {
	n := d.Len(1)
	if n == 0 {
		return nil
	}
	out := make([]uint16, n)
	for i := range out {
		out[i] = d.CompactU16()
	}
	return out
}

func compacts64(d *scale.Decoder) []uint64 {
	n := d.Len(1)
	if n == 0 {
		return nil
	}
	out := make([]uint64, n)
	for i := range out {
		out[i] = d.Compact()
	}
	return out
}
