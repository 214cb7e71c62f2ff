package docker

import (
	"context"
	"errors"
	"fmt"

	"github.com/phoenix-iac/phoenix/internal/dockerengine"
	"github.com/phoenix-iac/phoenix/internal/platform"
)

// Artifact implements platform.Promoter: the id of the image the version
// runs, looked up in the Docker engine by the image its stack names (the
// tag of its build, or the id a promoted version runs).
func (Platform) Artifact(ctx context.Context, env platform.Env, version string) (string, error) {
	ref, err := env.VersionImage(ctx, version)
	if err != nil {
		return "", err
	}
	c, err := client(env, "promote looks up the version's image", "promote from a machine whose DOCKER_HOST is a unix:// or plain tcp:// address")
	if err != nil {
		return "", err
	}
	id, err := c.ImageID(ctx, ref)
	if errors.Is(err, dockerengine.ErrNoImage) {
		return "", &platform.NotFoundError{What: fmt.Sprintf("version %s.%s runs image %s, which the Docker engine at %s no longer has (removed by hand?): there is nothing to promote; deploy from source instead: phoenix deploy --env ENV",
			env.Name, version, ref, dockerengine.Host(env.Getenv))}
	}
	if err != nil {
		return "", err
	}
	return id, nil
}

// Copy implements platform.Promoter. Every env of the docker platform is
// on the one engine that DOCKER_HOST names, which holds the image
// already: there is nothing to copy, and the version runs it by id.
func (Platform) Copy(_ context.Context, _, _ platform.Env, image, _ string) (string, error) {
	return image, nil
}
