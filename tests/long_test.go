package tests

import "testing"

// TestLong runs the suite's longest tests side by side, before the others:
// the kill-point test (every changing verb killed at eight points, each time
// run again) and a day in the life on aws (ten deploys and a rollback over two simulated days).
// TestLong itself is not parallel: its two parallel subtests start as soon
// as it runs, while every parallel top-level test waits until the
// sequential ones have ended. As parallel top-level tests, the day in the
// life once started late and kept the run going for minutes after
// everything else had ended.
func TestLong(t *testing.T) {
	t.Run("KillPoints", func(t *testing.T) {
		t.Parallel()
		killEachVerb(t)
	})
	t.Run("AWSDayInTheLife", func(t *testing.T) {
		t.Parallel()
		awsDayInTheLife(t)
	})
}
