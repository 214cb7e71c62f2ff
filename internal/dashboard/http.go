package dashboard

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/phoenix-iac/phoenix/internal/orchestrator"
)

//go:embed web
var web embed.FS

// HandlerOptions configure Handler.
type HandlerOptions struct {
	// Public serves requests for any host name; by default only those
	// addressed to a loopback name or address are answered, so that a web
	// page elsewhere cannot read the dashboard through a name that
	// resolves to 127.0.0.1 (DNS rebinding).
	Public bool
	// LogLines is how many of a version's newest log lines its page
	// shows; default 100.
	LogLines int
	// LogSince is how far back its page looks for them; default 15 min.
	LogSince time.Duration
}

// Handler serves the page, its files, and the API it reads:
//
//	GET /                                   the page
//	GET /api/snapshot                       the Snapshot, as JSON
//	GET /api/events                         each new Snapshot, as server-sent events
//	GET /api/envs/{env}/versions/{version}  a Version
func (s *Server) Handler(opts HandlerOptions) http.Handler {
	if opts.LogLines <= 0 {
		opts.LogLines = 100
	}
	if opts.LogSince <= 0 {
		opts.LogSince = 15 * time.Minute
	}
	files, _ := fs.Sub(web, "web")
	mux := http.NewServeMux()
	mux.Handle("GET /", http.FileServerFS(files))
	mux.HandleFunc("GET /api/snapshot", func(w http.ResponseWriter, _ *http.Request) {
		_, b, _ := s.current()
		w.Header().Set("Content-Type", "application/json")
		w.Write(b)
	})
	mux.HandleFunc("GET /api/events", s.events)
	mux.HandleFunc("GET /api/envs/{env}/versions/{version}", func(w http.ResponseWriter, r *http.Request) {
		s.version(w, r, opts)
	})
	return guard(mux, opts.Public)
}

// guard answers only GET and HEAD, only for a loopback host unless
// public, and forbids the page from loading anything that is not its own.
func guard(next http.Handler, public bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !public && !loopbackHost(r.Host) {
			http.Error(w, fmt.Sprintf("phoenix dashboard answers only requests to a loopback address, not %q (start it with --public to serve other names)", r.Host), http.StatusForbidden)
			return
		}
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// loopbackHost reports whether a request's Host names this machine's
// loopback interface: localhost, or a loopback address.
func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// events streams the snapshots as server-sent events: the current one at
// once, then each new one, and a comment every 15 s to keep proxies from
// closing an idle stream.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	flush, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming is not supported", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no")
	seq := 0
	for {
		snap, b, changed := s.current()
		if snap.Seq != seq {
			seq = snap.Seq
			if _, err := fmt.Fprintf(w, "id: %d\nevent: snapshot\ndata: %s\n\n", seq, b); err != nil {
				return
			}
			flush.Flush()
		}
		select {
		case <-r.Context().Done():
			return
		case <-changed:
		case <-time.After(15 * time.Second):
			if _, err := fmt.Fprint(w, ": still here\n\n"); err != nil {
				return
			}
			flush.Flush()
		}
	}
}

// Version is one version as its page shows it.
type Version struct {
	Env string `json:"env"`
	orchestrator.VersionInfo
	// Resources are its stack's resources.
	Resources []orchestrator.Resource `json:"resources"`
	// CutOvers are the env's traffic changes to or from it, newest first.
	CutOvers []orchestrator.Event `json:"cutOvers"`
	// Logs are its newest output lines, oldest first.
	Logs []orchestrator.LogLine `json:"logs"`
	// LogsError is why its output could not be read.
	LogsError string `json:"logsError,omitempty"`
}

// version answers a version's page: what the snapshot knows of it, its
// resources and its newest log lines.
func (s *Server) version(w http.ResponseWriter, r *http.Request, opts HandlerOptions) {
	env, version := r.PathValue("env"), r.PathValue("version")
	snap, _, _ := s.current()
	i := slices.IndexFunc(snap.Envs, func(e Env) bool { return e.Env == env })
	if i < 0 {
		http.Error(w, fmt.Sprintf("env %s is not one the dashboard shows; it has not been deployed", env), http.StatusNotFound)
		return
	}
	e := snap.Envs[i]
	j := slices.IndexFunc(e.Versions, func(v orchestrator.VersionInfo) bool { return v.Version == version })
	if j < 0 {
		http.Error(w, fmt.Sprintf("version %s.%s does not exist; phoenix status --env %s lists the env's versions", env, version, env), http.StatusNotFound)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	v := Version{Env: env, VersionInfo: e.Versions[j], CutOvers: []orchestrator.Event{}, Logs: []orchestrator.LogLine{}}
	for _, ev := range e.History {
		if ev.To == version || ev.From == version {
			v.CutOvers = append(v.CutOvers, ev)
		}
	}
	res, err := s.opts.Reader.Resources(ctx, env, version)
	var nf *orchestrator.NotFoundError
	switch {
	case errors.As(err, &nf):
		http.Error(w, nf.Error(), http.StatusNotFound)
		return
	case err != nil:
		http.Error(w, fmt.Sprintf("reading %s: %v", e.Versions[j].Stack, err), http.StatusBadGateway)
		return
	}
	v.Resources = res
	err = s.opts.Reader.Logs(ctx, orchestrator.LogsOptions{Env: env, Version: version, Since: s.opts.Now().Add(-opts.LogSince)},
		func(l orchestrator.LogLine) error {
			v.Logs = append(v.Logs, l)
			if len(v.Logs) > 2*opts.LogLines {
				v.Logs = slices.Clone(v.Logs[len(v.Logs)-opts.LogLines:])
			}
			return nil
		})
	if err != nil {
		v.LogsError = err.Error()
	}
	if len(v.Logs) > opts.LogLines {
		v.Logs = v.Logs[len(v.Logs)-opts.LogLines:]
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}
