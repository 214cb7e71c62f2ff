package awslogs

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"

	"github.com/phoenix-iac/phoenix/tests/moto"
)

// TestReadOnMoto: phoenix logs on aws against moto's CloudWatch Logs (the
// real wire format and its paging): a version's events, more than one page
// of them (10,000 a page), in time order, and none of another version's
// streams (moto ignores logStreamNamePrefix, which Read checks itself) or
// from before --since.
func TestReadOnMoto(t *testing.T) {
	srv := moto.Start(t)
	api := client(t, srv.Endpoint())
	ctx := context.Background()
	if _, err := api.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String("dev-app")}); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	put := func(stream string, n int, first time.Time) {
		t.Helper()
		if _, err := api.CreateLogStream(ctx, &cloudwatchlogs.CreateLogStreamInput{LogGroupName: aws.String("dev-app"), LogStreamName: aws.String(stream)}); err != nil {
			t.Fatal(err)
		}
		for start := 0; start < n; start += 5000 {
			var events []types.InputLogEvent
			for i := start; i < min(n, start+5000); i++ {
				events = append(events, types.InputLogEvent{Timestamp: aws.Int64(first.Add(time.Duration(i) * time.Millisecond).UnixMilli()), Message: aws.String(fmt.Sprintf("%s line %d\n", stream, i))})
			}
			if _, err := api.PutLogEvents(ctx, &cloudwatchlogs.PutLogEventsInput{LogGroupName: aws.String("dev-app"), LogStreamName: aws.String(stream), LogEvents: events}); err != nil {
				t.Fatal(err)
			}
		}
	}
	put("v2/app/task1", 10200, t0)
	put("v2/app/task2", 3, t0.Add(-time.Minute)) // before --since
	put("v1/app/task9", 5, t0)

	pages := &counting{api: api}
	var got []Event
	if err := Read(ctx, pages, Options{Group: "dev-app", Version: "v2", Since: t0}, func(e Event) error {
		got = append(got, e)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 10200 || pages.calls < 2 {
		t.Fatalf("read %d events in %d pages, want 10200 in 2 or more", len(got), pages.calls)
	}
	for i, e := range got {
		if want := fmt.Sprintf("v2/app/task1 line %d", i); e.Message != want || e.Stream != "v2/app/task1" {
			t.Fatalf("event %d is %q of %s, want %q: in time order, this version's only", i, e.Message, e.Stream, want)
		}
	}
}

// counting counts FilterLogEvents calls: the pages read.
type counting struct {
	api   API
	calls int
}

func (c *counting) FilterLogEvents(ctx context.Context, in *cloudwatchlogs.FilterLogEventsInput, opts ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.FilterLogEventsOutput, error) {
	c.calls++
	return c.api.FilterLogEvents(ctx, in, opts...)
}
