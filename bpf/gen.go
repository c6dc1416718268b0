package bpf

// The objects and their Go bindings are committed, so building sluice needs
// no clang; `go generate ./bpf/` rebuilds them where clang and the libbpf
// headers are installed (apt-get install clang llvm libbpf-dev; the
// committed ones are from Debian clang 14.0.6).
//go:generate go tool bpf2go -tags linux -cflags "-O2 -g -Wall -Werror" -target bpfel steer xdp_steer.c -- -I/usr/include/x86_64-linux-gnu
//go:generate go tool bpf2go -tags linux -cflags "-O2 -g -Wall -Werror" -target bpfel dispatcher xdp_dispatcher.c -- -I/usr/include/x86_64-linux-gnu
