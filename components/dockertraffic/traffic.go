// Package dockertraffic provides the traffic pointer of an env on Docker: a
// small writer container that puts the traffic table (caddyconfig) on the
// config volume with an atomic rename. A cut-over or a rollback replaces
// this writer (the Docker provider cannot update a container in place) and
// nothing else; the load balancer keeps running, and its traffic module
// routes every request after the rename by the new table.
package dockertraffic

import (
	"fmt"

	"github.com/pulumi/pulumi-docker/sdk/v4/go/docker"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/phoenix-iac/phoenix/components/caddyconfig"
	"github.com/phoenix-iac/phoenix/components/dockeredge"
)

// Upstreams are one version's upstream addresses.
type Upstreams struct {
	// Version is the version id.
	Version string
	// Addresses are host:port addresses on the env network.
	Addresses pulumi.StringArrayInput
}

// TrafficArgs configures a Traffic pointer.
type TrafficArgs struct {
	// Env is the env name, used in messages. Required.
	Env string
	// Image is the image the writer runs: the load balancer image, which has a shell. Required.
	Image pulumi.StringInput
	// ConfigVolumeName is the volume the load balancer reads the table from. Required.
	ConfigVolumeName pulumi.StringInput
	// Live receives production traffic. Optional: without it the load balancer answers 503.
	Live *Upstreams
	// Candidate is on the candidate route. Optional: without it the route answers 404.
	Candidate *Upstreams
	// CandidateWeight is the candidate's share of production traffic in percent. Optional; default 0.
	CandidateWeight int
}

// Traffic is the traffic pointer of an env on Docker.
type Traffic struct {
	pulumi.ResourceState

	// Table is the traffic table the pointer wrote.
	Table pulumi.StringOutput `pulumi:"table"`
	// TableID names Table as the load balancer does in its
	// X-Phoenix-Traffic response header (caddyconfig.TableID).
	TableID pulumi.StringOutput `pulumi:"tableId"`
	// Applied resolves once the writer holding Table exists, that is once
	// the table is on the volume; it never resolves when the writer
	// failed. It is not an output of the component.
	Applied pulumi.StringOutput
}

// ComponentType is the traffic pointer's component type: a cut-over
// changes what is under it and nothing else.
const ComponentType = "phoenix:docker:Traffic"

// uploadPath is where the table is uploaded inside the writer, before it
// is renamed into place on the volume.
const uploadPath = "/phoenix/traffic.json"

// NewTraffic creates the traffic pointer.
func NewTraffic(ctx *pulumi.Context, name string, args *TrafficArgs, opts ...pulumi.ResourceOption) (*Traffic, error) {
	if args == nil || args.Image == nil || args.ConfigVolumeName == nil {
		return nil, fmt.Errorf("dockertraffic %s: Image and ConfigVolumeName are required", name)
	}
	t := &Traffic{}
	if err := ctx.RegisterComponentResource(ComponentType, name, t, opts...); err != nil {
		return nil, err
	}
	table := RenderTable(args)

	// The temporary file sits on the same volume, so the rename is atomic:
	// the load balancer never reads a half-written table.
	write := fmt.Sprintf("cp %[1]s %[2]s/.traffic.json.tmp && mv -f %[2]s/.traffic.json.tmp %[3]s && exec tail -f /dev/null",
		uploadPath, dockeredge.ConfigDir, dockeredge.TableFile)
	writer, err := docker.NewContainer(ctx, name+"-pointer", &docker.ContainerArgs{
		Image:       args.Image,
		Entrypoints: pulumi.StringArray{pulumi.String("sh"), pulumi.String("-c"), pulumi.String(write)},
		Uploads: docker.ContainerUploadArray{docker.ContainerUploadArgs{
			File:    pulumi.String(uploadPath),
			Content: table,
		}},
		Volumes: docker.ContainerVolumeArray{docker.ContainerVolumeArgs{
			VolumeName:    args.ConfigVolumeName,
			ContainerPath: pulumi.String(dockeredge.ConfigDir),
		}},
		// An init process so that the writer stops at once when deleted.
		Init:    pulumi.Bool(true),
		Restart: pulumi.String("unless-stopped"),
	}, pulumi.Parent(t))
	if err != nil {
		return nil, err
	}

	t.Table = table
	t.TableID = table.ApplyT(func(s string) string { return caddyconfig.TableID([]byte(s)) }).(pulumi.StringOutput)
	t.Applied = writer.ID().ToStringOutput()
	if err := ctx.RegisterResourceOutputs(t, pulumi.Map{"table": t.Table, "tableId": t.TableID}); err != nil {
		return nil, err
	}
	return t, nil
}

// RenderTable renders the traffic table for args once the upstream
// addresses are known.
func RenderTable(args *TrafficArgs) pulumi.StringOutput {
	var live, cand pulumi.StringArrayOutput = pulumi.StringArray{}.ToStringArrayOutput(), pulumi.StringArray{}.ToStringArrayOutput()
	if args.Live != nil {
		live = args.Live.Addresses.ToStringArrayOutput()
	}
	if args.Candidate != nil {
		cand = args.Candidate.Addresses.ToStringArrayOutput()
	}
	return pulumi.All(live, cand).ApplyT(func(xs []any) (string, error) {
		spec := caddyconfig.Spec{Env: args.Env, CandidateWeight: args.CandidateWeight}
		if args.Live != nil {
			spec.Live = &caddyconfig.Pool{Version: args.Live.Version, Addresses: xs[0].([]string)}
		}
		if args.Candidate != nil {
			spec.Candidate = &caddyconfig.Pool{Version: args.Candidate.Version, Addresses: xs[1].([]string)}
		}
		b, err := caddyconfig.RenderTable(spec)
		return string(b), err
	}).(pulumi.StringOutput)
}
