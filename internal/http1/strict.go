package http1

import "net/url"

// StrictColons reports how this process's net/url treats a host with
// several colons in an http URL (GODEBUG urlstrictcolons), so that Classify
// follows the same rule as net/http.ReadRequest. It allocates: callers
// compute it once, before the parser runs.
func StrictColons() bool {
	_, err := url.ParseRequestURI("http://a:1:2/")
	return err != nil
}
