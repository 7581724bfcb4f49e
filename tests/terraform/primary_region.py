"""Builds the seed's primary region the way its Terraform modules would, and writes their state.

    primary_region.py ENVIRONMENT_TOML STATE_OUT

Every resource is made with boto3 against the endpoint in AWS_ENDPOINT_URL (moto), tagged as
Terraform tags it (`Name` plus the provider's default tags, `ManagedBy = terraform`) and never with
eprun's ownership tags. The IAM, Route 53 and Secrets Manager resources use the settings Terraform
would (Route 53 caller references are Terraform's own). STATE_OUT receives the Terraform state
(format version 4, as `terraform state pull` prints it) with one instance per resource, named as
the seed's modules name them (`module.vpc.aws_subnet.private["us-east-1a"]`).
"""

import json
import sys
import tomllib
import uuid

import boto3

env_file, state_out = sys.argv[1], sys.argv[2]
with open(env_file, "rb") as f:
    env = tomllib.load(f)

region = env["region"]
vpc_cfg, tgw_cfg, dns_cfg, sec_cfg = env["vpc"], env["transit_gateway"], env["dns"], env["secrets"]
eks_cfg = env["eks"]
default_tags = {**env["tags"], "ManagedBy": "terraform"}
name = vpc_cfg["name"]

ec2 = boto3.client("ec2", region_name=region)
s3 = boto3.client("s3", region_name=region)
r53 = boto3.client("route53", region_name=region)
sm = boto3.client("secretsmanager", region_name=region)
kms = boto3.client("kms", region_name=region)
iam = boto3.client("iam", region_name=region)
eks = boto3.client("eks", region_name=region)
account = boto3.client("sts", region_name=region).get_caller_identity()["Account"]

resources = []


def record(module, tf_type, tf_name, attributes, index=None):
    """Adds one instance to the state, as Terraform's module `module` would hold it."""
    instance = {"schema_version": 0, "attributes": attributes}
    if index is not None:
        instance["index_key"] = index
    block = next(
        (
            r
            for r in resources
            if r.get("module") == module and r["type"] == tf_type and r["name"] == tf_name
        ),
        None,
    )
    if block is None:
        block = {
            "mode": "managed",
            "type": tf_type,
            "name": tf_name,
            "provider": 'provider["registry.terraform.io/hashicorp/aws"]',
            "instances": [],
        }
        if module:
            block["module"] = module
        resources.append(block)
    block["instances"].append(instance)


def tags(tag_name, extra=None):
    """Terraform's tags on an EC2 resource: the provider's default tags, `Name`, the resource's own."""
    all_tags = {**default_tags, "Name": tag_name, **(extra or {})}
    return [{"Key": k, "Value": v} for k, v in all_tags.items()]


def spec(resource_type, tag_name, extra=None):
    return [{"ResourceType": resource_type, "Tags": tags(tag_name, extra)}]


def ec2_arn(kind, ident):
    return f"arn:aws:ec2:{region}:{account}:{kind}/{ident}"


# module "vpc"
m = "module.vpc"
vpc_id = ec2.create_vpc(
    CidrBlock=vpc_cfg["cidr"], TagSpecifications=spec("vpc", name)
)["Vpc"]["VpcId"]
ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsSupport={"Value": True})
ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsHostnames={"Value": True})
record(m, "aws_vpc", "this", {"id": vpc_id, "arn": ec2_arn("vpc", vpc_id), "cidr_block": vpc_cfg["cidr"]})

igw_id = ec2.create_internet_gateway(TagSpecifications=spec("internet-gateway", name))[
    "InternetGateway"
]["InternetGatewayId"]
ec2.attach_internet_gateway(InternetGatewayId=igw_id, VpcId=vpc_id)
record(m, "aws_internet_gateway", "this", {"id": igw_id, "arn": ec2_arn("internet-gateway", igw_id), "vpc_id": vpc_id})

public_rt = ec2.create_route_table(VpcId=vpc_id, TagSpecifications=spec("route-table", f"{name}-public"))[
    "RouteTable"
]["RouteTableId"]
record(m, "aws_route_table", "public", {"id": public_rt, "arn": ec2_arn("route-table", public_rt), "vpc_id": vpc_id})
ec2.create_route(RouteTableId=public_rt, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw_id)
record(
    m,
    "aws_route",
    "public_internet",
    {"id": f"r-{public_rt}1080289494", "route_table_id": public_rt, "destination_cidr_block": "0.0.0.0/0", "gateway_id": igw_id},
)

private_subnets, private_rts = [], []
for i, az in enumerate(vpc_cfg["azs"]):
    letter = az[-1]
    public = ec2.create_subnet(
        VpcId=vpc_id,
        CidrBlock=vpc_cfg["public_subnets"][i],
        AvailabilityZone=az,
        TagSpecifications=spec("subnet", f"{name}-public-{letter}", {"kubernetes.io/role/elb": "1"}),
    )["Subnet"]["SubnetId"]
    ec2.modify_subnet_attribute(SubnetId=public, MapPublicIpOnLaunch={"Value": True})
    record(m, "aws_subnet", "public", {"id": public, "arn": ec2_arn("subnet", public), "vpc_id": vpc_id, "cidr_block": vpc_cfg["public_subnets"][i]}, az)
    assoc = ec2.associate_route_table(RouteTableId=public_rt, SubnetId=public)["AssociationId"]
    record(m, "aws_route_table_association", "public", {"id": assoc, "route_table_id": public_rt, "subnet_id": public}, az)

    private = ec2.create_subnet(
        VpcId=vpc_id,
        CidrBlock=vpc_cfg["private_subnets"][i],
        AvailabilityZone=az,
        TagSpecifications=spec(
            "subnet",
            f"{name}-private-{letter}",
            {"kubernetes.io/role/internal-elb": "1", "karpenter.sh/discovery": name},
        ),
    )["Subnet"]["SubnetId"]
    private_subnets.append(private)
    record(m, "aws_subnet", "private", {"id": private, "arn": ec2_arn("subnet", private), "vpc_id": vpc_id, "cidr_block": vpc_cfg["private_subnets"][i]}, az)

    alloc = ec2.allocate_address(Domain="vpc", TagSpecifications=spec("elastic-ip", f"{name}-nat-{letter}"))["AllocationId"]
    record(m, "aws_eip", "nat", {"id": alloc, "allocation_id": alloc, "domain": "vpc"}, az)
    nat = ec2.create_nat_gateway(SubnetId=public, AllocationId=alloc, TagSpecifications=spec("natgateway", f"{name}-{letter}"))[
        "NatGateway"
    ]["NatGatewayId"]
    ec2.get_waiter("nat_gateway_available").wait(NatGatewayIds=[nat], WaiterConfig={"Delay": 1})
    record(m, "aws_nat_gateway", "this", {"id": nat, "subnet_id": public, "allocation_id": alloc}, az)

    rt = ec2.create_route_table(VpcId=vpc_id, TagSpecifications=spec("route-table", f"{name}-private-{letter}"))[
        "RouteTable"
    ]["RouteTableId"]
    private_rts.append(rt)
    record(m, "aws_route_table", "private", {"id": rt, "arn": ec2_arn("route-table", rt), "vpc_id": vpc_id}, az)
    assoc = ec2.associate_route_table(RouteTableId=rt, SubnetId=private)["AssociationId"]
    record(m, "aws_route_table_association", "private", {"id": assoc, "route_table_id": rt, "subnet_id": private}, az)
    ec2.create_route(RouteTableId=rt, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=nat)
    record(
        m,
        "aws_route",
        "private_egress",
        {"id": f"r-{rt}1080289494", "route_table_id": rt, "destination_cidr_block": "0.0.0.0/0", "nat_gateway_id": nat},
        az,
    )

bucket = f"{name}-vpc-flow-logs-{region}"
s3.create_bucket(Bucket=bucket)
s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in {**default_tags, "Name": f"{name}-flow-logs"}.items()]})
s3.put_bucket_encryption(
    Bucket=bucket,
    ServerSideEncryptionConfiguration={"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]},
)
s3.put_public_access_block(
    Bucket=bucket,
    PublicAccessBlockConfiguration={k: True for k in ["BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"]},
)
record(m, "aws_s3_bucket", "flow_logs", {"id": bucket, "bucket": bucket, "arn": f"arn:aws:s3:::{bucket}"})
record(m, "aws_s3_bucket_server_side_encryption_configuration", "flow_logs", {"id": bucket, "bucket": bucket})
record(m, "aws_s3_bucket_public_access_block", "flow_logs", {"id": bucket, "bucket": bucket})

flow = ec2.create_flow_logs(
    ResourceIds=[vpc_id],
    ResourceType="VPC",
    TrafficType="ALL",
    LogDestinationType="s3",
    LogDestination=f"arn:aws:s3:::{bucket}",
    TagSpecifications=spec("vpc-flow-log", name),
)["FlowLogIds"][0]
record(m, "aws_flow_log", "this", {"id": flow, "arn": ec2_arn("vpc-flow-log", flow), "vpc_id": vpc_id})

sg = ec2.create_security_group(
    GroupName=f"{name}-vpc-endpoints",
    Description="HTTPS from inside the VPC to the interface endpoints",
    VpcId=vpc_id,
    TagSpecifications=spec("security-group", f"{name}-endpoints"),
)["GroupId"]
ec2.authorize_security_group_ingress(
    GroupId=sg,
    IpPermissions=[{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": vpc_cfg["cidr"]}]}],
)
record(m, "aws_security_group", "endpoints", {"id": sg, "arn": ec2_arn("security-group", sg), "name": f"{name}-vpc-endpoints", "vpc_id": vpc_id})

for service in vpc_cfg["interface_endpoints"]:
    slug = service.replace(".", "-")
    ep = ec2.create_vpc_endpoint(
        VpcId=vpc_id,
        ServiceName=f"com.amazonaws.{region}.{service}",
        VpcEndpointType="Interface",
        SubnetIds=private_subnets,
        SecurityGroupIds=[sg],
        PrivateDnsEnabled=True,
        TagSpecifications=spec("vpc-endpoint", f"{name}-{slug}"),
    )["VpcEndpoint"]["VpcEndpointId"]
    record(m, "aws_vpc_endpoint", "interface", {"id": ep, "arn": ec2_arn("vpc-endpoint", ep), "vpc_id": vpc_id}, service)
for service in vpc_cfg["gateway_endpoints"]:
    slug = service.replace(".", "-")
    ep = ec2.create_vpc_endpoint(
        VpcId=vpc_id,
        ServiceName=f"com.amazonaws.{region}.{service}",
        VpcEndpointType="Gateway",
        RouteTableIds=private_rts + [public_rt],
        TagSpecifications=spec("vpc-endpoint", f"{name}-{slug}"),
    )["VpcEndpoint"]["VpcEndpointId"]
    record(m, "aws_vpc_endpoint", "gateway", {"id": ep, "arn": ec2_arn("vpc-endpoint", ep), "vpc_id": vpc_id}, service)

# module "transit_gateway"
m = "module.transit_gateway"
tgw_name = tgw_cfg["name"]
tgw = ec2.create_transit_gateway(
    Description=f"ExamplePay {region} hub",
    Options={
        "AmazonSideAsn": tgw_cfg["amazon_side_asn"],
        "DefaultRouteTableAssociation": "enable",
        "DefaultRouteTablePropagation": "enable",
        "DnsSupport": "enable",
    },
    TagSpecifications=spec("transit-gateway", tgw_name),
)["TransitGateway"]["TransitGatewayId"]
record(m, "aws_ec2_transit_gateway", "this", {"id": tgw, "arn": ec2_arn("transit-gateway", tgw)})
attachment = ec2.create_transit_gateway_vpc_attachment(
    TransitGatewayId=tgw,
    VpcId=vpc_id,
    SubnetIds=private_subnets,
    Options={"DnsSupport": "enable"},
    TagSpecifications=spec("transit-gateway-attachment", tgw_name),
)["TransitGatewayVpcAttachment"]["TransitGatewayAttachmentId"]
record(m, "aws_ec2_transit_gateway_vpc_attachment", "this", {"id": attachment, "transit_gateway_id": tgw, "vpc_id": vpc_id})
for i, rt in enumerate(private_rts):
    ec2.create_route(RouteTableId=rt, DestinationCidrBlock=tgw_cfg["peer_cidr"], TransitGatewayId=tgw)
    record(
        m,
        "aws_route",
        "peer",
        {"id": f"r-{rt}2263465270", "route_table_id": rt, "destination_cidr_block": tgw_cfg["peer_cidr"], "transit_gateway_id": tgw},
        i,
    )

# module "dns_failover"
m = "module.dns_failover"
zone = r53.create_hosted_zone(
    Name=dns_cfg["zone"],
    CallerReference=f"terraform-{uuid.uuid4()}",
    HostedZoneConfig={"Comment": f"ExamplePay public zone; {dns_cfg['record']} is latency-routed between regions"},
)["HostedZone"]["Id"].split("/")[-1]
r53.change_tags_for_resource(
    ResourceType="hostedzone", ResourceId=zone, AddTags=[{"Key": k, "Value": v} for k, v in default_tags.items()]
)
record(m, "aws_route53_zone", "this", {"id": zone, "zone_id": zone, "name": dns_cfg["zone"], "arn": f"arn:aws:route53:::hostedzone/{zone}"})
check = r53.create_health_check(
    CallerReference=f"terraform-{uuid.uuid4()}",
    HealthCheckConfig={
        "Type": "HTTPS",
        "FullyQualifiedDomainName": dns_cfg["ingress"],
        "Port": 443,
        "ResourcePath": dns_cfg["health_check_path"],
        "RequestInterval": dns_cfg["health_check_interval"],
        "FailureThreshold": dns_cfg["failure_threshold"],
        "Regions": dns_cfg["health_check_regions"],
        "EnableSNI": True,
        "Inverted": False,
    },
)["HealthCheck"]["Id"]
r53.change_tags_for_resource(
    ResourceType="healthcheck", ResourceId=check, AddTags=[{"Key": k, "Value": v} for k, v in {**default_tags, "Name": f"ingress-{region}"}.items()]
)
record(m, "aws_route53_health_check", "ingress", {"id": check, "arn": f"arn:aws:route53:::healthcheck/{check}"})
r53.change_resource_record_sets(
    HostedZoneId=zone,
    ChangeBatch={
        "Changes": [
            {
                "Action": "CREATE",
                "ResourceRecordSet": {
                    "Name": dns_cfg["record"],
                    "Type": "CNAME",
                    "SetIdentifier": region,
                    "Region": region,
                    "TTL": dns_cfg.get("ttl", 60),
                    "ResourceRecords": [{"Value": dns_cfg["ingress"]}],
                    "HealthCheckId": check,
                },
            }
        ]
    },
)
record(
    m,
    "aws_route53_record",
    "regional",
    {
        "id": f"{zone}_{dns_cfg['record']}_CNAME_{region}",
        "zone_id": zone,
        "name": dns_cfg["record"],
        "type": "CNAME",
        "set_identifier": region,
    },
)

# module "secrets"
m = "module.secrets"
for item in sec_cfg["items"]:
    created = sm.create_secret(
        Name=item["name"],
        Description=item.get("description", ""),
        KmsKeyId=sec_cfg["kms_key_id"],
        AddReplicaRegions=[{"Region": r} for r in sec_cfg["replica_regions"]],
        Tags=[{"Key": k, "Value": v} for k, v in {**default_tags, "examplepay:reader": "external-secrets"}.items()],
    )
    record(m, "aws_secretsmanager_secret", "this", {"id": created["ARN"], "arn": created["ARN"], "name": item["name"]}, item["name"])

# module "eks"
m = "module.eks"
cluster_name = eks_cfg["cluster_name"]
key = kms.create_key(
    Description=f"Envelope encryption of Kubernetes secrets in EKS cluster {cluster_name}",
    Tags=[{"TagKey": k, "TagValue": v} for k, v in default_tags.items()],
)["KeyMetadata"]
kms.enable_key_rotation(KeyId=key["KeyId"])
alias = f"alias/{cluster_name}-eks-secrets"
kms.create_alias(AliasName=alias, TargetKeyId=key["KeyId"])
record(m, "aws_kms_key", "secrets", {"id": key["KeyId"], "key_id": key["KeyId"], "arn": key["Arn"]})
record(m, "aws_kms_alias", "secrets", {"id": alias, "name": alias, "target_key_id": key["KeyId"], "arn": key["Arn"].replace(f"key/{key['KeyId']}", alias)})


def service_trust(service):
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
    }


def role(tf_name, role_name, description, trust, policies, index=None):
    """An IAM role with its managed policies, as `aws_iam_role` with `managed_policy_arns` makes it."""
    made = iam.create_role(
        RoleName=role_name,
        Description=description,
        AssumeRolePolicyDocument=json.dumps(trust),
        Tags=[{"Key": k, "Value": v} for k, v in default_tags.items()],
    )["Role"]
    for arn in policies:
        iam.attach_role_policy(RoleName=role_name, PolicyArn=arn)
    record(m, "aws_iam_role", tf_name, {"id": role_name, "name": role_name, "arn": made["Arn"], "managed_policy_arns": policies}, index)
    return made["Arn"]


aws_policy = lambda name: f"arn:aws:iam::aws:policy/{name}"
cluster_role = role(
    "cluster",
    f"{cluster_name}-cluster",
    f"EKS control plane of {cluster_name}",
    service_trust("eks.amazonaws.com"),
    [aws_policy("AmazonEKSClusterPolicy")],
)
node_role = role(
    "node",
    f"{cluster_name}-node",
    f"Nodes of the managed node group of {cluster_name}",
    service_trust("ec2.amazonaws.com"),
    [aws_policy(p) for p in ["AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy", "AmazonEC2ContainerRegistryReadOnly", "AmazonSSMManagedInstanceCore"]],
)
cluster = eks.create_cluster(
    name=cluster_name,
    version=eks_cfg["version"],
    roleArn=cluster_role,
    resourcesVpcConfig={
        "subnetIds": private_subnets,
        "endpointPrivateAccess": eks_cfg["endpoint_private_access"],
        "endpointPublicAccess": eks_cfg["endpoint_public_access"],
    },
    logging={"clusterLogging": [{"types": eks_cfg["log_types"], "enabled": True}]},
    encryptionConfig=[{"resources": ["secrets"], "provider": {"keyArn": key["Arn"]}}],
    tags=default_tags,
)["cluster"]
record(m, "aws_eks_cluster", "this", {"id": cluster_name, "name": cluster_name, "arn": cluster["arn"]})
ng = eks_cfg["node_group"]
group = eks.create_nodegroup(
    clusterName=cluster_name,
    nodegroupName=ng["name"],
    nodeRole=node_role,
    subnets=private_subnets,
    instanceTypes=ng["instance_types"],
    capacityType="ON_DEMAND",
    scalingConfig={"minSize": ng["min_size"], "maxSize": ng["max_size"], "desiredSize": ng["desired_size"]},
    labels={"examplepay.io/node-pool": "system"},
    taints=[{"key": "CriticalAddonsOnly", "value": "true", "effect": "NO_SCHEDULE"}],
    tags=default_tags,
)["nodegroup"]
record(
    m,
    "aws_eks_node_group",
    "system",
    {"id": f"{cluster_name}:{ng['name']}", "cluster_name": cluster_name, "node_group_name": ng["name"], "arn": group["nodegroupArn"]},
)
issuer_url = eks.describe_cluster(name=cluster_name)["cluster"]["identity"]["oidc"]["issuer"]
provider = iam.create_open_id_connect_provider(
    Url=issuer_url,
    ClientIDList=["sts.amazonaws.com"],
    ThumbprintList=["9e99a48a9960b14926bb7f3b02e22da2b0ab7280"],
    Tags=[{"Key": k, "Value": v} for k, v in default_tags.items()],
)["OpenIDConnectProviderArn"]
record(m, "aws_iam_openid_connect_provider", "this", {"id": provider, "arn": provider, "url": issuer_url})
issuer = issuer_url.removeprefix("https://")
for sa in eks_cfg["service_accounts"]:
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": provider},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {
                        f"{issuer}:sub": f"system:serviceaccount:{sa['namespace']}:{sa['name']}",
                        f"{issuer}:aud": "sts.amazonaws.com",
                    }
                },
            }
        ],
    }
    role(
        "irsa",
        f"{cluster_name}-{sa['name']}",
        f"IRSA role of service account {sa['namespace']}/{sa['name']} in EKS cluster {cluster_name}",
        trust,
        sa["managed_policy_arns"],
        sa["name"],
    )

with open(state_out, "w") as f:
    json.dump(
        {
            "version": 4,
            "terraform_version": "1.9.8",
            "serial": len(resources),
            "lineage": str(uuid.uuid4()),
            "outputs": {},
            "resources": resources,
            "check_results": None,
        },
        f,
        indent=2,
    )
