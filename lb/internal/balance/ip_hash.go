package balance

import (
	"hash/fnv"
	"math"

	"github.com/lblab/lblab/lb/internal/pool"
)

var (
	_ Balancer = (*IPHash)(nil)
	_ Keyed    = (*IPHash)(nil)
)

// IPHash keeps each client on one backend with weighted rendezvous (highest
// random weight) hashing: every candidate scores -w / ln(u), where w is its
// effective weight and u in (0, 1) comes from a 64-bit hash of the key and the
// backend's address, and the highest score wins. A key thus goes to a backend
// with probability w / (sum of w); removing a backend moves only the keys that
// were on it, and adding one takes keys only onto the new backend (gradually,
// as its weight ramps up during a slow start). The hash is FNV-1a, so the
// mapping is the same in every process. IPHash has no state and is safe for
// concurrent use.
type IPHash struct{}

// UsesKey reports true: IPHash picks by the client's address.
func (*IPHash) UsesKey() bool { return true }

// NewIPHash returns a weighted rendezvous hashing balancer.
func NewIPHash() *IPHash { return &IPHash{} }

// Pick returns the candidate with the highest score for key. An empty key is
// hashed like any other, so all such requests go to one backend.
func (*IPHash) Pick(cands []*pool.Backend, key string) *pool.Backend {
	switch len(cands) {
	case 0:
		return nil
	case 1:
		return cands[0]
	}
	hk := hashString(key)
	var (
		best      *pool.Backend
		bestU     float64 // best's u
		bestW     int64   // best's weight
		bestScore float64 // best's score, when scored
		scored    bool
	)
	for _, b := range cands {
		u, w := unitHash(hk, hashString(b.Addr)), weightOf(b)
		switch {
		case best == nil:
		case w == bestW:
			// The score grows with u, so equal weights need no logarithm.
			if u <= bestU {
				continue
			}
		default:
			if !scored {
				bestScore, scored = rendezvousScore(bestU, bestW), true
			}
			s := rendezvousScore(u, w)
			if s <= bestScore {
				continue
			}
			best, bestU, bestW, bestScore = b, u, w, s
			continue
		}
		best, bestU, bestW, scored = b, u, w, false
	}
	return best
}

// unitHash maps the key and address hashes to u in (0, 1): the top 53 bits of
// mix64(key ^ addr), offset by half a step so that u is never 0 or 1.
func unitHash(key, addr uint64) float64 {
	return (float64(mix64(key^addr)>>11) + 0.5) / (1 << 53)
}

// rendezvousScore is -w / ln(u).
func rendezvousScore(u float64, w int64) float64 {
	return -float64(w) / math.Log(u)
}

// hashString returns the 64-bit FNV-1a hash of s without allocating (strings
// longer than the stack buffer, such as IPv6 keys, are fed in pieces).
func hashString(s string) uint64 {
	h := fnv.New64a()
	var buf [32]byte
	for len(s) > 0 {
		n := copy(buf[:], s)
		h.Write(buf[:n])
		s = s[n:]
	}
	return h.Sum64()
}

// mix64 is the MurmurHash3 64-bit finaliser. FNV-1a leaves its top bits weakly
// mixed (addresses that differ in the last byte hash alike there), and u is
// taken from the top bits, so each combined hash goes through this bijection.
func mix64(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}
