// Command demo runs the whole gustosync system locally against the Gusto
// simulator and prints what it did: it is what `make demo` runs, the
// README's first command.
//
//	demo [--companies 50] [--workers 3] [--token-lifetime 30s] [--stay no|yes|auto]
//
// It recreates the database gustosync_demo, starts its own redis-server,
// the simulator (in-process), the migrations, the scheduler (re-syncing
// every few seconds), the worker processes and the dashboard with generated
// credentials; onboards the companies with `gustosync companies add`; revokes
// one company's grant half-way, as a user would in Gusto; and runs until
// every other company has synced and its tokens have rotated at least twice.
// Then it checks and prints a summary: companies synced, rows compared with
// the simulator's, refresh calls per expiry window, 401s on data calls,
// companies in needs_reauth, and where the dashboard is.
//
// Progress is printed as it goes; logs of every process are under --run-dir.
// It ends by itself after the summary; with --stay yes (make demo
// DEMO_FLAGS=--stay=yes) the system and the dashboard keep running until
// Ctrl-C.
// Every process it started is stopped on exit, on an error and on Ctrl-C
// (and by the kernel should the demo itself be killed). It runs again as
// often as you like. Exit status: 0 when every check passed, 1 otherwise,
// 2 on bad flags, 130 when interrupted.
package main
