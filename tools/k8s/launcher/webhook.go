package main

import (
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

const tokenPrefix = "k8s-aws-v1."

// authenticator is a webhook token authenticator for `k8s-aws-v1.` tokens, as
// aws-iam-authenticator runs it on EKS: the token is a presigned STS GetCallerIdentity URL;
// calling it tells who signed it.
type authenticator struct {
	sts         string
	clusterName string
	admins      []string
	log         string
	mu          sync.Mutex
}

// tokenReview is the part of authentication.k8s.io/v1 TokenReview the webhook reads and writes.
type tokenReview struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Spec       struct {
		Token string `json:"token"`
	} `json:"spec"`
	Status struct {
		Authenticated bool   `json:"authenticated"`
		Error         string `json:"error,omitempty"`
		User          *struct {
			Username string   `json:"username"`
			UID      string   `json:"uid"`
			Groups   []string `json:"groups"`
		} `json:"user,omitempty"`
	} `json:"status"`
}

func (a *authenticator) serve(listener net.Listener) *http.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("/authenticate", a.handle)
	server := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = server.Serve(listener) }()
	return server
}

func (a *authenticator) handle(w http.ResponseWriter, r *http.Request) {
	var review tokenReview
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&review); err != nil {
		http.Error(w, "not a TokenReview", http.StatusBadRequest)
		return
	}
	token := review.Spec.Token
	review.Spec.Token = ""
	review.APIVersion, review.Kind = "authentication.k8s.io/v1", "TokenReview"
	arn, account, userID, err := a.verify(token)
	if err != nil {
		review.Status.Error = err.Error()
		a.record("denied: %v", err)
	} else {
		groups := []string{"system:authenticated"}
		if slices.Contains(a.admins, account) {
			groups = append(groups, "system:masters")
		}
		review.Status.Authenticated = true
		review.Status.User = &struct {
			Username string   `json:"username"`
			UID      string   `json:"uid"`
			Groups   []string `json:"groups"`
		}{Username: arn, UID: "aws-iam-authenticator:" + account + ":" + userID, Groups: groups}
		a.record("authenticated %s (groups %v)", arn, groups)
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(review)
}

// verify checks the presigned URL a token carries and asks STS who signed it.
func (a *authenticator) verify(token string) (arn, account, userID string, err error) {
	if !strings.HasPrefix(token, tokenPrefix) {
		return "", "", "", fmt.Errorf("not a %s token", tokenPrefix)
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(token[len(tokenPrefix):], "="))
	if err != nil {
		return "", "", "", fmt.Errorf("the token is not base64url: %v", err)
	}
	presigned, err := url.Parse(string(raw))
	if err != nil {
		return "", "", "", fmt.Errorf("the token is not a URL: %v", err)
	}
	want, err := url.Parse(a.sts)
	if err != nil {
		return "", "", "", err
	}
	if presigned.Scheme != want.Scheme || presigned.Host != want.Host {
		return "", "", "", fmt.Errorf("the token is presigned for %s://%s, not the STS endpoint %s", presigned.Scheme, presigned.Host, a.sts)
	}
	q := lowerKeys(presigned.Query())
	if q.Get("action") != "GetCallerIdentity" {
		return "", "", "", fmt.Errorf("the token presigns %q, not GetCallerIdentity", q.Get("action"))
	}
	if !slices.Contains(strings.Split(q.Get("x-amz-signedheaders"), ";"), "x-k8s-aws-id") {
		return "", "", "", fmt.Errorf("the token does not sign the x-k8s-aws-id header")
	}
	signed, err := time.Parse("20060102T150405Z", q.Get("x-amz-date"))
	if err != nil {
		return "", "", "", fmt.Errorf("the token has no valid X-Amz-Date")
	}
	expires, err := strconv.Atoi(q.Get("x-amz-expires"))
	if err != nil || expires <= 0 || expires > 900 {
		return "", "", "", fmt.Errorf("the token's X-Amz-Expires must be 1..900 seconds")
	}
	if time.Now().After(signed.Add(time.Duration(expires) * time.Second)) {
		return "", "", "", fmt.Errorf("the token expired at %s", signed.Add(time.Duration(expires)*time.Second).Format(time.RFC3339))
	}

	req, err := http.NewRequest(http.MethodGet, presigned.String(), nil)
	if err != nil {
		return "", "", "", err
	}
	req.Header.Set("x-k8s-aws-id", a.clusterName)
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return "", "", "", fmt.Errorf("calling STS: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return "", "", "", fmt.Errorf("STS answered %s", resp.Status)
	}
	var identity struct {
		Result struct {
			Arn     string `xml:"Arn"`
			Account string `xml:"Account"`
			UserID  string `xml:"UserId"`
		} `xml:"GetCallerIdentityResult"`
	}
	if err := xml.Unmarshal(body, &identity); err != nil || identity.Result.Arn == "" {
		return "", "", "", fmt.Errorf("STS answered no caller identity")
	}
	return identity.Result.Arn, identity.Result.Account, identity.Result.UserID, nil
}

// lowerKeys makes query keys case-insensitive, as STS treats them.
func lowerKeys(q url.Values) url.Values {
	out := url.Values{}
	for k, v := range q {
		out[strings.ToLower(k)] = v
	}
	return out
}

// record appends one line to the webhook's log (never the token).
func (a *authenticator) record(format string, args ...any) {
	a.mu.Lock()
	defer a.mu.Unlock()
	f, err := os.OpenFile(a.log, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return
	}
	defer f.Close()
	fmt.Fprintf(f, "%s %s\n", time.Now().UTC().Format(time.RFC3339), fmt.Sprintf(format, args...))
}

func b64(data []byte) string { return base64.StdEncoding.EncodeToString(data) }
