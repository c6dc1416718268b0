package server

import (
	"errors"
	"io"
	"net/http"
	"strconv"
)

// HTTPHandler is the same resources as a net/http Handler, for the
// server's Listener mode (net/http over sluice's net.Listener adapter)
// and for comparing with net/http on kernel TCP. Bodies are identical;
// framing and fields are net/http's own.
func HTTPHandler(opts Options) http.Handler {
	opts = opts.withDefaults()
	name := opts.ServerName
	if name == "-" {
		name = ""
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if name != "" {
			w.Header().Set("Server", name)
		}
		switch r.Method {
		case "GET", "HEAD", "POST", "PUT":
		default:
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(http.StatusNotImplemented)
			w.Write(msgNotImpl)
			return
		}
		if maxBody := opts.Limits.MaxBodyBytes; maxBody > 0 && r.Body != nil {
			// As the callback parser: a body over the limit is 413, and
			// the connection closes. Through MaxBytesReader (not an
			// early answer on Content-Length) so that net/http knows the
			// limit was hit and closes lingering (CloseWrite, then
			// 500 ms of reading) instead of resetting.
			r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		}
		if r.Body != nil {
			if _, err := io.Copy(io.Discard, r.Body); err != nil {
				var tl *http.MaxBytesError
				if errors.As(err, &tl) {
					tooLarge(w)
				}
				return
			}
		}
		w.Header().Set("Content-Type", "text/plain")
		if r.URL.Path == HealthPath {
			status, text := opts.Health.answer()
			w.WriteHeader(status)
			w.Write(text)
			return
		}
		size, ok := opts.sizeFor([]byte(r.URL.Path))
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			w.Write(msgNotFound)
			return
		}
		w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
		if r.Method == "HEAD" {
			return
		}
		for off := int64(0); off < size; {
			piece := bodyAt(off, size-off)
			if _, err := w.Write(piece); err != nil {
				return
			}
			off += int64(len(piece))
		}
	})
}

func tooLarge(w http.ResponseWriter) {
	w.Header().Set("Connection", "close")
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(http.StatusRequestEntityTooLarge)
	w.Write([]byte("request body too large\n"))
}
