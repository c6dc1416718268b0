package server

import (
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
		if r.Body != nil {
			io.Copy(io.Discard, r.Body)
		}
		size, ok := opts.sizeFor([]byte(r.URL.Path))
		w.Header().Set("Content-Type", "text/plain")
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
