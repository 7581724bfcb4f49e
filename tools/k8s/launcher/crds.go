package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

const crdPath = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"

// installCRDs creates every CRD in dir's *.yaml files (the apiserver reads YAML itself) and
// waits until each is Established.
func installCRDs(server string, client *http.Client, dir string, c *cluster, stop <-chan os.Signal) error {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return err
	}
	sort.Strings(files)
	created := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		for _, doc := range splitYAML(data) {
			resp, err := client.Post(server+crdPath, "application/yaml", bytes.NewReader(doc))
			if err != nil {
				return fmt.Errorf("creating the CRD in %s: %w", f, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusConflict {
				return fmt.Errorf("creating the CRD in %s: %s: %s", f, resp.Status, body)
			}
			created++
		}
	}
	return c.waitFor("CRDs established", 60*time.Second, stop, func() bool {
		return establishedCRDs(server, client) >= created
	})
}

// establishedCRDs counts the CRDs whose Established condition is True.
func establishedCRDs(server string, client *http.Client) int {
	resp, err := client.Get(server + crdPath)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	var list struct {
		Items []struct {
			Status struct {
				Conditions []struct{ Type, Status string }
			}
		}
	}
	if json.NewDecoder(resp.Body).Decode(&list) != nil {
		return 0
	}
	n := 0
	for _, item := range list.Items {
		for _, cond := range item.Status.Conditions {
			if cond.Type == "Established" && cond.Status == "True" {
				n++
			}
		}
	}
	return n
}

// splitYAML splits a YAML stream at its `---` lines, dropping empty documents.
func splitYAML(data []byte) [][]byte {
	var docs [][]byte
	var current []string
	flush := func() {
		doc := strings.TrimSpace(strings.Join(current, "\n"))
		current = nil
		if doc == "" {
			return
		}
		for _, line := range strings.Split(doc, "\n") {
			if t := strings.TrimSpace(line); t != "" && !strings.HasPrefix(t, "#") {
				docs = append(docs, []byte(doc+"\n"))
				return
			}
		}
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.TrimRight(line, " \r") == "---" {
			flush()
			continue
		}
		current = append(current, line)
	}
	flush()
	return docs
}
