package aws

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/phoenix-iac/phoenix/internal/platform"
	"github.com/phoenix-iac/phoenix/stacks"
)

// Artifact implements platform.Promoter: the image the version runs, by
// ECR digest (<repository URL>@sha256:...), once the registry has said
// that the env's repository still holds it.
func (Platform) Artifact(ctx context.Context, env platform.Env, version string) (string, error) {
	ref, err := env.VersionImage(ctx, version)
	if err != nil {
		return "", err
	}
	repo, digest, ok := strings.Cut(ref, "@")
	if !ok || !stacks.ImageByDigest(ref) {
		return "", fmt.Errorf("version stack %s.%s names no image by digest (output %s: %q): it is incomplete or was made by an older phoenix; deploy it again with: phoenix deploy --env %s",
			env.Name, version, stacks.OutImage, ref, env.Name)
	}
	reg, err := openRegistry(ctx, env)
	if err != nil {
		return "", err
	}
	src, err := reg.ref(repo, digest)
	if err != nil {
		return "", err
	}
	if _, err := remote.Head(src, reg.opts(ctx)...); err != nil {
		if isNotFound(err) {
			return "", &platform.NotFoundError{What: fmt.Sprintf("version %s.%s runs image %s, which its repository no longer holds (deleted, or expired by the repository's lifecycle policy): there is nothing to promote; deploy from source instead: phoenix deploy --env ENV",
				env.Name, version, ref)}
		}
		return "", fmt.Errorf("reading image %s: %w", ref, err)
	}
	return ref, nil
}

// Copy implements platform.Promoter: it copies image, a version of from's
// by digest, into to's repository under the tag version, and returns it
// there by the same digest. go-containerregistry reads the manifest and
// its blobs from the source repository and writes them to the target:
// each layer is mounted from the source when the registry allows blob
// mounting (an ECR registry setting; the two repositories are in one
// registry), and streamed through this machine when it does not. A tag
// that holds the image already (a promotion run again) is no error; one
// that holds another image is.
func (Platform) Copy(ctx context.Context, from, to platform.Env, image, version string) (string, error) {
	srcRepo, digest, ok := strings.Cut(image, "@")
	if !ok || !stacks.ImageByDigest(image) {
		return "", fmt.Errorf("image %q is not <repository>@sha256:<digest>", image)
	}
	dstRepo := outputsOf(to).Repository
	if dstRepo == "" {
		return "", fmt.Errorf("env stack %s names no image repository (output %s): deploy it once with: phoenix deploy --env %s", to.Name, OutRepositoryURL, to.Name)
	}
	srcHost, _, _ := strings.Cut(srcRepo, "/")
	dstHost, _, _ := strings.Cut(dstRepo, "/")
	if srcHost != dstHost {
		return "", fmt.Errorf("env %s's images are in registry %s and env %s's in %s: phoenix copies images within one registry (one account and region); deploy %s from source: phoenix deploy --env %s",
			from.Name, srcHost, to.Name, dstHost, to.Name, to.Name)
	}
	reg, err := openRegistry(ctx, to)
	if err != nil {
		return "", err
	}
	src, err := reg.ref(srcRepo, digest)
	if err != nil {
		return "", err
	}
	dst, err := reg.tag(dstRepo, version)
	if err != nil {
		return "", err
	}
	copied := dstRepo + "@" + digest
	switch held, err := remote.Head(dst, reg.opts(ctx)...); {
	case err == nil && held.Digest.String() == digest:
		to.Logf("%s:%s holds %s already", dstRepo, version, digest)
		return copied, nil
	case err == nil:
		return "", fmt.Errorf("%s:%s holds image %s, not %s, and the repository's tags are immutable: version %s of env %s was made from another image; promote as another version, or destroy that one first (phoenix destroy --env %s --version %s)",
			dstRepo, version, held.Digest, digest, version, to.Name, to.Name, version)
	case !isNotFound(err):
		return "", fmt.Errorf("reading %s:%s: %w", dstRepo, version, err)
	}
	desc, err := remote.Get(src, reg.opts(ctx)...)
	if err != nil {
		if isNotFound(err) {
			return "", &platform.NotFoundError{What: fmt.Sprintf("image %s is no longer in its repository: there is nothing to promote", image)}
		}
		return "", fmt.Errorf("reading %s: %w", image, err)
	}
	to.Logf("copying %s to %s:%s", image, dstRepo, version)
	if desc.MediaType.IsIndex() {
		idx, err := desc.ImageIndex()
		if err != nil {
			return "", err
		}
		err = remote.WriteIndex(dst, idx, reg.opts(ctx)...)
	} else {
		img, err := desc.Image()
		if err != nil {
			return "", err
		}
		err = remote.Write(dst, img, reg.opts(ctx)...)
	}
	if err != nil {
		return "", fmt.Errorf("writing %s:%s: %w", dstRepo, version, err)
	}
	return copied, nil
}

// registry is the env's ECR registry, as the registry API reaches it.
type registry struct {
	auth authn.Authenticator
	// endpoint is where ECR says the registry answers
	// (GetAuthorizationToken's proxyEndpoint): https://<repository host>
	// on AWS.
	endpoint *url.URL
}

// openRegistry gets a registry token for env's account and region from
// ECR (good for 12 hours; this command uses it once).
func openRegistry(ctx context.Context, env platform.Env) (*registry, error) {
	client, err := ecrClient(ctx, env)
	if err != nil {
		return nil, err
	}
	out, err := client.GetAuthorizationToken(ctx, &ecr.GetAuthorizationTokenInput{})
	if err != nil {
		return nil, fmt.Errorf("getting a registry token from ECR (ecr:GetAuthorizationToken): %w", err)
	}
	if len(out.AuthorizationData) == 0 || out.AuthorizationData[0].AuthorizationToken == nil || out.AuthorizationData[0].ProxyEndpoint == nil {
		return nil, errors.New("ECR answered GetAuthorizationToken with no token")
	}
	data := out.AuthorizationData[0]
	raw, err := base64.StdEncoding.DecodeString(*data.AuthorizationToken)
	if err != nil {
		return nil, fmt.Errorf("ECR's registry token: %w", err)
	}
	user, pw, ok := strings.Cut(string(raw), ":")
	if !ok {
		return nil, errors.New("ECR's registry token is not user:password")
	}
	endpoint, err := url.Parse(*data.ProxyEndpoint)
	if err != nil || endpoint.Host == "" {
		return nil, fmt.Errorf("ECR's registry endpoint %q is not a URL", *data.ProxyEndpoint)
	}
	return &registry{auth: authn.FromConfig(authn.AuthConfig{Username: user, Password: pw}), endpoint: endpoint}, nil
}

// repository is a repository URL's repository on the registry's
// endpoint.
func (r *registry) repository(repoURL string) (name.Repository, error) {
	_, path, ok := strings.Cut(repoURL, "/")
	if !ok || path == "" {
		return name.Repository{}, fmt.Errorf("image repository %q is not <registry>/<name>", repoURL)
	}
	var opts []name.Option
	if r.endpoint.Scheme == "http" {
		opts = append(opts, name.Insecure)
	}
	reg, err := name.NewRegistry(r.endpoint.Host, opts...)
	if err != nil {
		return name.Repository{}, err
	}
	return reg.Repo(path), nil
}

func (r *registry) ref(repoURL, digest string) (name.Reference, error) {
	repo, err := r.repository(repoURL)
	if err != nil {
		return nil, err
	}
	return repo.Digest(digest), nil
}

func (r *registry) tag(repoURL, tag string) (name.Reference, error) {
	repo, err := r.repository(repoURL)
	if err != nil {
		return nil, err
	}
	return repo.Tag(tag), nil
}

func (r *registry) opts(ctx context.Context) []remote.Option {
	return []remote.Option{remote.WithAuth(r.auth), remote.WithContext(ctx), remote.WithTransport(http.DefaultTransport)}
}

// isNotFound reports whether the registry answered 404.
func isNotFound(err error) bool {
	var te *transport.Error
	return errors.As(err, &te) && te.StatusCode == http.StatusNotFound
}
