package stacks

// Stack output names. They are the contract between the env stack and its
// version stacks (read through StackReferences) and the CLI.
const (
	// Both kinds of stack.
	OutPlatform = "platform"
	OutEnv      = "env"

	// Env stack.
	OutURL             = "url"
	OutLive            = "live"
	OutCandidate       = "candidate"
	OutCandidateWeight = "candidateWeight"
	OutRetention       = "retention"
	// OutRouteKey is the env's route key (header.Key), a secret: made by
	// the env stack's first update and kept by every later one.
	OutRouteKey = "routeKey"
	// OutLoadBalancer names the load balancer in its platform's records:
	// docker, its container (whose output is the access log); aws, the
	// ALB's ARN suffix (CloudWatch's LoadBalancer dimension).
	OutLoadBalancer = "loadBalancer"
	// OutTrafficID names the traffic pointer's value as the load balancer
	// reports the one it routes by (the X-Phoenix-Traffic response
	// header), for platforms whose load balancer does (docker).
	OutTrafficID = "trafficId"
	// OutOwner records the env's Owner when the env stack is first
	// created, so that every later update of the env stack, and every
	// version stack of the env, labels its resources as that first update
	// did: the same labels from the CLI, from a by-hand `pulumi up` and from
	// any machine, so that no label change ever replaces a resource.
	OutOwner = "owner"

	// Version stack.
	OutVersion = "version"
	OutImage   = "image"
	// OutAppDigest is the hash of the app's build context the version was
	// built from; a promoted version, which builds nothing, has none.
	OutAppDigest = "appDigest"

	// OutRouteURL is where a version's own route (X-Phoenix-Version)
	// answers when that is not the env's url: on aws, plain HTTP on the
	// load balancer's port 80, whose listener lives as long as the env.
	// The env stack exports it for its versions to copy; a version stack
	// exports it, or "" when its route answers at the env's url.
	OutRouteURL = "routeUrl"
)

// Each platform names its own outputs beside these, in its package.
