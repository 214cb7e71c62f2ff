package aws_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"testing"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"

	"github.com/phoenix-iac/phoenix/platforms/aws"
	"github.com/phoenix-iac/phoenix/tests/moto"
)

// TestDeleteImageOnMoto: Release's ECR call, on moto's ECR API (the real
// wire format): the version's tag leaves the repository and the other
// versions' stay; a tag that is not there, or a repository that is not,
// is no error (a re-run, a version never pushed, an env destroyed).
func TestDeleteImageOnMoto(t *testing.T) {
	srv := moto.Start(t)
	client := ecr.New(ecr.Options{Region: "eu-west-1", BaseEndpoint: awssdk.String(srv.Endpoint()),
		Credentials: awssdk.NewCredentialsCache(staticCreds{})})
	ctx := context.Background()
	repo, err := client.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: awssdk.String("dev-app"), ImageTagMutability: ecrtypes.ImageTagMutabilityImmutable})
	if err != nil {
		t.Fatal(err)
	}
	url := awssdk.ToString(repo.Repository.RepositoryUri)
	for _, v := range []string{"3f9a1c2e", "7b2d0e11"} {
		if _, err := client.PutImage(ctx, &ecr.PutImageInput{RepositoryName: awssdk.String("dev-app"), ImageTag: awssdk.String(v), ImageManifest: awssdk.String(manifest(v))}); err != nil {
			t.Fatal(err)
		}
	}

	if err := aws.DeleteImage(ctx, client, url, "3f9a1c2e"); err != nil {
		t.Fatalf("deleting 3f9a1c2e from %s: %v", url, err)
	}
	left, err := client.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: awssdk.String("dev-app")})
	if err != nil {
		t.Fatal(err)
	}
	var tags []string
	for _, d := range left.ImageDetails {
		tags = append(tags, d.ImageTags...)
	}
	if fmt.Sprint(tags) != "[7b2d0e11]" {
		t.Errorf("the repository holds %v, want [7b2d0e11]", tags)
	}
	if err := aws.DeleteImage(ctx, client, url, "3f9a1c2e"); err != nil {
		t.Errorf("deleting a tag that is gone: %v, want no error", err)
	}
	if err := aws.DeleteImage(ctx, client, "123456789012.dkr.ecr.eu-west-1.amazonaws.com/gone", "3f9a1c2e"); err != nil {
		t.Errorf("deleting from a repository that is gone: %v, want no error", err)
	}
	if err := aws.DeleteImage(ctx, client, "no-repository-name", "3f9a1c2e"); err == nil {
		t.Error("a repository URL without a name: no error")
	}
	var denied *ecrtypes.RepositoryNotFoundException
	if err := aws.DeleteImage(ctx, failing{}, url, "x"); err == nil || errors.As(err, &denied) {
		t.Errorf("an access denied: %v, want the error", err)
	}
}

type staticCreds struct{}

func (staticCreds) Retrieve(context.Context) (awssdk.Credentials, error) {
	return awssdk.Credentials{AccessKeyID: "test", SecretAccessKey: "test"}, nil
}

type failing struct{}

func (failing) BatchDeleteImage(context.Context, *ecr.BatchDeleteImageInput, ...func(*ecr.Options)) (*ecr.BatchDeleteImageOutput, error) {
	return nil, errors.New("AccessDeniedException: not authorized to perform ecr:BatchDeleteImage")
}

// manifest is a Docker image manifest whose config digest is derived from seed.
func manifest(seed string) string {
	h := sha256.Sum256([]byte(seed))
	return fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":7023,"digest":"sha256:%s"},"layers":[]}`, hex.EncodeToString(h[:]))
}
