package gustosim_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"

	"github.com/gustosync/gustosync/internal/gustosim"
)

// defaultDataDigest is the digest of the default data below as it was
// before pay schedules of every frequency (issue 19 item 1): the defaults
// must keep serving it, so existing tests, seeds and recorded figures stay
// valid.
const defaultDataDigest = "7abde08095c41ae546acbcfb6dbef83ef1e5950a168564986f8c26a85ed77c9d"

// TestDefaultDataUnchanged hashes the company, employees and payrolls of 40
// companies with fixed uuids at the config defaults (payroll counts 1, 12,
// 125 and 400), with and without PlainPayrolls.
func TestDefaultDataUnchanged(t *testing.T) {
	h := sha256.New()
	for _, plain := range []bool{false, true} {
		e := newEnv(t, func(c *gustosim.Config) { c.PlainPayrolls = plain })
		for i := 1; i <= 40; i++ {
			g := e.company(gustosim.CompanyOptions{UUID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i), Employees: 3, Payrolls: []int{-1, 1, 12, 400}[i%4]})
			for _, res := range []string{"company", "employees", "payrolls"} {
				n, sum, err := e.sim.Checksum(g.CompanyUUID, res)
				if err != nil {
					t.Fatal(err)
				}
				fmt.Fprintf(h, "%s %s %d %s\n", g.CompanyUUID, res, n, sum)
			}
		}
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != defaultDataDigest {
		t.Fatalf("the default data changed: digest %s, want %s", got, defaultDataDigest)
	}
}
