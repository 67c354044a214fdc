package jobs

import (
	"strings"
	"testing"
)

// TestParseSelection: SYNC_RESOURCES names resources, "?" marks optional
// ones, the walk order is the list's whatever the order written, and
// unknown names, repeats and a substream without its parent are refused.
func TestParseSelection(t *testing.T) {
	sub := &Resource{Table: EmployeesResource.Table, Parent: PayrollsResource}
	known := []*Resource{CompanyResource, PayrollsResource}
	all, err := ParseSelection("", Resources)
	if err != nil || len(all) != len(Resources) || all[0].Optional {
		t.Fatalf("default: %+v %v", all, err)
	}
	got, err := ParseSelection(" payrolls? , company", known)
	if err != nil || len(got) != 2 || got[0].Resource != CompanyResource || got[0].Optional || got[1].Resource != PayrollsResource || !got[1].Optional {
		t.Fatalf("payrolls?,company: %+v %v", got, err)
	}
	for in, want := range map[string]string{
		"company,invoices":  "unknown resource",
		"company,company":   "named twice",
		"company,employees": "select payrolls too",
	} {
		k := known
		if strings.Contains(in, "employees") {
			k = []*Resource{CompanyResource, PayrollsResource, sub}
		}
		if _, err := ParseSelection(in, k); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want an error saying %q", in, err, want)
		}
	}
}
