// Package dashboard is the operators' web app: asynqmon (the asynq queues)
// at /monitoring/, the companies list at /companies (a page at a time by
// keyset on the company uuid, searchable by uuid prefix, name and status),
// each company's page at /companies/{uuid} (its sync runs, token refresh
// attempts and status history, newest first), and the OAuth onboarding flow
// (/connect, then Gusto's consent page, then the callback). Pages are
// html/template, so every value shown is escaped.
//
// Nothing is served without authentication: every route, including the
// OAuth callback and asynqmon's assets and API, sits behind one middleware
// that accepts HTTP basic auth or a bearer token, both compared in constant
// time. asynqmon has no authentication of its own (asynqmon issue #78); it is
// mounted read-only unless configured otherwise, and in read-only mode this
// package refuses any other method than GET and HEAD under /monitoring/
// itself as well. Unsafe methods from another site are refused (a CSRF
// guard on Sec-Fetch-Site and Origin), since browsers replay basic auth.
//
// The OAuth state is signed (HMAC-SHA256 under OAUTH_STATE_KEY), expires,
// and is bound to the browser that started the flow by a nonce cookie. The
// callback checks it, exchanges the code, checks the granted scopes against
// the tokens package's manifest, reads /v1/token_info (which company) and
// /v1/me (who consented), and only then stores the token pair; every refusal
// shows a page saying what went wrong and stores nothing.
//
// The package never shows, logs or echoes a token, an authorization code, a
// state value or a credential.
package dashboard
