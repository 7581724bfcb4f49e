#!/usr/bin/env python3
"""moto's server (moto[server]==5.2.5) with the Secrets Manager call the DR failover needs, and
an SQS fix.

    python tests/support/moto_server.py -H 127.0.0.1 -p PORT    # same options as moto_server

Everything is moto's own (``moto.server.main``: same options, same log lines such as
``Running on``), plus one operation moto 5.2.5 does not serve (it answers it with a bare
HTTP 500):

- ``StopReplicationToReplica``, called in a replica's region, promotes the replica to a
  standalone secret there, as AWS documents it: same name, the replica's own ARN (the primary's
  with the region changed), the same versions and current value, description and tags, the
  replica's KMS key; the primary no longer lists that region in its ``ReplicationStatus``, and
  DescribeSecret in that region shows no ``PrimaryRegion``. On a secret that is not a replica
  it answers ``InvalidRequestException`` (HTTP 400), like AWS.

The promoted secret is stored under its name, like every secret moto creates, so moto's own
``ReplicateSecretToRegions`` with ``ForceOverwriteReplicaSecret`` (the failback) replaces it
with a replica again; without the flag, moto reports that replica as ``Failed``.

eprun's DR failover runs this call when the primary region is down (dr-failover.rhai with
``--param primary_reachable=false``); without it that path could not run end to end.

Presigned requests (no ``Authorization`` header; the credential scope is in the query string, as
in an EKS token's GetCallerIdentity URL) are routed to the service their ``X-Amz-Credential``
names; moto routes only header-signed requests by scope, and sends the rest to S3.

TagResource and UntagResource on EKS reach managed node groups (and add-ons, Fargate profiles)
as well as clusters, as AWS does; moto 5.2.5 tags clusters only and answers ``NotFoundException``
for the rest, so a node group made without eprun's ownership tags (by Terraform) could not get
them.

Route 53 health checks keep a ``CLOUDWATCH_METRIC`` check's ``AlarmIdentifier`` and
``InsufficientDataHealthStatus`` (created or updated), and GetHealthCheck answers them, as AWS
does; moto 5.2.5 drops both, so the DNS failover's rotation checks would read back as changed.

Service Quotas answers GetServiceQuota for EC2's on-demand standard-instance vCPU quota
(``L-1216C47A``), which moto 5.2.5 knows only for VPC: the value ``EPRUN_EC2_VCPU_QUOTA`` gives
(default 1152, an account whose quota was raised for production).

SetQueueAttributes keeps a queue's policy when the call does not name ``Policy``, as SQS does;
moto 5.2.5 clears it, so that changing a queue's retention alone would drop its policy.

And one seam for connecting to an EKS cluster for real: moto's clusters have a made-up endpoint
and CA. When ``EPRUN_EKS_ENDPOINTS`` names a JSON file ``{"<cluster name>": {"endpoint": URL,
"ca": BASE64 PEM}}``, a cluster created under such a name gets that endpoint and CA: a local
control plane that checks ``k8s-aws-v1.`` tokens against this moto's STS, as EKS does.
"""

import copy
import json
import os
import sys
import time
import urllib.parse

from moto.eks import models as eks_models
from moto.route53 import models as r53_models, responses as r53_responses
from moto.servicequotas import models as sq_models
from moto.moto_server.werkzeug_app import DomainDispatcherApplication

from moto.secretsmanager import models, responses
from moto.sqs import models as sqs_models
from moto.secretsmanager.exceptions import InvalidRequestException, SecretNotFoundException


def stop_replication_to_replica(self: models.SecretsManagerBackend, secret_id: str) -> str:
    """Promotes the replica `secret_id` of this region to a standalone secret; returns its ARN."""
    if not self._is_valid_identifier(secret_id):
        raise SecretNotFoundException()
    replica = self.secrets[secret_id]
    if not isinstance(replica, models.ReplicaSecret):
        raise InvalidRequestException(
            f"The secret {replica.name} in {self.region_name} is not a replica secret: "
            "call StopReplicationToReplica in the Region of a replica of it."
        )
    source = replica.source
    promoted = models.FakeSecret(
        account_id=self.account_id,
        region_name=self.region_name,
        secret_id=source.name,
        secret_version={},
        version_id="",
        description=source.description,
        tags=copy.deepcopy(source.tags),
        kms_key_id=replica.config["KmsKeyId"],
        created_date=source.created_date,
        last_changed_date=int(time.time()),
    )
    promoted.arn = replica.arn
    promoted.versions = copy.deepcopy(source.versions)
    promoted.set_default_version_id(source.default_version_id)
    source.replicas.remove(replica)
    # The replica is stored under its ARN, a secret under its name (what `pop(name)` finds).
    dict.pop(self.secrets, replica.arn)
    self.secrets[promoted.name] = promoted
    return promoted.arn


def stop_replication_to_replica_response(self: responses.SecretsManagerResponse) -> str:
    """The StopReplicationToReplica action: `{"ARN": ...}`."""
    arn = self.backend.stop_replication_to_replica(self._get_param("SecretId"))
    return json.dumps({"ARN": arn})


models.SecretsManagerBackend.stop_replication_to_replica = stop_replication_to_replica
responses.SecretsManagerResponse.stop_replication_to_replica = stop_replication_to_replica_response


_set_queue_attributes = sqs_models.Queue._set_attributes


def set_queue_attributes(self: sqs_models.Queue, attributes: dict, now: float | None = None) -> None:
    """moto's, with the policy kept when `attributes` leaves it out (a queue's creation names it)."""
    if "Policy" not in attributes:
        attributes = {**attributes, "Policy": self.policy or ""}
    _set_queue_attributes(self, attributes, now)


sqs_models.Queue._set_attributes = set_queue_attributes


_cluster_init = eks_models.Cluster.__init__


def cluster_init(self: eks_models.Cluster, *args, **kwargs) -> None:
    """moto's Cluster, with the endpoint and CA ``EPRUN_EKS_ENDPOINTS`` gives its name."""
    _cluster_init(self, *args, **kwargs)
    path = os.environ.get("EPRUN_EKS_ENDPOINTS")
    if not path or not os.path.exists(path):
        return
    with open(path) as f:
        seam = json.load(f).get(self.name)
    if seam:
        self.endpoint = seam["endpoint"]
        self.certificate_authority = {"data": seam["ca"]}


eks_models.Cluster.__init__ = cluster_init

def eks_taggable(self: eks_models.EKSBackend, arn: str):
    """The cluster, node group, Fargate profile or add-on whose ARN is `arn`."""
    for cluster in self.clusters.values():
        if cluster.arn == arn:
            return cluster
        for part in ("nodegroups", "fargate_profiles", "addons"):
            for item in getattr(cluster, part, {}).values():
                if getattr(item, "arn", None) == arn:
                    return item
    raise eks_models.ResourceNotFoundException(
        clusterName=None,
        nodegroupName=None,
        fargateProfileName=None,
        addonName=None,
        message="An error occurred (NotFoundException) when calling the TagResource operation: Resource was not found",
    )


def eks_tag_resource(self: eks_models.EKSBackend, resource_arn: str, tags: dict) -> None:
    """moto's, for every EKS resource that carries tags."""
    eks_taggable(self, resource_arn).tags.update(tags)


def eks_untag_resource(self: eks_models.EKSBackend, resource_arn: str, tag_keys) -> None:
    """moto's, for every EKS resource that carries tags."""
    item = eks_taggable(self, resource_arn)
    for key in tag_keys if isinstance(tag_keys, list) else [tag_keys]:
        item.tags.pop(key, None)


eks_models.EKSBackend.tag_resource = eks_tag_resource
eks_models.EKSBackend.untag_resource = eks_untag_resource

_health_check_config = r53_models.HealthCheck.health_check_config.fget


def health_check_config(self: r53_models.HealthCheck) -> dict:
    """moto's, with the alarm a CLOUDWATCH_METRIC check follows."""
    config = _health_check_config(self)
    for key in ("AlarmIdentifier", "InsufficientDataHealthStatus"):
        if getattr(self, "eprun_" + key, None):
            config[key] = getattr(self, "eprun_" + key)
    return config


r53_models.HealthCheck.health_check_config = property(health_check_config)


def keep_alarm(method, config_of):
    """Wraps a Route 53 response method: the check it made or changed keeps its alarm settings."""

    def wrapped(self: r53_responses.Route53):
        result = method(self)
        config = config_of(self) or {}
        check = result.result["HealthCheck"]
        for key in ("AlarmIdentifier", "InsufficientDataHealthStatus"):
            if config.get(key):
                setattr(check, "eprun_" + key, config[key])
        return result

    return wrapped


r53_responses.Route53.create_health_check = keep_alarm(
    r53_responses.Route53.create_health_check, lambda r: r._get_param("HealthCheckConfig")
)
r53_responses.Route53.update_health_check = keep_alarm(
    r53_responses.Route53.update_health_check,
    lambda r: {k: r._get_param(k) for k in ("AlarmIdentifier", "InsufficientDataHealthStatus")},
)

_get_service_quota = sq_models.ServiceQuotasBackend.get_service_quota


def get_service_quota(self: sq_models.ServiceQuotasBackend, service_code: str, quota_code: str) -> dict:
    """moto's, plus EC2's on-demand standard-instance vCPU quota."""
    if (service_code, quota_code) == ("ec2", "L-1216C47A"):
        return {
            "ServiceCode": "ec2",
            "ServiceName": "Amazon Elastic Compute Cloud (Amazon EC2)",
            "QuotaCode": quota_code,
            "QuotaName": "Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances",
            "Value": float(os.environ.get("EPRUN_EC2_VCPU_QUOTA", "1152")),
            "Unit": "None",
            "Adjustable": True,
            "GlobalQuota": False,
        }
    return _get_service_quota(self, service_code, quota_code)


sq_models.ServiceQuotasBackend.get_service_quota = get_service_quota

_infer_service_region_host = DomainDispatcherApplication.infer_service_region_host


def infer_service_region_host(self: DomainDispatcherApplication, environ: dict, path: str):
    """moto's routing, plus presigned requests by the scope in their query string."""
    if not environ.get("HTTP_AUTHORIZATION"):
        query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
        scope = (query.get("X-Amz-Credential") or [""])[0].split("/")
        if len(scope) == 5:
            _, _, region, service, _ = scope
            return f"{service}.{region}.amazonaws.com"
    return _infer_service_region_host(self, environ, path)


DomainDispatcherApplication.infer_service_region_host = infer_service_region_host


if __name__ == "__main__":
    from moto.server import main

    sys.exit(main(sys.argv[1:]))
