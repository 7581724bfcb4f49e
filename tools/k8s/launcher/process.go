package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// cluster is the set of running components of one control plane.
type cluster struct {
	dir     string
	procs   []*component
	exited  chan string
	webhook *http.Server
	ready   readyLine
}

// component is one child process and its log.
type component struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

// run starts a component with its output in DIR/<name>.log.
func (c *cluster) run(name, path string, args ...string) error {
	logPath := filepath.Join(c.dir, name+".log")
	log, err := os.Create(logPath)
	if err != nil {
		return err
	}
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		log.Close()
		return fmt.Errorf("cannot start %s (%s): %w", name, path, err)
	}
	p := &component{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	c.procs = append(c.procs, p)
	go func() {
		err := cmd.Wait()
		log.Close()
		close(p.done)
		select {
		case c.exited <- fmt.Sprintf("%s exited (%v); the end of %s:\n%s", name, err, logPath, tail(logPath, 20)):
		default:
		}
	}()
	return nil
}

// waitFor polls check until it holds, failing early when a component exits or a stop arrives.
func (c *cluster) waitFor(what string, timeout time.Duration, stop <-chan os.Signal, check func() bool) error {
	deadline := time.Now().Add(timeout)
	for {
		if check() {
			return nil
		}
		select {
		case failure := <-c.exited:
			return fmt.Errorf("waiting for %s: %s", what, failure)
		case <-stop:
			return fmt.Errorf("stopped while waiting for %s", what)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %s; see %s", what, timeout, filepath.Join(c.dir, what+".log"))
		}
	}
}

// stop ends the components in reverse order: SIGTERM, then SIGKILL after two seconds.
func (c *cluster) stop() {
	if c.webhook != nil {
		_ = c.webhook.Close()
	}
	for i := len(c.procs) - 1; i >= 0; i-- {
		_ = c.procs[i].cmd.Process.Signal(syscall.SIGTERM)
	}
	// One deadline for all: Done stays closed once it passes (a time.After channel fires once).
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, p := range c.procs {
		select {
		case <-p.done:
		case <-ctx.Done():
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	}
}

// freePorts returns n loopback ports that were free a moment ago.
func freePorts(n int) ([]int, error) {
	var ports []int
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// httpOK tells whether a GET of url answers 200.
func httpOK(url string, client *http.Client) bool {
	if client == nil {
		client = &http.Client{Timeout: 2 * time.Second}
	}
	resp, err := client.Get(url)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// tail is the last n lines of a file.
func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
