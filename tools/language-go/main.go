// Command pulumi-language-go is phoenix's own small Go language host, for
// its tests: the plugin the Pulumi CLI starts to run a `runtime: go`
// program (`pulumi up`, `pulumi preview` without the Automation API). The
// official one ships with the standard Pulumi install, and users keep it;
// it cannot be downloaded on the machines phoenix's tests run on, so
// `make tools` builds this one next to the test build of the CLI
// (.bin/pulumi/bin), where the CLI looks for a language plugin it bundles.
//
// It does what a Go program needs of the language runtime service: Run
// builds the program with `go build` in its directory and runs it with
// the engine's addresses, the project, stack, organization, config, secret
// config keys, dry-run flag and parallelism in the environment variables
// the Go SDK reads (pulumi.RunWithContext). It reports no required
// plugins: the engine loads each provider when the program first uses it.
// It implements nothing for code generation, packing or dependency
// installation (`pulumi new`, `pulumi package`, `pulumi install`).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"

	"google.golang.org/grpc"
	pbempty "google.golang.org/protobuf/types/known/emptypb"

	"github.com/pulumi/pulumi/sdk/v3/go/common/constant"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	"github.com/pulumi/pulumi/sdk/v3/go/common/version"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

// Name is how the host names itself in `pulumi about` and its logs, so
// that a test log says which Go language host ran its programs.
const Name = "phoenix-test-language-go"

func main() {
	// The CLI passes the engine's address as the last argument; the
	// official host's flags (-root, -binary, ...) are accepted and ignored.
	flag.String("root", "", "ignored")
	flag.String("binary", "", "ignored")
	flag.String("buildTarget", "", "ignored")
	flag.Bool("tracing", false, "ignored")
	flag.Parse()
	h := &host{}
	if args := flag.Args(); len(args) > 0 {
		h.engine = args[len(args)-1]
	}
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterLanguageRuntimeServer(srv, h)
			return nil
		},
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", Name, err)
		os.Exit(1)
	}
	// The CLI reads the port from the first line of stdout.
	fmt.Printf("%d\n", handle.Port)
	if err := <-handle.Done; err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", Name, err)
		os.Exit(1)
	}
}

type host struct {
	pulumirpc.UnimplementedLanguageRuntimeServer

	mu     sync.Mutex
	engine string
}

// Handshake records the engine's address (the CLI's newer way of giving
// it).
func (h *host) Handshake(_ context.Context, req *pulumirpc.LanguageHandshakeRequest) (*pulumirpc.LanguageHandshakeResponse, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if req.GetEngineAddress() != "" {
		h.engine = req.GetEngineAddress()
	}
	return &pulumirpc.LanguageHandshakeResponse{}, nil
}

func (h *host) GetPluginInfo(context.Context, *pbempty.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: version.Version}, nil
}

// GetRequiredPlugins and GetRequiredPackages report none: the engine
// loads a provider when the program first registers one of its resources.
func (h *host) GetRequiredPlugins(context.Context, *pulumirpc.GetRequiredPluginsRequest) (*pulumirpc.GetRequiredPluginsResponse, error) {
	return &pulumirpc.GetRequiredPluginsResponse{}, nil
}

func (h *host) GetRequiredPackages(context.Context, *pulumirpc.GetRequiredPackagesRequest) (*pulumirpc.GetRequiredPackagesResponse, error) {
	return &pulumirpc.GetRequiredPackagesResponse{}, nil
}

func (h *host) About(ctx context.Context, _ *pulumirpc.AboutRequest) (*pulumirpc.AboutResponse, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOVERSION").Output()
	if err != nil {
		return nil, fmt.Errorf("go env GOVERSION: %w", err)
	}
	return &pulumirpc.AboutResponse{Executable: Name, Version: string(out)}, nil
}

// InstallDependencies has nothing to install: go build fetches modules.
func (h *host) InstallDependencies(_ *pulumirpc.InstallDependenciesRequest, _ pulumirpc.LanguageRuntime_InstallDependenciesServer) error {
	return nil
}

// Run builds the program and runs it against the engine. A program that
// failed and said why through the engine (the Go SDK's exit status for a
// logged error) bails; any other failure is the run's error.
func (h *host) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	dir := req.GetInfo().GetProgramDirectory()
	if dir == "" {
		dir = req.GetPwd()
	}
	tmp, err := os.MkdirTemp("", "pulumi-go-program-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, "program")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
	build.Dir = dir
	if out, err := build.CombinedOutput(); err != nil {
		return &pulumirpc.RunResponse{Error: fmt.Sprintf("building the Go program in %s: %v\n%s", dir, err, out)}, nil
	}

	env, err := h.programEnv(req)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, bin, req.GetArgs()...)
	cmd.Dir = req.GetPwd()
	if cmd.Dir == "" {
		cmd.Dir = dir
	}
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	err = cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return &pulumirpc.RunResponse{}, nil
	case errors.As(err, &exit) && exit.ExitCode() == constant.ExitStatusLoggedError:
		return &pulumirpc.RunResponse{Bail: true}, nil
	default:
		return &pulumirpc.RunResponse{Error: fmt.Sprintf("running the Go program: %v", err)}, nil
	}
}

// programEnv is the environment the Go SDK reads its run's settings from.
func (h *host) programEnv(req *pulumirpc.RunRequest) ([]string, error) {
	config, err := json.Marshal(req.GetConfig())
	if err != nil {
		return nil, err
	}
	secretKeys := req.GetConfigSecretKeys()
	if secretKeys == nil {
		secretKeys = []string{}
	}
	secrets, err := json.Marshal(secretKeys)
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	engine := h.engine
	h.mu.Unlock()
	return []string{
		pulumi.EnvMonitor + "=" + req.GetMonitorAddress(),
		pulumi.EnvEngine + "=" + engine,
		pulumi.EnvProject + "=" + req.GetProject(),
		pulumi.EnvStack + "=" + req.GetStack(),
		pulumi.EnvOrganization + "=" + req.GetOrganization(),
		pulumi.EnvPulumiRootDirectory + "=" + req.GetInfo().GetRootDirectory(),
		pulumi.EnvConfig + "=" + string(config),
		pulumi.EnvConfigSecretKeys + "=" + string(secrets),
		pulumi.EnvDryRun + "=" + strconv.FormatBool(req.GetDryRun()),
		pulumi.EnvParallel + "=" + strconv.Itoa(int(req.GetParallel())),
	}, nil
}
