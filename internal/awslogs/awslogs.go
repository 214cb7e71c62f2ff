// Package awslogs reads a version's output on the aws platform: the
// CloudWatch Logs streams its Fargate tasks write (awslogs driver, stream
// prefix = the version), through FilterLogEvents, polling for new events
// when following.
package awslogs

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
)

// API is the part of CloudWatch Logs' API the reader uses.
type API interface {
	FilterLogEvents(ctx context.Context, in *cloudwatchlogs.FilterLogEventsInput, opts ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.FilterLogEventsOutput, error)
}

// Event is one log event of a version.
type Event struct {
	Time time.Time
	// Stream is the log stream: <version>/<container>/<task id>.
	Stream  string
	Message string
}

// Options select the events read.
type Options struct {
	// Group is the env's log group. Required.
	Group string
	// Version selects the streams <version>/... . Required.
	Version string
	// Since is the earliest event time; zero for all.
	Since time.Time
	// Follow polls for new events every Poll (default 2 s) until ctx ends,
	// then returns nil.
	Follow bool
	Poll   time.Duration
}

// Read calls out with each event in time order.
func Read(ctx context.Context, api API, o Options, out func(Event) error) error {
	poll := o.Poll
	if poll == 0 {
		poll = 2 * time.Second
	}
	since := o.Since
	seen := map[string]bool{} // event ids at the newest time, which the next poll reads again
	for {
		in := &cloudwatchlogs.FilterLogEventsInput{
			LogGroupName:        aws.String(o.Group),
			LogStreamNamePrefix: aws.String(o.Version + "/"),
		}
		if !since.IsZero() {
			in.StartTime = aws.Int64(since.UnixMilli())
		}
		newest := since
		next := map[string]bool{}
		for {
			page, err := api.FilterLogEvents(ctx, in)
			if err != nil {
				if o.Follow && ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("reading log group %s: %w", o.Group, err)
			}
			for _, e := range page.Events {
				id := aws.ToString(e.EventId)
				// The prefix is asked of the service, and checked here too:
				// an API that ignores it (moto does) must not show another
				// version's lines as this one's.
				if seen[id] || !strings.HasPrefix(aws.ToString(e.LogStreamName), o.Version+"/") {
					continue
				}
				t := time.UnixMilli(aws.ToInt64(e.Timestamp))
				if t.After(newest) {
					newest, next = t, map[string]bool{}
				}
				if t.Equal(newest) {
					next[id] = true
				}
				if err := out(Event{Time: t, Stream: aws.ToString(e.LogStreamName), Message: strings.TrimRight(aws.ToString(e.Message), "\n")}); err != nil {
					return err
				}
			}
			if page.NextToken == nil {
				break
			}
			in.NextToken = page.NextToken
		}
		if !o.Follow {
			return nil
		}
		if newest.After(since) {
			since, seen = newest, next
		} else {
			for id := range next {
				seen[id] = true
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(poll):
		}
	}
}
