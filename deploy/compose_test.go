package deploy

import (
	"context"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/dotenv"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/gustosync/gustosync/internal/config"
)

// loadCompose loads docker-compose.yml the way `docker compose` would for a
// new user: from a copy holding only the compose file and .env.example (no
// developer's .env, no shell environment for interpolation). With resolve
// false, env_file stays unresolved, so Environment holds only what the
// service sets itself.
func loadCompose(t *testing.T, resolve bool) *types.Project {
	t.Helper()
	root := repoRoot(t)
	dir := t.TempDir()
	for _, f := range []string{"docker-compose.yml", ".env.example", "Dockerfile"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(readFile(t, filepath.Join(root, f))), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	fns := []cli.ProjectOptionsFn{cli.WithWorkingDirectory(dir), cli.WithInterpolation(true), cli.WithNormalization(true),
		cli.WithProfiles([]string{"*"})} // the services `run` starts on demand too
	if !resolve {
		fns = append(fns, cli.WithoutEnvironmentResolution)
	}
	opts, err := cli.NewProjectOptions([]string{filepath.Join(dir, "docker-compose.yml")}, fns...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := opts.LoadProject(ctx)
	if err != nil {
		t.Fatalf("docker-compose.yml does not load: %v", err)
	}
	return p
}

// envOf turns a resolved service environment into a plain map; variables
// listed without a value are unset.
func envOf(m types.MappingWithEquals) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		if v != nil {
			out[k] = *v
		}
	}
	return out
}

// buildOf is the build of the image a service runs: its own, or that of
// the service that builds the same image; nil for a third-party image.
func buildOf(p *types.Project, s types.ServiceConfig) *types.BuildConfig {
	if s.Build != nil {
		return s.Build
	}
	for _, o := range p.Services {
		if o.Build != nil && o.Image == s.Image {
			return o.Build
		}
	}
	return nil
}

// ours says whether a service runs an image of our Dockerfile.
func ours(p *types.Project, s types.ServiceConfig) bool { return buildOf(p, s) != nil }

// binsOf are the binaries of the image a service runs: the product's
// (the default target) or the simulator's.
func binsOf(t *testing.T, p *types.Project, im images, s types.ServiceConfig) map[string]string {
	t.Helper()
	switch target := buildOf(p, s).Target; target {
	case "", im.product.Stage.Name:
		return im.product.Bins
	case simTarget:
		return im.sim.Bins
	default:
		t.Fatalf("builds target %q, which is neither the product image nor the simulator's", target)
		return nil
	}
}

func TestComposeServices(t *testing.T) {
	p := loadCompose(t, true)
	raw := loadCompose(t, false)
	im := parseImages(t)

	for _, name := range []string{"postgres", "redis", "gustosim", "migrate", "scheduler", "worker", "dashboard"} {
		if _, ok := p.Services[name]; !ok {
			t.Errorf("docker-compose.yml has no %s service", name)
		}
	}
	for name, s := range p.Services {
		if !ours(p, s) {
			if strings.HasSuffix(s.Image, ":latest") || !strings.Contains(s.Image, ":") {
				t.Errorf("%s: image %q is not pinned to a tag", name, s.Image)
			}
			continue
		}
		t.Run(name, func(t *testing.T) { checkComposeService(t, p, raw.Services[name], s, binsOf(t, p, im, s)) })
	}

	// The simulator runs its own image, built from the simulator's target;
	// every other service of ours runs the product image.
	sim := p.Services["gustosim"]
	if b := buildOf(p, sim); b == nil || b.Target != simTarget {
		t.Errorf("gustosim: want the simulator's image (build target %q), got build %+v", simTarget, b)
	}
	for name, s := range p.Services {
		if b := buildOf(p, s); b != nil && name != "gustosim" && (b.Target != "" && b.Target != im.product.Stage.Name || s.Image == sim.Image) {
			t.Errorf("%s: runs image %s (target %q), want the product image", name, s.Image, b.Target)
		}
	}

	// The quick start runs three workers, the one-shot migrate first.
	if w := p.Services["worker"]; w.Deploy == nil || w.Deploy.Replicas == nil || *w.Deploy.Replicas != 3 {
		t.Errorf("worker: want deploy.replicas 3")
	}
	if m := p.Services["migrate"]; m.Restart != "no" && m.Restart != "" {
		t.Errorf("migrate: restart %q, want \"no\" (a one-shot that others wait for)", m.Restart)
	}
	for _, name := range []string{"scheduler", "worker", "dashboard"} {
		if d, ok := p.Services[name].DependsOn["migrate"]; !ok || d.Condition != types.ServiceConditionCompletedSuccessfully {
			t.Errorf("%s: want depends_on migrate: service_completed_successfully, got %+v", name, d)
		}
	}
}

// checkComposeService checks one gustosync service: its command is a
// binary of the image; its environment is what that binary reads, complete
// and valid; its addresses point at services it waits for; its health
// check probes the port it listens on.
func checkComposeService(t *testing.T, p *types.Project, raw, s types.ServiceConfig, bins map[string]string) {
	if len(s.Command) == 0 {
		t.Fatal("no command: the image's CMD (worker) would run; name the binary")
	}
	if _, ok := bins[filepath.Base(s.Command[0])]; !ok {
		t.Errorf("command %v: %s is not a binary the Dockerfile builds (%v)", s.Command, s.Command[0], keys(bins))
	}
	b, ok := binaryOf(s.Command)
	if !ok {
		t.Fatalf("command %v: unknown to the tests' binaries table; add it with its config struct", s.Command)
	}
	env := envOf(s.Environment)

	// Variables the service sets itself must be read by its binary; those
	// from .env.example are checked once, across services, below.
	if unk := unknownVars(t, b, envOf(raw.Environment)); len(unk) > 0 {
		t.Errorf("environment sets %v, which %s does not read (typo, or a variable of another binary?)", unk, strings.Join(b.words, " "))
	}
	if b.config != nil {
		cfg, err := checkConfig(b, env)
		if err != nil {
			t.Fatalf("%s would refuse to start: %v", strings.Join(b.words, " "), err)
		}
		checkComposeAddresses(t, p, s, cfg)
		if d, ok := cfg.(*config.Dashboard); ok {
			checkDashboardURLs(t, d)
		}
	}

	// A file passed with --file is one another service writes with
	// --grants-out, on a volume both mount at the same place.
	if f := flagValue(s.Command, "--file"); f != "" {
		checkSharedFile(t, p, s, f)
	}

	// Long-running services have a health check on the port they serve.
	if s.Restart == "no" {
		if s.HealthCheck != nil && !s.HealthCheck.Disable {
			t.Error("a one-shot service with a health check: dependents should wait for completion instead")
		}
	} else {
		port := listenPort(t, b, s)
		if s.HealthCheck == nil || s.HealthCheck.Disable || len(s.HealthCheck.Test) < 3 {
			t.Fatal("no health check")
		}
		test := s.HealthCheck.Test
		if test[0] != "CMD" || test[1] != "httpprobe" {
			t.Fatalf("health check %v: want [CMD, httpprobe, URL] (the image has no shell)", test)
		}
		u, err := url.Parse(test[len(test)-1])
		if err != nil || u.Port() != port {
			t.Errorf("health check probes %s, but the service listens on port %s", test[len(test)-1], port)
		}
	}

	// Locked down like the Kubernetes pods.
	if !s.ReadOnly || !slices.Contains(s.CapDrop, "ALL") || !slices.Contains(s.SecurityOpt, "no-new-privileges:true") || s.Privileged {
		t.Errorf("want read_only, cap_drop [ALL], security_opt no-new-privileges, not privileged; got read_only=%v cap_drop=%v security_opt=%v privileged=%v",
			s.ReadOnly, s.CapDrop, s.SecurityOpt, s.Privileged)
	}
	if s.User == "0" || s.User == "root" || strings.HasPrefix(s.User, "0:") {
		t.Errorf("runs as root (user %q)", s.User)
	}
	// Nothing published beyond this machine.
	for _, port := range s.Ports {
		if port.Published != "" && port.HostIP != "127.0.0.1" {
			t.Errorf("port %s published on %q: bind it to 127.0.0.1", port.Published, port.HostIP)
		}
	}
	if len(s.Ports) > 0 && s.Deploy != nil && s.Deploy.Replicas != nil && *s.Deploy.Replicas > 1 {
		t.Errorf("%d replicas cannot share published ports", *s.Deploy.Replicas)
	}

	if b.words[0] == "worker" {
		w := mustWorker(t, env)
		if s.StopGracePeriod == nil || time.Duration(*s.StopGracePeriod) <= w.ShutdownTimeout {
			t.Errorf("stop_grace_period %v must exceed WORKER_SHUTDOWN_TIMEOUT %v, or Docker kills workers mid-batch", s.StopGracePeriod, w.ShutdownTimeout)
		}
	}
}

func checkSharedFile(t *testing.T, p *types.Project, reader types.ServiceConfig, file string) {
	t.Helper()
	mount := func(s types.ServiceConfig) (string, bool) {
		for _, v := range s.Volumes {
			if v.Type == types.VolumeTypeVolume && (file == v.Target || strings.HasPrefix(file, strings.TrimSuffix(v.Target, "/")+"/")) {
				return v.Source, true
			}
		}
		return "", false
	}
	src, ok := mount(reader)
	if !ok {
		t.Errorf("reads %s, which is on no named volume of the service", file)
		return
	}
	for name, w := range p.Services {
		if flagValue(w.Command, "--grants-out") != file {
			continue
		}
		if wsrc, ok := mount(w); !ok || wsrc != src {
			t.Errorf("%s writes %s but not on volume %s, which the reader mounts", name, file, src)
		}
		if _, waits := reader.DependsOn[name]; !waits {
			t.Errorf("reads %s before %s, which writes it, is up (depends_on)", file, name)
		}
		return
	}
	t.Errorf("reads %s, which no service writes (--grants-out)", file)
}

// checkDashboardURLs: the dashboard serves its OAuth callback, so the
// redirect URI registered with Gusto must be under its public URL (the
// dashboard refuses to start otherwise).
func checkDashboardURLs(t *testing.T, d *config.Dashboard) {
	t.Helper()
	if !strings.HasPrefix(d.RedirectURI, strings.TrimRight(d.PublicURL, "/")+"/") {
		t.Errorf("GUSTO_REDIRECT_URI %s is not under DASHBOARD_PUBLIC_URL %s", d.RedirectURI, d.PublicURL)
	}
}

// listenPort is the port the service's binary listens on, from its
// configuration (defaults included) or, for the simulator, its flags.
func listenPort(t *testing.T, b binary, s types.ServiceConfig) string {
	t.Helper()
	var addr string
	switch cfg := mustConfig(t, b, envOf(s.Environment)).(type) {
	case *config.Worker:
		addr = cfg.HTTPAddr
	case *config.Scheduler:
		addr = cfg.HTTPAddr
	case *config.Dashboard:
		addr = cfg.Addr
	case nil:
		addr = flagValue(s.Command, "--addr")
	default:
		t.Fatalf("%T: the tests do not know where this binary listens", cfg)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("listen address %q: %v", addr, err)
	}
	if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
		t.Errorf("listens on %s: unreachable from other containers and from published ports", addr)
	}
	return port
}

func mustConfig(t *testing.T, b binary, env map[string]string) any {
	t.Helper()
	if b.config == nil {
		return nil
	}
	cfg, err := checkConfig(b, env)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func mustWorker(t *testing.T, env map[string]string) *config.Worker {
	t.Helper()
	var w config.Worker
	if err := config.ParseFrom(&w, env); err != nil {
		t.Fatal(err)
	}
	return &w
}

// flagValue finds --name value or --name=value in a command.
func flagValue(cmd []string, name string) string {
	for i, w := range cmd {
		if w == name && i+1 < len(cmd) {
			return cmd[i+1]
		}
		if v, ok := strings.CutPrefix(w, name+"="); ok {
			return v
		}
	}
	return ""
}

// checkComposeAddresses checks that every server a binary talks to is a
// service of the project that it waits for (directly or through another
// dependency), on the port that service serves.
func checkComposeAddresses(t *testing.T, p *types.Project, s types.ServiceConfig, cfg any) {
	t.Helper()
	var targets []string // host:port
	for _, tg := range targetsOf(t, cfg) {
		targets = append(targets, tg.url)
	}
	if len(targets) == 0 {
		t.Errorf("%T: the tests know no server this configuration names", cfg)
	}
	for _, hp := range targets {
		host, port, _ := net.SplitHostPort(hp)
		dep, ok := p.Services[host]
		if !ok {
			t.Errorf("talks to %s, which is not a service of the project (localhost in a container is the container itself)", hp)
			continue
		}
		if !dependsOn(p, s, host, map[string]bool{}) {
			t.Errorf("talks to %s but does not wait for it (depends_on)", host)
		}
		if served := servedPorts(dep); !slices.Contains(served, port) {
			t.Errorf("talks to %s on port %s, but %s serves %v", host, port, host, served)
		}
	}
}

// servedPorts are the ports a service listens on inside the network: the
// well-known port of the third-party images, the configured port of ours.
func servedPorts(s types.ServiceConfig) []string {
	switch {
	case strings.HasPrefix(s.Image, "postgres:"):
		return []string{"5432"}
	case strings.HasPrefix(s.Image, "redis:"):
		return []string{"6379"}
	}
	var out []string
	if a := flagValue(s.Command, "--addr"); a != "" {
		_, port, _ := net.SplitHostPort(a)
		out = append(out, port)
	}
	for _, port := range s.Ports {
		out = append(out, strconv.Itoa(int(port.Target)))
	}
	return out
}

func dependsOn(p *types.Project, s types.ServiceConfig, target string, seen map[string]bool) bool {
	for name := range s.DependsOn {
		if name == target {
			return true
		}
		if !seen[name] {
			seen[name] = true
			if dependsOn(p, p.Services[name], target, seen) {
				return true
			}
		}
	}
	return false
}

func hostPort(t *testing.T, raw, defPort string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil || u.Hostname() == "" {
		t.Fatalf("cannot find the host in %q", u.Redacted())
	}
	port := u.Port()
	if port == "" {
		port = defPort
		if u.Scheme == "http" {
			port = "80"
		}
	}
	return net.JoinHostPort(u.Hostname(), port)
}

func redisAddrs(t *testing.T, r config.Redis) []string {
	t.Helper()
	switch r.Mode {
	case config.RedisSentinel:
		return r.SentinelAddrs
	case config.RedisCluster:
		return r.ClusterAddrs
	}
	return []string{hostPort(t, r.URL, "6379")}
}

// TestComposeDependencies checks every depends_on: a one-shot dependency is
// waited for until it completes, any other until its health check passes.
func TestComposeDependencies(t *testing.T) {
	p := loadCompose(t, true)
	for name, s := range p.Services {
		for dep, d := range s.DependsOn {
			target, ok := p.Services[dep]
			if !ok {
				t.Errorf("%s depends on %s, which does not exist", name, dep)
				continue
			}
			want := types.ServiceConditionHealthy
			if target.Restart == "no" {
				want = types.ServiceConditionCompletedSuccessfully
			}
			if d.Condition != want {
				t.Errorf("%s depends on %s with condition %q, want %q", name, dep, d.Condition, want)
			}
			if want == types.ServiceConditionHealthy && (target.HealthCheck == nil || target.HealthCheck.Disable) {
				t.Errorf("%s waits for %s to be healthy, but %s has no health check", name, dep, dep)
			}
		}
	}
	// Third-party services: health checks too, and PostgreSQL's credentials
	// are the ones DATABASE_URL uses.
	for _, name := range []string{"postgres", "redis"} {
		if hc := p.Services[name].HealthCheck; hc == nil || hc.Disable {
			t.Errorf("%s has no health check", name)
		}
	}
	pg := envOf(p.Services["postgres"].Environment)
	u, err := url.Parse(envOf(p.Services["migrate"].Environment)["DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	checkPostgresHealthOnTCP(t, p.Services["postgres"].HealthCheck, u.Port())
	pw, _ := u.User.Password()
	if u.User.Username() != pg["POSTGRES_USER"] || pw != pg["POSTGRES_PASSWORD"] || strings.TrimPrefix(u.Path, "/") != pg["POSTGRES_DB"] {
		t.Errorf("DATABASE_URL's user, password and database do not match the postgres service's POSTGRES_USER, POSTGRES_PASSWORD and POSTGRES_DB")
	}
}

// TestEnvExample checks .env.example: every variable is read by a binary
// that loads it, and nothing in it is a real secret.
func TestEnvExample(t *testing.T) {
	root := repoRoot(t)
	vars, err := dotenv.GetEnvFromFile(map[string]string{}, []string{filepath.Join(root, ".env.example")})
	if err != nil {
		t.Fatal(err)
	}
	if len(vars) == 0 {
		t.Fatal(".env.example sets nothing")
	}
	// Which binaries load it.
	raw := loadCompose(t, false)
	readers := map[string]envVar{}
	for _, s := range raw.Services {
		loads := false
		for _, f := range s.EnvFiles {
			loads = loads || filepath.Base(f.Path) == ".env.example"
		}
		if b, ok := binaryOf(s.Command); loads && ok {
			for name, v := range knownVars(t, b) {
				readers[name] = v
			}
		}
	}
	for name, val := range vars {
		v, ok := readers[name]
		if !ok {
			t.Errorf(".env.example sets %s, which no service loading it reads", name)
			continue
		}
		if isSecret(v) && !demoValue(v, val) {
			t.Errorf(".env.example: %s does not look like a demo value (want \"demo\" in it, or a key decoding to a NOT-A-SECRET phrase)", name)
		}
	}
	u, err := url.Parse(vars["GUSTO_API_URL"])
	if err != nil || u.Hostname() != "gustosim" {
		t.Errorf(".env.example's GUSTO_API_URL %q: the demo credentials are for the simulator only", vars["GUSTO_API_URL"])
	}
	// The image and git never see the real .env.
	ig := parseDockerignore(readFile(t, filepath.Join(root, ".dockerignore")))
	if !ig.excludes(".env") {
		t.Error(".dockerignore does not exclude .env")
	}
	if !gitIgnores(t, root, ".env") {
		t.Error(".gitignore does not ignore .env, where docs/deploy.md tells users to put real values")
	}
}

func demoValue(v envVar, val string) bool {
	if v.Type == keysType {
		keys, err := config.ParseKeys(val)
		if err != nil {
			return false
		}
		for _, k := range keys {
			if !strings.Contains(string(k.Bytes), "NOT-A-SECRET") {
				return false
			}
		}
		return true
	}
	return strings.Contains(val, "demo")
}

// gitIgnores reads .gitignore's plain patterns (enough for ours).
func gitIgnores(t *testing.T, root, name string) bool {
	t.Helper()
	text, err := os.ReadFile(filepath.Join(root, ".gitignore"))
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(text), "\n") {
		line = strings.TrimPrefix(strings.TrimSpace(line), "/")
		if line == name {
			return true
		}
	}
	return false
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Third-party images in docker-compose.yml are pinned by digest; ours are
// built from the Dockerfile (whose bases TestDockerfileIdentity checks).
func TestComposeImagesPinned(t *testing.T) {
	p := loadCompose(t, false)
	n := 0
	for _, s := range p.Services {
		if ours(p, s) {
			continue
		}
		n++
		if !digestRE.MatchString(s.Image) {
			t.Errorf("%s: image %q is not pinned by digest (@sha256:…)", s.Name, s.Image)
		}
	}
	if n == 0 {
		t.Fatal("no third-party service in docker-compose.yml: the check saw nothing")
	}
}

// checkPostgresHealthOnTCP: the postgres service is healthy only once it
// accepts TCP connections on the port DATABASE_URL names. The official
// image answers pg_isready on its Unix socket during its first-start
// initialisation while TCP is still closed; `migrate`, which waits for
// that health and connects over TCP, would start too early and fail.
func checkPostgresHealthOnTCP(t *testing.T, hc *types.HealthCheckConfig, port string) {
	t.Helper()
	if hc == nil || len(hc.Test) < 2 {
		t.Error("postgres has no health check command")
		return
	}
	if port == "" {
		port = "5432"
	}
	args := hc.Test[1:]
	if hc.Test[0] == "CMD-SHELL" {
		args = strings.Fields(strings.Join(args, " "))
	}
	flag := func(short, long string) string {
		for i, a := range args {
			switch {
			case (a == short || a == long) && i+1 < len(args):
				return args[i+1]
			case strings.HasPrefix(a, long+"="):
				return strings.TrimPrefix(a, long+"=")
			}
		}
		return ""
	}
	host, p := flag("-h", "--host"), flag("-p", "--port")
	if p == "" {
		p = "5432"
	}
	if !slices.Contains(args, "pg_isready") || host == "" || strings.HasPrefix(host, "/") || p != port {
		t.Errorf("postgres health check %v: want pg_isready -h 127.0.0.1 -p %s (TCP, the way migrate connects), not the Unix socket", hc.Test, port)
	}
}
