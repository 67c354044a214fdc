package pgtest

import "context"

// OpenAdminForTest runs openAdmin against dsn and closes what it opened.
func OpenAdminForTest(ctx context.Context, dsn string) error {
	db, _, err := openAdmin(ctx, dsn)
	if db != nil {
		_ = db.Close()
	}
	return err
}
