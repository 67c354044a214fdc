package dashboard

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"net/url"
	"strings"
)

// Credentials are what the dashboard accepts: basic auth (User and
// Password), a bearer token, or both. At least one must be set.
type Credentials struct {
	// User and Password enable HTTP basic auth; both or neither.
	User, Password string
	// BearerToken enables "Authorization: Bearer <token>".
	BearerToken string
}

func (c Credentials) basic() bool  { return c.User != "" && c.Password != "" }
func (c Credentials) bearer() bool { return c.BearerToken != "" }

// equal compares two secrets in constant time, whatever their lengths (the
// digests have a fixed size, so the length of the expected value leaks
// neither).
func equal(got, want string) bool {
	g := sha256.Sum256([]byte(got))
	w := sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(g[:], w[:]) == 1
}

// authenticated reports whether r carries valid credentials.
func (c Credentials) authenticated(r *http.Request) bool {
	h := r.Header.Get("Authorization")
	scheme, value, _ := strings.Cut(h, " ")
	switch {
	case c.bearer() && strings.EqualFold(scheme, "Bearer"):
		return equal(strings.TrimSpace(value), c.BearerToken)
	case c.basic() && strings.EqualFold(scheme, "Basic"):
		user, pass, ok := r.BasicAuth()
		if !ok {
			return false
		}
		// Both compared, always: no early exit on a wrong user.
		u := equal(user, c.User)
		p := equal(pass, c.Password)
		return u && p
	}
	return false
}

// requireAuth serves next only to authenticated requests; others get a 401
// with the challenges configured, and no hint of which part was wrong.
func requireAuth(c Credentials, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c.authenticated(r) {
			next.ServeHTTP(w, r)
			return
		}
		if c.basic() {
			w.Header().Add("WWW-Authenticate", `Basic realm="gustosync", charset="UTF-8"`)
		}
		if c.bearer() {
			w.Header().Add("WWW-Authenticate", `Bearer realm="gustosync"`)
		}
		w.Header().Set("Cache-Control", "no-store")
		http.Error(w, "authentication required", http.StatusUnauthorized)
	})
}

// safeMethod reports whether m cannot change state.
func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// sameOrigin refuses state-changing requests sent by a page of another
// site: browsers replay basic-auth credentials on cross-site requests, so
// without this a page elsewhere could drive a writable asynqmon. Requests
// without Sec-Fetch-Site and Origin (curl, scripts) pass: they carry
// their credentials themselves.
func sameOrigin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !safeMethod(r.Method) {
			if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
				http.Error(w, "cross-site request refused", http.StatusForbidden)
				return
			}
			if origin := r.Header.Get("Origin"); origin != "" {
				u, err := url.Parse(origin)
				if err != nil || u.Host != r.Host {
					http.Error(w, "cross-origin request refused", http.StatusForbidden)
					return
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}

// readOnly refuses every unsafe method.
func readOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !safeMethod(r.Method) {
			http.Error(w, "the dashboard is read-only (DASHBOARD_READ_ONLY=true)", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// securityHeaders sets headers every response should carry. no-referrer
// matters most: the OAuth callback's URL holds the authorization code.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		next.ServeHTTP(w, r)
	})
}
