// Package gate is the health gate of a deploy: a version passes when enough
// consecutive requests through the load balancer are answered well by that
// very version (its X-Phoenix-Version response header), within a timeout.
package gate

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/phoenix-iac/phoenix/internal/header"
)

// Probe describes one gate.
type Probe struct {
	// URL is requested, such as the env's URL plus "/healthz".
	URL string
	// Header is added to every request (the candidate route's header); optional.
	Header http.Header
	// Version must answer every request.
	Version string
	// Traffic, when set, must be the traffic table that routed every
	// request (header.Traffic, which the docker platform's load balancer
	// sets): an answer from Version under an older table, a canary's share
	// before a promotion, does not count.
	Traffic string
	// Need is how many consecutive good answers pass the gate.
	Need int
	// Timeout bounds the whole gate.
	Timeout time.Duration
	// Interval is the pause between requests; default 200ms.
	Interval time.Duration
	// Client makes the requests; default a client with a 5 s timeout.
	Client *http.Client
	// Progress, when set, is told after each answer what the gate has
	// seen so far and how long it has been running.
	Progress func(Result, time.Duration)
}

// Result is what a gate saw.
type Result struct {
	// Good is the number of consecutive good answers at the end.
	Good int
	// Requests is the number of requests made.
	Requests int
	// Last describes the last bad answer, if any.
	Last string
}

// Run probes until Need consecutive good answers or the timeout.
func (p Probe) Run(ctx context.Context) (Result, error) {
	if p.Need <= 0 {
		p.Need = 1
	}
	if p.Interval == 0 {
		p.Interval = 200 * time.Millisecond
	}
	if p.Client == nil {
		p.Client = &http.Client{Timeout: 5 * time.Second}
	}
	ctx, cancel := context.WithTimeout(ctx, p.Timeout)
	defer cancel()
	var res Result
	start := time.Now()
	for {
		res.Requests++
		bad := p.once(ctx)
		switch {
		case bad == "":
			res.Good++
		case ctx.Err() != nil:
			// Cut off by the timeout: the answer before says more.
			res.Good = 0
		default:
			res.Good, res.Last = 0, bad
		}
		if res.Good >= p.Need {
			return res, nil
		}
		if p.Progress != nil {
			p.Progress(res, time.Since(start))
		}
		select {
		case <-ctx.Done():
			last := res.Last
			if last == "" {
				last = "no bad answer, but too few good ones"
			}
			return res, fmt.Errorf("version %s did not pass the health gate within %s: %d of %d consecutive good answers from %s; last problem: %s",
				p.Version, p.Timeout, res.Good, p.Need, p.URL, last)
		case <-time.After(p.Interval):
		}
	}
}

// once makes one request and returns "" when it was good, else why not.
func (p Probe) once(ctx context.Context) string {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL, nil)
	if err != nil {
		return err.Error()
	}
	for k, vs := range p.Header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	resp, err := p.Client.Do(req)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != http.StatusOK {
		return fmt.Sprintf("status %s", resp.Status)
	}
	if got := resp.Header.Get(header.Version); got != p.Version {
		return fmt.Sprintf("answered by version %q, not %q", got, p.Version)
	}
	if got := resp.Header.Get(header.Traffic); p.Traffic != "" && got != p.Traffic {
		return fmt.Sprintf("routed by traffic table %q, not %q", got, p.Traffic)
	}
	return ""
}
