package simcloud

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// TestRegistryCopy: the registry API over what the docker provider
// pushed. Without a valid token nothing is served; an image pushed by a
// build has real digests; a manifest whose blobs are not in the target
// repository is refused (ECR's LayersNotFoundException); a copy between
// repositories uploads its blobs, or mounts them when blob mounting is on;
// a tag is never moved; an image is gone with its tag.
func TestRegistryCopy(t *testing.T) {
	c := New()
	for _, repo := range []string{"staging-app", "prod-app", "test-app"} {
		if _, err := c.create("aws:ecr/repository:Repository", repo, props(map[string]any{"name": repo})); err != nil {
			t.Fatal(err)
		}
	}
	token, _ := c.ecrToken()
	img := props(map[string]any{"imageName": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/staging-app:v1"})
	img["registry"] = resource.NewProperty(resource.PropertyMap{"password": resource.MakeSecret(resource.NewProperty(token))})
	r, err := c.create("docker:index/image:Image", "v1", img)
	if err != nil {
		t.Fatal(err)
	}
	repoDigest := r.Outputs["repoDigest"].StringValue()
	_, digest, _ := strings.Cut(repoDigest, "@")
	if want := "123456789012.dkr.ecr.eu-west-1.amazonaws.com/staging-app@" + digest; repoDigest != want || !c.HasImage("123456789012.dkr.ecr.eu-west-1.amazonaws.com/staging-app", digest) {
		t.Fatalf("pushed %s, want %s held by the repository", repoDigest, want)
	}

	endpoint, stop, err := c.ServeECR()
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	host := strings.TrimPrefix(endpoint, "http://")
	auth := remote.WithAuth(authn.FromConfig(authn.AuthConfig{Username: "AWS", Password: token}))
	ref := func(s string) name.Reference {
		r, err := name.ParseReference(host + "/" + s)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	src := ref("staging-app@" + digest)

	if _, err := remote.Head(src); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("reading without a token: %v, want 401", err)
	}
	desc, err := remote.Get(src, auth)
	if err != nil {
		t.Fatal(err)
	}
	if desc.Digest.String() != digest {
		t.Errorf("the manifest's digest is %s, the push said %s", desc.Digest, digest)
	}

	// The manifest alone, into a repository without its blobs.
	req, _ := http.NewRequest(http.MethodPut, endpoint+"/v2/prod-app/manifests/bare", bytes.NewReader(desc.Manifest))
	req.SetBasicAuth("AWS", token)
	req.Header.Set("Content-Type", string(desc.MediaType))
	if resp, err := http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	} else if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("a manifest without its layers: %s, want 400", resp.Status)
	}

	image, err := desc.Image()
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref("prod-app:p1"), image, auth); err != nil {
		t.Fatalf("copying: %v", err)
	}
	c.SetBlobMounting(true)
	if err := remote.Write(ref("test-app:t1"), image, auth); err != nil {
		t.Fatalf("copying with blob mounting: %v", err)
	}
	pushes := c.RegistryPushes()
	if len(pushes) != 2 || pushes[0].Digest != digest || pushes[0].Tag != "p1" || pushes[0].Uploaded != 2 || pushes[0].Mounted != 0 ||
		pushes[1].Tag != "t1" || pushes[1].Mounted != 2 || pushes[1].Uploaded != 0 {
		t.Errorf("pushes %+v: want p1 with its two blobs uploaded, t1 with them mounted", pushes)
	}

	// Another image under a tag that exists: refused.
	img["imageName"] = resource.NewProperty("123456789012.dkr.ecr.eu-west-1.amazonaws.com/staging-app:v2")
	r2, err := c.create("docker:index/image:Image", "v2", img)
	if err != nil {
		t.Fatal(err)
	}
	_, d2, _ := strings.Cut(r2.Outputs["repoDigest"].StringValue(), "@")
	second, err := remote.Image(ref("staging-app@"+d2), auth)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref("prod-app:p1"), second, auth); err == nil || !strings.Contains(err.Error(), "immutable") {
		t.Errorf("moving tag p1 to another image: %v, want ECR's refusal", err)
	}

	// Its last tag deleted, the image is gone from the repository.
	c.mu.Lock()
	c.untag("123456789012.dkr.ecr.eu-west-1.amazonaws.com/prod-app", "p1")
	c.mu.Unlock()
	if _, err := remote.Head(ref("prod-app@"+digest), auth); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("reading an image whose tag was deleted: %v, want 404", err)
	}
	if _, err := remote.Head(src, auth); err != nil {
		t.Errorf("staging's image: %v", err)
	}
	c.Advance(13 * time.Hour)
	if _, err := remote.Get(src, auth); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Errorf("reading with a token 13 hours old: %v, want it refused", err)
	}
}
