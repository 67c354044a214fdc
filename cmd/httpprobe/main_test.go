package main

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestExitStatus(t *testing.T) {
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			w.WriteHeader(http.StatusOK)
		case "/moved":
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
		case "/down":
			w.WriteHeader(http.StatusServiceUnavailable)
		case "/auth":
			w.WriteHeader(http.StatusUnauthorized)
		case "/slow":
			<-block
		}
	}))
	defer srv.Close()
	defer close(block)
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()

	cases := []struct {
		args []string
		want int
		msg  string
	}{
		{[]string{srv.URL + "/ok"}, 0, ""},
		{[]string{srv.URL + "/moved"}, 0, ""},
		{[]string{srv.URL + "/down"}, 1, "503"},
		{[]string{srv.URL + "/auth"}, 1, "401"},
		{[]string{"--status", "2xx,401", srv.URL + "/auth"}, 0, ""},
		{[]string{"--status", "401", srv.URL + "/ok"}, 1, "200"},
		{[]string{"--status", "2xx", srv.URL + "/moved"}, 1, "302"},
		{[]string{"--status", "6xx", srv.URL + "/ok"}, 2, "usage"},
		{[]string{"--status", "abc", srv.URL + "/ok"}, 2, "usage"},
		{[]string{"--timeout", "100ms", srv.URL + "/slow"}, 1, "deadline"},
		{[]string{closedURL + "/ok"}, 1, "refused"},
		{[]string{}, 2, "usage"},
		{[]string{"a", "b"}, 2, "usage"},
		{[]string{"https://127.0.0.1:1/x"}, 2, "want an http"},
		{[]string{"http://example.com/healthz"}, 2, "loopback"},
		{[]string{"--timeout", "0s", srv.URL + "/ok"}, 2, "usage"},
	}
	for _, tc := range cases {
		var stderr bytes.Buffer
		got := run(tc.args, &stderr)
		if got != tc.want {
			t.Errorf("%v: exit %d, want %d (stderr %q)", tc.args, got, tc.want, stderr.String())
		}
		if tc.msg == "" && stderr.Len() != 0 {
			t.Errorf("%v: printed %q on success", tc.args, stderr.String())
		}
		if tc.msg != "" && !strings.Contains(stderr.String(), tc.msg) {
			t.Errorf("%v: stderr %q does not mention %q", tc.args, stderr.String(), tc.msg)
		}
	}
}

// TestVersion: --version prints the build's line and exits 0.
func TestVersion(t *testing.T) {
	if code := run([]string{"--version"}, io.Discard); code != 0 {
		t.Fatalf("--version: exit %d, want 0", code)
	}
}
