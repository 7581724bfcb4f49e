//! `[k8s] connect = "eks"` end to end: eprun finds the cluster's endpoint and CA with
//! DescribeCluster and authenticates with a `k8s-aws-v1.` token (a presigned STS
//! GetCallerIdentity URL); the real apiserver checks it through a webhook token authenticator
//! that calls that URL against moto's STS, as aws-iam-authenticator does on EKS.

use crate::support::*;
use serde_json::{Value, json};
use std::io::{Read, Write};

/// POSTs a TokenReview for `token` to the webhook and returns its answer.
fn review(webhook: &str, token: &str) -> Value {
    let addr = webhook.trim_start_matches("http://");
    let body = json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
                      "spec": {"token": token}})
    .to_string();
    let mut stream = std::net::TcpStream::connect(addr).expect("connect to the webhook");
    write!(
        stream,
        "POST /authenticate HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("send the review");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read the review");
    let json = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
    serde_json::from_str(json).unwrap_or_else(|e| panic!("not a TokenReview ({e}): {answer}"))
}

#[test]
fn connect_eks_applies_through_a_presigned_sts_token_checked_by_the_apiserver() {
    let moto = Moto::start();
    let clusters = moto.clusters();
    moto.serve_eks_cluster("examplepay-local", &clusters.us);
    let project = Project::new();
    let env_file = "environments/local/us-east-1.toml";
    let env = project.read(env_file);
    let kubeconfig_target = "connect = \"kubeconfig\"\ncontext = \"local-us-east-1\"\n";
    assert!(env.contains(kubeconfig_target), "{env_file} changed shape");
    project.write(
        env_file,
        env.replace(kubeconfig_target, "connect = \"eks\"\n"),
    );

    // No kubeconfig at all: everything comes from EKS and STS (helm too, through a private
    // kubeconfig holding the token).
    let apply = eprun(&project, &["apply", US_SCRIPT, "--env", LOCAL_US, "--yes"])
        .moto(&moto)
        .env("KUBECONFIG", "/nonexistent")
        .run();
    let us = &clusters.us;
    assert_eq!(
        apply.code,
        0,
        "{apply}\n--- webhook log ---\n{}",
        us.log_text("webhook")
    );

    let pool = us
        .get("/apis/karpenter.sh/v1/nodepools/payments")
        .expect("the stack's NodePool is in the cluster EKS described");
    assert!(
        us.get("/api/v1/namespaces/karpenter/configmaps/karpenter-values")
            .is_some(),
        "helm installed the Karpenter release (its stand-in chart) through the same EKS token"
    );
    assert_eq!(
        pool["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "eprun"
    );
    // The apiserver knew eprun only as the AWS caller the webhook resolved.
    let by_caller: Vec<Value> = us
        .audit()
        .into_iter()
        .filter(|e| {
            e["user"]["username"]
                .as_str()
                .is_some_and(|u| u.starts_with("arn:aws:"))
        })
        .collect();
    assert!(
        by_caller.iter().any(|e| e["verb"] == "patch"
            && e["requestURI"]
                .as_str()
                .is_some_and(|u| u.contains("/nodepools/payments"))),
        "the NodePool was applied by the AWS caller: {:?}",
        by_caller
            .iter()
            .map(|e| &e["requestURI"])
            .collect::<Vec<_>>()
    );
    assert!(
        by_caller.iter().all(|e| e["user"]["groups"]
            .as_array()
            .is_some_and(|g| g.contains(&json!("system:masters")))),
        "moto's account is mapped to system:masters"
    );
    assert!(
        us.log_text("webhook").contains("authenticated arn:aws:"),
        "{}",
        us.log_text("webhook")
    );

    let plan = eprun(
        &project,
        &["plan", US_SCRIPT, "--env", LOCAL_US, "--detailed-exitcode"],
    )
    .moto(&moto)
    .env("KUBECONFIG", "/nonexistent")
    .run();
    plan.expect_code(0);
}

#[test]
fn the_authenticator_refuses_tokens_that_are_not_presigned_sts_calls() {
    let moto = Moto::start();
    let webhook = moto
        .clusters()
        .us
        .webhook()
        .expect("the tests' clusters authenticate AWS callers")
        .to_string();
    use base64::Engine;
    let encode = |url: &str| {
        format!(
            "k8s-aws-v1.{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(url)
        )
    };
    for (token, why) in [
        ("not-a-token".to_string(), "not a k8s-aws-v1. token"),
        (
            encode("http://169.254.169.254/?Action=GetCallerIdentity"),
            "not the STS endpoint",
        ),
        (
            encode(&format!("{}/?Action=ListUsers", moto.endpoint())),
            "not GetCallerIdentity",
        ),
        (
            encode(&format!(
                "{}/?Action=GetCallerIdentity&X-Amz-SignedHeaders=host",
                moto.endpoint()
            )),
            "does not sign the x-k8s-aws-id header",
        ),
    ] {
        let answer = review(&webhook, &token);
        assert_eq!(answer["status"]["authenticated"], false, "{answer}");
        assert!(
            answer["status"]["error"]
                .as_str()
                .is_some_and(|e| e.contains(why)),
            "refused because {why}: {answer}"
        );
    }
}
