// Command caddy is the docker platform's load balancer: Caddy, at the
// version the project pins (go.mod), with the modules the edge's config
// uses and Phoenix's traffic module (package traffic), which routes each
// request by the env's traffic table so that a cut-over is a file write
// that no server, listener or connection notices.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/caddyhttp"
	_ "github.com/caddyserver/caddy/v2/modules/caddyhttp/logging"
	_ "github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
	_ "github.com/caddyserver/caddy/v2/modules/logging"

	_ "github.com/phoenix-iac/phoenix/lb/traffic"
)

func main() { caddycmd.Main() }
