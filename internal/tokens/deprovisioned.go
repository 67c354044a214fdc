package tokens

import "context"

// TriggerGustoEvent: Gusto said the grant is gone (a company.deprovisioned
// event, from a webhook or the events feed).
const TriggerGustoEvent Trigger = "gusto_event"

// MarkDeprovisioned is needs_reauth on Gusto's word rather than on a
// refused refresh: Gusto reported (event company.deprovisioned) that the
// app's access to company was removed. It makes markNeedsReauth's guarded
// change (the needsReauth transition) at the version it reads (re-read if
// a refresh committed meanwhile, statusTries times at most), from active
// or paused;
// it keeps reason as status_reason, records one audit event and reports
// whether this call made the change, so the database trigger writes one
// alert however many deliveries of the event arrive. A company already
// needs_reauth (or missing) is left alone: false, and a *NotFoundError for
// a missing one. It is safe for concurrent use.
func (s *Store) MarkDeprovisioned(ctx context.Context, company, reason, worker string) (bool, error) {
	return s.changeAtCurrent(ctx, company, needsReauth, reason, Event{Worker: worker, Trigger: TriggerGustoEvent, Outcome: OutcomeRevoked})
}
