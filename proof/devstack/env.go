package devstack

import (
	"os"
)

// inherited are the only variables a child takes from this process's
// environment: gustosync's own variables (DATABASE_URL, REDIS_MODE…) in the
// user's shell must not leak into a stack that sets them all itself.
var inherited = []string{"PATH", "HOME", "TMPDIR", "LANG", "LC_ALL", "TZ", "USER"}

// BaseEnv is the environment every child starts from.
func BaseEnv() []string {
	var env []string
	for _, k := range inherited {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// Env is a child's environment under construction: BaseEnv plus variables
// set in order (a later Set of the same name wins).
type Env struct {
	vars  []string
	index map[string]int
}

// NewEnv starts from BaseEnv.
func NewEnv() *Env {
	e := &Env{index: map[string]int{}}
	for _, kv := range BaseEnv() {
		for i := range len(kv) {
			if kv[i] == '=' {
				e.Set(kv[:i], kv[i+1:])
				break
			}
		}
	}
	return e
}

// Set sets name=value and returns e.
func (e *Env) Set(name, value string) *Env {
	kv := name + "=" + value
	if i, ok := e.index[name]; ok {
		e.vars[i] = kv
		return e
	}
	e.index[name] = len(e.vars)
	e.vars = append(e.vars, kv)
	return e
}

// Clone returns an independent copy.
func (e *Env) Clone() *Env {
	c := &Env{vars: append([]string(nil), e.vars...), index: make(map[string]int, len(e.index))}
	for k, v := range e.index {
		c.index[k] = v
	}
	return c
}

// List returns the variables as exec.Cmd.Env wants them.
func (e *Env) List() []string { return append([]string(nil), e.vars...) }
