// Command httpprobe is the container health check of the gustosync images
// (the product's and the simulator's): the runtime images have no shell,
// curl or wget, so docker compose's healthcheck runs this instead.
//
//	httpprobe http://127.0.0.1:8080/readyz
//
// It exits 0 when a GET answers 2xx or 3xx (or the codes --status lists,
// e.g. 2xx,401 for an endpoint behind authentication) within the timeout
// (2s, or --timeout), 1 otherwise, and 2 on bad usage. It prints one line on
// failure and nothing on success. It only probes loopback URLs: it is a
// health check, not a client.
package main
