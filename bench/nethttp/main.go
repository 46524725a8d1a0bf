// Command nethttp is the Go net/http baseline of bench/run.sh: one long-lived
// process serving "Hello, World!\n" with the same headers as hellod (Date,
// Content-Type, Content-Length; ab sends HTTP/1.0 without keep-alive, so the
// connection is closed after each response).
package main

import (
	"flag"
	"log"
	"net/http"
	"strconv"
)

const body = "Hello, World!\n"

func main() {
	listen := flag.String("listen", "127.0.0.1:8080", "address to listen on")
	flag.Parse()
	length := strconv.Itoa(len(body))
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hdr := w.Header()
		hdr.Set("Content-Type", "text/plain; charset=utf-8")
		hdr.Set("Content-Length", length)
		_, _ = w.Write([]byte(body))
	})
	log.Fatal(http.ListenAndServe(*listen, h))
}
