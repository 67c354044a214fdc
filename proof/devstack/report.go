package devstack

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// Report is a titled table of figures: each line a name, a value, the
// limit or yardstick it is read against, and a verdict — pass, fail, or
// none for information.
type Report struct {
	Title string
	lines []Line
	notes []string
}

// Verdict of a report line.
type Verdict int

const (
	// Info is a figure without a pass/fail rule.
	Info Verdict = iota
	// Pass is a check that held.
	Pass
	// Fail is a check that did not.
	Fail
)

// Line is one row of a Report.
type Line struct {
	Section string
	Name    string
	Value   string
	Limit   string
	Verdict Verdict
	// Detail lists evidence under the line (the first few offenders).
	Detail []string
}

// Check adds a pass/fail line.
func (r *Report) Check(section, name string, ok bool, value, limit string, detail ...string) {
	v := Fail
	if ok {
		v = Pass
	}
	r.lines = append(r.lines, Line{Section: section, Name: name, Value: value, Limit: limit, Verdict: v, Detail: detail})
}

// Info adds a figure without a verdict; limit may be empty.
func (r *Report) Info(section, name, value, limit string, detail ...string) {
	r.lines = append(r.lines, Line{Section: section, Name: name, Value: value, Limit: limit, Verdict: Info, Detail: detail})
}

// Note adds a sentence printed under the table.
func (r *Report) Note(format string, args ...any) {
	r.notes = append(r.notes, fmt.Sprintf(format, args...))
}

// Lines returns the lines in order.
func (r *Report) Lines() []Line { return append([]Line(nil), r.lines...) }

// Failures returns the failed lines.
func (r *Report) Failures() []Line {
	var out []Line
	for _, l := range r.lines {
		if l.Verdict == Fail {
			out = append(out, l)
		}
	}
	return out
}

// Write prints the report as an aligned table grouped by section (in the
// order sections first appear), then the
// notes, then a last line: PASS, FAIL (n) or, without checks, nothing.
func (r *Report) Write(w io.Writer) {
	nameW, valueW := 0, 0
	for _, l := range r.lines {
		nameW = max(nameW, utf8.RuneCountInString(l.Name))
		valueW = max(valueW, utf8.RuneCountInString(l.Value))
	}
	fmt.Fprintf(w, "\n%s\n%s\n", r.Title, strings.Repeat("=", utf8.RuneCountInString(r.Title)))
	// Sections in the order they first appear, each with all its lines.
	var order []string
	bySection := map[string][]Line{}
	for _, l := range r.lines {
		if _, ok := bySection[l.Section]; !ok {
			order = append(order, l.Section)
		}
		bySection[l.Section] = append(bySection[l.Section], l)
	}
	checks := 0
	for _, section := range order {
		if section != "" {
			fmt.Fprintf(w, "\n%s\n", section)
		}
		for _, l := range bySection[section] {
			mark := "      "
			switch l.Verdict {
			case Pass:
				mark, checks = "  ok  ", checks+1
			case Fail:
				mark, checks = "  FAIL", checks+1
			}
			line := fmt.Sprintf("%s  %s  %s", mark, pad(l.Name, nameW), pad(l.Value, valueW))
			if l.Limit != "" {
				line += "  " + l.Limit
			}
			fmt.Fprintln(w, strings.TrimRight(line, " "))
			for _, d := range l.Detail {
				fmt.Fprintf(w, "          - %s\n", d)
			}
		}
	}
	for _, n := range r.notes {
		fmt.Fprintf(w, "\n%s\n", n)
	}
	if checks == 0 {
		return
	}
	if f := r.Failures(); len(f) > 0 {
		fmt.Fprintf(w, "\nFAIL: %d of %d checks failed\n", len(f), checks)
	} else {
		fmt.Fprintf(w, "\nPASS: %d checks\n", checks)
	}
}

func pad(s string, n int) string {
	if k := utf8.RuneCountInString(s); k < n {
		return s + strings.Repeat(" ", n-k)
	}
	return s
}

// Firsts returns up to n of items, formatted, and a last "… and k more".
func Firsts[T any](items []T, n int, format func(T) string) []string {
	var out []string
	for i, it := range items {
		if i == n {
			out = append(out, fmt.Sprintf("… and %d more", len(items)-n))
			break
		}
		out = append(out, format(it))
	}
	return out
}
