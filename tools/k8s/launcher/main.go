// Command eprun-control-plane starts one local Kubernetes control plane for eprun's tests and
// tools/emulators: etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok, on
// free loopback ports, with their own CA, serving certificate, service-account key and an admin
// client certificate in `system:masters`. It installs the CRDs it is given, writes a kubeconfig,
// prints one JSON line describing the cluster once it is ready, and stops every component when
// it receives SIGINT/SIGTERM (or, with -exit-on-stdin-eof, when its standard input closes, so a
// test that dies takes its control plane with it).
//
// With -sts-endpoint it also serves a webhook token authenticator, as aws-iam-authenticator
// does on EKS: a `k8s-aws-v1.` bearer token is a presigned STS GetCallerIdentity URL, which it
// calls and maps to a user.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

func main() {
	opts := options{}
	flag.StringVar(&opts.dir, "dir", "", "directory for the cluster's data, certificates, logs and kubeconfig (required)")
	flag.StringVar(&opts.bin, "bin", "", "directory with etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok (required)")
	flag.StringVar(&opts.kwokConfig, "kwok-config", "", "kwok configuration with the node and pod stages (required)")
	flag.StringVar(&opts.crds, "crds", "", "directory of CRD manifests (*.yaml) to install and wait for")
	flag.StringVar(&opts.context, "context", "local", "name of the cluster, user and context in the kubeconfig")
	flag.IntVar(&opts.port, "port", 0, "kube-apiserver's secure port (0: a free one)")
	flag.StringVar(&opts.stsEndpoint, "sts-endpoint", "", "STS endpoint that `k8s-aws-v1.` tokens must be presigned for; enables the webhook token authenticator")
	flag.StringVar(&opts.clusterName, "cluster-name", "", "EKS cluster name a token must be presigned for (x-k8s-aws-id)")
	flag.StringVar(&opts.adminAccounts, "aws-admin-accounts", "123456789012", "comma-separated AWS accounts whose callers are mapped to system:masters")
	exitOnEOF := flag.Bool("exit-on-stdin-eof", false, "stop the control plane when standard input closes")
	flag.Parse()
	if opts.dir == "" || opts.bin == "" || opts.kwokConfig == "" {
		fmt.Fprintln(os.Stderr, "eprun-control-plane: -dir, -bin and -kwok-config are required")
		os.Exit(2)
	}
	// Children get SIGKILL when the thread that started them dies (Pdeathsig): keep them all
	// on this one thread, so a killed launcher never leaves a control plane behind.
	runtime.LockOSThread()

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	if *exitOnEOF {
		go func() {
			buf := make([]byte, 64)
			for {
				if _, err := os.Stdin.Read(buf); err != nil {
					stop <- syscall.SIGTERM
					return
				}
			}
		}()
	}

	cluster, err := start(opts, stop)
	if err != nil {
		fmt.Fprintf(os.Stderr, "eprun-control-plane: %v\n", err)
		if cluster != nil {
			cluster.stop()
		}
		os.Exit(1)
	}
	line, _ := json.Marshal(cluster.ready)
	fmt.Println(string(line))

	select {
	case <-stop:
	case failure := <-cluster.exited:
		fmt.Fprintf(os.Stderr, "eprun-control-plane: %s\n", failure)
		cluster.stop()
		os.Exit(1)
	}
	cluster.stop()
}

// options are the command-line settings.
type options struct {
	dir, bin, kwokConfig, crds, context string
	port                                int
	stsEndpoint, clusterName            string
	adminAccounts                       string
}

// readyLine is what the launcher prints once the control plane serves.
type readyLine struct {
	Server     string `json:"server"`
	Kubeconfig string `json:"kubeconfig"`
	Context    string `json:"context"`
	CA         string `json:"ca"`
	Webhook    string `json:"webhook,omitempty"`
	AuditLog   string `json:"audit_log"`
	StartupMs  int64  `json:"startup_ms"`
}

// start brings the components up one after the other, retrying with other ports when one was
// taken between choosing it and binding it.
func start(opts options, stop <-chan os.Signal) (*cluster, error) {
	begin := time.Now()
	var last error
	for attempt := 0; attempt < 3; attempt++ {
		c, err := startOnce(opts, stop)
		if err == nil {
			c.ready.StartupMs = time.Since(begin).Milliseconds()
			return c, nil
		}
		if c != nil {
			c.stop()
		}
		last = err
		if !strings.Contains(err.Error(), "address already in use") {
			break
		}
	}
	return nil, last
}

func startOnce(opts options, stop <-chan os.Signal) (*cluster, error) {
	dir, err := filepath.Abs(opts.dir)
	if err != nil {
		return nil, err
	}
	for _, sub := range []string{"etcd", "pki"} {
		_ = os.RemoveAll(filepath.Join(dir, sub))
	}
	if err := os.MkdirAll(filepath.Join(dir, "pki"), 0o700); err != nil {
		return nil, err
	}
	pki, err := writePKI(filepath.Join(dir, "pki"))
	if err != nil {
		return nil, fmt.Errorf("certificates: %w", err)
	}
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	etcdClient, etcdPeer, apiPort := ports[0], ports[1], ports[2]
	if opts.port != 0 {
		apiPort = opts.port
	}
	server := fmt.Sprintf("https://127.0.0.1:%d", apiPort)
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := writeKubeconfig(kubeconfig, opts.context, server, "admin", pki); err != nil {
		return nil, err
	}
	components := filepath.Join(dir, "components-kubeconfig")
	if err := writeKubeconfig(components, opts.context, server, componentsUser, pki); err != nil {
		return nil, err
	}
	policy := filepath.Join(dir, "audit-policy.yaml")
	if err := os.WriteFile(policy, []byte(auditPolicy), 0o600); err != nil {
		return nil, err
	}
	c := &cluster{dir: dir, exited: make(chan string, 8)}
	c.ready = readyLine{Server: server, Kubeconfig: kubeconfig, Context: opts.context, CA: string(pki.caPEM),
		AuditLog: filepath.Join(dir, "audit.log")}

	var webhookConfig string
	if opts.stsEndpoint != "" {
		listener, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return c, err
		}
		auth := &authenticator{
			sts:         strings.TrimSuffix(opts.stsEndpoint, "/"),
			clusterName: opts.clusterName,
			admins:      strings.Split(opts.adminAccounts, ","),
			log:         filepath.Join(dir, "webhook.log"),
		}
		c.webhook = auth.serve(listener)
		c.ready.Webhook = "http://" + listener.Addr().String()
		webhookConfig = filepath.Join(dir, "webhook-kubeconfig")
		if err := writeWebhookConfig(webhookConfig, c.ready.Webhook+"/authenticate"); err != nil {
			return c, err
		}
	}

	bin := func(name string) string { return filepath.Join(opts.bin, name) }
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", etcdClient)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", etcdPeer)
	if err := c.run("etcd", bin("etcd"),
		"--name=etcd", "--data-dir="+filepath.Join(dir, "etcd"),
		"--listen-client-urls="+etcdURL, "--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=etcd="+peerURL,
		// Test clusters are thrown away: durability buys nothing and fsync costs seconds.
		"--unsafe-no-fsync", "--log-level=warn",
	); err != nil {
		return c, err
	}
	if err := c.waitFor("etcd", 30*time.Second, stop, func() bool { return httpOK(etcdURL+"/health", nil) }); err != nil {
		return c, err
	}

	apiArgs := []string{
		"--etcd-servers=" + etcdURL,
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", apiPort),
		"--tls-cert-file=" + pki.file("apiserver.crt"), "--tls-private-key-file=" + pki.file("apiserver.key"),
		"--client-ca-file=" + pki.file("ca.crt"),
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + pki.file("sa.pub"),
		"--service-account-signing-key-file=" + pki.file("sa.key"),
		"--service-cluster-ip-range=10.96.0.0/16",
		"--authorization-mode=RBAC",
		"--allow-privileged=true",
		"--profiling=false",
		"--cert-dir=" + filepath.Join(dir, "pki"),
		"--audit-policy-file=" + policy, "--audit-log-path=" + filepath.Join(dir, "audit.log"),
		"--audit-log-format=json", "--audit-log-mode=blocking",
		// kwok serves the kubelet API (logs) of every node on 127.0.0.1, with a certificate of
		// this CA: the apiserver reaches it at the node's InternalIP, not at its name.
		"--kubelet-certificate-authority=" + pki.file("ca.crt"),
		"--kubelet-preferred-address-types=InternalIP",
	}
	if webhookConfig != "" {
		apiArgs = append(apiArgs,
			"--authentication-token-webhook-config-file="+webhookConfig,
			"--authentication-token-webhook-version=v1",
			"--authentication-token-webhook-cache-ttl=10s")
	}
	if err := c.run("kube-apiserver", bin("kube-apiserver"), apiArgs...); err != nil {
		return c, err
	}
	client, err := pki.client()
	if err != nil {
		return c, err
	}
	if err := c.waitFor("kube-apiserver", 90*time.Second, stop, func() bool { return httpOK(server+"/readyz", client) }); err != nil {
		return c, err
	}

	if err := c.run("kube-controller-manager", bin("kube-controller-manager"),
		"--kubeconfig="+components, "--leader-elect=false", "--secure-port=0",
		"--service-account-private-key-file="+pki.file("sa.key"),
		"--root-ca-file="+pki.file("ca.crt"),
		"--cluster-signing-cert-file="+pki.file("ca.crt"), "--cluster-signing-key-file="+pki.file("ca.key"),
		"--use-service-account-credentials=false",
		"--profiling=false",
	); err != nil {
		return c, err
	}
	if err := c.run("kube-scheduler", bin("kube-scheduler"),
		"--kubeconfig="+components, "--leader-elect=false", "--secure-port=0", "--profiling=false",
	); err != nil {
		return c, err
	}
	kwokPort, err := freePorts(1)
	if err != nil {
		return c, err
	}
	kwokConfig, err := writeKwokConfig(dir, opts.kwokConfig)
	if err != nil {
		return c, err
	}
	if err := c.run("kwok", bin("kwok"),
		"--kubeconfig="+components, "--config="+kwokConfig,
		"--manage-all-nodes=true",
		fmt.Sprintf("--server-address=127.0.0.1:%d", kwokPort[0]),
		// Nodes point at kwok's kubelet API: InternalIP 127.0.0.1, kubelet port kwok's.
		"--cidr=10.244.0.0/16", "--node-ip=127.0.0.1", fmt.Sprintf("--node-port=%d", kwokPort[0]),
		"--tls-cert-file="+pki.file("kubelet.crt"), "--tls-private-key-file="+pki.file("kubelet.key"),
	); err != nil {
		return c, err
	}

	if opts.crds != "" {
		if err := installCRDs(server, client, opts.crds, c, stop); err != nil {
			return c, err
		}
	}
	// The controller-manager is working once it has made the default ServiceAccount.
	if err := c.waitFor("kube-controller-manager", 60*time.Second, stop, func() bool {
		return httpOK(server+"/api/v1/namespaces/default/serviceaccounts/default", client)
	}); err != nil {
		return c, err
	}
	return c, nil
}
