package gustoevents

import "github.com/google/uuid"

// canonicalUUID returns s in canonical lower-case form.
func canonicalUUID(s string) (string, error) {
	u, err := uuid.Parse(s)
	if err != nil {
		return "", err
	}
	return u.String(), nil
}
