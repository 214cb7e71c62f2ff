// Command pulumi-resource-docker is the docker provider plugin that Phoenix's
// end-to-end tests run: kreuzwerker's Terraform provider for Docker (the
// provider the official pulumi-docker plugin wraps for containers, networks,
// volumes and RemoteImage), served through pulumi-terraform-bridge under the
// tokens and property names of the pulumi-docker v4.10.0 SDK. Users get the
// official plugin; CI, which cannot download plugins, gets this build of the
// same upstream provider. It reports version 4.10.0 so that the SDK's
// default provider resolves to it.
//
// Only what Phoenix uses is mapped, and mapped the way the official plugin
// maps it: containers are replaced delete-before-create, `command` and
// `networks_advanced` keep the names the SDK gives them, and container,
// network and volume names are auto-names (logical name plus a random
// suffix) when the program does not set them.
package main

import (
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"
	shimv2 "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfshim/sdk-v2"
	"github.com/terraform-providers/terraform-provider-docker/internal/provider"
)

// version is the pulumi-docker release whose SDK the program is built with.
const version = "4.10.0"

func main() {
	tfbridge.Main("docker", version, providerInfo(), nil)
}

func providerInfo() tfbridge.ProviderInfo {
	info := tfbridge.ProviderInfo{
		P:       shimv2.NewProvider(provider.New(version)()),
		Name:    "docker",
		Version: version,
		Config: map[string]*tfbridge.SchemaInfo{
			// The engine is found as the Docker CLI finds it.
			"host": {Default: &tfbridge.DefaultInfo{
				Value:   "unix:///var/run/docker.sock",
				EnvVars: []string{"DOCKER_HOST"},
			}},
			"registry_auth": {Name: "registryAuth"},
		},
		Resources: map[string]*tfbridge.ResourceInfo{
			"docker_container": {
				Tok: "docker:index/container:Container",
				// As the official plugin: a container is removed before its
				// replacement is created.
				DeleteBeforeReplace: true,
				Fields: map[string]*tfbridge.SchemaInfo{
					"command":           {Name: "command"},
					"networks_advanced": {Name: "networksAdvanced"},
				},
			},
			"docker_image": {
				Tok:    "docker:index/remoteImage:RemoteImage",
				Fields: map[string]*tfbridge.SchemaInfo{"name": {Name: "name"}},
			},
			"docker_network": {Tok: "docker:index/network:Network"},
			"docker_volume":  {Tok: "docker:index/volume:Volume"},
		},
	}
	info.SetAutonaming(255, "-")
	return info
}
