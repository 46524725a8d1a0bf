/*
 * cfork: minimal C fork()-per-connection HTTP "Hello, World!" server, the
 * baseline hellod's fork strategy is compared with in bench/run.sh.
 *
 *   cfork [-k] 127.0.0.1:PORT
 *
 * The parent accepts and forks; the parent reaps with a SIGCHLD handler
 * looping on waitpid(WNOHANG). The listen backlog is large (4096, capped by
 * net.core.somaxconn) so SYNs are not dropped under load. Responses have the
 * same headers as hellod's: Date, Content-Type, Content-Length and, when the
 * connection ends with it, Connection: close.
 *
 * Without -k the child reads the request up to the end of the header section,
 * writes one HTTP/1.1 200 with Connection: close and exits: one request per
 * process, the floor of a fork-per-connection server that closes.
 *
 * With -k (keep-alive) the child loops read -> answer until the client closes:
 * the floor of a process-per-connection server with persistent connections.
 * It answers every complete head in its buffer in order, the responses of one
 * read in one write (pipelining), and keeps the connection as RFC 9112 §9.3
 * says: HTTP/1.1 unless a Connection header says close, HTTP/1.0 only with
 * Connection: keep-alive (answered with Connection: keep-alive). A request
 * with a body (Content-Length other than 0, or Transfer-Encoding) is answered
 * with Connection: close and the connection closed: it parses only what a
 * GET load needs. 10 s in which the client sends nothing end the child.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char body[] = "Hello, World!\n";

static void on_sigchld(int sig) {
	int saved = errno;
	(void)sig;
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	errno = saved;
}

static void write_all(int fd, const char *p, size_t len) {
	for (size_t off = 0; off < len;) {
		ssize_t w = write(fd, p + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			_exit(1);
		off += (size_t)w;
	}
}

/* date formats the current time as an IMF-fixdate, again only when the second changed. */
static const char *date(void) {
	static char buf[64];
	static time_t last = -1;
	time_t now = time(NULL);
	if (now != last) {
		struct tm tm;
		gmtime_r(&now, &tm);
		strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
		last = now;
	}
	return buf;
}

/* response appends one 200 to out (capacity cap) and returns its length. conn
 * is the Connection header's value, or NULL for none. */
static size_t response(char *out, size_t cap, const char *conn) {
	int len = snprintf(out, cap,
	                   "HTTP/1.1 200 OK\r\nDate: %s\r\n"
	                   "Content-Type: text/plain; charset=utf-8\r\n"
	                   "Content-Length: %zu\r\n%s%s%s\r\n%s",
	                   date(), sizeof body - 1, conn ? "Connection: " : "", conn ? conn : "",
	                   conn ? "\r\n" : "", body);
	if (len < 0 || (size_t)len >= cap)
		_exit(1);
	return (size_t)len;
}

/* header finds the value of the field name (with its colon) among the field
 * lines [p, end), each ending with CRLF, and returns it, or NULL; *vlen gets
 * its length. */
static const char *header(const char *p, const char *end, const char *name, size_t *vlen) {
	size_t nl = strlen(name);
	for (const char *line = p; line < end;) {
		const char *eol = memmem(line, (size_t)(end - line), "\r\n", 2);
		if (eol == NULL)
			eol = end;
		if ((size_t)(eol - line) > nl && strncasecmp(line, name, nl) == 0) {
			const char *v = line + nl;
			while (v < eol && (*v == ' ' || *v == '\t'))
				v++;
			*vlen = (size_t)(eol - v);
			return v;
		}
		line = eol + 2;
	}
	return NULL;
}

/* has_token reports whether the comma-separated list [v, v+n) has token tok. */
static int has_token(const char *v, size_t n, const char *tok) {
	size_t tl = strlen(tok);
	for (size_t i = 0; i + tl <= n; i++) {
		if (strncasecmp(v + i, tok, tl) == 0 && (i == 0 || v[i - 1] == ',' || v[i - 1] == ' ') &&
		    (i + tl == n || v[i + tl] == ',' || v[i + tl] == ' ' || v[i + tl] == '\t'))
			return 1;
	}
	return 0;
}

/* answer_head appends the response to the head [p, end) (end at its blank
 * line) to out and returns 1 if the connection stays open after it. */
static int answer_head(const char *p, const char *end, char *out, size_t cap, size_t *outlen) {
	const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
	if (eol == NULL)
		eol = end;
	int http10 = eol - p >= 8 && memcmp(eol - 8, "HTTP/1.0", 8) == 0;
	size_t n = 0;
	const char *fields = eol + 2 < end ? eol + 2 : end;
	const char *conn = header(fields, end, "connection:", &n);
	int keep = http10 ? conn != NULL && has_token(conn, n, "keep-alive") : conn == NULL || !has_token(conn, n, "close");
	const char *cl = header(fields, end, "content-length:", &n);
	if ((cl != NULL && !(n >= 1 && strspn(cl, "0") >= n)) || header(fields, end, "transfer-encoding:", &n) != NULL)
		keep = 0;
	const char *say = keep ? (http10 ? "keep-alive" : NULL) : "close";
	*outlen += response(out + *outlen, cap - *outlen, say);
	return keep;
}

/* fill reads once more into buf (n bytes held, cap its size) and returns the
 * new count; a full buffer ends the child with 1, the end of the connection
 * (or an error) with eof_status. */
static size_t fill(int fd, char *buf, size_t n, size_t cap, int eof_status) {
	for (;;) {
		if (n == cap)
			_exit(1);
		ssize_t r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			_exit(eof_status);
		return n + (size_t)r;
	}
}

static void serve_keepalive(int fd) {
	char buf[16384], out[16384];
	size_t n = 0;
	for (;;) {
		alarm(10); /* a client silent for 10 s ends us */
		n = fill(fd, buf, n, sizeof buf, 0); /* the client closing is the normal end */
		size_t at = 0, outlen = 0;
		int keep = 1;
		for (;;) {
			char *e = memmem(buf + at, n - at, "\r\n\r\n", 4);
			if (e == NULL)
				break;
			/* the head [buf+at, e+2): the CRLF ending the last field line included */
			if (sizeof out - outlen < 512) {
				write_all(fd, out, outlen);
				outlen = 0;
			}
			keep = answer_head(buf + at, e + 2, out, sizeof out, &outlen);
			at = (size_t)(e + 4 - buf);
			if (!keep)
				break;
		}
		if (outlen > 0)
			write_all(fd, out, outlen);
		if (!keep) {
			shutdown(fd, SHUT_WR);
			_exit(0);
		}
		memmove(buf, buf + at, n - at);
		n -= at;
	}
}

static void serve(int fd) {
	char buf[8192];
	size_t n = 0;
	alarm(10); /* a client that never finishes its headers cannot pin us */
	for (;;) {
		size_t from = n >= 3 ? n - 3 : 0;
		n = fill(fd, buf, n, sizeof buf, 1);
		if (memmem(buf + from, n - from, "\r\n\r\n", 4) != NULL)
			break;
	}
	char out[512];
	write_all(fd, out, response(out, sizeof out, "close"));
	close(fd);
	_exit(0);
}

int main(int argc, char **argv) {
	int keepalive = argc == 3 && strcmp(argv[1], "-k") == 0;
	if (argc != 2 + keepalive) {
		fprintf(stderr, "usage: cfork [-k] HOST:PORT\n");
		return 2;
	}
	const char *addr = argv[1 + keepalive];
	char host[64];
	const char *colon = strrchr(addr, ':');
	if (colon == NULL || (size_t)(colon - addr) >= sizeof host) {
		fprintf(stderr, "cfork: bad address %s\n", addr);
		return 2;
	}
	memcpy(host, addr, (size_t)(colon - addr));
	host[colon - addr] = 0;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1))};
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
		fprintf(stderr, "cfork: bad host %s\n", host);
		return 2;
	}
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(lfd, 4096) < 0) {
		perror("cfork: listen");
		return 1;
	}
	struct sigaction act = {.sa_handler = on_sigchld, .sa_flags = SA_RESTART | SA_NOCLDSTOP};
	sigemptyset(&act.sa_mask);
	sigaction(SIGCHLD, &act, NULL);
	signal(SIGPIPE, SIG_IGN);
	for (;;) {
		int fd = accept(lfd, NULL, NULL);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
				usleep(1000);
				continue;
			}
			perror("cfork: accept");
			return 1;
		}
		pid_t pid = fork();
		if (pid == 0) {
			close(lfd);
			if (keepalive)
				serve_keepalive(fd);
			serve(fd);
		}
		if (pid < 0)
			perror("cfork: fork");
		close(fd);
	}
}
