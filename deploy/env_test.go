package deploy

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/gustosync/gustosync/internal/config"
)

// envVar is one environment variable a config struct reads, from its tags.
type envVar struct {
	Name       string
	Required   bool // `required` or `notEmpty`
	Default    string
	HasDefault bool
	Type       reflect.Type
}

// varsOf lists the variables read by the struct that ptr points to, walking
// nested and embedded structs the way caarlos0/env does.
func varsOf(ptr any) []envVar {
	var out []envVar
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for i := range t.NumField() {
			f := t.Field(i)
			tag, ok := f.Tag.Lookup("env")
			if !ok {
				if f.Type.Kind() == reflect.Struct && f.IsExported() {
					walk(f.Type)
				}
				continue
			}
			name, opts, _ := strings.Cut(tag, ",")
			v := envVar{Name: name, Type: f.Type}
			for _, o := range strings.Split(opts, ",") {
				if o == "required" || o == "notEmpty" {
					v.Required = true
				}
			}
			v.Default, v.HasDefault = f.Tag.Lookup("envDefault")
			out = append(out, v)
		}
	}
	walk(reflect.TypeOf(ptr).Elem())
	return out
}

// varIndex maps variable names to their tag information.
func varIndex(ptr any) map[string]envVar {
	m := map[string]envVar{}
	for _, v := range varsOf(ptr) {
		m[v.Name] = v
	}
	return m
}

// binary is one command the image runs and the configuration it reads.
type binary struct {
	// words select it: the binary name and its subcommand, if any.
	words []string
	// config returns a fresh pointer to the struct config.Parse fills, or
	// nil for a binary configured by flags, whose flags may default to
	// environment variables (found by sourceVars).
	config func() any
}

// binaries lists every command a deployment file may run. A command that is
// not here fails the tests: add it, with the struct its main parses.
var binaries = []binary{
	{[]string{"worker"}, func() any { return new(config.Worker) }},
	{[]string{"scheduler"}, func() any { return new(config.Scheduler) }},
	{[]string{"dashboard"}, func() any { return new(config.Dashboard) }},
	{[]string{"gustosync", "migrate"}, func() any { return new(config.Migration) }},
	{[]string{"gustosync", "companies", "add"}, func() any { return new(companiesAdd) }},
	{[]string{"gustosim"}, nil},
}

// companiesAdd is what `gustosync companies add` parses: the Database group
// (to open the pool) and the Tokens group (the keyring).
type companiesAdd struct {
	config.Database
	config.Tokens
}

// binaryOf finds the binary a container command runs: the longest entry of
// binaries whose words start the command (flags skipped). The command's
// first word may be a path.
func binaryOf(command []string) (binary, bool) {
	if len(command) == 0 {
		return binary{}, false
	}
	words := []string{filepath.Base(command[0])}
	for _, w := range command[1:] {
		if !strings.HasPrefix(w, "-") {
			words = append(words, w)
		}
	}
	best, found := binary{}, false
	for _, b := range binaries {
		if len(b.words) <= len(words) && slices.Equal(b.words, words[:len(b.words)]) && len(b.words) > len(best.words) {
			best, found = b, true
		}
	}
	return best, found
}

var (
	secretType = reflect.TypeOf(config.Secret(""))
	keysType   = reflect.TypeOf(config.Keys(nil))
)

// isSecret says whether a variable holds key material or a password.
func isSecret(v envVar) bool { return v.Type == secretType || v.Type == keysType }

// synthetic returns a valid stand-in for a secret variable, for configs
// whose real secret is a placeholder (the production example Secret).
func synthetic(v envVar) string {
	if v.Type == keysType {
		return "synthetic:" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	}
	return "synthetic-secret-value-0123456789"
}

// checkConfig parses env as the binary would and returns its error, after
// listing required variables that are missing (all of them, not only the
// first, which is all config.Parse reports).
func checkConfig(b binary, env map[string]string) (any, error) {
	cfg := b.config()
	var missing []string
	for _, v := range varsOf(cfg) {
		if val, ok := env[v.Name]; v.Required && (!ok || val == "") {
			missing = append(missing, v.Name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("required but not set: %s", strings.Join(missing, ", "))
	}
	if err := config.ParseFrom(cfg, env); err != nil {
		return nil, err
	}
	return cfg, nil
}

// knownVars is every variable the binary reads: from its config struct's
// tags, or, for a flag-configured binary, from the os.Getenv and
// os.LookupEnv calls in its cmd directory (all optional).
func knownVars(t *testing.T, b binary) map[string]envVar {
	t.Helper()
	if b.config != nil {
		return varIndex(b.config())
	}
	return sourceVars(t, b.words[0])
}

// envLiteral is a string literal shaped like an environment variable name.
var envLiteral = regexp.MustCompile(`"([A-Z][A-Z0-9]*_[A-Z0-9_]+)"`)

// sourceVars finds the environment variables cmd/<name> reads: the string
// literals of its non-test sources shaped like variable names (the flags'
// defaults come from os.Getenv of such literals).
func sourceVars(t *testing.T, name string) map[string]envVar {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoRoot(t), "cmd", name, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]envVar{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src := readFile(t, f)
		if !strings.Contains(src, "os.Getenv") && !strings.Contains(src, "os.LookupEnv") {
			continue
		}
		for _, m := range envLiteral.FindAllStringSubmatch(src, -1) {
			out[m[1]] = envVar{Name: m[1], Type: reflect.TypeOf("")}
		}
	}
	return out
}

// unknownVars returns the names in env that the binary does not read.
func unknownVars(t *testing.T, b binary, env map[string]string) []string {
	t.Helper()
	known := knownVars(t, b)
	var out []string
	for name := range env {
		if _, ok := known[name]; !ok {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// repoRoot is the module root, two levels above this file's package.
func repoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the test source")
	}
	root := filepath.Dir(filepath.Dir(file))
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("no go.mod at %s: %v", root, err)
	}
	return root
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestVarsOfReadsTags(t *testing.T) {
	w := varIndex(new(config.Worker))
	for _, tc := range []struct {
		name       string
		required   bool
		hasDefault bool
	}{
		{"DATABASE_URL", false, true},
		{"REDIS_URL", false, true},
		{"GUSTO_CLIENT_SECRET", true, false},
		{"TOKEN_ENCRYPTION_KEYS", true, false},
		{"WORKER_SHUTDOWN_TIMEOUT", false, true},
		{"WORKER_ID", false, false},
	} {
		v, ok := w[tc.name]
		if !ok || v.Required != tc.required || v.HasDefault != tc.hasDefault {
			t.Errorf("%s: got %+v (found %v), want required=%v default=%v", tc.name, v, ok, tc.required, tc.hasDefault)
		}
	}
	if !isSecret(w["GUSTO_CLIENT_SECRET"]) || !isSecret(w["TOKEN_ENCRYPTION_KEYS"]) || isSecret(w["GUSTO_CLIENT_ID"]) {
		t.Error("isSecret misclassifies the Gusto and token variables")
	}
	if v, ok := varIndex(new(config.Scheduler))["GUSTO_CLIENT_SECRET"]; !ok || v.Required {
		t.Errorf("the scheduler reads Gusto's secret for the events feed, optionally; varsOf says %+v (found %v)", v, ok)
	}
	if _, ok := varIndex(new(config.Scheduler))["GUSTO_REDIRECT_URI"]; ok {
		t.Error("the scheduler does not read GUSTO_REDIRECT_URI, yet varsOf says it does")
	}
	if b, ok := binaryOf([]string{"/usr/local/bin/gustosync", "migrate", "--timeout", "5m"}); !ok || b.words[1] != "migrate" {
		t.Errorf("binaryOf(gustosync migrate) = %v, %v", b.words, ok)
	}
	if _, ok := binaryOf([]string{"gustosync", "tokens", "rekey"}); ok {
		t.Error("binaryOf matched a command with no entry")
	}
}
