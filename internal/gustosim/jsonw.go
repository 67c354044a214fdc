package gustosim

import "strconv"

// Small append-style JSON helpers for the hot paths (employee and payroll
// pages): records are built straight into the response buffer.

const hexDigits = "0123456789abcdef"

// appendStr appends s as a JSON string.
func appendStr(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c != 0x7f {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"':
			b = append(b, '\\', '"')
		case '\\':
			b = append(b, '\\', '\\')
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendBool appends true or false.
func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, "true"...)
	}
	return append(b, "false"...)
}

// appendHex appends the n low hex digits of x (n <= 16), unquoted.
func appendHex(b []byte, x uint64, n int) []byte {
	for i := n - 1; i >= 0; i-- {
		b = append(b, hexDigits[(x>>(4*uint(i)))&0xf])
	}
	return b
}

// uuid128 is a random (version 4) UUID as two words.
type uuid128 struct{ hi, lo uint64 }

// newUUID makes a version-4, RFC 4122 variant UUID from two random words.
func newUUID(hi, lo uint64) uuid128 {
	hi = hi&^0xf000 | 0x4000
	lo = lo&^(0xc<<60) | 0x8<<60
	return uuid128{hi, lo}
}

// appendRaw appends the UUID unquoted.
func (u uuid128) appendRaw(b []byte) []byte {
	b = appendHex(b, u.hi>>32, 8)
	b = append(b, '-')
	b = appendHex(b, u.hi>>16, 4)
	b = append(b, '-')
	b = appendHex(b, u.hi, 4)
	b = append(b, '-')
	b = appendHex(b, u.lo>>48, 4)
	b = append(b, '-')
	return appendHex(b, u.lo, 12)
}

// appendUUID appends the UUID as a JSON string.
func appendUUID(b []byte, u uuid128) []byte {
	b = append(b, '"')
	b = u.appendRaw(b)
	return append(b, '"')
}

func (u uuid128) String() string { return string(u.appendRaw(make([]byte, 0, 36))) }

// civil converts days since 1970-01-01 to a proleptic Gregorian date
// (Howard Hinnant's algorithm).
func civil(z int64) (y int64, m, d int) {
	z += 719468
	era := z
	if era < 0 {
		era -= 146096
	}
	era /= 146097
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y = yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d = int(doy - (153*mp+2)/5 + 1)
	if mp < 10 {
		m = int(mp + 3)
	} else {
		m = int(mp - 9)
	}
	if m <= 2 {
		y++
	}
	return y, m, d
}

// appendDay appends day (days since the epoch) as YYYY-MM-DD, unquoted.
func appendDay(b []byte, day int64) []byte {
	y, m, d := civil(day)
	b = append(b, byte('0'+y/1000%10), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10), '-')
	b = append(b, byte('0'+m/10), byte('0'+m%10), '-')
	return append(b, byte('0'+d/10), byte('0'+d%10))
}

// appendDate appends day as a JSON string "YYYY-MM-DD".
func appendDate(b []byte, day int64) []byte {
	b = append(b, '"')
	b = appendDay(b, day)
	return append(b, '"')
}

// appendDateTime appends day plus sec seconds as a JSON string
// "YYYY-MM-DDTHH:MM:SSZ".
func appendDateTime(b []byte, day int64, sec int) []byte {
	b = append(b, '"')
	b = appendDay(b, day)
	h, mi, s := sec/3600%24, sec/60%60, sec%60
	b = append(b, 'T', byte('0'+h/10), byte('0'+h%10), ':', byte('0'+mi/10), byte('0'+mi%10), ':', byte('0'+s/10), byte('0'+s%10), 'Z')
	return append(b, '"')
}

// appendMoney appends cents as a JSON decimal string "1234.56".
func appendMoney(b []byte, cents int64) []byte {
	b = append(b, '"')
	if cents < 0 {
		b = append(b, '-')
		cents = -cents
	}
	b = strconv.AppendInt(b, cents/100, 10)
	c := cents % 100
	return append(b, '.', byte('0'+c/10), byte('0'+c%10), '"')
}
