package dashboard

import (
	"errors"
	"html/template"
	"net/http"
	"time"

	"github.com/gustosync/gustosync/internal/companies"
)

// HistoryLimit is how many runs, refresh attempts and status transitions a
// company's page shows (the most recent of each).
const HistoryLimit = 50

// The template "company" is one company's page: what the list shows of it, then its
// status history, sync runs and refresh attempts, newest first. Every value
// goes through html/template's escaping; no token is ever read.
var _ = template.Must(templates.Funcs(template.FuncMap{
	"took": took,
	"version": func(v *int64) any {
		if v == nil {
			return "—"
		}
		return *v
	},
}).New("company").Parse(`{{template "top" .}}
{{$c := .Company}}
<h1 id="company-name">{{if $c.Name}}{{$c.Name}}{{else}}Company{{end}}</h1>
<p><code id="company-uuid">{{$c.UUID}}</code> · <a href="/companies">All companies</a></p>
<table id="company">
<tr><th>Status</th><td><span class="badge {{$c.Status}}">{{$c.Status}}</span>{{if $c.StatusReason}} <span class="muted">{{$c.StatusReason}}</span>{{end}} <span class="muted">since {{when .Now $c.StatusChangedAt}}</span>
{{if eq $c.Status "needs_reauth"}} <a class="button" href="/connect?company={{$c.UUID}}">Re-connect</a>{{end}}</td></tr>
<tr><th>Token expires</th><td>{{when .Now $c.TokenExpiresAt}}</td></tr>
<tr><th>Last refreshed</th><td>{{if $c.LastRefreshedAt}}{{when .Now $c.LastRefreshedAt}}{{else}}<span class="muted">never</span>{{end}}{{if $c.ConsecutiveFailures}} · {{$c.ConsecutiveFailures}} failures since the last success{{end}}</td></tr>
<tr><th>Last sync</th><td>{{if $c.LastSyncAt}}{{when .Now $c.LastSyncAt}}, {{$c.LastSyncRows}} records{{else}}<span class="muted">never</span>{{end}}</td></tr>
<tr><th>Last full reconciliation</th><td>{{if $c.LastFullSyncAt}}{{when .Now $c.LastFullSyncAt}}{{else}}<span class="muted">never</span>{{end}}</td></tr>
<tr><th>Sync interval</th><td>{{if $c.Interval}}{{$c.Interval}}{{else}}<span class="muted">the scheduler's default</span>{{end}}; next due {{if $c.NextDueAt}}{{when .Now $c.NextDueAt}}{{else}}<span class="muted">at the next tick</span>{{end}}</td></tr>
</table>

<h2>Status history</h2>
<table id="statuses">
<thead><tr><th>When</th><th>From</th><th>To</th><th>Reason</th></tr></thead>
<tbody>
{{range .History.Statuses}}<tr><td>{{when $.Now .At}}</td><td>{{if .From}}<span class="badge {{.From}}">{{.From}}</span>{{else}}<span class="muted">onboarded</span>{{end}}</td><td><span class="badge {{.To}}">{{.To}}</span></td><td>{{.Reason}}</td></tr>
{{else}}<tr><td colspan="4" class="muted">No status change recorded.</td></tr>{{end}}
</tbody></table>

<h2>Sync runs</h2>
<table id="runs">
<thead><tr><th>Created</th><th>Kind</th><th>Status</th><th>Records</th><th>Took</th><th>Error</th><th>Run</th></tr></thead>
<tbody>
{{range .History.Runs}}<tr data-run="{{.ID}}"><td>{{when $.Now .CreatedAt}}</td><td>{{.Kind}}</td><td>{{.Status}}</td><td>{{.Records}}</td><td>{{took .StartedAt .FinishedAt}}</td><td>{{.Error}}</td><td><code>{{.ID}}</code></td></tr>
{{else}}<tr><td colspan="7" class="muted">No sync run yet.</td></tr>{{end}}
</tbody></table>

<h2>Token refreshes</h2>
<table id="refreshes">
<thead><tr><th>Started</th><th>Trigger</th><th>Outcome</th><th>Versions</th><th>Worker</th><th>Detail</th></tr></thead>
<tbody>
{{range .History.Refreshes}}<tr><td>{{when $.Now .StartedAt}}</td><td>{{.Trigger}}</td><td>{{.Outcome}}</td><td>{{version .OldVersion}} → {{version .NewVersion}}</td><td>{{.Worker}}</td><td>{{.Detail}}</td></tr>
{{else}}<tr><td colspan="6" class="muted">No refresh recorded.</td></tr>{{end}}
</tbody></table>
<p class="muted">The most recent {{.Limit}} of each.</p>
{{template "bottom" .}}`))

// took renders how long a run took, or where it stands.
func took(started, finished *time.Time) string {
	switch {
	case started == nil && finished != nil:
		return "—"
	case started == nil:
		return "not started"
	case finished == nil:
		return "running"
	}
	return finished.Sub(*started).Round(time.Millisecond).String()
}

type companyPage struct {
	Title   string
	Now     time.Time
	Company companies.Company
	History companies.History
	Limit   int
}

// company serves one company's page: GET /companies/{company}.
func (a *App) company(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("company")
	c, err := a.cfg.Companies.Get(r.Context(), id)
	var nf *companies.NotFoundError
	if errors.As(err, &nf) {
		message(w, http.StatusNotFound, false, "No such company", nf.Error())
		return
	}
	if err != nil {
		a.cfg.Logger.Error("company page", "error", err)
		message(w, http.StatusInternalServerError, false, "Could not read the company", "The database did not answer; see the dashboard's log.")
		return
	}
	h, err := a.cfg.Companies.History(r.Context(), c.UUID, HistoryLimit)
	if err != nil {
		a.cfg.Logger.Error("company page: history", "company", c.UUID, "error", err)
		message(w, http.StatusInternalServerError, false, "Could not read the company's history", "The database did not answer; see the dashboard's log.")
		return
	}
	title := c.Name
	if title == "" {
		title = c.UUID
	}
	w.Header().Set("Cache-Control", "no-store")
	render(w, http.StatusOK, "company", companyPage{Title: title, Now: a.cfg.Now(), Company: c, History: h, Limit: HistoryLimit})
}
