//go:build !linux

package attack

import "time"

// sleepFine leaves the wait to the caller (vegeta's time.Sleep) outside
// Linux.
func sleepFine(d time.Duration) time.Duration { return d }
