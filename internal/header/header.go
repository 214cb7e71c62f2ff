// Package header names the HTTP headers of Phoenix's routes, the same on
// both platforms (Caddy's routes on docker, the ALB's listener rules on
// aws), and on the app's answers. The sample app (app/, a module of its
// own) repeats Version; a test keeps the two equal.
package header

const (
	// Route selects a route on a request; the value RouteCandidate reaches
	// the candidate version.
	Route = "X-Phoenix-Route"
	// RouteCandidate is the Route value of the candidate route.
	RouteCandidate = "candidate"
	// Version, on a request, reaches one named version, live or warm,
	// through its own route (no change to the traffic pointer); on an
	// answer, it names the version that answered.
	Version = "X-Phoenix-Version"
	// Key, on a request, must carry the env's route key for the candidate
	// route (Route) and the version routes (Version) to take it: without
	// it, or with another value, the request is production traffic. The
	// key is a secret of the env stack (its routeKey output), so that the
	// candidate under test and the warm versions are not open to everyone
	// who can reach the load balancer.
	Key = "X-Phoenix-Key"
	// Traffic, on an answer of the docker platform's load balancer, names
	// the traffic table the request was routed by (caddyconfig.TableID).
	// The load balancer (lb/, a module of its own) repeats it; a test
	// keeps the two equal.
	Traffic = "X-Phoenix-Traffic"
)
