package config

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"time"
)

// Mode is how a route checks the requests it receives.
type Mode int

const (
	modeUnset Mode = iota // no mode given; never valid after validation
	// ModeEncrypted is Fiber's encrypted flavour: a symmetric key from the
	// handshake, signed headers, and a Fernet-encrypted body.
	ModeEncrypted
	// ModeSigned is Fiber 2.x's light flavour: signed headers covering the
	// SHA-256 of a plaintext body.
	ModeSigned
	// ModePublic forwards requests without any check.
	ModePublic
	// ModeDeny refuses every request.
	ModeDeny
)

var modeNames = [...]string{modeUnset: "unset", ModeEncrypted: "encrypted", ModeSigned: "signed", ModePublic: "public", ModeDeny: "deny"}

// String returns the mode's config spelling.
func (m Mode) String() string {
	if m < 0 || int(m) >= len(modeNames) {
		return "Mode(" + strconv.Itoa(int(m)) + ")"
	}
	return modeNames[m]
}

// MarshalText returns the mode's config spelling.
func (m Mode) MarshalText() ([]byte, error) {
	if m <= modeUnset || int(m) >= len(modeNames) {
		return nil, fmt.Errorf("marshaling mode: invalid value %d", int(m))
	}
	return []byte(m.String()), nil
}

// UnmarshalText parses encrypted, signed, public or deny.
func (m *Mode) UnmarshalText(b []byte) error {
	for i := ModeEncrypted; int(i) < len(modeNames); i++ {
		if string(b) == modeNames[i] {
			*m = i
			return nil
		}
	}
	return errors.New("want encrypted, signed, public or deny")
}

// ResponseMode is how a route sends the app's response back to the validator.
type ResponseMode int

const (
	// ResponseAuto encrypts when the request asks for it with the header
	// X-Fiber-Response-Encryption: fernet, and sends plaintext otherwise.
	ResponseAuto ResponseMode = iota
	// ResponseEncrypted always encrypts the response under the request's
	// symmetric key.
	ResponseEncrypted
	// ResponsePlain sends the app's response as it is, as Fiber does.
	ResponsePlain
)

var responseNames = [...]string{ResponseAuto: "auto", ResponseEncrypted: "encrypted", ResponsePlain: "plain"}

// String returns the response mode's config spelling.
func (r ResponseMode) String() string {
	if r < 0 || int(r) >= len(responseNames) {
		return "ResponseMode(" + strconv.Itoa(int(r)) + ")"
	}
	return responseNames[r]
}

// MarshalText returns the response mode's config spelling.
func (r ResponseMode) MarshalText() ([]byte, error) {
	if r < 0 || int(r) >= len(responseNames) {
		return nil, fmt.Errorf("marshaling response mode: invalid value %d", int(r))
	}
	return []byte(r.String()), nil
}

// UnmarshalText parses auto, encrypted or plain.
func (r *ResponseMode) UnmarshalText(b []byte) error {
	for i := range responseNames {
		if string(b) == responseNames[i] {
			*r = ResponseMode(i)
			return nil
		}
	}
	return errors.New("want auto, encrypted or plain")
}

// LogLevel is the least severe log level written. It implements
// slog.Leveler, so it can be handed to slog.HandlerOptions as it is.
type LogLevel int

const (
	// LogDebug writes everything, including per-request detail.
	LogDebug LogLevel = LogLevel(slog.LevelDebug)
	// LogInfo writes lifecycle events and refusals.
	LogInfo LogLevel = LogLevel(slog.LevelInfo)
	// LogWarn writes problems that fibergate works around.
	LogWarn LogLevel = LogLevel(slog.LevelWarn)
	// LogError writes failures only.
	LogError LogLevel = LogLevel(slog.LevelError)
)

// Level returns the slog level.
func (l LogLevel) Level() slog.Level { return slog.Level(l) }

// String returns the level's config spelling.
func (l LogLevel) String() string {
	switch l {
	case LogDebug:
		return "debug"
	case LogInfo:
		return "info"
	case LogWarn:
		return "warn"
	case LogError:
		return "error"
	}
	return "LogLevel(" + strconv.Itoa(int(l)) + ")"
}

// MarshalText returns the level's config spelling.
func (l LogLevel) MarshalText() ([]byte, error) { return []byte(l.String()), nil }

// UnmarshalText parses debug, info, warn or error.
func (l *LogLevel) UnmarshalText(b []byte) error {
	for _, v := range [...]LogLevel{LogDebug, LogInfo, LogWarn, LogError} {
		if string(b) == v.String() {
			*l = v
			return nil
		}
	}
	return errors.New("want debug, info, warn or error")
}

// LogFormat is the encoding of log records.
type LogFormat int

const (
	// LogText writes logfmt-style key=value lines.
	LogText LogFormat = iota
	// LogJSON writes one JSON object per line.
	LogJSON
)

// String returns the format's config spelling.
func (f LogFormat) String() string {
	switch f {
	case LogText:
		return "text"
	case LogJSON:
		return "json"
	}
	return "LogFormat(" + strconv.Itoa(int(f)) + ")"
}

// MarshalText returns the format's config spelling.
func (f LogFormat) MarshalText() ([]byte, error) { return []byte(f.String()), nil }

// UnmarshalText parses text or json.
func (f *LogFormat) UnmarshalText(b []byte) error {
	switch string(b) {
	case "text":
		*f = LogText
	case "json":
		*f = LogJSON
	default:
		return errors.New("want text or json")
	}
	return nil
}

// Size is a number of bytes. In the config it is a plain integer or a
// whole number with a unit: B, KB, MB, GB, TB (powers of 1000) or KiB,
// MiB, GiB, TiB (powers of 1024), as in "512KiB" or "10MB".
type Size int64

var sizeUnits = []struct {
	name string
	mul  int64
}{
	{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10},
	{"TB", 1e12}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}, {"kB", 1e3},
	{"B", 1},
}

const sizeHelp = "want a whole number of bytes, optionally with a unit: B, KB, MB, GB, TB, KiB, MiB, GiB, TiB (e.g. 512KiB, 10MiB)"

// ParseSize parses a size such as "1000", "512KiB" or "10MB".
func ParseSize(s string) (Size, error) {
	num, unit := s, ""
	if i := strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' }); i >= 0 {
		num, unit = s[:i], s[i:]
		if rest, ok := strings.CutPrefix(unit, " "); ok {
			if rest == "" {
				return 0, errors.New(sizeHelp)
			}
			unit = rest
		}
	}
	if num == "" {
		return 0, errors.New(sizeHelp)
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil {
		return 0, errors.New(sizeHelp)
	}
	mul := int64(1)
	if unit != "" {
		found := false
		for _, u := range sizeUnits {
			if unit == u.name {
				mul, found = u.mul, true
				break
			}
		}
		if !found {
			return 0, errors.New(sizeHelp)
		}
	}
	if n > math.MaxInt64/mul {
		return 0, errors.New("too large; the most is 8EiB")
	}
	return Size(n * mul), nil
}

// String returns the size in the unit that divides it exactly into the
// smallest number ("10MiB", "16KiB", "10MB"), or as a plain byte count.
func (s Size) String() string {
	n, unit := int64(s), ""
	if s > 0 {
		for _, u := range sizeUnits {
			if u.mul > 1 && u.name != "kB" && int64(s)%u.mul == 0 && int64(s)/u.mul < n {
				n, unit = int64(s)/u.mul, u.name
			}
		}
	}
	return strconv.FormatInt(n, 10) + unit
}

// MarshalText returns String.
func (s Size) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText parses a size as ParseSize does.
func (s *Size) UnmarshalText(b []byte) error {
	v, err := ParseSize(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

const durationHelp = "want a duration with a unit, such as 500ms, 120s, 5m or 1h30m"

// parseDuration parses a Go duration and refuses a bare number, whose unit
// a reader would have to guess.
func parseDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, errors.New(durationHelp)
	}
	return d, nil
}

// formatDuration writes d as time.Duration.String does, without the zero
// trailing units: "5h" for 5h0m0s, "1m30s" for 1m30s.
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// StakeRule says which chain number is a validator's stake.
type StakeRule int

const (
	// StakeFiber21 is Fiber 2.1's rule: the sum of the neuron's
	// get_neurons_lite stake entries, in TAO (before dTAO) or the subnet's
	// alpha (after).
	StakeFiber21 StakeRule = iota
	// StakeFiber25 is Fiber 2.5's rule: get_metagraph's total_stake.
	StakeFiber25
)

var stakeRuleNames = [...]string{StakeFiber21: "fiber_2_1", StakeFiber25: "fiber_2_5"}

// String returns the rule's config spelling.
func (r StakeRule) String() string {
	if r < 0 || int(r) >= len(stakeRuleNames) {
		return "StakeRule(" + strconv.Itoa(int(r)) + ")"
	}
	return stakeRuleNames[r]
}

// MarshalText returns the rule's config spelling.
func (r StakeRule) MarshalText() ([]byte, error) {
	if r < 0 || int(r) >= len(stakeRuleNames) {
		return nil, fmt.Errorf("marshaling stake rule: invalid value %d", int(r))
	}
	return []byte(r.String()), nil
}

// UnmarshalText parses fiber_2_1 or fiber_2_5.
func (r *StakeRule) UnmarshalText(b []byte) error {
	for i := range stakeRuleNames {
		if string(b) == stakeRuleNames[i] {
			*r = StakeRule(i)
			return nil
		}
	}
	return errors.New("want fiber_2_1 (the sum of the neuron's stake entries, as Fiber 2.1) or fiber_2_5 (the metagraph's total stake, as Fiber 2.5)")
}

// StalePolicy says what happens to validators known only from the chain
// once the chain list is too old.
type StalePolicy int

const (
	// StaleRefuse refuses them, and /readyz answers 503.
	StaleRefuse StalePolicy = iota
	// StaleServe keeps serving the last good list.
	StaleServe
)

var stalePolicyNames = [...]string{StaleRefuse: "refuse", StaleServe: "serve"}

// String returns the policy's config spelling.
func (p StalePolicy) String() string {
	if p < 0 || int(p) >= len(stalePolicyNames) {
		return "StalePolicy(" + strconv.Itoa(int(p)) + ")"
	}
	return stalePolicyNames[p]
}

// MarshalText returns the policy's config spelling.
func (p StalePolicy) MarshalText() ([]byte, error) {
	if p < 0 || int(p) >= len(stalePolicyNames) {
		return nil, fmt.Errorf("marshaling stale policy: invalid value %d", int(p))
	}
	return []byte(p.String()), nil
}

// UnmarshalText parses refuse or serve.
func (p *StalePolicy) UnmarshalText(b []byte) error {
	for i := range stalePolicyNames {
		if string(b) == stalePolicyNames[i] {
			*p = StalePolicy(i)
			return nil
		}
	}
	return errors.New("want refuse or serve")
}

// Backend says where exchanged keys and used nonces are kept.
type Backend int

const (
	// BackendMemory keeps them in the process: one replica only.
	BackendMemory Backend = iota
	// BackendRedis keeps them in Redis, shared by every replica.
	BackendRedis
)

var backendNames = [...]string{BackendMemory: "memory", BackendRedis: "redis"}

// String returns the backend's config spelling.
func (b Backend) String() string {
	if b < 0 || int(b) >= len(backendNames) {
		return "Backend(" + strconv.Itoa(int(b)) + ")"
	}
	return backendNames[b]
}

// MarshalText returns the backend's config spelling.
func (b Backend) MarshalText() ([]byte, error) {
	if b < 0 || int(b) >= len(backendNames) {
		return nil, fmt.Errorf("marshaling backend: invalid value %d", int(b))
	}
	return []byte(b.String()), nil
}

// UnmarshalText parses memory or redis.
func (b *Backend) UnmarshalText(text []byte) error {
	for i := range backendNames {
		if string(text) == backendNames[i] {
			*b = Backend(i)
			return nil
		}
	}
	return errors.New("want memory (keys and nonces in this process) or redis (shared by replicas through keystore.redis)")
}
