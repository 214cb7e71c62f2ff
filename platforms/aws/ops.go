package aws

import (
	"context"
	"fmt"
	"strings"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"

	"github.com/phoenix-iac/phoenix/internal/analysis"
	"github.com/phoenix-iac/phoenix/internal/awslogs"
	"github.com/phoenix-iac/phoenix/internal/platform"
	"github.com/phoenix-iac/phoenix/stacks"
)

// sdkConfig is the AWS SDK's configuration for env: its aws:region, and
// credentials and endpoints as the AWS CLI finds them (environment, shared
// files, the instance's or task's role). The variables are read as the
// Pulumi CLI and its aws plugin see them (env.Getenv), so that phoenix's
// own calls go to the same account and endpoint as the program's.
func sdkConfig(ctx context.Context, env platform.Env) (awssdk.Config, error) {
	region, _ := env.File.Get(KeyRegion)
	if region == "" {
		return awssdk.Config{}, fmt.Errorf("Pulumi.%s.yaml sets no %s; set it with: pulumi config set %s <region> -s %s", env.Name, KeyRegion, KeyRegion, env.Name)
	}
	opts := []func(*config.LoadOptions) error{config.WithRegion(region)}
	if getenv := env.Getenv; getenv != nil {
		if p := getenv("AWS_PROFILE"); p != "" {
			opts = append(opts, config.WithSharedConfigProfile(p))
		}
		if u := getenv("AWS_ENDPOINT_URL"); u != "" {
			opts = append(opts, config.WithBaseEndpoint(u))
		}
		if id, secret := getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY"); id != "" && secret != "" {
			opts = append(opts, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(id, secret, getenv("AWS_SESSION_TOKEN"))))
		}
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return awssdk.Config{}, fmt.Errorf("loading AWS credentials for region %s: %w", region, err)
	}
	return cfg, nil
}

// serviceEndpoint is the endpoint of one service's client as
// AWS_ENDPOINT_URL_<SERVICE> names it (the SDK's service-specific
// variable), read as the Pulumi CLI and its plugins see it; nil keeps the
// client's default.
func serviceEndpoint(env platform.Env, service string) *string {
	if env.Getenv == nil {
		return nil
	}
	if u := env.Getenv("AWS_ENDPOINT_URL_" + service); u != "" {
		return &u
	}
	return nil
}

// AnalysisSource implements platform.Analyzer: the ALB's CloudWatch
// metrics of each version's target group.
func (Platform) AnalysisSource(ctx context.Context, env platform.Env, since time.Time) (analysis.Source, error) {
	if outputsOf(env).LoadBalancer == "" {
		return nil, fmt.Errorf("env stack %s does not name its load balancer's ARN suffix (output %s), which the analysis reads CloudWatch metrics by; update it with phoenix deploy --env %s, or pass --analysis=false",
			env.Name, stacks.OutLoadBalancer, env.Name)
	}
	cfg, err := sdkConfig(ctx, env)
	if err != nil {
		return nil, err
	}
	return analysis.NewCloudWatchSource(cloudwatch.NewFromConfig(cfg), outputsOf(env).LoadBalancer, func(ctx context.Context, version string) (string, error) {
		outs, err := env.VersionOutputs(ctx, version)
		if err != nil {
			return "", err
		}
		tg, _ := outs[OutTargetGroupMetrics].(string)
		if tg == "" {
			return "", fmt.Errorf("version stack %s.%s does not name its target group's ARN suffix (output %s), which the analysis reads CloudWatch metrics by: it predates the analysis; pass --analysis=false",
				env.Name, version, OutTargetGroupMetrics)
		}
		return tg, nil
	}), nil
}

// Logs implements platform.LogReader: the version's streams (prefix
// <version>/) in the env's CloudWatch log group.
func (Platform) Logs(ctx context.Context, env platform.Env, q platform.LogQuery, out func(platform.LogLine) error) error {
	if outputsOf(env).LogGroup == "" {
		return fmt.Errorf("env stack %s names no log group (output %s)", env.Name, OutLogGroupName)
	}
	cfg, err := sdkConfig(ctx, env)
	if err != nil {
		return err
	}
	return awslogs.Read(ctx, cloudwatchlogs.NewFromConfig(cfg), awslogs.Options{Group: outputsOf(env).LogGroup, Version: q.Version, Since: q.Since, Follow: q.Follow},
		func(e awslogs.Event) error {
			// The stream is <version>/<container>/<task id>: the task is
			// the replica.
			source := e.Stream
			if parts := strings.Split(e.Stream, "/"); len(parts) == 3 {
				source = parts[2]
			}
			return out(platform.LogLine{Time: e.Time, Version: q.Version, Source: source, Line: e.Message})
		})
}
