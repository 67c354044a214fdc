package dashboard

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/gustosync/gustosync/internal/apiversion"
	"github.com/gustosync/gustosync/internal/companies"
	"github.com/gustosync/gustosync/internal/tokens"
)

const layout = `{{define "top"}}<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} · gustosync</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1d2430;background:#f6f7f9}
header{background:#0a3d3a;color:#fff;padding:10px 24px;display:flex;gap:24px;align-items:center}
header b{font-size:16px}
header a{color:#cfe9e6;text-decoration:none}header a:hover{color:#fff}
main{padding:20px 24px;max-width:1280px}
h1{font-size:20px;margin:0 0 12px}
table{border-collapse:collapse;width:100%;background:#fff;box-shadow:0 1px 2px #0002}
th,td{text-align:left;padding:6px 10px;border-bottom:1px solid #e4e7eb;vertical-align:top}
th{background:#eef1f4;font-weight:600}
code{font-size:12px;color:#555}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600}
.active{background:#d7f5e3;color:#11663a}.needs_reauth{background:#fde2e1;color:#9b1c1c}.paused{background:#eceff3;color:#4a5462}
.missing_scope{background:#fff1d6;color:#8a5a00}
.key_missing{background:#fde2e2;color:#8a1c1c}
.banner{background:#fde2e1;color:#9b1c1c;border-left:5px solid #c0392b;padding:10px 14px;margin:0 0 14px;border-radius:4px}
.summary{margin:0 0 14px;display:flex;gap:18px}
.box{background:#fff;border-radius:6px;padding:22px;box-shadow:0 1px 2px #0002;max-width:720px}
.ok{border-left:5px solid #1b9e5a}.err{border-left:5px solid #c0392b}
.muted{color:#6b7480}
a.button{display:inline-block;background:#0a3d3a;color:#fff;padding:6px 12px;border-radius:4px;text-decoration:none}
</style></head><body>
<header><b>gustosync</b><a href="/companies">Companies</a><a href="/monitoring/">Queues</a><a href="/connect">Connect a company</a></header>
<main>{{end}}
{{define "bottom"}}</main></body></html>{{end}}`

var templates = template.Must(template.New("pages").Funcs(template.FuncMap{
	"when": when,
}).Parse(layout + `
{{define "companies"}}{{template "top" .}}
<h1>Companies</h1>
{{range .Refused}}<p class="banner" id="api-version-refused">{{.Advice}}</p>{{end}}
<p class="summary"><span>{{.Total}} companies</span>
<span><span class="badge active">active</span> {{.Active}}</span>
<span><span class="badge needs_reauth">needs_reauth</span> {{.NeedsReauth}}</span>
<span><span class="badge missing_scope">missing_scope</span> {{.MissingScope}}</span>
<span><span class="badge key_missing">key_missing</span> {{.KeyMissing}}</span>
<span><span class="badge paused">paused</span> {{.Paused}}</span></p>
{{if and .NeedsReauth (not .Status)}}<p class="banner" id="needs-reauth">{{.NeedsReauth}} {{if eq .NeedsReauth 1}}company needs{{else}}companies need{{end}} re-authorization: <a href="/companies?status=needs_reauth">show them</a></p>{{end}}
<form method="get" action="/companies" id="search" class="summary">
<input type="search" name="q" value="{{.Search}}" placeholder="uuid prefix or name" maxlength="100" aria-label="Search">
<select name="status" aria-label="Status"><option value="">any status</option>{{range .Statuses}}<option value="{{.}}"{{if eq . $.Status}} selected{{end}}>{{.}}</option>{{end}}</select>
<button type="submit">Search</button>{{if or .Search .Status}} <a href="/companies">clear</a>{{end}}
</form>
<table id="companies">
<thead><tr><th>Company</th><th>Status</th><th>Token expires</th><th>Last sync</th><th>Rows</th><th>Last run</th><th>Next due</th><th></th></tr></thead>
<tbody>
{{range .Companies}}<tr data-company="{{.UUID}}">
<td><a class="company" href="/companies/{{.UUID}}">{{if .Name}}{{.Name}}{{else}}<code>{{.UUID}}</code>{{end}}</a>{{if .Name}}<br><code>{{.UUID}}</code>{{end}}</td>
<td><span class="badge {{.Status}}">{{.Status}}</span>{{if .StatusReason}}<br><span class="muted">{{.StatusReason}}</span>{{end}}</td>
<td>{{when $.Now .TokenExpiresAt}}</td>
<td>{{if .LastSyncAt}}{{when $.Now .LastSyncAt}}{{else}}<span class="muted">never</span>{{end}}</td>
<td>{{.LastSyncRows}}</td>
<td>{{.LastRunStatus}}</td>
<td>{{if .NextDueAt}}{{when $.Now .NextDueAt}}{{else}}<span class="muted">next tick</span>{{end}}</td>
<td>{{if eq .Status "needs_reauth"}}<a class="button" href="/connect?company={{.UUID}}">Re-connect</a>{{end}}</td>
</tr>{{else}}<tr><td colspan="8" class="muted">{{if or .Search .Status .Paging}}No company matches.{{else}}No company is onboarded yet. <a href="/connect">Connect one</a>.{{end}}</td></tr>{{end}}
</tbody></table>
<p class="summary" id="pager">{{if .PrevURL}}<a id="prev" rel="prev" href="{{.PrevURL}}">&larr; Previous</a>{{end}}{{if .NextURL}}<a id="next" rel="next" href="{{.NextURL}}">Next &rarr;</a>{{end}}</p>
{{template "bottom" .}}{{end}}
{{define "message"}}{{template "top" .}}
<div class="box {{if .OK}}ok{{else}}err{{end}}" id="result">
<h1>{{.Heading}}</h1>
{{range .Lines}}<p>{{.}}</p>{{end}}
<p><a href="/companies">Back to companies</a>{{if not .OK}} · <a href="/connect">Start again</a>{{end}}</p>
</div>
{{template "bottom" .}}{{end}}`))

// when renders t relative to now ("in 1h20m", "5m ago") with the absolute
// time in UTC.
func when(now time.Time, t any) string {
	var v time.Time
	switch x := t.(type) {
	case time.Time:
		v = x
	case *time.Time:
		if x == nil {
			return ""
		}
		v = *x
	default:
		return ""
	}
	d := v.Sub(now)
	if d >= time.Hour || d <= -time.Hour {
		d = d.Round(time.Minute)
	} else {
		d = d.Round(time.Second)
	}
	rel := "now"
	switch {
	case d > 0:
		rel = "in " + d.String()
	case d < 0:
		rel = (-d).String() + " ago"
	}
	return rel + " (" + v.UTC().Format("2006-01-02 15:04:05") + " UTC)"
}

type companiesPage struct {
	Title                                                        string
	Now                                                          time.Time
	Refused                                                      []apiversion.Rejection
	Companies                                                    []companies.Company
	Total, Active, NeedsReauth, MissingScope, KeyMissing, Paused int
	// Search and Status are the filters applied; Statuses the ones offered.
	Search   string
	Status   tokens.Status
	Statuses []tokens.Status
	// Paging is true past the first page; PrevURL and NextURL link the
	// neighbouring pages, empty at either end.
	Paging           bool
	PrevURL, NextURL string
}

type messagePage struct {
	Title   string
	OK      bool
	Heading string
	Lines   []string
}

// render executes a template into a buffer first, so a failure is a clean 500.
func render(w http.ResponseWriter, status int, name string, data any) {
	var buf bytes.Buffer
	if err := templates.ExecuteTemplate(&buf, name, data); err != nil {
		http.Error(w, "page failed to render", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}

// message renders a result page.
func message(w http.ResponseWriter, status int, ok bool, heading string, lines ...string) {
	w.Header().Set("Cache-Control", "no-store")
	render(w, status, "message", messagePage{Title: heading, OK: ok, Heading: heading, Lines: lines})
}

func (a *App) companies(w http.ResponseWriter, r *http.Request) {
	status := tokens.Status(r.URL.Query().Get("status"))
	switch status {
	case "", tokens.StatusActive, tokens.StatusNeedsReauth, tokens.StatusMissingScope, tokens.StatusKeyMissing, tokens.StatusPaused:
	default:
		message(w, http.StatusBadRequest, false, "Unknown status filter", "Use active, needs_reauth, missing_scope, key_missing or paused.")
		return
	}
	q := companies.PageQuery{Status: status, Search: r.URL.Query().Get("q"),
		After: r.URL.Query().Get("after"), Before: r.URL.Query().Get("before")}
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > companies.MaxPageSize {
			message(w, http.StatusBadRequest, false, "Bad page size", fmt.Sprintf("limit must be a number from 1 to %d.", companies.MaxPageSize))
			return
		}
		q.Limit = n
	}
	page, err := a.cfg.Companies.Page(r.Context(), q)
	var qe *companies.QueryError
	if errors.As(err, &qe) {
		message(w, http.StatusBadRequest, false, "Bad companies query", qe.Error())
		return
	}
	if err != nil {
		a.cfg.Logger.Error("companies page", "error", err)
		message(w, http.StatusInternalServerError, false, "Could not read the companies", "The database did not answer; see the dashboard's log.")
		return
	}
	counts, err := a.cfg.Companies.Counts(r.Context())
	if err != nil {
		a.cfg.Logger.Error("companies page: counts", "error", err)
		message(w, http.StatusInternalServerError, false, "Could not read the companies", "The database did not answer; see the dashboard's log.")
		return
	}
	p := companiesPage{Title: "Companies", Now: a.cfg.Now(), Companies: page.Companies, Search: q.Search, Status: status,
		Paging: q.After != "" || q.Before != "", PrevURL: pageURL(q, "before", page.Prev), NextURL: pageURL(q, "after", page.Next)}
	if a.cfg.APIVersions != nil {
		if p.Refused, err = a.cfg.APIVersions.Current(r.Context()); err != nil {
			a.cfg.Logger.Error("companies page: refused API versions", "error", err)
		}
	}
	for st, n := range counts {
		p.Total += n
		p.Statuses = append(p.Statuses, st)
		switch st {
		case tokens.StatusActive:
			p.Active = n
		case tokens.StatusNeedsReauth:
			p.NeedsReauth = n
		case tokens.StatusMissingScope:
			p.MissingScope = n
		case tokens.StatusKeyMissing:
			p.KeyMissing = n
		case tokens.StatusPaused:
			p.Paused = n
		}
	}
	if status != "" && counts[status] == 0 {
		p.Statuses = append(p.Statuses, status)
	}
	slices.Sort(p.Statuses)
	render(w, http.StatusOK, "companies", p)
}

// pageURL links the companies page of q's filters whose cursor (after or
// before) is at; empty when at is (no such page).
func pageURL(q companies.PageQuery, cursor, at string) string {
	if at == "" {
		return ""
	}
	v := url.Values{cursor: {at}}
	if q.Status != "" {
		v.Set("status", string(q.Status))
	}
	if q.Search != "" {
		v.Set("q", q.Search)
	}
	if q.Limit != 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	return "/companies?" + v.Encode()
}
