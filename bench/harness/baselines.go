package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// The keep-alive baselines of wrk mode: nginx and Apache httpd (mpm_prefork)
// from Debian, each with a private configuration the harness writes into the
// scratch directory before every start (the port changes), run in the
// foreground with a pid file of its own and stopped by its PID.

const apacheModules = "/usr/lib/apache2/modules" // Debian's apache2 package

// nginxDef is nginx answering `return 200` with worker_processes = nproc
// and no access log.
func nginxDef(cfg *config) *serverDef {
	dir := filepath.Join(cfg.workDir, "nginx")
	conf := filepath.Join(dir, "nginx.conf")
	bin, err := sbin("nginx")
	d := &serverDef{Name: "nginx", Workers: true,
		Desc: fmt.Sprintf("nginx, worker_processes %d, `return 200`, access_log off", runtime.NumCPU()),
		Argv: func(string) []string {
			return []string{bin, "-e", "stderr", "-p", dir + "/", "-c", conf}
		}}
	d.Setup = func(addr string) error {
		if err := os.MkdirAll(filepath.Join(dir, "body"), 0o700); err != nil {
			return err
		}
		return os.WriteFile(conf, []byte(nginxConf(dir, addr, runtime.NumCPU())), 0o644)
	}
	if err != nil {
		d.Missing = "nginx is not installed (Debian package nginx-light)"
	}
	return d
}

func nginxConf(dir, addr string, workers int) string {
	return fmt.Sprintf(`# written by bench/harness for one run
daemon off;
master_process on;
worker_processes %d;
pid %s;
error_log stderr warn;
events {
	worker_connections 4096;
}
http {
	access_log off;
	client_body_temp_path %s;
	server {
		listen %s;
		location / {
			default_type "text/plain; charset=utf-8";
			return 200 "Hello, World!\n";
		}
	}
}
`, workers, filepath.Join(dir, "nginx.pid"), filepath.Join(dir, "body"), addr)
}

// apacheDef is Apache httpd with mpm_prefork and KeepAlive On serving a
// static file with the same body.
func apacheDef(cfg *config) *serverDef {
	dir := filepath.Join(cfg.workDir, "apache")
	conf := filepath.Join(dir, "httpd.conf")
	www := filepath.Join(cfg.workDir, "www")
	bin, err := sbin("apache2")
	d := &serverDef{Name: "apache", Workers: true,
		Desc: "Apache httpd mpm_prefork, KeepAlive On (100 requests, 5 s), static file",
		Argv: func(string) []string {
			return []string{bin, "-f", conf, "-DFOREGROUND"}
		}}
	d.Setup = func(addr string) error {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		// The children run as www-data when the harness is root: they
		// must be able to reach the document root in the scratch directory.
		if err := os.Chmod(cfg.workDir, 0o711); err != nil {
			return err
		}
		return os.WriteFile(conf, []byte(apacheConf(dir, addr, www, os.Getuid() == 0)), 0o644)
	}
	if err != nil {
		d.Missing = "apache2 is not installed (Debian package apache2)"
	} else if _, err := os.Stat(filepath.Join(apacheModules, "mod_mpm_prefork.so")); err != nil {
		d.Missing = "no mod_mpm_prefork.so in " + apacheModules
	}
	return d
}

func apacheConf(dir, addr, www string, root bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, `# written by bench/harness for one run
ServerRoot %s
DefaultRuntimeDir %s
PidFile %s
LoadModule mpm_prefork_module %[4]s/mod_mpm_prefork.so
LoadModule authn_core_module %[4]s/mod_authn_core.so
LoadModule authz_core_module %[4]s/mod_authz_core.so
LoadModule dir_module %[4]s/mod_dir.so
LoadModule mime_module %[4]s/mod_mime.so
`, dir, dir, filepath.Join(dir, "apache.pid"), apacheModules)
	if root {
		b.WriteString("User www-data\nGroup www-data\n")
	}
	fmt.Fprintf(&b, `ServerName 127.0.0.1
Listen %s
ErrorLog /dev/stderr
LogLevel warn
KeepAlive On
MaxKeepAliveRequests 100
KeepAliveTimeout 5
# Enough children preforked and kept for c=128 persistent connections (one
# child per connection in steady state), so that a run does not measure
# Apache's ramp-up: it adds at most 32 children a second.
StartServers 160
MinSpareServers 32
MaxSpareServers 256
ServerLimit 256
MaxRequestWorkers 256
MaxConnectionsPerChild 0
TypesConfig /etc/mime.types
DocumentRoot %s
<Directory />
	AllowOverride None
	Require all granted
</Directory>
DirectoryIndex index.html
`, addr, www)
	return b.String()
}

// sbin finds a daemon's binary on PATH or in /usr/sbin (not on every user's PATH).
func sbin(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	p := filepath.Join("/usr/sbin", name)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("%s: not on PATH nor in /usr/sbin", name)
	}
	return p, nil
}
