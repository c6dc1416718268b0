// Package systest holds sluice's hostile-traffic and scale system tests.
// They run on a testbed (two network namespaces joined by veth; the
// kernel of the peer namespace is the client, and testbed/pktgen injects
// raw frames from there), are bounded in count and time, and never skip
// in CI (CI=true turns a missing privilege into a failure).
//
//   - flood_test.go: SYN flood from spoofed sources; SYN cookies engage,
//     the SYN queue stays bounded, legitimate clients are served.
//   - blind_test.go: blind RST and data injection with guessed sequence
//     numbers against a live connection (RFC 5961 threat model).
//   - replay_test.go: every fuzz-corpus frame and a stream of random
//     malformed frames on the wire; every frame accounted for.
//   - scale_test.go: many concurrent established connections (memory per
//     idle connection), the connection limit, TIME-WAIT churn.
//   - conform/: differential conformance, Linux's TCP as the reference:
//     scripted raw-frame scenarios (handshake, SYN-RECEIVED, close,
//     TIME-WAIT, RFC 5961, windows and SACK) against a kernel listener
//     and sluice on one bed; the normalised replies must match, known
//     differences are listed with the reason.
//   - memory_test.go: thousands of connections that neither end reads,
//     under a small buffer budget: memory stays bounded, none is reset,
//     every octet arrives once both ends read.
//
// Sizes are bounded for CI; environment variables scale them up (see each
// test). The live sub-package starts the group they share.
package systest
