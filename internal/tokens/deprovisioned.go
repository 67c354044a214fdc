package tokens

import (
	"context"
	"errors"
)

// TriggerGustoEvent: Gusto said the grant is gone (a company.deprovisioned
// event, from a webhook or the events feed).
const TriggerGustoEvent Trigger = "gusto_event"

// MarkDeprovisioned is needs_reauth on Gusto's word rather than on a
// refused refresh: Gusto reported (event company.deprovisioned) that the
// app's access to company was removed. It goes through the one guarded
// writer, markNeedsReauth, at the version it reads (re-read if a refresh
// committed meanwhile, statusTries times at most), from active or paused;
// it keeps reason as status_reason, records one audit event and reports
// whether this call made the change, so the database trigger writes one
// alert however many deliveries of the event arrive. A company already
// needs_reauth (or missing) is left alone: false, and a *NotFoundError for
// a missing one. It is safe for concurrent use.
func (s *Store) MarkDeprovisioned(ctx context.Context, company, reason, worker string) (bool, error) {
	company, err := canonicalCompany(company)
	if err != nil {
		return false, err
	}
	for range statusTries {
		st, err := s.status(ctx, company)
		if err != nil {
			return false, err
		}
		if !needsReauth.leaves(st.Status) {
			return false, nil
		}
		changed, err := s.markNeedsReauth(ctx, company, st.Version, reason, Event{
			Worker: worker, Trigger: TriggerGustoEvent, Outcome: OutcomeRevoked,
			Detail: string(st.Status) + " -> needs_reauth: " + reason, StartedAt: s.now(),
		})
		if err != nil || changed {
			return changed, err
		}
	}
	return false, &StoreError{Op: needsReauth.op, Company: company, Err: errors.New("the row kept changing; try again")}
}
