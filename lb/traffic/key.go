package traffic

import (
	"bytes"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"os"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	caddy.RegisterModule(KeyMatcher{})
}

// KeyMatcher matches a request whose header carries the env's route key.
// The key is read from a file of its own when the config is loaded, so
// that the config holds no secret: a change of the config (a new health
// path, say) is then seen in plain text wherever it is compared, and the
// secret is one value, the same wherever it is stored. A config whose key
// file is missing or empty does not load: a matcher that compared against
// "" would let every request without the header through.
type KeyMatcher struct {
	// Header is the request header that carries the key. Required.
	Header string `json:"header"`
	// File holds the key (surrounding white space is ignored). Required.
	File string `json:"file"`

	key []byte
}

// CaddyModule implements caddy.Module.
func (KeyMatcher) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.matchers.phoenix_key",
		New: func() caddy.Module { return new(KeyMatcher) },
	}
}

// Provision implements caddy.Provisioner: it reads the key.
func (m *KeyMatcher) Provision(caddy.Context) error {
	if m.Header == "" || m.File == "" {
		return errors.New("phoenix_key: header and file are required")
	}
	b, err := os.ReadFile(m.File)
	if err != nil {
		return fmt.Errorf("phoenix_key: reading the route key: %w", err)
	}
	key := bytes.TrimSpace(b)
	if len(key) == 0 {
		return fmt.Errorf("phoenix_key: the route key file %s is empty", m.File)
	}
	m.key = key
	return nil
}

// MatchWithError implements caddyhttp.RequestMatcherWithError: the
// request's header must be the key, compared in constant time.
func (m *KeyMatcher) MatchWithError(r *http.Request) (bool, error) {
	return subtle.ConstantTimeCompare([]byte(r.Header.Get(m.Header)), m.key) == 1, nil
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
