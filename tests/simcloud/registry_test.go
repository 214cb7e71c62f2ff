package simcloud

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/protobuf/types/known/structpb"
)

const testRepo = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/dev-app"

// TestECRTokenExpires: an ECR token is good for 12 hours of the cloud's
// clock; then a push is refused, a RegistryImage holding it reads as gone
// (as the Terraform Docker provider reads a registry error) and its delete
// fails, while a pulumi-docker Image reads as it was stored.
func TestECRTokenExpires(t *testing.T) {
	c := New()
	token, exp := c.ecrToken()
	if d := time.Until(exp); d < 11*time.Hour || d > 12*time.Hour {
		t.Errorf("token expires in %s, want 12 h", d)
	}
	auth := func(k string) map[string]any {
		return map[string]any{k: map[string]any{"password": resource.MakeSecret(resource.NewProperty(token))}}
	}
	reg := props(auth("authConfig"))
	reg["name"] = resource.NewProperty(testRepo + ":v1")
	r, err := c.create("docker:index/registryImage:RegistryImage", "v1", reg)
	if err != nil {
		t.Fatalf("pushing with a fresh token: %v", err)
	}
	img := props(auth("registry"))
	img["imageName"] = resource.NewProperty(testRepo + ":v2")
	if _, err := c.create("docker:index/image:Image", "v2", img); err != nil {
		t.Fatalf("pushing with a fresh token: %v", err)
	}

	c.Advance(11 * time.Hour)
	if _, ok := c.read(r.ID); !ok {
		t.Error("after 11 hours the RegistryImage reads as gone")
	}
	c.Advance(2 * time.Hour)
	if _, ok := c.read(r.ID); ok {
		t.Error("after 13 hours the RegistryImage with its stored token reads as present: ECR refuses an expired token")
	}
	if err := c.delete(r.ID, r.Type, r.Name); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Errorf("deleting with an expired token: %v, want ECR's refusal", err)
	}
	// As the provider does, the delete decides by the state the engine
	// passes: kept remotely, it calls no registry.
	kept := r.Inputs.Copy()
	kept["keepRemotely"] = resource.NewProperty(true)
	if err := c.deleteWith(r.ID, r.Type, r.Name, kept); err != nil {
		t.Errorf("deleting, kept remotely, with an expired token: %v", err)
	}
	if tags := c.Tags(testRepo); len(tags) != 2 {
		t.Errorf("after a delete kept remotely the repository holds %v, want v1 and v2", tags)
	}
	img["imageName"] = resource.NewProperty(testRepo + ":v3")
	if _, err := c.create("docker:index/image:Image", "v3", img); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Errorf("pushing with an expired token: %v, want ECR's refusal", err)
	}

	// The provider's Read of a pulumi-docker Image returns what it was given.
	p := &provider{pkg: "docker", cloud: c}
	state, _ := marshal(props(map[string]any{"repoDigest": testRepo + "@sha256:1"}))
	res, err := p.Read(context.Background(), &pulumirpc.ReadRequest{Id: "gone", Urn: "urn:pulumi:s::p::docker:index/image:Image::v9", Properties: state})
	if err != nil || res.GetId() != "gone" {
		t.Errorf("reading an Image: %v, %v; want its state as passed", res, err)
	}
}

// TestLocalImagesStayOnTheirMachine: a RemoteImage's build is in the image
// store of the machine that built it: another machine reads it as gone.
func TestLocalImagesStayOnTheirMachine(t *testing.T) {
	c := New()
	c.SetMachine("a")
	r, err := c.create("docker:index/remoteImage:RemoteImage", "v1-build", props(map[string]any{"name": testRepo + ":v1"}))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.read(r.ID); !ok {
		t.Error("the machine that built the image does not find it")
	}
	c.SetMachine("b")
	if _, ok := c.read(r.ID); ok {
		t.Error("another machine finds the image in its Docker")
	}
}

// TestECRAPI: the ECR calls phoenix makes itself, through the AWS SDK,
// delete and list the registry's tags.
func TestECRAPI(t *testing.T) {
	c := New()
	for _, v := range []string{"v1", "v2"} {
		if _, err := c.create("docker:index/image:Image", v, props(map[string]any{"imageName": testRepo + ":" + v, "registry": map[string]any{"server": "x"}})); err != nil {
			t.Fatal(err)
		}
	}
	url, stop, err := c.ServeECR()
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	client := ecr.New(ecr.Options{Region: "eu-west-1", BaseEndpoint: aws.String(url), Credentials: aws.AnonymousCredentials{}})
	ctx := context.Background()
	out, err := client.BatchDeleteImage(ctx, &ecr.BatchDeleteImageInput{RepositoryName: aws.String("dev-app"),
		ImageIds: []ecrtypes.ImageIdentifier{{ImageTag: aws.String("v1")}, {ImageTag: aws.String("v9")}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.ImageIds) != 1 || len(out.Failures) != 1 || out.Failures[0].FailureCode != ecrtypes.ImageFailureCodeImageNotFound {
		t.Errorf("deleted %v, failures %v; want v1 deleted and v9 not found", out.ImageIds, out.Failures)
	}
	if got := c.Tags(testRepo); len(got) != 1 || got[0] != "v2" {
		t.Errorf("the repository holds %v, want [v2]", got)
	}
	list, err := client.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("dev-app")})
	if err != nil || len(list.ImageDetails) != 1 || list.ImageDetails[0].ImageTags[0] != "v2" {
		t.Errorf("DescribeImages: %v, %v; want v2", list, err)
	}
}

// TestImageDiffsItsRegistryByServer: as pulumi-docker's Image does, a new
// registry password (an ECR token each run) is no change; a new server is.
func TestImageDiffsItsRegistryByServer(t *testing.T) {
	p := &provider{pkg: "docker", cloud: New()}
	reg := func(server, password string) *structpb.Struct {
		s, _ := marshal(props(map[string]any{"imageName": testRepo + ":v1",
			"registry": map[string]any{"server": server, "password": resource.MakeSecret(resource.NewProperty(password))}}))
		return s
	}
	diff := func(olds, news *structpb.Struct) pulumirpc.DiffResponse_DiffChanges {
		res, err := p.Diff(context.Background(), &pulumirpc.DiffRequest{Urn: "urn:pulumi:s::p::docker:index/image:Image::v1", Olds: olds, News: news})
		if err != nil {
			t.Fatal(err)
		}
		return res.GetChanges()
	}
	if got := diff(reg("a.ecr", "token-1"), reg("a.ecr", "token-2")); got != pulumirpc.DiffResponse_DIFF_NONE {
		t.Errorf("a new password: %v, want no change", got)
	}
	if got := diff(reg("a.ecr", "token-1"), reg("b.ecr", "token-1")); got != pulumirpc.DiffResponse_DIFF_SOME {
		t.Errorf("a new server: %v, want a change", got)
	}
}

// TestLifecyclePolicyExpiresImages: as ECR does, a policy's count rule
// expires the oldest pushes beyond its count whatever runs them, and an
// age rule those pushed longer ago than its days; a policy that selects
// only untagged images (phoenix's) expires no version's image.
func TestLifecyclePolicyExpiresImages(t *testing.T) {
	push := func(c *Cloud, v string) {
		t.Helper()
		if _, err := c.create("docker:index/image:Image", v, props(map[string]any{"imageName": testRepo + ":" + v, "registry": map[string]any{"server": "x"}})); err != nil {
			t.Fatal(err)
		}
	}
	policy := func(c *Cloud, rule string) {
		t.Helper()
		if _, err := c.create("aws:ecr/lifecyclePolicy:LifecyclePolicy", "dev-app", props(map[string]any{"repository": "dev-app",
			"policy": `{"rules":[{"rulePriority":1,"selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":1},"action":{"type":"expire"}}` + rule + `]}`})); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("count", func(t *testing.T) {
		c := New()
		policy(c, `,{"rulePriority":2,"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":2},"action":{"type":"expire"}}`)
		for _, v := range []string{"v1", "v2", "v3"} {
			push(c, v)
			c.Advance(time.Minute)
		}
		if got := c.Tags(testRepo); strings.Join(got, " ") != "v2 v3" {
			t.Errorf("after 3 pushes under a count of 2 the repository holds %v, want [v2 v3]", got)
		}
		if got := c.Expired(); len(got) != 1 || got[0] != testRepo+":v1" {
			t.Errorf("expired %v, want v1", got)
		}
	})
	t.Run("age", func(t *testing.T) {
		c := New()
		policy(c, `,{"rulePriority":2,"selection":{"tagStatus":"tagged","tagPrefixList":["v"],"countType":"sinceImagePushed","countUnit":"days","countNumber":7},"action":{"type":"expire"}}`)
		push(c, "v1")
		c.Advance(6 * 24 * time.Hour)
		push(c, "v2")
		if got := c.Tags(testRepo); len(got) != 2 {
			t.Fatalf("after 6 days the repository holds %v, want both", got)
		}
		c.Advance(2 * 24 * time.Hour)
		if got := c.Tags(testRepo); strings.Join(got, " ") != "v2" {
			t.Errorf("8 days after v1's push the repository holds %v, want [v2]", got)
		}
	})
	t.Run("untagged only", func(t *testing.T) {
		c := New()
		policy(c, "")
		for i := range 40 {
			push(c, "v"+strconv.Itoa(i))
			c.Advance(24 * time.Hour)
		}
		if got := c.Tags(testRepo); len(got) != 40 {
			t.Errorf("40 pushes over 40 days under an untagged-only policy left %d images, want 40", len(got))
		}
	})
}
