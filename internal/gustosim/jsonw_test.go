package gustosim

import (
	"encoding/json"
	"testing"
	"time"
)

func TestAppendStrIsJSON(t *testing.T) {
	for _, s := range []string{"", "plain", `quote " and \ backslash`, "ctl \x00\x01\x1f\x7f tab\t nl\n cr\r", "ünïcödé ✓", "</script>&"} {
		b := appendStr(nil, s)
		var got string
		if err := json.Unmarshal(b, &got); err != nil || got != s {
			t.Fatalf("appendStr(%q) = %s: %v / %q", s, b, err, got)
		}
	}
}

func TestCivilDatesMatchTime(t *testing.T) {
	for day := int64(-800000); day < 800000; day += 997 {
		want := time.Unix(day*86400, 0).UTC().Format("2006-01-02")
		if got := string(appendDay(nil, day)); day >= -719162 && got != want { // years >= 1
			t.Fatalf("day %d: %s, want %s", day, got, want)
		}
		if dayOf(time.Unix(day*86400+3600, 0)) != day || dayOf(time.Unix(day*86400-1, 0)) != day-1 {
			t.Fatalf("dayOf around day %d", day)
		}
	}
}

func TestMoneyAndUUID(t *testing.T) {
	for cents, want := range map[int64]string{0: `"0.00"`, 5: `"0.05"`, 123456: `"1234.56"`, -250: `"-2.50"`} {
		if got := string(appendMoney(nil, cents)); got != want {
			t.Fatalf("appendMoney(%d) = %s, want %s", cents, got, want)
		}
	}
	r := rng{s: 1}
	u := r.uuid().String()
	if len(u) != 36 || u[14] != '4' || (u[19] != '8' && u[19] != '9' && u[19] != 'a' && u[19] != 'b') {
		t.Fatalf("uuid %s is not a version-4 RFC 4122 uuid", u)
	}
}
