package gusto_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"time"

	"github.com/gustosync/gustosync/internal/gusto"
)

// A sync walks a company's employees page by page, resuming from the page
// its checkpoint names, and classifies failures with errors.As.
func ExampleClient_Employees() {
	// A stand-in for Gusto: five employees, answered two per page with
	// Gusto's pagination headers.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		page, _ := strconv.Atoi(r.URL.Query().Get("page"))
		w.Header().Set("X-Page", strconv.Itoa(page))
		w.Header().Set("X-Per-Page", "2")
		w.Header().Set("X-Total-Count", "5")
		w.Header().Set("X-Total-Pages", "3")
		body := "["
		for i := (page - 1) * 2; i < min(page*2, 5); i++ {
			if i > (page-1)*2 {
				body += ","
			}
			body += `{"uuid":"emp-` + strconv.Itoa(i) + `","first_name":"E","last_name":"` + strconv.Itoa(i) + `"}`
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, body+"]")
	}))
	defer srv.Close()

	client, err := gusto.New(gusto.Options{BaseURL: srv.URL})
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	src := gusto.StaticToken("access-token") // in production: the tokens.Manager
	for page, err := range client.Employees(ctx, src, "company-1", gusto.PageOptions{Page: 2, Per: 2}) {
		var rl *gusto.RateLimitedError
		switch {
		case errors.As(err, &rl):
			fmt.Println("rate limited; retry after", rl.RetryAfter)
			return
		case err != nil:
			fmt.Println("sync failed:", err)
			return
		}
		if page.Mismatch != "" {
			// Store what came, and walk the resource again next time.
			fmt.Println("listing inconsistent:", page.Mismatch)
		}
		fmt.Printf("page %d of %d: %d employees, last=%v\n", page.Number, page.TotalPages, len(page.Items), page.Last)
	}
	// Output:
	// page 2 of 3: 2 employees, last=false
	// page 3 of 3: 1 employees, last=true
}

// Refreshing a token is one request; the caller decides what an error means.
func ExampleClient_RefreshToken() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"error":"invalid_grant","error_description":"The provided authorization grant is invalid."}`)
	}))
	defer srv.Close()

	client, err := gusto.New(gusto.Options{BaseURL: srv.URL, ClientID: "app", ClientSecret: "app-secret"})
	if err != nil {
		panic(err)
	}
	_, err = client.RefreshToken(context.Background(), "stored-refresh-token")
	var ig *gusto.InvalidGrantError
	fmt.Println(errors.As(err, &ig), gusto.Transient(err))
	fmt.Println(err)
	// Output:
	// true false
	// gusto: POST /oauth/token: 400 Bad Request (invalid_grant): The provided authorization grant is invalid.
}
