//go:build !unix

package server

// openFileLimit is unknown here: no warning.
func openFileLimit() uint64 { return 0 }
