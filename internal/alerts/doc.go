// Package alerts delivers operator alerts to a webhook: one signed JSON event
// per company entering needs_reauth or missing_scope, one
// (company.recovered) per return from such a status to active, and one per
// API version Gusto refuses.
//
// Events are never produced here. A trigger on gusto_auth_tokens writes one
// alert_outbox row per transition into needs_reauth, in the same transaction
// as the status change, whoever makes it (the token manager, an operator's
// SQL). A Dispatcher, run by the scheduler, claims due rows one at a time
// with SELECT … FOR UPDATE SKIP LOCKED, POSTs the event, and marks the row
// delivered in the same transaction, so two scheduler replicas never send
// the same row twice. A failed attempt is retried with exponential backoff
// (honouring Retry-After) up to MaxAttempts; the event id is the same on
// every attempt, so a receiver can deduplicate the one case no outbox can
// exclude: a crash after the receiver answered and before the commit.
//
// The claim, the request and the record of its outcome share one
// transaction opened with postgres.InTx, whose idle timeout (Timeout plus
// postgres.DefaultIdleTimeout) outlasts the request: a dispatcher frozen
// mid-delivery has its session ended and the row goes back to the others.
//
// The package owns alert_outbox once a row exists (its delivery status,
// attempts and errors); the trigger in migrations writes the rows. It never
// reads or writes gusto_auth_tokens.
//
// Each attempt is signed with its timestamp and the body, Stripe style:
// "X-Gustosync-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<unix>.<body>"
// under ALERT_WEBHOOK_SECRET>"; Verify is the receiver's check (timestamp
// within a tolerance, so a captured delivery cannot be replayed later; HMAC
// compared in constant time). docs/deploy.md has the recipe. No token ever reaches an event; the webhook URL (which
// may itself be a secret) never reaches a log line or a stored error.
package alerts
