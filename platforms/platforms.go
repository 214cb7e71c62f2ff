// Package platforms registers every platform Phoenix runs on: the one
// place a platform is added. A binary that runs the Phoenix program (main.go,
// the phoenix CLI) imports it for its registrations.
package platforms

import (
	"github.com/phoenix-iac/phoenix/platforms/aws"
	"github.com/phoenix-iac/phoenix/platforms/docker"
	"github.com/phoenix-iac/phoenix/stacks"
)

func init() {
	stacks.Register(docker.Platform{})
	stacks.Register(aws.Platform{})
}
