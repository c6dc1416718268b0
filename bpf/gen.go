package bpf

// The object and its Go bindings are committed, so building sluice needs no
// clang; `go generate ./bpf/` rebuilds them where clang and the libbpf
// headers are installed (apt-get install clang llvm libbpf-dev).
//go:generate go tool bpf2go -tags linux -cflags "-O2 -g -Wall -Werror" -target bpfel steer xdp_steer.c -- -I/usr/include/x86_64-linux-gnu
