package gusto

import (
	"context"
	"net/http"
	"testing"
	"time"
)

// BenchmarkDecodeEmployeesPage decodes one page of 100 Gusto-shaped
// employees (≈1.7 KB each, from the reference's example), keeping each raw
// object: the cost the client adds per page on top of the network.
func BenchmarkDecodeEmployeesPage(b *testing.B) {
	body := []byte(jsonArray(0, 100, employeeJSON, testCompany))
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		items, err := decodeList[Employee](body, testCompany)
		if err != nil || len(items) != 100 {
			b.Fatalf("%d items, %v", len(items), err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/100, "ns/record")
}

// BenchmarkEmployeesPageClient fetches and decodes the same page through the
// whole client (headers, bounded read, skew, status check, iterator) over an
// in-memory transport, so the figure is the client's own overhead.
func BenchmarkEmployeesPageClient(b *testing.B) {
	body := []byte(jsonArray(0, 100, employeeJSON, testCompany))
	h := http.Header{"Content-Type": {"application/json"}, "Date": {t0.Format(http.TimeFormat)}}
	c, err := New(Options{BaseURL: "https://api.gusto.test", Now: func() time.Time { return t0 },
		HTTPClient: &http.Client{Transport: cannedTransport{status: 200, header: h, body: body}}})
	if err != nil {
		b.Fatal(err)
	}
	src := StaticToken(testAccess)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		for p, err := range c.Employees(context.Background(), src, testCompany, PageOptions{Per: 100}) {
			if err != nil || len(p.Items) != 100 {
				b.Fatalf("%d items, %v", len(p.Items), err)
			}
			break
		}
	}
	b.ReportMetric(float64(b.N)*100/b.Elapsed().Seconds(), "records/s")
}
