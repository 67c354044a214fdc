// Command gustosync is the operator's tool: it applies the schema
// migrations, onboards companies from Gusto token responses, lists them, and
// runs the other chores that operators script against (their names and
// shapes are stable: see the README).
//
// Usage:
//
//	gustosync <command> [args] [flags]
//	gustosync --help
//	gustosync --version
//	gustosync <command> --help
//
// Flags may come before, between or after the positional arguments
// (`gustosync companies pause UUID --reason churned`): the command tree is
// built with package cobra from the table in main.go.
//
// Configuration comes from environment variables (DATABASE_URL, …). Exit
// status: 0 on success, 2 on bad input (unknown command, bad flag or
// argument, bad environment variable; one line on stderr says why), 1 when
// the command fails at run time (database unreachable, …).
//
// Each command group lives in its own file and adds one line to the command
// table in main.go; the command only wires configuration to packages.
package main
