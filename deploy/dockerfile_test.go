package deploy

import (
	"bufio"
	"context"
	"debug/elf"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mattn/go-shellwords"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	Cmd   string // upper case: FROM, RUN, COPY…
	Flags map[string]string
	Args  string // the rest, flags removed
	Line  int
}

// stage is one FROM … section.
type stage struct {
	Name  string
	Base  string // image reference, build args expanded
	Instr []instruction
}

// dockerfile is what the tests need to know about the Dockerfile.
type dockerfile struct {
	Args   map[string]string // global ARG defaults
	Stages []stage
}

var flagRE = regexp.MustCompile(`^--([a-z-]+)(?:=(\S*))?\s*`)

// parseDockerfile reads the subset of the Dockerfile syntax our file uses:
// comments, line continuations, instruction flags, global ARGs.
func parseDockerfile(t *testing.T, text string) dockerfile {
	t.Helper()
	df := dockerfile{Args: map[string]string{}}
	var instrs []instruction
	var cur strings.Builder
	start := 0
	sc := bufio.NewScanner(strings.NewReader(text))
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		if cur.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if cur.Len() > 0 && strings.HasPrefix(trimmed, "#") {
			continue // comment inside a continuation
		}
		if cur.Len() == 0 {
			start = n
		}
		if strings.HasSuffix(trimmed, `\`) {
			cur.WriteString(strings.TrimSuffix(trimmed, `\`) + " ")
			continue
		}
		cur.WriteString(trimmed)
		cmd, rest, _ := strings.Cut(cur.String(), " ")
		in := instruction{Cmd: strings.ToUpper(cmd), Flags: map[string]string{}, Line: start}
		rest = strings.TrimSpace(rest)
		for {
			m := flagRE.FindStringSubmatch(rest)
			if m == nil {
				break
			}
			in.Flags[m[1]] += m[2] + ";"
			rest = rest[len(m[0]):]
		}
		in.Args = rest
		instrs = append(instrs, in)
		cur.Reset()
	}
	if cur.Len() > 0 {
		t.Fatalf("Dockerfile ends inside a continued line")
	}
	for _, in := range instrs {
		switch {
		case in.Cmd == "ARG" && len(df.Stages) == 0:
			k, v, _ := strings.Cut(in.Args, "=")
			df.Args[k] = v
		case in.Cmd == "FROM":
			fields := strings.Fields(in.Args)
			st := stage{Base: expandArgs(fields[0], df.Args)}
			if len(fields) == 3 && strings.EqualFold(fields[1], "AS") {
				st.Name = fields[2]
			}
			df.Stages = append(df.Stages, st)
		case len(df.Stages) == 0:
			t.Fatalf("Dockerfile line %d: %s before the first FROM", in.Line, in.Cmd)
		default:
			last := &df.Stages[len(df.Stages)-1]
			last.Instr = append(last.Instr, in)
		}
	}
	return df
}

var argRef = regexp.MustCompile(`\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?`)

func expandArgs(s string, args map[string]string) string {
	return argRef.ReplaceAllStringFunc(s, func(m string) string {
		return args[argRef.FindStringSubmatch(m)[1]]
	})
}

// last returns the stage's last instruction of kind cmd.
func (s stage) last(cmd string) (instruction, bool) {
	for i := len(s.Instr) - 1; i >= 0; i-- {
		if s.Instr[i].Cmd == cmd {
			return s.Instr[i], true
		}
	}
	return instruction{}, false
}

// goBuild is one of the Dockerfile's `go build` commands, split into words.
type goBuild struct {
	Stage    string
	Line     int
	Env      map[string]string // assignments before `go`
	Args     []string          // after `go build`, -o and its value removed
	Out      string            // the -o directory
	Patterns []string
	Bins     map[string]string // binary name → import path, as go list expands Patterns
}

// image is a runtime stage of the Dockerfile (a target one can build and
// run) and the binaries it holds: what it copies from go build stages.
type image struct {
	Stage  stage
	Builds []goBuild
	Bins   map[string]string // binary name → import path
	Dest   string            // where the binaries land
}

// images is what the Dockerfile builds.
type images struct {
	df     dockerfile
	builds []goBuild
	// product is the last stage, the default target: the image the
	// deployment files run for the product binaries.
	product image
	// sim is the stage named simTarget: the simulator's image.
	sim image
	// runtime holds every runtime stage, by stage name.
	runtime map[string]image
}

// The product image holds these binaries and nothing else: the services,
// the CLI, and the health probe the compose health checks run.
var productBinaries = []string{"dashboard", "gustosync", "httpprobe", "scheduler", "worker"}

// simTarget is the Dockerfile stage of the simulator's image, and
// simBinaries what it holds: the simulator and the probe its compose
// health check runs (the image has no shell).
const simTarget = "gustosim"

var simBinaries = []string{"gustosim", "httpprobe"}

// patternRE is how the Dockerfile names a binary: one package directory
// under cmd/, never a wildcard.
var patternRE = regexp.MustCompile(`^\./cmd/[a-z0-9-]+$`)

func findGoBuilds(t *testing.T, df dockerfile) []goBuild {
	t.Helper()
	var found []goBuild
	for _, st := range df.Stages {
		for _, in := range st.Instr {
			if in.Cmd != "RUN" || !strings.Contains(in.Args, "go build") {
				continue
			}
			words, err := shellwords.Parse(in.Args)
			if err != nil {
				t.Fatalf("Dockerfile line %d: %v", in.Line, err)
			}
			gb := goBuild{Stage: st.Name, Line: in.Line, Env: map[string]string{}}
			i := 0
			for ; i < len(words) && strings.Contains(words[i], "="); i++ {
				k, v, _ := strings.Cut(words[i], "=")
				gb.Env[k] = v
			}
			if i+1 >= len(words) || words[i] != "go" || words[i+1] != "build" {
				t.Fatalf("Dockerfile line %d: want `[VAR=value…] go build …` alone in its RUN, got %q", in.Line, in.Args)
			}
			rest := words[i+2:]
			for j := 0; j < len(rest); j++ {
				switch w := rest[j]; {
				case w == "-o" && j+1 < len(rest):
					gb.Out = rest[j+1]
					j++
				case strings.HasPrefix(w, "-o="):
					gb.Out = strings.TrimPrefix(w, "-o=")
				case strings.HasPrefix(w, "-"):
					gb.Args = append(gb.Args, w)
				default:
					gb.Patterns = append(gb.Patterns, w)
				}
			}
			if gb.Stage == "" {
				t.Fatalf("Dockerfile line %d: the stage running go build has no name for COPY --from", in.Line)
			}
			found = append(found, gb)
		}
	}
	if len(found) == 0 {
		t.Fatal("the Dockerfile runs no `go build`")
	}
	return found
}

// parseImages reads the Dockerfile: its go builds, with the binaries each
// produces as `go list` expands its patterns, and its runtime stages with
// the binaries each copies.
func parseImages(t *testing.T) images {
	t.Helper()
	root := repoRoot(t)
	df := parseDockerfile(t, readFile(t, filepath.Join(root, "Dockerfile")))
	im := images{df: df, builds: findGoBuilds(t, df), runtime: map[string]image{}}
	for i := range im.builds {
		im.builds[i].Bins = listBinaries(t, root, im.builds[i].Patterns)
	}
	for _, st := range df.Stages {
		img := image{Stage: st, Bins: map[string]string{}}
		for _, in := range st.Instr {
			if in.Cmd != "COPY" {
				continue
			}
			f := strings.Fields(in.Args)
			for _, gb := range im.builds {
				if strings.Contains(in.Flags["from"], gb.Stage+";") && len(f) == 2 && strings.TrimSuffix(f[0], "/") == strings.TrimSuffix(gb.Out, "/") {
					img.Builds = append(img.Builds, gb)
					img.Dest = strings.TrimSuffix(f[1], "/")
					maps.Copy(img.Bins, gb.Bins)
				}
			}
		}
		if len(img.Builds) > 0 {
			im.runtime[st.Name] = img
		}
	}
	last := df.Stages[len(df.Stages)-1]
	var ok bool
	if im.product, ok = im.runtime[last.Name]; !ok {
		t.Fatalf("the last stage (%q), the default target, copies no go build's output: it must be the product image", last.Name)
	}
	if im.sim, ok = im.runtime[simTarget]; !ok {
		t.Fatalf("no runtime stage named %q copying the simulator's build (docker build --target %s)", simTarget, simTarget)
	}
	return im
}

// listBinaries expands patterns with go list, as go build does, and
// returns the main packages by binary name.
func listBinaries(t *testing.T, root string, patterns []string) map[string]string {
	t.Helper()
	args := append([]string{"list", "-e", "-f", "{{.Name}} {{.ImportPath}} {{with .Error}}{{.Err}}{{end}}"}, patterns...)
	cmd := exec.Command(needGo(t), args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go list %v: %v\n%s", patterns, err, out)
	}
	bins := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		name, rest, _ := strings.Cut(line, " ")
		path, perr, _ := strings.Cut(rest, " ")
		switch {
		case perr != "":
			t.Errorf("package %s does not load with CGO_ENABLED=0: %s", path, perr)
		case name != "main":
			t.Errorf("the Dockerfile builds %s, which is not a binary (package %s)", path, name)
		default:
			bins[filepath.Base(path)] = path
		}
	}
	return bins
}

// allPatterns are the patterns of every go build of the Dockerfile.
func (im images) allPatterns() []string {
	var out []string
	for _, gb := range im.builds {
		for _, p := range gb.Patterns {
			if !slices.Contains(out, p) {
				out = append(out, p)
			}
		}
	}
	return out
}

// binsOfImage returns the binaries of the image a deployment file names:
// the product's or the simulator's, by the repository part of the
// reference (the tag is the deployer's).
func (im images) binsOfImage(ref, productRepo, simRepo string) (map[string]string, bool) {
	switch repoOf(ref) {
	case productRepo:
		return im.product.Bins, true
	case simRepo:
		return im.sim.Bins, true
	}
	return nil, false
}

func needGo(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("go")
	if err != nil {
		t.Fatal("the go tool is not on PATH: these tests list and build the image's packages with it")
	}
	return p
}

// baseImage follows FROM through the Dockerfile's own stages to the
// image a stage starts from.
func baseImage(t *testing.T, df dockerfile, name string) string {
	t.Helper()
	for range len(df.Stages) {
		st := stageNamed(t, df, name)
		if !slices.ContainsFunc(df.Stages, func(s stage) bool { return s.Name == st.Base }) {
			return st.Base
		}
		name = st.Base
	}
	t.Fatalf("stage %s: FROM loops through the Dockerfile's stages", name)
	return ""
}

func TestDockerfile(t *testing.T) {
	root := repoRoot(t)
	im := parseImages(t)

	// Each image holds exactly its binaries, each named by the Dockerfile.
	for _, c := range []struct {
		what string
		img  image
		want []string
	}{{"product image (the default target)", im.product, productBinaries}, {"simulator image (--target " + simTarget + ")", im.sim, simBinaries}} {
		if got := keys(c.img.Bins); !slices.Equal(got, c.want) {
			t.Errorf("the %s holds %v, want exactly %v", c.what, got, c.want)
		}
	}
	if len(im.runtime) != 2 {
		t.Errorf("runtime stages %v: want the product image and the simulator's only", keys(im.runtime))
	}
	for _, gb := range im.builds {
		for _, p := range gb.Patterns {
			if !patternRE.MatchString(p) {
				t.Errorf("Dockerfile line %d builds %q: name each binary (./cmd/NAME), no wildcard or other tree", gb.Line, p)
			}
		}
	}

	// Every cmd/* binary is in an image: none is forgotten.
	entries, err := os.ReadDir(filepath.Join(root, "cmd"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if gofiles, _ := filepath.Glob(filepath.Join(root, "cmd", e.Name(), "*.go")); e.IsDir() && len(gofiles) > 0 {
			if _, ok := im.product.Bins[e.Name()]; !ok && !slices.Contains(simBinaries, e.Name()) {
				t.Errorf("cmd/%s is in no image: add it to the product's go build (and productBinaries)", e.Name())
			}
		}
	}

	m := regexp.MustCompile(`(?m)^go (\S+)$`).FindStringSubmatch(readFile(t, filepath.Join(root, "go.mod")))
	if m == nil {
		t.Fatal("go.mod has no go directive")
	}
	for _, gb := range im.builds {
		// Static: cgo off, for the target OS.
		if gb.Env["CGO_ENABLED"] != "0" {
			t.Errorf("line %d: go build runs with CGO_ENABLED=%q, want 0 (static binaries for a distroless/static image)", gb.Line, gb.Env["CGO_ENABLED"])
		}
		if !strings.HasSuffix(gb.Out, "/") {
			t.Errorf("line %d: go build -o %q: want a directory ending in / so that every main package is written", gb.Line, gb.Out)
		}
		// The builder's Go is at least go.mod's.
		base := baseImage(t, im.df, gb.Stage)
		repo, tag, _ := strings.Cut(withoutDigest(base), ":")
		if repo != "golang" && !strings.HasSuffix(repo, "/golang") {
			t.Errorf("build stage %s FROM %s: want the golang image", gb.Stage, base)
		}
		if imageGo := strings.SplitN(tag, "-", 2)[0]; !goAtLeast(imageGo, m[1]) {
			t.Errorf("build stage %s uses Go %q (FROM %s), older than go.mod's go %s", gb.Stage, imageGo, base, m[1])
		}
	}

	// Runtime: distroless static, non-root, binaries on PATH, a CMD of
	// the image's own.
	for name, img := range im.runtime {
		final := img.Stage
		if !strings.HasPrefix(final.Base, "gcr.io/distroless/static") || !strings.HasSuffix(withoutDigest(final.Base), ":nonroot") {
			t.Errorf("%s: runtime stage FROM %s: want gcr.io/distroless/static…:nonroot (CA certificates, tzdata, no shell)", name, final.Base)
		}
		user, ok := final.last("USER")
		uid, _, _ := strings.Cut(user.Args, ":")
		if n, err := strconv.Atoi(uid); !ok || (err != nil && uid != "nonroot") || (err == nil && n == 0) {
			t.Errorf("%s: runtime stage USER %q: want a non-root user (65532 or nonroot)", name, user.Args)
		}
		path := "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" // distroless's
		for _, in := range final.Instr {
			if in.Cmd == "ENV" && strings.HasPrefix(in.Args, "PATH=") {
				path = strings.TrimPrefix(in.Args, "PATH=")
			}
		}
		if !slices.Contains(strings.Split(path, ":"), img.Dest) {
			t.Errorf("%s: binaries land in %s, which is not on the image's PATH %s: commands like [\"worker\"] would not be found", name, img.Dest, path)
		}
		if cmd, ok := final.last("CMD"); ok {
			words, err := shellwords.Parse(strings.Trim(cmd.Args, "[]"))
			if err != nil || len(words) == 0 {
				t.Errorf("%s: CMD %s: want exec form", name, cmd.Args)
			} else if _, ok := img.Bins[strings.Trim(words[0], `",`)]; !ok {
				t.Errorf("%s: CMD %s names no binary of the image", name, cmd.Args)
			}
		}
	}
}

// withoutDigest drops an image reference's @sha256:… digest.
func withoutDigest(ref string) string {
	name, _, _ := strings.Cut(ref, "@")
	return name
}

// digestRE is an image reference pinned by digest (a tag may precede it).
var digestRE = regexp.MustCompile(`^[^@\s]+@sha256:[0-9a-f]{64}$`)

// The images carry their identity: every base image pinned by digest, the
// version, commit and build date stamped into the binaries (ldflags -X of
// internal/buildinfo, from build ARGs) and onto the images (OCI labels).
func TestDockerfileIdentity(t *testing.T) {
	im := parseImages(t)
	for _, st := range im.df.Stages {
		if slices.ContainsFunc(im.df.Stages, func(s stage) bool { return s.Name == st.Base }) {
			continue // FROM one of the Dockerfile's own stages
		}
		if !digestRE.MatchString(st.Base) {
			t.Errorf("stage %s: FROM %s is not pinned by digest (@sha256:…)", st.Name, st.Base)
		}
	}
	const pkg = "github.com/gustosync/gustosync/internal/buildinfo"
	for _, gb := range im.builds {
		ld := ""
		for _, a := range gb.Args {
			if v, ok := strings.CutPrefix(a, "-ldflags="); ok {
				ld = v
			}
		}
		for _, v := range []string{"Version", "Commit", "Date"} {
			arg := strings.ToUpper(v)
			if !strings.Contains(ld, "-X "+pkg+"."+v+"=${"+arg+"}") {
				t.Errorf("line %d: go build -ldflags %q does not set %s.%s from the build ARG %s", gb.Line, ld, pkg, v, arg)
			}
			st := stageNamed(t, im.df, gb.Stage)
			if !slices.ContainsFunc(st.Instr, func(in instruction) bool { return in.Cmd == "ARG" && in.Args == arg }) {
				t.Errorf("stage %s: no ARG %s: the build would stamp an empty %s", gb.Stage, arg, v)
			}
		}
	}
	for name, img := range im.runtime {
		labels := ""
		for _, in := range img.Stage.Instr {
			if in.Cmd == "LABEL" {
				labels += " " + in.Args
			}
		}
		for key, val := range map[string]string{
			"version": "${VERSION}", "revision": "${COMMIT}", "created": "${DATE}", "source": "https://",
		} {
			if !strings.Contains(labels, "org.opencontainers.image."+key+`="`+val) {
				t.Errorf("%s: no OCI label org.opencontainers.image.%s=%q…", name, key, val)
			}
		}
	}
}

// TestDockerfileChecksCatchWildcards feeds the image checks a Dockerfile
// that builds ./cmd/... into the product image, as the repository once did,
// so that TestDockerfile passing means something: the wildcard and the
// simulator in the product image are both seen.
func TestDockerfileChecksCatchWildcards(t *testing.T) {
	df := parseDockerfile(t, `FROM golang:1.26 AS build
RUN CGO_ENABLED=0 go build -o /out/ ./cmd/... ./cmd/httpprobe
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/ /usr/local/bin/
`)
	builds := findGoBuilds(t, df)
	if len(builds) != 1 {
		t.Fatalf("found %d go builds, want 1", len(builds))
	}
	var named, refused []string
	for _, p := range builds[0].Patterns {
		if patternRE.MatchString(p) {
			named = append(named, p)
		} else {
			refused = append(refused, p)
		}
	}
	if !slices.Equal(named, []string{"./cmd/httpprobe"}) || !slices.Equal(refused, []string{"./cmd/..."}) {
		t.Fatalf("patterns %v: named %v, refused %v; want ./cmd/httpprobe named and ./cmd/... refused", builds[0].Patterns, named, refused)
	}
	bins := listBinaries(t, repoRoot(t), builds[0].Patterns)
	if _, ok := bins["gustosim"]; !ok || slices.Equal(keys(bins), productBinaries) {
		t.Fatalf("./cmd/... expands to %v: the exact-set check would not see the simulator", keys(bins))
	}
}

// TestImageBinariesAreStatic builds the images' packages the way the
// Dockerfile does (same patterns, cgo setting and flags) and checks that
// every binary is a static ELF: no interpreter, no shared libraries. Only
// -trimpath is left out: it changes no linking, and without it the build
// shares the compile cache with the rest of the tests (with it, a first run
// compiles everything again, about two minutes here).
func TestImageBinariesAreStatic(t *testing.T) {
	root := repoRoot(t)
	im := parseImages(t)
	for _, gb := range im.builds {
		out := t.TempDir()
		ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
		args := []string{"build", "-o", out + "/"}
		for _, a := range gb.Args {
			if a != "-trimpath" {
				args = append(args, a)
			}
		}
		args = append(args, gb.Patterns...)
		cmd := exec.CommandContext(ctx, needGo(t), args...)
		cmd.Dir = root
		cmd.Env = os.Environ()
		for k, v := range gb.Env {
			if strings.HasPrefix(k, "CGO_") {
				cmd.Env = append(cmd.Env, k+"="+v)
			}
		}
		began := time.Now()
		b, err := cmd.CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, b)
		}
		t.Logf("stage %s: built %d binaries in %v", gb.Stage, len(gb.Bins), time.Since(began).Round(time.Millisecond))
		for name := range gb.Bins {
			f, err := elf.Open(filepath.Join(out, name))
			if err != nil {
				t.Errorf("%s: %v", name, err)
				continue
			}
			for _, p := range f.Progs {
				if p.Type == elf.PT_INTERP {
					t.Errorf("%s has a program interpreter: it is dynamically linked", name)
				}
			}
			if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
				t.Errorf("%s needs shared libraries %v", name, libs)
			}
			f.Close()
		}
	}
}

func stageNamed(t *testing.T, df dockerfile, name string) stage {
	t.Helper()
	for _, s := range df.Stages {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no stage named %q", name)
	return stage{}
}

// goAtLeast compares Go versions like "1.26" (an image tag: the newest
// 1.26.x) with go.mod's "1.26.0".
func goAtLeast(have, want string) bool {
	h, w := versionParts(have), versionParts(want)
	if h == nil || w == nil {
		return false
	}
	for i := range w {
		if i >= len(h) {
			return true // a shorter tag means the newest release of that line
		}
		if h[i] != w[i] {
			return h[i] > w[i]
		}
	}
	return true
}

func versionParts(v string) []int {
	var out []int
	for _, p := range strings.Split(v, ".") {
		n, err := strconv.Atoi(p)
		if err != nil {
			return nil
		}
		out = append(out, n)
	}
	return out
}

func TestGoAtLeast(t *testing.T) {
	for _, tc := range []struct {
		have, want string
		ok         bool
	}{
		{"1.26", "1.26.0", true},
		{"1.26", "1.26.3", true},
		{"1.25", "1.26.0", false},
		{"1.27", "1.26.0", true},
		{"1.26.1", "1.26.2", false},
		{"1.26.2", "1.26.2", true},
		{"latest", "1.26.0", false},
	} {
		if got := goAtLeast(tc.have, tc.want); got != tc.ok {
			t.Errorf("goAtLeast(%q, %q) = %v", tc.have, tc.want, got)
		}
	}
}

// TestDockerignoreKeepsTheBuildInputs checks that .dockerignore excludes
// what must not reach the build context (.env, .git, the proof tools) and
// keeps every file the images' packages compile or embed, plus go.mod and
// go.sum.
func TestDockerignoreKeepsTheBuildInputs(t *testing.T) {
	root := repoRoot(t)
	ig := parseDockerignore(readFile(t, filepath.Join(root, ".dockerignore")))
	for _, p := range []string{".env", ".env.local", ".git/config", "bin/worker", "proof/demo/main.go"} {
		if !ig.excludes(p) {
			t.Errorf(".dockerignore lets %s into the build context", p)
		}
	}
	args := append([]string{"list", "-e", "-deps", "-f",
		`{{if not .Standard}}{{if not .Module}}{{else if .Module.Main}}{{$d := .Dir}}{{range .GoFiles}}{{$d}}/{{.}}{{"\n"}}{{end}}{{range .EmbedFiles}}{{$d}}/{{.}}{{"\n"}}{{end}}{{end}}{{end}}`},
		parseImages(t).allPatterns()...)
	cmd := exec.Command(needGo(t), args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	files := []string{"go.mod", "go.sum"}
	for _, f := range strings.Fields(string(out)) {
		rel, err := filepath.Rel(root, f)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, filepath.ToSlash(rel))
	}
	if len(files) < 5 {
		t.Fatalf("go list found only %v: the check would prove nothing", files)
	}
	for _, f := range files {
		if ig.excludes(f) {
			t.Errorf(".dockerignore excludes %s, which the image's build needs", f)
		}
	}
}

// dockerignore implements the matching rules of .dockerignore: patterns
// relative to the context root, `*` and `?` within a path element, `**`
// across elements, `!` to re-include, the last matching pattern wins, and a
// pattern that matches a directory matches everything under it.
type dockerignore []struct {
	re     *regexp.Regexp
	negate bool
}

func parseDockerignore(text string) dockerignore {
	var ig dockerignore
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		neg := strings.HasPrefix(line, "!")
		line = strings.TrimPrefix(strings.TrimPrefix(line, "!"), "/")
		line = strings.TrimSuffix(filepath.ToSlash(filepath.Clean(line)), "/")
		var re strings.Builder
		re.WriteString("^")
		for i := 0; i < len(line); i++ {
			switch c := line[i]; {
			case strings.HasPrefix(line[i:], "**/"):
				re.WriteString("(.*/)?")
				i += 2
			case strings.HasPrefix(line[i:], "**"):
				re.WriteString(".*")
				i++
			case c == '*':
				re.WriteString("[^/]*")
			case c == '?':
				re.WriteString("[^/]")
			default:
				re.WriteString(regexp.QuoteMeta(string(c)))
			}
		}
		re.WriteString("$")
		ig = append(ig, struct {
			re     *regexp.Regexp
			negate bool
		}{regexp.MustCompile(re.String()), neg})
	}
	return ig
}

func (ig dockerignore) excludes(path string) bool {
	parts := strings.Split(path, "/")
	excluded := false
	for _, p := range ig {
		for i := 1; i <= len(parts); i++ {
			if p.re.MatchString(strings.Join(parts[:i], "/")) {
				excluded = !p.negate
				break
			}
		}
	}
	return excluded
}

func TestDockerignoreMatching(t *testing.T) {
	ig := parseDockerignore("# c\n.git\n*.md\n!README.md\nbin/\n**/*.prof\n.env.*\n")
	for path, want := range map[string]bool{
		".git/HEAD": true, "x.md": true, "README.md": false, "internal/a.md": false,
		"bin/worker": true, "a/b/c.prof": true, "c.prof": true, ".env.local": true,
		".env": false, "cmd/worker/main.go": false,
	} {
		if got := ig.excludes(path); got != want {
			t.Errorf("excludes(%q) = %v, want %v", path, got, want)
		}
	}
}
