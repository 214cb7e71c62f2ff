package traffic

import (
	"bytes"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sync"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
)

func init() {
	caddy.RegisterModule(new(KeyMatcher))
}

// KeyMatcher matches a request whose header carries the env's route key,
// read from a file of its own, so that the config holds no secret: a
// change of the config (a new health path, say) is then seen in plain
// text wherever it is compared, and the secret is one value, the same
// wherever it is stored. The file is written beside the traffic table by
// a container of its own, which may start after the load balancer: until
// the file is there (or while it is empty) the matcher matches nothing,
// so every request is production traffic. It never matches a request
// without the header.
type KeyMatcher struct {
	// Header is the request header that carries the key. Required.
	Header string `json:"header"`
	// File holds the key (surrounding white space is ignored). Required.
	File string `json:"file"`

	mu  sync.Mutex
	key []byte
	log *zap.Logger
}

// CaddyModule implements caddy.Module.
func (*KeyMatcher) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.matchers.phoenix_key",
		New: func() caddy.Module { return new(KeyMatcher) },
	}
}

// Provision implements caddy.Provisioner: it checks the settings and
// reads the key if the file is there already.
func (m *KeyMatcher) Provision(ctx caddy.Context) error {
	if m.Header == "" || m.File == "" {
		return errors.New("phoenix_key: header and file are required")
	}
	m.log = ctx.Logger()
	if _, err := m.load(); err != nil && m.log != nil {
		m.log.Warn("no route key yet: the candidate and version routes take no request until it is written", zap.String("file", m.File), zap.Error(err))
	}
	return nil
}

// load returns the key, reading the file until it holds one.
func (m *KeyMatcher) load() ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.key != nil {
		return m.key, nil
	}
	b, err := os.ReadFile(m.File)
	if err != nil {
		return nil, fmt.Errorf("phoenix_key: reading the route key: %w", err)
	}
	key := bytes.TrimSpace(b)
	if len(key) == 0 {
		return nil, fmt.Errorf("phoenix_key: the route key file %s is empty", m.File)
	}
	m.key = key
	return key, nil
}

// MatchWithError implements caddyhttp.RequestMatcherWithError: the
// request's header must be the key, compared in constant time.
func (m *KeyMatcher) MatchWithError(r *http.Request) (bool, error) {
	got := r.Header.Get(m.Header)
	if got == "" {
		return false, nil
	}
	key, err := m.load()
	if err != nil {
		return false, nil // no key yet: fail closed
	}
	return subtle.ConstantTimeCompare([]byte(got), key) == 1, nil
}

// Match implements caddyhttp.RequestMatcher.
func (m *KeyMatcher) Match(r *http.Request) bool {
	ok, _ := m.MatchWithError(r)
	return ok
}

var (
	_ caddy.Provisioner                 = (*KeyMatcher)(nil)
	_ caddyhttp.RequestMatcherWithError = (*KeyMatcher)(nil)
	_ caddyhttp.RequestMatcher          = (*KeyMatcher)(nil)
)
