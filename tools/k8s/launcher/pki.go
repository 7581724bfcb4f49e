package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// pki is the cluster's certificate authority and the keys and certificates made with it.
type pki struct {
	dir   string
	caPEM []byte
}

func (p *pki) file(name string) string { return filepath.Join(p.dir, name) }

// writePKI makes a CA, the apiserver's serving certificate, the admin's client certificate
// (organisation system:masters) and the service-account signing key, in dir.
func writePKI(dir string) (*pki, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now().Add(-time.Hour)
	caTemplate := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "eprun-local-ca"},
		NotBefore:             now,
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTemplate, caTemplate, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	ca, _ := x509.ParseCertificate(caDER)
	p := &pki{dir: dir, caPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})}
	if err := os.WriteFile(p.file("ca.crt"), p.caPEM, 0o600); err != nil {
		return nil, err
	}
	if err := writeKey(p.file("ca.key"), caKey); err != nil {
		return nil, err
	}

	issue := func(name string, serial int64, subject pkix.Name, usage x509.ExtKeyUsage, ips []net.IP, dns []string) error {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return err
		}
		template := &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      subject,
			NotBefore:    now,
			NotAfter:     now.Add(10 * 365 * 24 * time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
			ExtKeyUsage:  []x509.ExtKeyUsage{usage},
			IPAddresses:  ips,
			DNSNames:     dns,
		}
		der, err := x509.CreateCertificate(rand.Reader, template, ca, &key.PublicKey, caKey)
		if err != nil {
			return err
		}
		if err := os.WriteFile(p.file(name+".crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
			return err
		}
		return writeKey(p.file(name+".key"), key)
	}
	if err := issue("apiserver", 2, pkix.Name{CommonName: "kube-apiserver"}, x509.ExtKeyUsageServerAuth,
		[]net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.96.0.1")},
		[]string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
	); err != nil {
		return nil, err
	}
	// kwok's kubelet API, which the apiserver calls for pod logs.
	if err := issue("kubelet", 5, pkix.Name{CommonName: "kwok-kubelet"}, x509.ExtKeyUsageServerAuth,
		[]net.IP{net.ParseIP("127.0.0.1")}, []string{"localhost"}); err != nil {
		return nil, err
	}
	if err := issue("admin", 3, pkix.Name{CommonName: "eprun-admin", Organization: []string{"system:masters"}},
		x509.ExtKeyUsageClientAuth, nil, nil); err != nil {
		return nil, err
	}
	// The controllers, kwok and the launcher itself act as another user, so that the audit log
	// (which leaves this user out) holds only what users and eprun asked.
	if err := issue(componentsUser, 4, pkix.Name{CommonName: componentsUser, Organization: []string{"system:masters"}},
		x509.ExtKeyUsageClientAuth, nil, nil); err != nil {
		return nil, err
	}

	saKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	if err := writeKey(p.file("sa.key"), saKey); err != nil {
		return nil, err
	}
	saPub, err := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(p.file("sa.pub"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: saPub}), 0o600); err != nil {
		return nil, err
	}
	return p, nil
}

// writeKey writes an EC private key as PKCS#8 PEM, the form every client here reads.
func writeKey(path string, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
}

// componentsUser is the user the control plane's own components act as.
const componentsUser = "eprun-components"

// client is an HTTP client that trusts the CA and presents the components' certificate.
func (p *pki) client() (*http.Client, error) {
	cert, err := tls.LoadX509KeyPair(p.file(componentsUser+".crt"), p.file(componentsUser+".key"))
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(p.caPEM)
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{
			RootCAs:      roots,
			Certificates: []tls.Certificate{cert},
			MinVersion:   tls.VersionTLS12,
		}},
	}, nil
}

// writeKubeconfig writes a kubeconfig with one cluster, user and context named name, the user
// being the holder of the certificate `user`.crt.
func writeKubeconfig(path, name, server, user string, p *pki) error {
	read := func(f string) string {
		data, _ := os.ReadFile(p.file(f))
		return b64(data)
	}
	config := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: %[1]s
  cluster:
    server: %[2]s
    certificate-authority-data: %[3]s
users:
- name: %[1]s
  user:
    client-certificate-data: %[4]s
    client-key-data: %[5]s
contexts:
- name: %[1]s
  context:
    cluster: %[1]s
    user: %[1]s
    namespace: default
current-context: %[1]s
`, name, server, read("ca.crt"), read(user+".crt"), read(user+".key"))
	return os.WriteFile(path, []byte(config), 0o600)
}

// auditPolicy records every request at Metadata level, except those of the control plane's own
// components and of the apiserver's loopback client.
const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: None
  users: ["` + componentsUser + `", "system:apiserver"]
- level: Metadata
`

// writeWebhookConfig writes the kubeconfig-format file that points the apiserver at the
// token authenticator.
func writeWebhookConfig(path, url string) error {
	config := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: aws-iam-authenticator
  cluster:
    server: %s
users:
- name: kube-apiserver
contexts:
- name: webhook
  context:
    cluster: aws-iam-authenticator
    user: kube-apiserver
current-context: webhook
`, url)
	return os.WriteFile(path, []byte(config), 0o600)
}
