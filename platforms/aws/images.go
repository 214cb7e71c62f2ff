package aws

import (
	"context"
	"errors"
	"fmt"
	"strings"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"

	"github.com/phoenix-iac/phoenix/internal/platform"
)

// The resource types that version stacks of phoenix releases before
// pulumi-docker's Image held for their image: the build in the deploying
// machine's Docker (RemoteImage, which a refresh from any other machine
// reads as gone) and the push to ECR with the registry token in its
// inputs (RegistryImage, whose refresh and delete use that token, which
// expires after 12 hours).
const (
	typeRemoteImage   = "docker:index/remoteImage:RemoteImage"
	typeRegistryImage = "docker:index/registryImage:RegistryImage"
)

// Detached implements platform.Detacher: the image resources of versions
// made before the image was one pulumi-docker Image.
func (Platform) Detached(typ string) bool {
	return typ == typeRemoteImage || typ == typeRegistryImage
}

// Detach implements platform.Detacher: the local build is kept (as it
// always was) and the pushed image is kept remotely, so that their deletes
// call neither Docker nor the registry; Release deletes the tag.
func (Platform) Detach(typ string, props map[string]any) {
	switch typ {
	case typeRemoteImage:
		props["keepLocally"] = true
	case typeRegistryImage:
		props["keepRemotely"] = true
	}
}

// ImageDeleter is the part of the ECR API that Release calls.
type ImageDeleter interface {
	BatchDeleteImage(ctx context.Context, in *ecr.BatchDeleteImageInput, opts ...func(*ecr.Options)) (*ecr.BatchDeleteImageOutput, error)
}

// Release implements platform.Releaser: it deletes the version's tag (its
// version id) from the env's repository, and with it the image, which no
// other tag names (the repository's tags are immutable, one per version).
// pulumi-docker's Image never deletes what it pushed; an image left behind
// would be counted by the lifecycle policy and would keep the version id
// from ever being pushed again.
func (Platform) Release(ctx context.Context, env platform.Env, version string) error {
	repo := outputsOf(env).Repository
	if repo == "" {
		// No env stack (destroyed by hand), or one that never finished:
		// its repository, force-deleted with it, took every image along.
		env.Logf("env stack %s names no image repository (output %s): no image of %s to delete", env.Name, OutRepositoryURL, version)
		return nil
	}
	client, err := ecrClient(ctx, env)
	if err != nil {
		return err
	}
	return DeleteImage(ctx, client, repo, version)
}

// ecrClient is an ECR client for env's account and region, at the
// endpoint AWS_ENDPOINT_URL_ECR names, if any.
func ecrClient(ctx context.Context, env platform.Env) (*ecr.Client, error) {
	cfg, err := sdkConfig(ctx, env)
	if err != nil {
		return nil, err
	}
	return ecr.NewFromConfig(cfg, func(o *ecr.Options) {
		if u := serviceEndpoint(env, "ECR"); u != nil {
			o.BaseEndpoint = u
		}
	}), nil
}

// DeleteImage deletes tag from the ECR repository at repoURL
// (<account>.dkr.ecr.<region>.amazonaws.com/<name>). A tag that is not
// there is no error: the version was never pushed, or is released already.
func DeleteImage(ctx context.Context, client ImageDeleter, repoURL, tag string) error {
	host, name, ok := strings.Cut(repoURL, "/")
	if !ok || name == "" {
		return fmt.Errorf("image repository %q is not <registry>/<name>", repoURL)
	}
	account, _, _ := strings.Cut(host, ".")
	out, err := client.BatchDeleteImage(ctx, &ecr.BatchDeleteImageInput{
		RegistryId:     awssdk.String(account),
		RepositoryName: awssdk.String(name),
		ImageIds:       []ecrtypes.ImageIdentifier{{ImageTag: awssdk.String(tag)}},
	})
	var notFound *ecrtypes.RepositoryNotFoundException
	if errors.As(err, &notFound) {
		return nil // the env's repository is gone, and every image with it
	}
	if err != nil {
		return fmt.Errorf("deleting image %s:%s: %w", repoURL, tag, err)
	}
	for _, f := range out.Failures {
		if f.FailureCode == ecrtypes.ImageFailureCodeImageNotFound {
			continue
		}
		return fmt.Errorf("deleting image %s:%s: %s: %s", repoURL, tag, f.FailureCode, awssdk.ToString(f.FailureReason))
	}
	return nil
}
