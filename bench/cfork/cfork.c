/*
 * cfork: minimal C fork()-per-connection HTTP "Hello, World!" server, the
 * baseline hellod's fork strategy is compared with in bench/run.sh.
 *
 *   cfork 127.0.0.1:PORT
 *
 * The parent accepts and forks; the child reads the request up to the end of
 * the header section, writes one HTTP/1.1 200 with Content-Length and
 * Connection: close (same headers as hellod: Date, Content-Type,
 * Content-Length, Connection), and exits. The parent reaps with a SIGCHLD
 * handler looping on waitpid(WNOHANG). The listen backlog is large (4096,
 * capped by net.core.somaxconn) so SYNs are not dropped under load.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

static void serve(int fd) {
	char buf[8192];
	size_t n = 0;
	alarm(10); /* a client that never finishes its headers cannot pin us */
	for (;;) {
		if (n == sizeof buf)
			_exit(1);
		ssize_t r = read(fd, buf + n, sizeof buf - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			_exit(1);
		size_t from = n >= 3 ? n - 3 : 0;
		n += (size_t)r;
		if (memmem(buf + from, n - from, "\r\n\r\n", 4) != NULL)
			break;
	}
	char date[64];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	char out[512];
	int len = snprintf(out, sizeof out,
	                   "HTTP/1.1 200 OK\r\nDate: %s\r\n"
	                   "Content-Type: text/plain; charset=utf-8\r\n"
	                   "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
	                   date, sizeof body - 1, body);
	for (int off = 0; off < len;) {
		ssize_t w = write(fd, out + off, (size_t)(len - off));
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			_exit(1);
		off += (int)w;
	}
	close(fd);
	_exit(0);
}

int main(int argc, char **argv) {
	if (argc != 2) {
		fprintf(stderr, "usage: cfork HOST:PORT\n");
		return 2;
	}
	char host[64];
	const char *colon = strrchr(argv[1], ':');
	if (colon == NULL || (size_t)(colon - argv[1]) >= sizeof host) {
		fprintf(stderr, "cfork: bad address %s\n", argv[1]);
		return 2;
	}
	memcpy(host, argv[1], (size_t)(colon - argv[1]));
	host[colon - argv[1]] = 0;
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
			serve(fd);
		}
		if (pid < 0)
			perror("cfork: fork");
		close(fd);
	}
}
