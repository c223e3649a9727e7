// Package h1safety is the differential safety suite of the balancer's
// HTTP/1.1 path (issue 17; DESIGN.md section 6). It has no non-test code.
package h1safety
