package sluice_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"time"

	"github.com/sluicenet/sluice"
)

// echo writes back whatever it receives. NopHandler supplies the other
// callbacks (OnEOF closes the connection).
type echo struct{ sluice.NopHandler }

func (echo) OnData(c *sluice.Conn, data []byte) sluice.Action {
	// data is valid only during the call; Write copies it.
	if _, err := c.Write(data); err != nil {
		return sluice.Close // the write queue is full: give up on this peer
	}
	return sluice.None
}

// An echo server on eth0 port 7, both families, until interrupted; then a
// graceful shutdown within Config.ShutdownTimeout.
func Example() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	err := sluice.Serve(ctx, sluice.Config{
		Interface: "eth0",
		Listen:    []string{":7"},
		Logger:    slog.Default(), // logs what was chosen: XDP mode, zero-copy, queues, cores
	}, echo{})
	if err != nil {
		log.Fatal(err) // e.g. "listen tcp :7: sluice: missing capabilities CAP_BPF ...: run as root or grant them: ..."
	}
}

// net/http runs unchanged on a server made with a nil Handler.
func ExampleServer_Listener() {
	srv, err := sluice.NewServer(sluice.Config{
		Interface: "eth0",
		Listen:    []string{"198.18.0.1:80", "[2001:2::1]:80"},
	}, nil)
	if err != nil {
		log.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from %s over sluice\n", r.RemoteAddr)
	})
	hs := &http.Server{Handler: mux}
	go hs.Serve(srv.Listener())

	// ... later: let net/http finish its requests, then the server.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	hs.Shutdown(ctx)
	srv.Shutdown(ctx)
}

// Shutdown stops accepting, closes every connection with a FIN, waits,
// and resets what is left at the deadline.
func ExampleServer_Shutdown() {
	srv, err := sluice.NewServer(sluice.Config{Interface: "eth0", Listen: []string{":7"}}, echo{})
	if err != nil {
		log.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		log.Fatal(err)
	}
	fmt.Println(srv.Info().XDPMode, srv.Info().Bind, srv.Info().Loops)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); errors.Is(err, context.DeadlineExceeded) {
		log.Print("some connections were reset at the deadline")
	}
}

// HandlerFuncs builds a Handler from functions; OnClose's error says why
// the connection ended.
func ExampleHandlerFuncs() {
	h := sluice.HandlerFuncs{
		Data: func(c *sluice.Conn, data []byte) sluice.Action {
			c.Write([]byte("bye\n"))
			return sluice.Close
		},
		Closed: func(c *sluice.Conn, err error) {
			switch {
			case err == nil, errors.Is(err, sluice.ErrPeerClosed):
				// an orderly close
			case errors.Is(err, sluice.ErrReset):
				log.Printf("%v reset the connection", c.RemoteAddr())
			}
		},
	}
	_ = sluice.Serve(context.Background(), sluice.Config{Interface: "eth0", Listen: []string{":9"}}, h)
}

// Validate checks a Config without touching the system.
func ExampleConfig_Validate() {
	cfg := sluice.Config{Interface: "eth0", Listen: []string{"localhost:80"}, FrameSize: 3000}
	fmt.Println(cfg.Validate())
	// Output:
	// sluice: Config.Listen[0]: "localhost:80": "localhost" is not an IP address (host names are not resolved for listening)
	// sluice: Config.FrameSize: 3000: AF_XDP frames are 2048 or 4096 bytes
}
