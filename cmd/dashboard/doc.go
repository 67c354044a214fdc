// Command dashboard serves the operators' web app: asynqmon at /monitoring/
// (read-only unless DASHBOARD_READ_ONLY=false), the companies list at
// /companies (paged by keyset, searchable), a page per company at
// /companies/UUID (runs, refresh attempts, status history), and the OAuth onboarding flow (/connect and the callback at the
// path of GUSTO_REDIRECT_URI). Every route requires DASHBOARD_USER and
// DASHBOARD_PASSWORD (basic auth; a weak password is refused at start-up,
// see config.WeakPassword) or DASHBOARD_BEARER_TOKEN.
//
//	dashboard            serve on DASHBOARD_ADDR until SIGINT/SIGTERM
//	dashboard --help     print the configuration it reads
//
// Exit status: 0 success, 1 failure, 2 bad configuration (a one-line reason
// on stderr).
package main
