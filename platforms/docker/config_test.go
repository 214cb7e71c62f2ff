package docker_test

import (
	"reflect"
	"testing"

	_ "github.com/phoenix-iac/phoenix/platforms"
	"github.com/phoenix-iac/phoenix/platforms/docker"
	"github.com/phoenix-iac/phoenix/stacks"
	"github.com/phoenix-iac/phoenix/stacks/configtest"
)

func TestSettingsDefaults(t *testing.T) {
	c, err := stacks.ParseConfig(configtest.Getter(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := docker.Config{Port: 8080, ListenAddress: "127.0.0.1", CaddyImage: docker.DefaultCaddyImage}
	if c.Platform != docker.Name || !reflect.DeepEqual(c.Settings, want) {
		t.Errorf("platform %s, settings %+v; want docker and %+v", c.Platform, c.Settings, want)
	}
}

func TestSettingsRefuse(t *testing.T) {
	configtest.Refuses(t, []configtest.Refusal{
		configtest.Case("listen address not an IP", configtest.With(nil, docker.KeyListenAddress, "localhost"), docker.KeyListenAddress, "IP address of this host"),
		configtest.Case("caddy image latest", configtest.With(nil, docker.KeyCaddyImage, "caddy:latest"), docker.KeyCaddyImage, "pinned"),
		configtest.Case("caddy image untagged", configtest.With(nil, docker.KeyCaddyImage, "caddy"), docker.KeyCaddyImage, "pinned"),
	})
}
