package settings

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// MaxSize bounds a response size.
const MaxSize Size = 256 << 20

// Size is a number of bytes. It encodes to JSON as a number and decodes from a
// number or a string accepted by ParseSize.
type Size int64

var sizeUnits = map[string]float64{
	"": 1, "b": 1,
	"k": 1 << 10, "kib": 1 << 10, "kb": 1e3,
	"m": 1 << 20, "mib": 1 << 20, "mb": 1e6,
	"g": 1 << 30, "gib": 1 << 30, "gb": 1e9,
}

// ParseSize parses a byte count: a number with an optional unit, case-insensitive:
// B; KiB, MiB, GiB (powers of 1024, also K, M, G); KB, MB, GB (powers of 1000).
// Examples: "512", "64KiB", "1.5MB". The result must lie in [0, MaxSize].
func ParseSize(s string) (Size, error) {
	t := strings.TrimSpace(s)
	i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	if i < 0 {
		i = len(t)
	}
	num, unit := t[:i], strings.ToLower(strings.TrimSpace(t[i:]))
	mult, ok := sizeUnits[unit]
	if !ok || num == "" {
		return 0, fmt.Errorf("bad size %q (want e.g. 512, 64KiB, 1MB)", s)
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, fmt.Errorf("bad size %q (want e.g. 512, 64KiB, 1MB)", s)
	}
	return checkSize(f * mult)
}

func checkSize(f float64) (Size, error) {
	if math.IsNaN(f) || f < 0 || f > float64(MaxSize) {
		return 0, fmt.Errorf("must be between 0 and %d bytes (256MiB)", int64(MaxSize))
	}
	return Size(f), nil
}

// String formats the size as a plain byte count.
func (s Size) String() string { return strconv.FormatInt(int64(s), 10) }

// MarshalJSON encodes the size as a number of bytes.
func (s Size) MarshalJSON() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalJSON accepts a number of bytes or a string such as "64KiB".
func (s *Size) UnmarshalJSON(b []byte) error {
	var str string
	if err := json.Unmarshal(b, &str); err == nil {
		v, err := ParseSize(str)
		if err != nil {
			return err
		}
		*s = v
		return nil
	}
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return errors.New("want a number of bytes or a string such as \"64KiB\"")
	}
	v, err := checkSize(f)
	if err != nil {
		return err
	}
	*s = v
	return nil
}
