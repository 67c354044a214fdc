package config

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/gustosync/gustosync/internal/waitfor"
)

func TestRedisTopologyErrorsNameTheVariable(t *testing.T) {
	cases := []struct {
		env     map[string]string
		wantVar string
	}{
		// Parse errors first: the group never decodes.
		{map[string]string{"REDIS_DB": "three"}, "REDIS_DB"},
		{map[string]string{"REDIS_TLS": "maybe"}, "REDIS_TLS"},
		{map[string]string{"REDIS_MODE": "ring"}, "REDIS_MODE"},
		{map[string]string{"REDIS_MODE": "sentinel", "REDIS_SENTINEL_ADDRS": "a:26379"}, "REDIS_SENTINEL_MASTER"},
		{map[string]string{"REDIS_MODE": "sentinel", "REDIS_SENTINEL_MASTER": "m"}, "REDIS_SENTINEL_ADDRS"},
		{map[string]string{"REDIS_MODE": "sentinel", "REDIS_SENTINEL_MASTER": "m", "REDIS_SENTINEL_ADDRS": "a:26379,b"}, "REDIS_SENTINEL_ADDRS"},
		{map[string]string{"REDIS_MODE": "sentinel", "REDIS_SENTINEL_MASTER": "m", "REDIS_SENTINEL_ADDRS": "a:99999"}, "REDIS_SENTINEL_ADDRS"},
		{map[string]string{"REDIS_MODE": "sentinel", "REDIS_SENTINEL_MASTER": "m", "REDIS_SENTINEL_ADDRS": "a:1", "REDIS_CLUSTER_ADDRS": "b:2"}, "REDIS_CLUSTER_ADDRS"},
		{map[string]string{"REDIS_MODE": "sentinel", "REDIS_SENTINEL_MASTER": "m", "REDIS_SENTINEL_ADDRS": "a:1", "REDIS_DB": "-1"}, "REDIS_DB"},
		{map[string]string{"REDIS_MODE": "cluster"}, "REDIS_CLUSTER_ADDRS"},
		{map[string]string{"REDIS_MODE": "cluster", "REDIS_CLUSTER_ADDRS": "a:1", "REDIS_DB": "2"}, "REDIS_DB"},
		{map[string]string{"REDIS_MODE": "cluster", "REDIS_CLUSTER_ADDRS": "a:1", "REDIS_SENTINEL_MASTER": "m"}, "REDIS_SENTINEL_MASTER"},
		{map[string]string{"REDIS_SENTINEL_ADDRS": "a:1"}, "REDIS_SENTINEL_ADDRS"},
		{map[string]string{"REDIS_CLUSTER_ADDRS": "a:1"}, "REDIS_CLUSTER_ADDRS"},
		{map[string]string{"REDIS_DB": "3"}, "REDIS_DB"},
		{map[string]string{"REDIS_TLS": "true"}, "REDIS_TLS"},
		{map[string]string{"REDIS_URL": "redis://:hunter2-url-secret@h:6379/0", "REDIS_PASSWORD": "hunter2-env-secret"}, "REDIS_PASSWORD"},
		{map[string]string{"REDIS_URL": "redis://u@h:6379/0", "REDIS_USERNAME": "v"}, "REDIS_USERNAME"},
		{map[string]string{"REDIS_URL": "redis://:hunter2-url-secret@h:6379/notanumber"}, "REDIS_URL"},
		{map[string]string{"REDIS_URL": "redis://:hunter2-url-secret@h:6379/0?frobnicate=1"}, "REDIS_URL"},
	}
	for i, tc := range cases {
		var c Redis
		err := ParseFrom(&c, tc.env)
		var ce *Error
		if !errors.As(err, &ce) || ce.Var != tc.wantVar {
			t.Errorf("%v: got %v, want an error naming %s", tc.env, err, tc.wantVar)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%v: error leaks a password: %v", tc.env, err)
		}
		// ConnOpt on a decoded but invalid group refuses the same way.
		if _, err := c.ConnOpt(); i >= 2 && !errors.As(err, &ce) {
			t.Errorf("%v: ConnOpt accepted an invalid group: %v", tc.env, err)
		}
	}
}

func TestRedisConnOptShapes(t *testing.T) {
	cases := []struct {
		env   map[string]string
		check func(t *testing.T, opt asynq.RedisConnOpt)
	}{
		{map[string]string{"REDIS_URL": "rediss://app:urlpw@cache.internal:6380/4"}, func(t *testing.T, opt asynq.RedisConnOpt) {
			o, ok := opt.(asynq.RedisClientOpt)
			if !ok || o.Addr != "cache.internal:6380" || o.DB != 4 || o.Username != "app" || o.Password != "urlpw" || o.TLSConfig == nil {
				t.Fatalf("single rediss URL: %+v", opt)
			}
		}},
		{map[string]string{"REDIS_URL": "redis://cache:6379/1", "REDIS_USERNAME": "app", "REDIS_PASSWORD": "envpw"}, func(t *testing.T, opt asynq.RedisConnOpt) {
			o, ok := opt.(asynq.RedisClientOpt)
			if !ok || o.Addr != "cache:6379" || o.DB != 1 || o.Username != "app" || o.Password != "envpw" || o.TLSConfig != nil {
				t.Fatalf("single with password from REDIS_PASSWORD: %+v", opt)
			}
		}},
		{map[string]string{"REDIS_MODE": "sentinel", "REDIS_SENTINEL_ADDRS": "s1:26379, s2:26379,s3:26379", "REDIS_SENTINEL_MASTER": "mymaster",
			"REDIS_SENTINEL_PASSWORD": "spw", "REDIS_PASSWORD": "pw", "REDIS_DB": "2", "REDIS_TLS": "true"}, func(t *testing.T, opt asynq.RedisConnOpt) {
			o, ok := opt.(asynq.RedisFailoverClientOpt)
			if !ok || o.MasterName != "mymaster" || strings.Join(o.SentinelAddrs, ",") != "s1:26379,s2:26379,s3:26379" ||
				o.SentinelPassword != "spw" || o.Password != "pw" || o.DB != 2 || o.TLSConfig == nil {
				t.Fatalf("sentinel: %+v", opt)
			}
		}},
		{map[string]string{"REDIS_MODE": "cluster", "REDIS_CLUSTER_ADDRS": "n1:6379,n2:6379", "REDIS_PASSWORD": "pw"}, func(t *testing.T, opt asynq.RedisConnOpt) {
			o, ok := opt.(asynq.RedisClusterClientOpt)
			if !ok || strings.Join(o.Addrs, ",") != "n1:6379,n2:6379" || o.Password != "pw" || o.TLSConfig != nil {
				t.Fatalf("cluster: %+v", opt)
			}
		}},
	}
	for _, tc := range cases {
		var c Redis
		if err := ParseFrom(&c, tc.env); err != nil {
			t.Fatalf("%v: %v", tc.env, err)
		}
		opt, err := c.ConnOpt()
		if err != nil {
			t.Fatalf("%v: %v", tc.env, err)
		}
		tc.check(t, opt)
		if s := fmt.Sprintf("%v %+v %#v", c, c, c); strings.Contains(s, "envpw") || strings.Contains(s, "spw") {
			t.Errorf("printing the Redis group leaks a password: %s", s)
		}
	}
}

// TestRedisSingleAgainstServer enqueues through ConnOpt and reads the task
// back through NewClient, on a password-protected server whose password
// comes from REDIS_PASSWORD rather than the URL.
func TestRedisSingleAgainstServer(t *testing.T) {
	port := startRedis(t, "--requirepass", "single-pw")
	var c Redis
	env := map[string]string{"REDIS_URL": fmt.Sprintf("redis://127.0.0.1:%d/3", port), "REDIS_PASSWORD": "single-pw"}
	if err := ParseFrom(&c, env); err != nil {
		t.Fatal(err)
	}
	enqueueAndCount(t, c, 1)
	uc, err := c.NewClient(37)
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	if rc, ok := uc.(*redis.Client); !ok || rc.Options().PoolSize != 37 || rc.Options().DB != 3 || rc.Options().Password != "single-pw" {
		t.Fatalf("NewClient(37) in single mode: %T, want a *redis.Client with pool 37, db 3 and the REDIS_PASSWORD", uc)
	}
	direct := redis.NewClient(&redis.Options{Addr: addr(port), Password: "single-pw", DB: 3})
	defer direct.Close()
	if n := direct.LLen(context.Background(), "asynq:{default}:pending").Val(); n != 1 {
		t.Fatalf("pending list on db 3 holds %d tasks, want 1", n)
	}
}

// TestRedisSentinelFollowsFailover runs a primary, a replica and a Sentinel,
// enqueues through the sentinel ConnOpt, shuts the primary down, and checks
// that the same asynq client and a NewClient client both reach the replica
// that Sentinel promoted.
func TestRedisSentinelFollowsFailover(t *testing.T) {
	const pw = "sentinel-data-pw"
	primary := startRedis(t, "--requirepass", pw, "--masterauth", pw)
	replica := startRedis(t, "--requirepass", pw, "--masterauth", pw, "--replicaof", "127.0.0.1", strconv.Itoa(primary))
	rc := redis.NewClient(&redis.Options{Addr: addr(replica), Password: pw})
	defer rc.Close()
	waitfor.Condition(t, 20*time.Second, "replica in sync", func() bool {
		return strings.Contains(rc.Info(context.Background(), "replication").Val(), "master_link_status:up")
	})
	sentinel := startSentinel(t, "gs-master", primary, pw)

	var c Redis
	env := map[string]string{
		"REDIS_MODE":            "sentinel",
		"REDIS_SENTINEL_ADDRS":  addr(sentinel),
		"REDIS_SENTINEL_MASTER": "gs-master",
		"REDIS_PASSWORD":        pw,
	}
	if err := ParseFrom(&c, env); err != nil {
		t.Fatal(err)
	}
	opt, err := c.ConnOpt()
	if err != nil {
		t.Fatal(err)
	}
	client := asynq.NewClient(opt)
	defer client.Close()
	if _, err := client.Enqueue(asynq.NewTask("sync:company", []byte(`{"n":1}`))); err != nil {
		t.Fatalf("enqueue through sentinel: %v", err)
	}

	// The task reaches the replica before the primary dies, as it would in
	// steady state; then the primary goes away for good.
	waitfor.Condition(t, 20*time.Second, "the task to replicate", func() bool {
		return rc.LLen(context.Background(), "asynq:{default}:pending").Val() == 1
	})
	sc := redis.NewSentinelClient(&redis.Options{Addr: addr(sentinel)})
	defer sc.Close()
	waitfor.Condition(t, 20*time.Second, "sentinel to know the replica", func() bool {
		rs, err := sc.Replicas(context.Background(), "gs-master").Result()
		return err == nil && len(rs) == 1
	})
	oldc := redis.NewClient(&redis.Options{Addr: addr(primary), Password: pw})
	_ = oldc.Shutdown(context.Background()).Err() // the connection drops: no reply to check
	_ = oldc.Close()
	waitfor.Condition(t, 20*time.Second, "sentinel to promote the replica", func() bool {
		a, err := sc.GetMasterAddrByName(context.Background(), "gs-master").Result()
		return err == nil && len(a) == 2 && a[1] == strconv.Itoa(replica)
	})
	// Writes through the same asynq client land on the new primary once the
	// client follows the switch.
	waitfor.Condition(t, 20*time.Second, "enqueue after failover", func() bool {
		_, err := client.Enqueue(asynq.NewTask("sync:company", []byte(`{"n":2}`)))
		return err == nil
	})
	onNew := redis.NewClient(&redis.Options{Addr: addr(replica), Password: pw})
	defer onNew.Close()
	if role := onNew.Do(context.Background(), "ROLE").String(); !strings.Contains(role, "master") {
		t.Fatalf("promoted node's role: %s", role)
	}
	if n := onNew.LLen(context.Background(), "asynq:{default}:pending").Val(); n != 2 {
		t.Fatalf("new primary holds %d pending tasks, want 2", n)
	}
	uc, err := c.NewClient(0)
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	if n := uc.LLen(context.Background(), "asynq:{default}:pending").Val(); n != 2 {
		t.Fatalf("NewClient sees %d pending tasks, want 2", n)
	}
}

// TestRedisClusterRoutesQueues builds a three-node cluster and checks that
// asynq, through the cluster ConnOpt, enqueues and inspects a queue whose
// keys live on whichever node owns their slot.
func TestRedisClusterRoutesQueues(t *testing.T) {
	const pw = "cluster-pw"
	ctx := context.Background()
	var ports []int
	for range 3 {
		ports = append(ports, startRedis(t, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--requirepass", pw, "--masterauth", pw, "--cluster-node-timeout", "2000"))
	}
	nodes := make([]*redis.Client, len(ports))
	for i, p := range ports {
		nodes[i] = redis.NewClient(&redis.Options{Addr: addr(p), Password: pw})
		defer nodes[i].Close()
	}
	for i, n := range nodes {
		if err := n.Do(ctx, "CLUSTER", "ADDSLOTSRANGE", bounds[i], bounds[i+1]-1).Err(); err != nil {
			t.Fatalf("ADDSLOTSRANGE on node %d: %v", i, err)
		}
		if i > 0 {
			if err := n.ClusterMeet(ctx, "127.0.0.1", strconv.Itoa(ports[0])).Err(); err != nil {
				t.Fatalf("CLUSTER MEET: %v", err)
			}
		}
	}
	waitfor.Condition(t, 20*time.Second, "cluster_state:ok on every node", func() bool {
		for _, n := range nodes {
			if !strings.Contains(n.ClusterInfo(ctx).Val(), "cluster_state:ok") {
				return false
			}
		}
		return true
	})

	var c Redis
	env := map[string]string{"REDIS_MODE": "cluster", "REDIS_CLUSTER_ADDRS": addr(ports[0]), "REDIS_PASSWORD": pw}
	if err := ParseFrom(&c, env); err != nil {
		t.Fatal(err)
	}
	// Three queues whose hash tags fall in different slots, so the test does
	// not pass by luck on a single node.
	queues := []string{"default", "critical", "low"}
	owners := map[int]bool{}
	for _, q := range queues {
		owners[owner(slot(q))] = true
	}
	if len(owners) < 2 {
		t.Fatalf("queues %v all hash to one node; pick others", queues)
	}
	opt, err := c.ConnOpt()
	if err != nil {
		t.Fatal(err)
	}
	client := asynq.NewClient(opt)
	defer client.Close()
	inspector := asynq.NewInspector(opt)
	defer inspector.Close()
	for _, q := range queues {
		if _, err := client.Enqueue(asynq.NewTask("sync:company", nil), asynq.Queue(q)); err != nil {
			t.Fatalf("enqueue to %s through the cluster: %v", q, err)
		}
		info, err := inspector.GetQueueInfo(q)
		if err != nil || info.Pending != 1 {
			t.Fatalf("queue %s: info %+v, err %v", q, info, err)
		}
		if n := nodes[owner(slot(q))].LLen(ctx, "asynq:{"+q+"}:pending").Val(); n != 1 {
			t.Fatalf("node owning queue %s holds %d pending tasks, want 1", q, n)
		}
	}
	uc, err := c.NewClient(0)
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	if _, ok := uc.(*redis.ClusterClient); !ok {
		t.Fatalf("NewClient in cluster mode returned %T", uc)
	}
	for _, q := range queues {
		if n := uc.LLen(ctx, "asynq:{"+q+"}:pending").Val(); n != 1 {
			t.Fatalf("NewClient sees %d pending tasks in %s, want 1", n, q)
		}
	}
}

func enqueueAndCount(t *testing.T, c Redis, want int) {
	t.Helper()
	opt, err := c.ConnOpt()
	if err != nil {
		t.Fatal(err)
	}
	client := asynq.NewClient(opt)
	defer client.Close()
	for range want {
		if _, err := client.Enqueue(asynq.NewTask("sync:company", nil)); err != nil {
			t.Fatalf("enqueue: %v", err)
		}
	}
	uc, err := c.NewClient(0)
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	if n := uc.LLen(context.Background(), "asynq:{default}:pending").Val(); n != int64(want) {
		t.Fatalf("NewClient sees %d pending tasks, want %d", n, want)
	}
}

// bounds split the 16384 slots among three nodes: node i owns
// [bounds[i], bounds[i+1]).
var bounds = []int{0, 5461, 10923, 16384}

func owner(s uint16) int {
	for i := range 3 {
		if int(s) < bounds[i+1] {
			return i
		}
	}
	return 2
}

// slot is Redis Cluster's CRC16 key slot of the hash tag q.
func slot(q string) uint16 {
	var crc uint16
	for i := 0; i < len(q); i++ {
		crc ^= uint16(q[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc % 16384
}

func addr(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

// startRedis runs a private redis-server in its own directory on a free
// loopback port, stopped at cleanup, and returns the port once it answers.
func startRedis(t *testing.T, args ...string) int {
	t.Helper()
	port := freePort(t)
	dir := t.TempDir()
	base := []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
		"--save", "", "--appendonly", "no", "--protected-mode", "no", "--repl-diskless-sync-delay", "0"}
	run(t, "redis-server", append(base, args...)...)
	waitfor.Condition(t, 20*time.Second, "redis-server on "+addr(port), func() bool { return answers(port) })
	return port
}

// startSentinel runs a Sentinel watching the primary at port.
func startSentinel(t *testing.T, master string, primary int, pw string) int {
	t.Helper()
	port := freePort(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, "sentinel.conf")
	text := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\nsentinel monitor %s 127.0.0.1 %d 1\n"+
		"sentinel auth-pass %s %s\nsentinel down-after-milliseconds %s 1000\nsentinel failover-timeout %s 2000\n",
		port, dir, master, primary, master, pw, master, master)
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	run(t, "redis-server", conf, "--sentinel")
	waitfor.Condition(t, 20*time.Second, "sentinel on "+addr(port), func() bool { return answers(port) })
	return port
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Fatalf("%s is not installed: these tests run real Redis servers (apt-get install redis-server, or run scripts/services.sh)", name)
	}
	cmd := exec.Command(name, args...)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
}

func answers(port int) bool {
	c := redis.NewClient(&redis.Options{Addr: addr(port), MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer c.Close()
	err := c.Ping(context.Background()).Err()
	// A password-protected server answering NOAUTH is up.
	return err == nil || strings.Contains(err.Error(), "NOAUTH") || strings.Contains(err.Error(), "AUTH")
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
