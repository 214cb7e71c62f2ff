package platforms

import (
	"os"
	"strings"
	"testing"

	"github.com/phoenix-iac/phoenix/platforms/aws"
	"github.com/phoenix-iac/phoenix/platforms/docker"
)

// TestPluginVersionsMatchGoMod keeps the plugins the platforms ask for
// equal to the SDK versions the program is compiled against.
func TestPluginVersionsMatchGoMod(t *testing.T) {
	b, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	for mod, want := range map[string]string{
		"github.com/pulumi/pulumi-aws/sdk/v6":    aws.PluginVersion,
		"github.com/pulumi/pulumi-docker/sdk/v4": docker.PluginVersion,
	} {
		line := ""
		for _, l := range strings.Split(string(b), "\n") {
			if f := strings.Fields(l); len(f) >= 2 && f[0] == mod {
				line = f[1]
			}
		}
		if line != "v"+want {
			t.Errorf("go.mod requires %s %s, phoenix installs plugin v%s", mod, line, want)
		}
	}
}
