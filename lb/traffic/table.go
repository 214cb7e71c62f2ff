// Package traffic is the docker platform's traffic module for Caddy: the
// load balancer reads the env's traffic pointer as data and changes where
// requests go without loading a config, restarting a server or touching a
// listener.
//
// The pointer is a small JSON file, the table (Table), that phoenix's
// traffic pointer writes with an atomic rename: live, candidate and the
// candidate's share of production traffic. A Router watches it and swaps
// an in-memory copy atomically, so every request is routed by one table,
// the old one or the new one, never a mix; it also checks the health of
// every upstream the table names. Two Caddy modules use it:
//
//   - the handler phoenix_traffic (Handler) picks, per request, the pool
//     of the route it serves (production: live, or the candidate by
//     weight; candidate: the candidate), answers 503 or 404 itself when
//     there is none, names the table in the X-Phoenix-Traffic response
//     header and adds the route and the answering version to the access
//     log;
//   - the upstream source phoenix_traffic (Source) gives reverse_proxy
//     that pool's healthy upstreams, so Caddy's own proxy, retries and
//     passive health checks do the rest.
//
// The table's format is written by phoenix's components/caddyconfig; the
// two are kept in step by the data-plane test, which runs this module
// under load with tables that package renders.
package traffic

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
)

// Format is the table format this module reads.
const Format = 1

// Pool is one version's upstreams.
type Pool struct {
	// Version is the version id.
	Version string `json:"version"`
	// Upstreams are host:port dial addresses, one per replica.
	Upstreams []string `json:"upstreams"`
}

// Table is the traffic of one env.
type Table struct {
	// Format is the table's format; it must be Format.
	Format int `json:"format"`
	// Env is the env's name, used in the answers the module gives itself.
	Env string `json:"env"`
	// Live receives production traffic; nil when no version is live.
	Live *Pool `json:"live,omitempty"`
	// Candidate is reachable through the candidate route; nil when none.
	Candidate *Pool `json:"candidate,omitempty"`
	// CandidateWeight is the candidate's share of production traffic in
	// percent, 0 to 100.
	CandidateWeight int `json:"candidateWeight,omitempty"`
}

// ID names a table by its bytes: the first 12 hex digits of their SHA-256.
// phoenix computes the same from what it wrote, so it can tell when the
// load balancer serves a table.
func ID(raw []byte) string {
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:])[:12]
}

// Parse reads and checks a table. Unknown fields are refused: the writer
// and this module are built from one checkout, so an unknown field is a
// mistake, not a newer writer.
func Parse(raw []byte) (*Table, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var t Table
	if err := dec.Decode(&t); err != nil {
		return nil, fmt.Errorf("the traffic table is not valid JSON of its format: %w", err)
	}
	if err := t.validate(); err != nil {
		return nil, err
	}
	return &t, nil
}

func (t *Table) validate() error {
	if t.Format != Format {
		return fmt.Errorf("the traffic table has format %d; this load balancer reads format %d", t.Format, Format)
	}
	if t.Env == "" {
		return fmt.Errorf("the traffic table names no env")
	}
	if t.CandidateWeight < 0 || t.CandidateWeight > 100 {
		return fmt.Errorf("the traffic table's candidate weight %d is outside 0 to 100", t.CandidateWeight)
	}
	if t.CandidateWeight > 0 && (t.Live == nil || t.Candidate == nil) {
		return fmt.Errorf("the traffic table gives the candidate a weight but lacks a live or a candidate version")
	}
	for _, p := range []*Pool{t.Live, t.Candidate} {
		if p == nil {
			continue
		}
		if p.Version == "" {
			return fmt.Errorf("the traffic table has a pool without a version")
		}
		if len(p.Upstreams) == 0 {
			return fmt.Errorf("version %s has no upstreams in the traffic table", p.Version)
		}
		for _, u := range p.Upstreams {
			if u == "" {
				return fmt.Errorf("version %s has an empty upstream address in the traffic table", p.Version)
			}
		}
	}
	return nil
}
