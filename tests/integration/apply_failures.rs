//! A failed step holds back only what depends on it: independent branches finish, every failure
//! is reported, and the next apply picks up exactly what is left.

use crate::support::*;

/// A stack with two branches: a VPC with its subnet and route table, and a subnet in a VPC that
/// does not exist, whose route table association also needs the good branch's route table.
const SCRIPT: &str = r#"let env = stack("local/us-east-1");
let good = aws::ec2::vpc("good", #{ cidr_block: "10.50.0.0/16" });
let table = aws::ec2::route_table("good", #{ vpc_id: good.id });
aws::ec2::subnet("good-a", #{ vpc_id: good.id, cidr_block: "10.50.1.0/24", availability_zone: "us-east-1a" });
let bad = aws::ec2::subnet("bad", #{ vpc_id: "vpc-0000dead", cidr_block: "10.60.1.0/24", availability_zone: "us-east-1a" });
aws::ec2::route_table_association("bad", #{ subnet_id: bad.id, route_table_id: table.id });
"#;

#[test]
fn a_failure_stops_only_what_depends_on_it() {
    let moto = Moto::start();
    let project = Project::new();
    let script = "scripts/branches.rhai";
    project.write(script, SCRIPT);
    let out = eprun(&project, &["apply", script, "--env", LOCAL_US, "--yes"])
        .moto(&moto)
        .run();
    out.expect_code(1).expect_no_panic();
    let err = &out.stderr;
    assert!(
        err.contains("`CreateSubnet` on `ec2.subnet.bad`"),
        "the failure names the operation and the resource: {}",
        out.all()
    );
    assert!(
        err.contains(
            "not started: `ec2.route_table_association.bad`, because `ec2.subnet.bad` failed"
        ),
        "what depends on the failure is named as not started: {}",
        out.all()
    );
    assert!(
        err.contains("state saved with 3 change(s) applied"),
        "the independent branch finished: {}",
        out.all()
    );

    // The good branch exists, with nothing from the bad one.
    let inv = Inventory::read(&moto, "us-east-1", LOCAL_US);
    assert_eq!(inv.vpcs.len(), 1, "{}", inv.summary());
    assert_eq!(inv.subnets.len(), 1, "{}", inv.summary());

    // The next plan holds exactly what is left.
    let plan = eprun(&project, &["plan", script, "--env", LOCAL_US, "--json"])
        .moto(&moto)
        .run();
    plan.expect_success();
    let mut left = plan_addresses(&plan.json());
    left.sort();
    assert_eq!(
        left,
        vec!["ec2.route_table_association.bad", "ec2.subnet.bad"],
        "{}",
        plan.all()
    );
}
