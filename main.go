// Command phoenix-program is the Phoenix Pulumi program, run by `pulumi up`.
// It only wires stacks.Program, with the platforms registered; the phoenix
// CLI runs the same function inline.
package main

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	_ "github.com/phoenix-iac/phoenix/platforms"
	"github.com/phoenix-iac/phoenix/stacks"
)

func main() {
	pulumi.Run(stacks.Program)
}
