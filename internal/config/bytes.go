package config

import (
	"fmt"
	"strconv"
	"strings"
)

// ByteSize is a number of bytes read from the environment: a whole number,
// optionally followed by KiB, MiB or GiB (e.g. 67108864, 64MiB).
type ByteSize int64

// UnmarshalText parses a ByteSize.
func (b *ByteSize) UnmarshalText(text []byte) error {
	s := strings.TrimSpace(string(text))
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}} {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return fmt.Errorf("want a byte count such as 67108864 or 64MiB")
	}
	*b = ByteSize(n * mult)
	return nil
}
