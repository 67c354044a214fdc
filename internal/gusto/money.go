package gusto

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
)

// Money is a decimal amount as Gusto sends it, kept as its decimal text
// ("1234.56"), never as a float. Gusto's reference types payroll totals as
// strings, and API version 2026-06-15 turned the compensation amounts that
// earlier versions sent as JSON numbers into strings, so Money accepts both:
// a JSON string holding a decimal ("1234.56", "-12", ".5" is refused) and a
// JSON number (1234.56, 1.5e3 is written out as "1500"). null, an absent
// field and "" leave it empty (unknown). Anything else is a decoding error
// naming the problem, never echoing the value.
type Money string

// maxMoneyExponent bounds the exponent of a JSON number read as Money, so
// that 1e999999 cannot make a million-digit string.
const maxMoneyExponent = 30

// UnmarshalJSON reads a JSON string or number; see Money.
func (m *Money) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0:
		return decodeError("money: empty value")
	case string(b) == "null":
		*m = ""
		return nil
	case b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return decodeError("money: invalid JSON string")
		}
		if s == "" {
			*m = ""
			return nil
		}
		if !plainDecimal(s) {
			return decodeError("money: string is not a decimal number")
		}
		*m = Money(s)
		return nil
	case b[0] == '-' || b[0] >= '0' && b[0] <= '9':
		s, ok := decimalText(string(b))
		if !ok {
			return decodeError("money: number is not a finite decimal")
		}
		*m = Money(s)
		return nil
	default:
		return decodeError("money: neither a string nor a number")
	}
}

// String returns the decimal text ("" when unknown).
func (m Money) String() string { return string(m) }

// plainDecimal reports whether s is an optional '-', one or more digits and
// optionally '.' and one or more digits: the shape of Gusto's amounts.
func plainDecimal(s string) bool {
	s = strings.TrimPrefix(s, "-")
	whole, frac, dot := strings.Cut(s, ".")
	return allDigits(whole) && (!dot || allDigits(frac))
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// decimalText writes a JSON number as a plain decimal: the number's own
// text when it has no exponent, else the digits with the point moved
// (1.5e3 → "1500", 25E-2 → "0.25"). It refuses what is not a JSON number
// and exponents beyond maxMoneyExponent.
func decimalText(n string) (string, bool) {
	mant, exp, hasExp := strings.Cut(strings.ToLower(n), "e")
	if !plainDecimal(mant) {
		return "", false
	}
	if !hasExp {
		return n, true
	}
	e, err := strconv.Atoi(strings.TrimPrefix(exp, "+"))
	if err != nil || e > maxMoneyExponent || e < -maxMoneyExponent {
		return "", false
	}
	neg := strings.HasPrefix(mant, "-")
	whole, frac, _ := strings.Cut(strings.TrimPrefix(mant, "-"), ".")
	digits, point := whole+frac, len(whole)+e // the point sits before digits[point]
	switch {
	case point <= 0:
		digits, point = strings.Repeat("0", 1-point)+digits, 1
	case point > len(digits):
		digits += strings.Repeat("0", point-len(digits))
	}
	intPart := strings.TrimLeft(digits[:point], "0")
	if intPart == "" {
		intPart = "0"
	}
	out := intPart
	if f := strings.TrimRight(digits[point:], "0"); f != "" {
		out += "." + f
	}
	if neg && strings.Trim(out, "0.") != "" {
		out = "-" + out
	}
	return out, true
}
