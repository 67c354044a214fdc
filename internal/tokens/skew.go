package tokens

import "time"

// gustoNow is the local clock plus the measured skew: Gusto's clock, in unix
// nanoseconds.
func (m *Manager) gustoNow() int64 { return m.now().UnixNano() + m.skew.Load() }

// ObserveSkew adopts the Gusto client's latest skew measurement (Gusto's
// clock minus ours; see gusto.Client.Skew): wire it to gusto.Options.OnSkew
// so that every response counts. The manager never measures the skew
// itself: it applies the client's estimate (also carried by each refreshed
// token, gusto.Token.Skew) to decide expiry on Gusto's clock, and exports it
// as gustosync_gusto_clock_skew_seconds. The client logs it above
// gusto.SkewThreshold.
func (m *Manager) ObserveSkew(skew time.Duration) {
	m.skew.Store(int64(skew))
	m.skewMeasured.Store(true)
	m.metrics.setSkew(skew)
}

// Skew returns the skew the manager currently applies.
func (m *Manager) Skew() time.Duration { return time.Duration(m.skew.Load()) }

// adoptSkew uses the skew stored with a row until this process has measured
// its own.
func (m *Manager) adoptSkew(rec *record) {
	if !m.skewMeasured.Load() && rec.Skew != 0 {
		m.skew.Store(int64(rec.Skew))
		m.metrics.setSkew(rec.Skew)
	}
}
