package e2e

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkPromotion measures issue 21's target on a real engine: each op
// is one change of the app deployed to staging from source (its image
// built) and then promoted to prod (nothing built), both envs there
// already. It reports both wall times per op and their ratio, the target
// being a promotion in at most half a deploy with a build. Run it with
// make bench-promotion (several minutes; CI does not).
//
// The build runs twice over: in the tests' golang stand-in, whose build
// cache holds the app's packages compiled (warm-cache), and in one with
// no build cache, as the real golang:1.26 image has none, so that the
// build compiles the standard library first as a user's does
// (as-golang-image).
func BenchmarkPromotion(b *testing.B) {
	for _, bc := range []struct {
		name  string
		build baseImage // the golang stand-in the measured builds run in; zero for the tests' own
	}{{name: "build=warm-cache"}, {name: "build=as-golang-image", build: golangStandIn(b, "")}} {
		b.Run(bc.name, func(b *testing.B) {
			e := needEnv(b)
			makeBaseImages(b, e.caddy, e.gocache)
			p := newProject(b, e)
			p.build()
			stagingPort, prodPort := p.addEnv("staging"), p.addEnv("prod")
			b.Cleanup(func() {
				p.timed("destroy", "--env", "prod", "--yes")
				p.timed("destroy", "--env", "staging", "--yes")
			})
			// The first round makes both envs (the load balancers' images
			// built with the tests' stand-in): not what is measured.
			p.promotionRound(stagingPort, prodPort, false)
			if bc.build.name != "" {
				importImage(b, bc.build)
				// The next makeBaseImages imports the tests' stand-ins again.
				baseImages.Lock()
				baseImages.made = false
				baseImages.Unlock()
			}
			var deploy, promote time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				p.editApp(fmt.Sprintf("// change %d of the promotion benchmark\n", i))
				d, pr := p.promotionRound(stagingPort, prodPort, false)
				deploy += d
				promote += pr
			}
			b.StopTimer()
			b.ReportMetric(deploy.Seconds()/float64(b.N), "deploy-s/op")
			b.ReportMetric(promote.Seconds()/float64(b.N), "promote-s/op")
			b.ReportMetric(promote.Seconds()/deploy.Seconds(), "promote/deploy")
		})
	}
}
