//! Taking over what Terraform built: `eprun migrate terraform` on the seed's primary region as its
//! Terraform modules would have made it in moto (boto3, no eprun tags, a v4 state file), and
//! `eprun import` of one resource.

use crate::support::*;
use std::process::Command;

/// The migration test's stack: the Terraform-built part of the primary region.
const SCRIPT: &str = "scripts/terraform_estate.rhai";

/// A project with the estate's script, and moto with the region built as Terraform would have,
/// its Terraform state at `terraform.tfstate` in the project.
fn terraform_estate(moto: &Moto) -> Project {
    let project = Project::new();
    project.write(
        SCRIPT,
        std::fs::read(repo_root().join("tests/terraform/estate.rhai")).expect("estate.rhai"),
    );
    let out = Command::new(venv_python())
        .arg(repo_root().join("tests/terraform/primary_region.py"))
        .arg(project.join("environments/local/us-east-1.toml"))
        .arg(project.join("terraform.tfstate"))
        .env("AWS_ENDPOINT_URL", moto.endpoint())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .output()
        .expect("run tests/terraform/primary_region.py");
    assert!(
        out.status.success(),
        "building the region as Terraform would: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    project
}

fn run(project: &Project, moto: &Moto, args: &[&str]) -> Output {
    let out = eprun(project, args)
        .env("AWS_ENDPOINT_URL", &moto.endpoint())
        .run();
    out.expect_no_panic();
    out
}

/// Every change of a `plan --json` document, as (address, action, field names).
fn changes(plan: &serde_json::Value) -> Vec<(String, String, Vec<String>)> {
    let list = plan["changes"].as_array().expect("changes");
    list.iter()
        .map(|c| {
            let fields = (c["fields"].as_array().into_iter().flatten())
                .map(|f| f["name"].as_str().unwrap_or_default().to_string())
                .collect();
            let text = |k: &str| c[k].as_str().unwrap_or_default().to_string();
            (text("address"), text("action"), fields)
        })
        .collect()
}

#[test]
fn a_terraform_built_region_is_taken_over_without_creating_or_deleting_anything() {
    let moto = Moto::start();
    let project = terraform_estate(&moto);
    let ec2 = ec2_client(&moto, "us-east-1");
    let vpcs_before = block_on(ec2.describe_vpcs().send()).expect("DescribeVpcs");
    let count = |v: &aws_sdk_ec2::operation::describe_vpcs::DescribeVpcsOutput| v.vpcs().len();

    // The state as the seed keeps it: an object of Terraform's S3 backend.
    let s3 = s3_client(&moto, "us-east-1");
    block_on(
        s3.create_bucket()
            .bucket("examplepay-terraform-state")
            .send(),
    )
    .expect("CreateBucket");
    let tfstate = project.read("terraform.tfstate").into_bytes();
    let put = s3
        .put_object()
        .bucket("examplepay-terraform-state")
        .key("primary/terraform.tfstate")
        .body(tfstate.into());
    block_on(put.send()).expect("PutObject");
    let source = "s3://examplepay-terraform-state/primary/terraform.tfstate";
    let migrated = run(
        &project,
        &moto,
        &["migrate", "terraform", SCRIPT, source, "--json"],
    );
    migrated.expect_success();
    let table = migrated.json();
    let matched = table["matched"].as_array().expect("matched").len();
    for section in ["ambiguous", "not_found", "unclaimed"] {
        assert_eq!(
            table[section],
            serde_json::json!([]),
            "{section}: {}",
            migrated.all()
        );
    }
    let declared = project.state_resource_count("local/us-east-1");
    assert_eq!(
        matched,
        declared,
        "every match is recorded: {}",
        migrated.all()
    );
    // Every instance of the Terraform state names one matched resource (a KMS key and its alias,
    // a bucket and its encryption and access settings name the same one).
    let tf: serde_json::Value =
        serde_json::from_str(&project.read("terraform.tfstate")).expect("tfstate");
    let instances: usize = (tf["resources"].as_array().expect("resources").iter())
        .map(|r| r["instances"].as_array().map_or(0, Vec::len))
        .sum();
    let sources: usize = (table["matched"].as_array().expect("matched").iter())
        .map(|m| m["sources"].as_array().map_or(0, Vec::len))
        .sum();
    assert_eq!(
        sources,
        instances,
        "every Terraform instance is matched: {}",
        migrated.all()
    );
    eprintln!("{matched} resources matched from {instances} Terraform instances");

    let plan = run(&project, &moto, &["plan", SCRIPT, "--json"]);
    plan.expect_success();
    let planned = changes(&plan.json());
    assert!(
        !planned.is_empty(),
        "the ownership tags are still to be set"
    );
    for (address, action, fields) in &planned {
        assert_eq!(
            action,
            "update",
            "`{address}` is only updated: {}",
            plan.all()
        );
        // Besides the tags, only what eprun itself records in `eprun:` tags, because AWS keeps
        // none: a secret's recovery window and a zone's `force_destroy` (delete-time settings that
        // Terraform kept in its own state) read as their defaults until eprun records them.
        let own_records = ["tags", "recovery_window_in_days", "force_destroy"];
        assert!(
            fields.iter().all(|f| own_records.contains(&f.as_str()))
                && fields.iter().any(|f| f == "tags"),
            "`{address}` changes only its tags ({fields:?}): {}",
            plan.all()
        );
    }

    let applied = run(&project, &moto, &["apply", SCRIPT, "--yes"]);
    applied.expect_success();
    assert!(applied.stdout.contains("0 created"), "{}", applied.all());
    assert!(applied.stdout.contains("0 deleted"), "{}", applied.all());
    let again = run(&project, &moto, &["plan", SCRIPT, "--json"]);
    again.expect_success();
    assert_eq!(
        changes(&again.json()),
        vec![],
        "after apply: {}",
        again.all()
    );
    let vpcs_after = block_on(ec2.describe_vpcs().send()).expect("DescribeVpcs");
    assert_eq!(
        count(&vpcs_after),
        count(&vpcs_before),
        "no VPC was created"
    );
    let tagged = vpcs_after.vpcs().iter().filter(|v| {
        v.tags()
            .iter()
            .any(|t| t.key() == Some("eprun:stack") && t.value() == Some("local/us-east-1"))
    });
    assert_eq!(
        tagged.count(),
        1,
        "the Terraform VPC now carries eprun's ownership tags"
    );
}

#[test]
fn an_ambiguous_or_missing_terraform_resource_records_nothing_and_says_what() {
    let moto = Moto::start();
    let project = terraform_estate(&moto);
    // A second VPC with the same CIDR and `Name` that Terraform also lists: two fit the declaration.
    let mut tf: serde_json::Value =
        serde_json::from_str(&project.read("terraform.tfstate")).expect("tfstate");
    let ec2 = ec2_client(&moto, "us-east-1");
    let name = aws_sdk_ec2::types::Tag::builder()
        .key("Name")
        .value("examplepay-local")
        .build();
    let tagged = aws_sdk_ec2::types::TagSpecification::builder()
        .resource_type(aws_sdk_ec2::types::ResourceType::Vpc)
        .tags(name)
        .build();
    let twin = ec2
        .create_vpc()
        .cidr_block("10.10.0.0/16")
        .tag_specifications(tagged);
    let twin = block_on(twin.send()).expect("CreateVpc");
    let twin = twin
        .vpc()
        .and_then(|v| v.vpc_id())
        .expect("vpc id")
        .to_string();
    tf["resources"]
        .as_array_mut()
        .expect("resources")
        .push(serde_json::json!({
            "mode": "managed", "type": "aws_vpc", "name": "twin",
            "instances": [{"attributes": {"id": twin}}]
        }));
    tf["resources"]
        .as_array_mut()
        .expect("resources")
        .push(serde_json::json!({
            "mode": "managed", "type": "aws_vpc", "name": "gone",
            "instances": [{"attributes": {"id": "vpc-0000000000000dead"}}]
        }));
    project.write("terraform.tfstate", tf.to_string());

    let out = run(
        &project,
        &moto,
        &["migrate", "terraform", SCRIPT, "terraform.tfstate"],
    );
    out.expect_code(1);
    assert!(out.stdout.contains("Ambiguous"), "{}", out.all());
    assert!(
        out.stdout.contains(&twin),
        "names the candidates: {}",
        out.all()
    );
    assert!(
        out.stdout
            .contains("aws_vpc.gone: no `ec2.vpc` `vpc-0000000000000dead`"),
        "{}",
        out.all()
    );
    assert!(
        out.stderr.contains("eprun import"),
        "hints at import: {}",
        out.all()
    );
    assert_eq!(
        project.state_json("local/us-east-1"),
        None,
        "nothing recorded"
    );
}

#[test]
fn import_records_one_existing_resource_and_refuses_what_it_cannot_find() {
    let moto = Moto::start();
    let project = Project::new();
    let ec2 = ec2_client(&moto, "us-east-1");
    let made = block_on(ec2.create_vpc().cidr_block("10.10.0.0/16").send()).expect("CreateVpc");
    let vpc = made
        .vpc()
        .and_then(|v| v.vpc_id())
        .expect("vpc id")
        .to_string();
    let script = "scripts/prod/us-east-1.rhai";
    let env = ["--env", "local/us-east-1"];

    let undeclared = run(
        &project,
        &moto,
        &[
            &["import", script, "ec2.vpc.examplepay-locl", &vpc][..],
            &env,
        ]
        .concat(),
    );
    undeclared.expect_code(1);
    assert!(
        undeclared.stderr.contains("is not declared"),
        "{}",
        undeclared.all()
    );
    assert!(
        undeclared
            .stderr
            .contains("did you mean `ec2.vpc.examplepay-local`"),
        "{}",
        undeclared.all()
    );
    let missing = run(
        &project,
        &moto,
        &[
            &[
                "import",
                script,
                "ec2.vpc.examplepay-local",
                "vpc-0000000000000dead",
            ][..],
            &env,
        ]
        .concat(),
    );
    missing.expect_code(1);
    assert!(
        missing
            .stderr
            .contains("no `ec2.vpc` with id `vpc-0000000000000dead`"),
        "{}",
        missing.all()
    );
    assert_eq!(
        project.state_json("local/us-east-1"),
        None,
        "refusals record nothing"
    );

    let imported = run(
        &project,
        &moto,
        &[
            &["import", script, "ec2.vpc.examplepay-local", &vpc][..],
            &env,
        ]
        .concat(),
    );
    imported.expect_success();
    let state = project.state_json("local/us-east-1").expect("state");
    assert_eq!(
        state.pointer("/state/resources/ec2.vpc.examplepay-local/id"),
        Some(&serde_json::json!(vpc)),
        "{state}"
    );

    let again = run(
        &project,
        &moto,
        &[
            &["import", script, "ec2.vpc.examplepay-local", &vpc][..],
            &env,
        ]
        .concat(),
    );
    again.expect_code(1);
    assert!(
        again.stderr.contains("already in the state"),
        "{}",
        again.all()
    );
}
