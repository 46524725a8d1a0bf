// Package child starts and runs the per-connection child processes of
// hellod: the strategies that start one (a fork of the daemon running a
// small raw-syscall responder, see clone(2), or a re-exec of
// /proc/self/exe, see execve(2)) and the child side that answers one
// HTTP/1.1 request on the connection it holds as fd 3 and exits (RFC 9112,
// https://www.rfc-editor.org/rfc/rfc9112).
package child
