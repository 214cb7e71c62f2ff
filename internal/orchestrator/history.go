package orchestrator

import (
	"context"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"

	"github.com/phoenix-iac/phoenix/stacks"
)

// Event is one traffic change in an env's history.
type Event struct {
	// Update is the env stack's update number.
	Update int       `json:"update"`
	Time   time.Time `json:"time"`
	// Op is create, candidate, canary, promote, rollback or clear.
	Op     string `json:"op"`
	From   string `json:"from,omitempty"`
	To     string `json:"to,omitempty"`
	Weight int    `json:"weight,omitempty"`
	By     string `json:"by"`
	Result string `json:"result"`
	// Why is the analysis that decided the change: the judgment of the
	// canary step before it, or the one that aborted a deploy.
	Why string `json:"why,omitempty"`
}

// History lists an env's traffic changes, newest first.
func (o *Orchestrator) History(ctx context.Context, env string) ([]Event, error) {
	if err := stacks.ValidateEnv(env); err != nil {
		return nil, err
	}
	es, envStack, err := o.envState(ctx, env)
	if err != nil {
		return nil, err
	}
	if envStack.Name() == "" && !es.Exists {
		return nil, &NotFoundError{What: fmt.Sprintf("env %s has not been deployed; deploy it with: phoenix deploy --env %s", env, env)}
	}
	return o.history(ctx, envStack)
}

func (o *Orchestrator) history(ctx context.Context, s auto.Stack) ([]Event, error) {
	// Without a page size the CLI returns only the newest 10 updates:
	// page through them all.
	const pageSize = 100
	var updates []auto.UpdateSummary
	for page := 1; ; page++ {
		got, err := s.History(ctx, pageSize, page)
		if err != nil {
			return nil, fmt.Errorf("reading the history of %s: %w", s.Name(), err)
		}
		updates = append(updates, got...)
		if len(got) < pageSize {
			break
		}
	}
	var out []Event
	// History is newest first. The file backend numbers no updates, so
	// they are numbered here, oldest = 1.
	for i, u := range updates {
		// The Automation API passes the message quoted; it comes back so.
		msg := strings.Trim(u.Message, `"`)
		if !strings.HasPrefix(msg, notePrefix) || u.Kind != "update" {
			continue
		}
		fields := strings.Fields(strings.TrimPrefix(msg, notePrefix))
		if len(fields) == 0 {
			continue
		}
		number := u.Version
		if number == 0 {
			number = len(updates) - i
		}
		e := Event{Update: number, Op: fields[0], Result: u.Result}
		for _, f := range fields[1:] {
			k, v, _ := strings.Cut(f, "=")
			if v == "-" {
				v = ""
			}
			switch k {
			case "from":
				e.From = v
			case "to":
				e.To = v
			case "weight":
				e.Weight, _ = strconv.Atoi(v)
			case "by":
				e.By = v
			case "why":
				e.Why, _ = url.QueryUnescape(v)
			}
		}
		if t, err := time.Parse(time.RFC3339, u.StartTime); err == nil {
			e.Time = t
		} else if t, err := time.Parse("2006-01-02T15:04:05.000Z", u.StartTime); err == nil {
			e.Time = t
		}
		out = append(out, e)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Update > out[j].Update })
	return out, nil
}

// lastFailed describes the newest traffic change when it failed, with the
// command that finishes it.
func lastFailed(hist []Event, env string) string {
	if len(hist) == 0 || hist[0].Result == "" || hist[0].Result == "succeeded" {
		return ""
	}
	e := hist[0]
	msg := fmt.Sprintf("the last traffic change (%s from %s to %s, update %d, by %s) %s, so the traffic above is unchanged by it", e.Op, dash(e.From), dash(e.To), e.Update, e.By, e.Result)
	switch {
	case e.Op == "rollback" && e.To != "":
		msg += fmt.Sprintf("; finish it with: phoenix rollback --env %s --to %s", env, e.To)
	case e.Op == "clear" && e.To != "":
		msg += fmt.Sprintf("; put all traffic back on %s with: phoenix rollback --env %s --to %s --force", e.To, env, e.To)
	case (e.Op == "candidate" || e.Op == "canary" || e.Op == "promote") && e.To != "":
		msg += fmt.Sprintf("; deploy %s again with: phoenix deploy --env %s --version %s", e.To, env, e.To)
	}
	return msg
}

// firstRouted returns when each version was first routed: the oldest
// successful traffic change to it.
func firstRouted(hist []Event) map[string]time.Time {
	out := map[string]time.Time{}
	for _, e := range hist { // newest first
		if e.To != "" && (e.Result == "" || e.Result == "succeeded") && !e.Time.IsZero() {
			out[e.To] = e.Time
		}
	}
	return out
}

// previousOf returns the version that was live before live, from the
// newest successful promotion or rollback to live.
func previousOf(hist []Event, live string) string {
	for _, e := range hist {
		if e.Result != "" && e.Result != "succeeded" {
			continue
		}
		if (e.Op == "promote" || e.Op == "rollback") && e.To == live && e.From != live {
			return e.From
		}
	}
	return ""
}
