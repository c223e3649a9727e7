package balance

import (
	"fmt"
	"testing"
	"time"
)

// benchKeys are the client keys ip_hash benchmarks cycle through.
var benchKeys = func() []string {
	keys := make([]string, 256)
	for i := range keys {
		keys[i] = clientKey(i * 7919)
	}
	return keys
}()

// BenchmarkPick measures one pick per algorithm over 3 and 16 backends with
// mixed weights, requests in flight and latencies, serially and from parallel
// goroutines.
func BenchmarkPick(b *testing.B) {
	for _, name := range algorithms {
		for _, n := range []int{3, 16} {
			cands := equalBackends(n)
			for i, be := range cands {
				be.Weight = 1 + i%3
				setInFlight(be, int64(i%4))
				be.ObserveLatency(time.Duration(1+i%5)*time.Millisecond, time.Now())
			}
			b.Run(fmt.Sprintf("%s/%d", name, n), func(b *testing.B) {
				bal, err := New(name, Options{})
				if err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					bal.Pick(cands, benchKeys[i&255])
					i++
				}
			})
			b.Run(fmt.Sprintf("%s/%d/parallel", name, n), func(b *testing.B) {
				bal, err := New(name, Options{})
				if err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					i := 0
					for pb.Next() {
						bal.Pick(cands, benchKeys[i&255])
						i++
					}
				})
			})
		}
	}
}
