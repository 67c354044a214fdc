package gustosim_test

import (
	"context"
	"fmt"
	"net/http/httptest"

	"github.com/gustosync/gustosync/internal/gusto"
	"github.com/gustosync/gustosync/internal/gustosim"
)

// A test serves the simulator in-process, creates a company and talks to it
// with the real client.
func Example() {
	sim, err := gustosim.New(gustosim.Config{
		ClientID: "app", ClientSecret: "secret", RedirectURI: "https://app.example.com/callback",
		Revocation: gustosim.RuleStrict,
	})
	if err != nil {
		panic(err)
	}
	srv := httptest.NewServer(sim)
	defer srv.Close()

	grant, err := sim.CreateCompany(gustosim.CompanyOptions{Employees: 42, Payrolls: -1})
	if err != nil {
		panic(err)
	}
	client, err := gusto.New(gusto.Options{BaseURL: srv.URL, ClientID: "app", ClientSecret: "secret"})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	tok, err := client.RefreshToken(ctx, grant.Token.RefreshToken)
	if err != nil {
		panic(err)
	}
	n := 0
	for page, err := range client.Employees(ctx, gusto.StaticToken(tok.AccessToken), grant.CompanyUUID, gusto.PageOptions{Per: 25}) {
		if err != nil {
			panic(err)
		}
		n += len(page.Items)
	}
	_, replayErr := client.RefreshToken(ctx, grant.Token.RefreshToken)

	c := sim.Counters()
	fmt.Println("employees:", n)
	fmt.Println("refreshes:", c.Refreshes, "refused:", c.RefreshesRefused, "replays:", c.Replays)
	fmt.Println("replay refused:", replayErr != nil)
	// Output:
	// employees: 42
	// refreshes: 1 refused: 1 replays: 1
	// replay refused: true
}
