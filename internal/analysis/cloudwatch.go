package analysis

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
)

// MetricsAPI is the part of CloudWatch's API the aws source uses.
type MetricsAPI interface {
	GetMetricData(ctx context.Context, in *cloudwatch.GetMetricDataInput, opts ...func(*cloudwatch.Options)) (*cloudwatch.GetMetricDataOutput, error)
}

// CloudWatchSource is the aws platform's Source: the ALB's metrics of each
// version's target group in the AWS/ApplicationELB namespace. Requests
// are RequestCount; errors are HTTPCode_Target_5XX_Count plus
// TargetConnectionErrorCount (the load balancer could not reach a
// target); latency is TargetResponseTime's p50 and p99. The ALB publishes
// them per minute, so windows are whole minutes.
type CloudWatchSource struct {
	api          MetricsAPI
	loadBalancer string
	targetGroup  func(ctx context.Context, version string) (string, error)

	mu     sync.Mutex
	groups map[string]string
}

// NewCloudWatchSource reads the metrics of the load balancer whose ARN
// suffix is loadBalancer (app/<name>/<id>); targetGroup returns a
// version's target group ARN suffix (targetgroup/<name>/<id>).
func NewCloudWatchSource(api MetricsAPI, loadBalancer string, targetGroup func(ctx context.Context, version string) (string, error)) *CloudWatchSource {
	return &CloudWatchSource{api: api, loadBalancer: loadBalancer, targetGroup: targetGroup, groups: map[string]string{}}
}

// Resolution implements Source: the ALB publishes one data point a minute.
func (s *CloudWatchSource) Resolution() time.Duration { return time.Minute }

// Close implements Source.
func (s *CloudWatchSource) Close() error { return nil }

func (s *CloudWatchSource) group(ctx context.Context, version string) (string, error) {
	s.mu.Lock()
	g, ok := s.groups[version]
	s.mu.Unlock()
	if ok {
		return g, nil
	}
	g, err := s.targetGroup(ctx, version)
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	s.groups[version] = g
	s.mu.Unlock()
	return g, nil
}

// The queries of one version, by the suffix of their ids.
var cloudWatchQueries = []struct {
	suffix, metric, stat string
}{
	{"requests", "RequestCount", "Sum"},
	{"target5xx", "HTTPCode_Target_5XX_Count", "Sum"},
	{"connerr", "TargetConnectionErrorCount", "Sum"},
	{"p50", "TargetResponseTime", "p50"},
	{"p99", "TargetResponseTime", "p99"},
}

// Stats implements Source. The window is widened to whole minutes, as the
// ALB's data points are; counts are summed over them and each percentile
// is the highest of the minutes'.
func (s *CloudWatchSource) Stats(ctx context.Context, from, to time.Time, versions ...string) (map[string]Stats, error) {
	start := from.Truncate(time.Minute)
	end := to.Truncate(time.Minute).Add(time.Minute)
	var queries []types.MetricDataQuery
	for i, v := range versions {
		tg, err := s.group(ctx, v)
		if err != nil {
			return nil, err
		}
		for _, q := range cloudWatchQueries {
			queries = append(queries, types.MetricDataQuery{
				Id: aws.String(fmt.Sprintf("v%d_%s", i, q.suffix)),
				MetricStat: &types.MetricStat{
					Metric: &types.Metric{
						Namespace:  aws.String("AWS/ApplicationELB"),
						MetricName: aws.String(q.metric),
						Dimensions: []types.Dimension{
							{Name: aws.String("LoadBalancer"), Value: aws.String(s.loadBalancer)},
							{Name: aws.String("TargetGroup"), Value: aws.String(tg)},
						},
					},
					Period: aws.Int32(60),
					Stat:   aws.String(q.stat),
				},
			})
		}
	}
	values := map[string][]float64{}
	in := &cloudwatch.GetMetricDataInput{MetricDataQueries: queries, StartTime: aws.Time(start), EndTime: aws.Time(end)}
	for {
		out, err := s.api.GetMetricData(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("reading the load balancer's CloudWatch metrics: %w", err)
		}
		for _, r := range out.MetricDataResults {
			values[aws.ToString(r.Id)] = append(values[aws.ToString(r.Id)], r.Values...)
		}
		if out.NextToken == nil {
			break
		}
		in.NextToken = out.NextToken
	}
	stats := make(map[string]Stats, len(versions))
	for i, v := range versions {
		get := func(suffix string) []float64 { return values[fmt.Sprintf("v%d_%s", i, suffix)] }
		var st Stats
		st.Requests = int(sum(get("requests")))
		st.Errors = int(sum(get("target5xx")) + sum(get("connerr")))
		st.P50 = seconds(highest(get("p50")))
		st.P99 = seconds(highest(get("p99")))
		stats[v] = st
	}
	return stats, nil
}

func sum(xs []float64) float64 {
	t := 0.0
	for _, x := range xs {
		t += x
	}
	return t
}

func highest(xs []float64) float64 {
	h := 0.0
	for _, x := range xs {
		h = max(h, x)
	}
	return h
}

func seconds(s float64) Duration { return Duration(s * float64(time.Second)) }
