package docker

import "github.com/phoenix-iac/phoenix/stacks"

// Name is the docker platform's phoenix:platform value, the default.
const Name = stacks.DefaultPlatform

// The docker platform's config keys; Pulumi.yaml documents each one.
const (
	KeyPort          = "phoenix:port"
	KeyListenAddress = "phoenix:listenAddress"
	KeyCaddyImage    = "phoenix:caddyImage"
)

// DefaultCaddyImage is the pinned Caddy image the load balancer image is
// built on. Its version matches the Caddy that lb/ requires, which the
// image ships and the data-plane tests run.
const DefaultCaddyImage = "caddy:2.11.9-alpine"

// Config holds the docker platform's settings.
type Config struct {
	// Port is the host port Caddy publishes.
	Port int
	// ListenAddress is the host address the port is published on:
	// 127.0.0.1 unless the env is meant to be reached from other machines.
	ListenAddress string
	// CaddyImage is the Caddy image reference, pinned to a tag or digest.
	CaddyImage string
}

// Settings implements stacks.Platform.
func (Platform) Settings(p *stacks.ConfigParser, _ *stacks.Config) any {
	return Config{
		Port:          p.Int(KeyPort, 8080, 1, 65535),
		ListenAddress: p.IP(KeyListenAddress, "127.0.0.1"),
		CaddyImage:    p.Image(KeyCaddyImage, DefaultCaddyImage),
	}
}

// settings are c's docker settings.
func settings(c *stacks.Config) Config {
	s, _ := c.Settings.(Config)
	return s
}
