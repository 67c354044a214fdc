package dashboard

import (
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/google/uuid"

	"github.com/gustosync/gustosync/internal/gusto"
	"github.com/gustosync/gustosync/internal/tokens"
)

// stateCookie holds the nonce of the flow this browser started.
const stateCookie = "gustosync_oauth"

// requestedScopes are the scopes /connect asks Gusto for: every scope in the
// tokens manifest, optional ones included.
func requestedScopes() []string {
	var out []string
	for _, r := range tokens.Manifest {
		if !slices.Contains(out, r.Scope) {
			out = append(out, r.Scope)
		}
	}
	slices.Sort(out)
	return out
}

// connect starts the OAuth flow: a fresh signed state, its nonce in a
// cookie scoped to the callback, and a redirect to Gusto's consent page.
// ?company=UUID records which company the operator means to reconnect.
func (a *App) connect(w http.ResponseWriter, r *http.Request) {
	company := uuid.Nil
	if c := r.URL.Query().Get("company"); c != "" {
		u, err := uuid.Parse(c)
		if err != nil {
			message(w, http.StatusBadRequest, false, "Not a company id", "The company parameter must be a uuid.")
			return
		}
		company = u
	}
	st, encoded, err := a.states.New(company)
	if err != nil {
		a.cfg.Logger.Error("oauth connect: state", "error", err)
		message(w, http.StatusInternalServerError, false, "Could not start the connection", "See the dashboard's log.")
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name:     stateCookie,
		Value:    base64.RawURLEncoding.EncodeToString(st.Nonce[:]),
		Path:     a.cfg.CallbackPath,
		MaxAge:   int(a.cfg.StateTTL.Seconds()),
		HttpOnly: true,
		Secure:   a.cfg.SecureCookies,
		SameSite: http.SameSiteLaxMode, // sent on the top-level redirect back from Gusto
	})
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, a.cfg.OAuth.AuthorizeURL(encoded, requestedScopes()), http.StatusFound)
}

// callback finishes the flow. It checks, in order: the state (signature,
// expiry, this browser's nonce), Gusto's error (denied consent), the code
// exchange, the granted scopes against the manifest, /v1/token_info (the
// grant must be for a company) and /v1/me; only then does it store the
// pair. Every refusal renders a page and stores nothing.
func (a *App) callback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	log := a.cfg.Logger.With("op", "oauth callback")
	// The flow ends here whatever happens: drop the nonce cookie.
	http.SetCookie(w, &http.Cookie{Name: stateCookie, Value: "", Path: a.cfg.CallbackPath, MaxAge: -1,
		HttpOnly: true, Secure: a.cfg.SecureCookies, SameSite: http.SameSiteLaxMode})

	st, err := a.states.Verify(q.Get("state"))
	if err == nil {
		err = a.checkNonce(r, st)
	}
	if err != nil {
		reason := "unverifiable"
		var se *StateError
		if errors.As(err, &se) {
			reason = se.Reason
		}
		log.Warn("oauth callback refused", "reason", reason)
		message(w, http.StatusBadRequest, false, "This connection link is not valid",
			"The sign-in request could not be verified ("+reason+"). Nothing was stored.",
			"Start the connection again from this dashboard; links expire after "+a.cfg.StateTTL.String()+".")
		return
	}
	if e := q.Get("error"); e != "" {
		log.Info("oauth consent not granted", "error", clip(e, 64))
		heading, line := "Access was not granted", "Gusto reported: "+clip(e, 64)+"."
		if e == "access_denied" {
			line = "The request for access was declined on Gusto's consent page."
		}
		message(w, http.StatusForbidden, false, heading, line, "Nothing was stored.")
		return
	}
	code := q.Get("code")
	if code == "" {
		message(w, http.StatusBadRequest, false, "No authorization code", "Gusto's redirect carried no code. Nothing was stored.")
		return
	}

	ctx := r.Context()
	tok, err := a.cfg.OAuth.ExchangeCode(ctx, code)
	if err != nil {
		log.Warn("oauth code exchange failed", "error", err)
		var ig *gusto.InvalidGrantError
		switch {
		case errors.As(err, &ig):
			message(w, http.StatusBadRequest, false, "Gusto refused the authorization code",
				"The code expired or was already used. Nothing was stored; start the connection again.")
		case gusto.Transient(err):
			message(w, http.StatusBadGateway, false, "Gusto is unavailable",
				"Gusto did not answer the code exchange. Nothing was stored; try again in a minute.")
		default:
			message(w, http.StatusBadGateway, false, "The code exchange failed",
				"Gusto's token endpoint refused the request (see the dashboard's log). Nothing was stored.")
		}
		return
	}
	info, err := a.cfg.OAuth.TokenInfo(ctx, tok.AccessToken)
	if err != nil {
		log.Warn("oauth token_info failed", "error", err)
		message(w, http.StatusBadGateway, false, "Could not read what the grant covers",
			"GET /v1/token_info failed (see the dashboard's log). Nothing was stored.")
		return
	}
	granted := tok.Scope
	if strings.TrimSpace(granted) == "" {
		granted = info.Scope
	}
	if missing := tokens.MissingScopes(granted); len(missing) > 0 {
		log.Warn("oauth grant lacks scopes", "missing", strings.Join(missing, " "))
		message(w, http.StatusForbidden, false, "Missing permissions",
			"The grant lacks required scopes: "+strings.Join(missing, ", ")+".",
			"Nothing was stored. Ask the Gusto admin to approve every requested permission, then connect again.")
		return
	}
	if info.Resource == nil || !strings.EqualFold(info.Resource.Type, "Company") || info.Resource.UUID == "" {
		message(w, http.StatusBadRequest, false, "The grant is not for a company",
			"Gusto's token_info names no company for this grant. Nothing was stored.")
		return
	}
	company, err := uuid.Parse(info.Resource.UUID)
	if err != nil {
		message(w, http.StatusBadGateway, false, "The grant names an invalid company",
			"Gusto's token_info returned a company id that is not a uuid. Nothing was stored.")
		return
	}
	var who, name string
	if me, err := a.cfg.OAuth.Me(ctx, tok.AccessToken); err != nil {
		log.Warn("oauth /v1/me failed; continuing", "error", err)
	} else {
		who = me.Email
		for _, c := range me.Companies {
			if strings.EqualFold(c.UUID, company.String()) {
				name = c.Name
			}
		}
	}

	_, err = a.cfg.Tokens.Put(ctx, tokens.Grant{
		CompanyUUID:  company.String(),
		AccessToken:  tok.AccessToken,
		RefreshToken: tok.RefreshToken,
		ExpiresIn:    tok.ExpiresIn,
		Scope:        granted,
		CreatedAt:    tok.CreatedAt,
	}, "dashboard")
	if err != nil {
		log.Error("oauth store tokens failed", "company", company, "error", err)
		var ms *tokens.MissingScopesError
		if errors.As(err, &ms) {
			message(w, http.StatusForbidden, false, "Missing permissions",
				"The grant lacks required scopes: "+strings.Join(ms.Missing, ", ")+". Nothing was stored.")
			return
		}
		message(w, http.StatusInternalServerError, false, "Could not store the connection",
			"The tokens could not be saved (see the dashboard's log). Start again once the database is back.")
		return
	}
	log.Info("company connected", "company", company, "scopes", granted)

	label := company.String()
	if name != "" {
		label = name + " (" + company.String() + ")"
	}
	lines := []string{"Connected " + label + ". Its first sync is enqueued at the scheduler's next tick."}
	if who != "" {
		lines = append(lines, "Authorized by "+who+".")
	}
	lines = append(lines, "Granted scopes: "+granted+".")
	if st.Company != uuid.Nil && st.Company != company {
		lines = append(lines, "Note: you started this from company "+st.Company.String()+
			", but the grant is for "+company.String()+". That company still needs to be reconnected.")
	}
	message(w, http.StatusOK, true, "Company connected", lines...)
}

// checkNonce requires the cookie set by /connect in this browser to match
// the state's nonce, so a link started elsewhere (a login CSRF) is refused.
func (a *App) checkNonce(r *http.Request, st State) error {
	c, err := r.Cookie(stateCookie)
	if err != nil {
		return &StateError{Reason: "not started from this browser"}
	}
	got, err := base64.RawURLEncoding.DecodeString(c.Value)
	if err != nil || subtle.ConstantTimeCompare(got, st.Nonce[:]) != 1 {
		return &StateError{Reason: "not started from this browser"}
	}
	return nil
}

// clip bounds a string echoed from a query parameter (html/template escapes it).
func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
