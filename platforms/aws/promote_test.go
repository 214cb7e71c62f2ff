package aws_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/phoenix-iac/phoenix/internal/platform"
	"github.com/phoenix-iac/phoenix/platforms/aws"
	"github.com/phoenix-iac/phoenix/stacks"
)

const ecrHost = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"

// fakeECR serves ecr:GetAuthorizationToken, whose proxyEndpoint names
// itself, and a registry (go-containerregistry's in-memory one) under
// /v2/. It counts the tokens it gave.
type fakeECR struct {
	*httptest.Server
	tokens int
}

func startFakeECR(t *testing.T) *fakeECR {
	t.Helper()
	f := &fakeECR{}
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v2") {
			reg.ServeHTTP(w, r)
			return
		}
		io.Copy(io.Discard, r.Body)
		if r.Header.Get("X-Amz-Target") != "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken" {
			http.Error(w, "unexpected call", http.StatusBadRequest)
			return
		}
		f.tokens++
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		json.NewEncoder(w).Encode(map[string]any{"authorizationData": []map[string]any{{
			"authorizationToken": base64.StdEncoding.EncodeToString([]byte("AWS:secret")),
			"proxyEndpoint":      f.URL,
		}}})
	}))
	t.Cleanup(f.Close)
	return f
}

// push writes a random image to repo:tag on the fake registry and returns
// its digest.
func (f *fakeECR) push(t *testing.T, repo, tag string) v1.Hash {
	t.Helper()
	img, err := random.Image(256, 2)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(strings.TrimPrefix(f.URL, "http://") + "/" + repo + ":" + tag)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// digestOf is what the fake registry holds at repo:tag.
func (f *fakeECR) digestOf(t *testing.T, repo, tag string) (v1.Hash, error) {
	t.Helper()
	ref, err := name.ParseReference(strings.TrimPrefix(f.URL, "http://") + "/" + repo + ":" + tag)
	if err != nil {
		t.Fatal(err)
	}
	d, err := remote.Head(ref)
	if err != nil {
		return v1.Hash{}, err
	}
	return d.Digest, nil
}

// awsEnv is an aws env whose repository is <ecrHost>/<env>-app, whose
// ECR is f, and whose version v1 runs image.
func awsEnv(t *testing.T, f *fakeECR, env, image string) platform.Env {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Pulumi."+env+".yaml"), []byte("config:\n  phoenix:platform: aws\n  aws:region: eu-west-1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	file, err := stacks.ReadEnvFile(dir, env)
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"AWS_ENDPOINT_URL_ECR": f.URL, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
	return platform.Env{
		Name: env, File: file,
		Outputs: map[string]any{aws.OutRepositoryURL: ecrHost + "/" + env + "-app"},
		Getenv:  func(k string) string { return vars[k] },
		Logf:    t.Logf,
		VersionOutputs: func(_ context.Context, version string) (map[string]any, error) {
			if version != "v1" {
				return nil, errors.New("no version " + version)
			}
			return map[string]any{stacks.OutImage: image}, nil
		},
	}
}

// TestPromoteCopiesByDigest: a version's artifact is its image by digest
// in its env's repository; the copy puts that digest into the target
// env's repository under the new version's tag, through the registry
// endpoint ECR names, and returns it by the same digest. Copied again it
// is no error; a tag that holds another image, an image gone from its
// repository and a repository in another registry are refused.
func TestPromoteCopiesByDigest(t *testing.T) {
	ctx := context.Background()
	f := startFakeECR(t)
	d := f.push(t, "staging-app", "v1")
	image := ecrHost + "/staging-app@" + d.String()
	staging, prod := awsEnv(t, f, "staging", image), awsEnv(t, f, "prod", "")
	p := aws.Platform{}

	got, err := p.Artifact(ctx, staging, "v1")
	if err != nil || got != image {
		t.Fatalf("Artifact: %q, %v; want %s", got, err, image)
	}
	ref, err := p.Copy(ctx, staging, prod, image, "p1")
	if want := ecrHost + "/prod-app@" + d.String(); err != nil || ref != want {
		t.Fatalf("Copy: %q, %v; want %s", ref, err, want)
	}
	if held, err := f.digestOf(t, "prod-app", "p1"); err != nil || held != d {
		t.Errorf("prod-app:p1 holds %v (%v), want %s", held, err, d)
	}
	if _, err := p.Copy(ctx, staging, prod, image, "p1"); err != nil {
		t.Errorf("Copy again: %v, want the tag found holding the image", err)
	}

	f.push(t, "prod-app", "p2")
	if _, err := p.Copy(ctx, staging, prod, image, "p2"); err == nil || !strings.Contains(err.Error(), "immutable") {
		t.Errorf("Copy onto a tag of another image: %v, want a refusal", err)
	}

	gone := ecrHost + "/staging-app@sha256:" + strings.Repeat("0", 64)
	var nf *platform.NotFoundError
	if _, err := p.Artifact(ctx, awsEnv(t, f, "staging", gone), "v1"); !errors.As(err, &nf) {
		t.Errorf("Artifact of an image gone from its repository: %v, want a NotFoundError", err)
	}
	other := "210987654321.dkr.ecr.us-east-1.amazonaws.com/staging-app@" + d.String()
	if _, err := p.Copy(ctx, staging, prod, other, "p3"); err == nil || !strings.Contains(err.Error(), "within one registry") {
		t.Errorf("Copy from another registry: %v, want a refusal", err)
	}
	if f.tokens == 0 {
		t.Error("no ECR token was asked for")
	}
}
