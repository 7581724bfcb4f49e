package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// podLogLines is what every container's log holds: kwok runs no containers, so it serves the
// kubelet's log API (`GET .../pods/NAME/log` through the apiserver) from one file, the same for
// every pod, which the launcher writes at start.
var podLogLines = []string{"starting", "listening on :8080", "ready"}

// writeKwokConfig writes DIR/kwok.yaml: the stages of base and a ClusterLogs entry serving
// DIR/pod.log (in the CRI log format the kubelet reads) for every container of every pod.
func writeKwokConfig(dir, base string) (string, error) {
	stages, err := os.ReadFile(base)
	if err != nil {
		return "", err
	}
	logFile := filepath.Join(dir, "pod.log")
	var log strings.Builder
	at := time.Now().UTC()
	for i, line := range podLogLines {
		stamp := at.Add(time.Duration(i) * time.Millisecond).Format(time.RFC3339Nano)
		fmt.Fprintf(&log, "%s stdout F %s\n", stamp, line)
	}
	if err := os.WriteFile(logFile, []byte(log.String()), 0o600); err != nil {
		return "", err
	}
	config := string(stages) + fmt.Sprintf(`
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterLogs
metadata:
  name: all-pods
spec:
  logs:
  - logsFile: %q
`, logFile)
	path := filepath.Join(dir, "kwok.yaml")
	return path, os.WriteFile(path, []byte(config), 0o600)
}
