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
	if err := c.waitFor("CRDs established", 60*time.Second, stop, func() bool {
		return len(establishedCRDs(server, client)) >= created
	}); err != nil {
		return err
	}
	// Established is not yet servable: the watch cache of a new resource answers "storage is
	// (re)initializing" for a moment. Ready means every custom resource can be listed.
	for _, path := range establishedCRDs(server, client) {
		if err := c.waitFor("listing "+path, 60*time.Second, stop, func() bool {
			return httpOK(server+path+"?limit=1", client)
		}); err != nil {
			return err
		}
	}
	return nil
}

// establishedCRDs lists the collection path (`/apis/GROUP/VERSION/PLURAL`, first served
// version) of each CRD whose Established condition is True.
func establishedCRDs(server string, client *http.Client) []string {
	resp, err := client.Get(server + crdPath)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var list struct {
		Items []struct {
			Spec struct {
				Group    string
				Names    struct{ Plural string }
				Versions []struct {
					Name   string
					Served bool
				}
			}
			Status struct {
				Conditions []struct{ Type, Status string }
			}
		}
	}
	if json.NewDecoder(resp.Body).Decode(&list) != nil {
		return nil
	}
	var paths []string
	for _, item := range list.Items {
		version := ""
		for _, v := range item.Spec.Versions {
			if v.Served {
				version = v.Name
				break
			}
		}
		for _, cond := range item.Status.Conditions {
			if cond.Type == "Established" && cond.Status == "True" && version != "" {
				paths = append(paths, fmt.Sprintf("/apis/%s/%s/%s", item.Spec.Group, version, item.Spec.Names.Plural))
			}
		}
	}
	return paths
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
