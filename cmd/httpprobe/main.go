package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gustosync/gustosync/internal/buildinfo"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

// run probes the one URL in args and returns the exit status.
func run(args []string, stderr io.Writer) int {
	if len(args) == 1 && buildinfo.IsVersionFlag(args[0]) {
		fmt.Fprint(os.Stdout, buildinfo.Line("httpprobe"))
		return 0
	}
	fs := flag.NewFlagSet("httpprobe", flag.ContinueOnError)
	fs.SetOutput(stderr)
	timeout := fs.Duration("timeout", 2*time.Second, "give up after this long")
	status := fs.String("status", "2xx,3xx", "healthy answers: status codes or classes, comma-separated (e.g. 2xx,401)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: httpprobe [--timeout 2s] [--status 2xx,3xx] http://127.0.0.1:PORT/PATH")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	accept, err := parseStatus(*status)
	if fs.NArg() != 1 || *timeout <= 0 || err != nil {
		fs.Usage()
		return 2
	}
	target, err := parse(fs.Arg(0))
	if err != nil {
		fmt.Fprintln(stderr, "httpprobe:", err)
		return 2
	}
	if err := probe(target, *timeout, accept); err != nil {
		fmt.Fprintln(stderr, "httpprobe:", err)
		return 1
	}
	return 0
}

// parse accepts only http URLs on a loopback host.
func parse(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return nil, fmt.Errorf("want an http://HOST:PORT/PATH URL, got %q", raw)
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("probes only loopback addresses, got host %q", host)
	}
	return u, nil
}

// parseStatus turns "2xx,3xx,401" into a predicate on status codes.
func parseStatus(s string) (func(int) bool, error) {
	var classes, codes []int
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if len(part) == 3 && strings.HasSuffix(part, "xx") && part[0] >= '1' && part[0] <= '5' {
			classes = append(classes, int(part[0]-'0'))
			continue
		}
		n, err := strconv.Atoi(part)
		if err != nil || n < 100 || n > 599 {
			return nil, fmt.Errorf("status %q: want a code (200) or a class (2xx)", part)
		}
		codes = append(codes, n)
	}
	return func(code int) bool {
		return slices.Contains(classes, code/100) || slices.Contains(codes, code)
	}, nil
}

func probe(u *url.URL, timeout time.Duration, accept func(int) bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	client := &http.Client{
		// A redirect is an answer: do not follow it.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", u.Redacted(), err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if !accept(resp.StatusCode) {
		return fmt.Errorf("GET %s: %s", u.Redacted(), resp.Status)
	}
	return nil
}
