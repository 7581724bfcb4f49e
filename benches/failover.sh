#!/usr/bin/env bash
# The DR failover of scripts/runbooks/dr-failover.rhai written the way it is usually written
# without eprun: the AWS CLI for AWS, curl + jq against the Kubernetes API (what kubectl does),
# with the same checks before and after each action. `cargo bench --bench failover` times it
# side by side with `eprun run scripts/runbooks/dr-failover.rhai`, against the same emulators.
#
# Everything a Terraform user would read from `terraform output` or the tfvars comes in through
# the environment: regions, cluster and node group names, the two clusters' API URLs and token,
# the rotation alarms (in the DR region), the rollout and the NodePools. It moves traffic as the
# runbook does: the primary's rotation alarm to ALARM, with CloudWatch calls to the DR region.
set -euo pipefail

: "${DR_REGION:?}" "${PRIMARY_REGION:?}" "${DR_CLUSTER:?}" "${PRIMARY_CLUSTER:?}" "${NODE_GROUP:?}"
: "${DR_KUBE:?}" "${PRIMARY_KUBE:?}" "${DR_KUBE_PKI:?}" "${PRIMARY_KUBE_PKI:?}" "${PRIMARY_ALARM:?}" "${DR_ALARM:?}"
: "${NAMESPACE:?}" "${ROLLOUT:?}" "${NODE_POOLS:?}"
TIMEOUT="${TIMEOUT:-600}"

log() { echo "    $*" >&2; }
fail() { echo "failover: $*" >&2; exit 1; }

# kube SERVER METHOD PATH [BODY]: one Kubernetes API call; prints the body, fails on non-2xx.
kube() {
    local server=$1 method=$2 path=$3 body=${4:-}
    # Each cluster has its own CA and admin client certificate, as a kubeconfig would give them.
    local pki="$DR_KUBE_PKI"
    [[ "$server" == "$PRIMARY_KUBE" ]] && pki="$PRIMARY_KUBE_PKI"
    local args=(-sS -X "$method" --cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key"
                -H "Accept: application/json")
    if [[ -n "$body" ]]; then
        args+=(-H "Content-Type: application/merge-patch+json" --data "$body")
    fi
    local out code
    out=$(curl "${args[@]}" -w '\n%{http_code}' "$server$path")
    code=${out##*$'\n'}
    out=${out%$'\n'*}
    if [[ "$code" == 404 ]]; then return 4; fi
    [[ "$code" == 2* ]] || fail "$method $path: HTTP $code: $out"
    printf '%s' "$out"
}

ROLLOUT_PATH="/apis/argoproj.io/v1alpha1/namespaces/$NAMESPACE/rollouts/$ROLLOUT"
POOL_PATH="/apis/karpenter.sh/v1/nodepools"

echo "▸ Step 1/6: DR cluster, node group and payment-service are healthy" >&2
status=$(aws eks describe-cluster --region "$DR_REGION" --name "$DR_CLUSTER" --query cluster.status --output text)
[[ "$status" == ACTIVE ]] || fail "cluster $DR_CLUSTER is $status, not ACTIVE: do not fail over to it"
read -r group_status desired max < <(aws eks describe-nodegroup --region "$DR_REGION" \
    --cluster-name "$DR_CLUSTER" --nodegroup-name "$NODE_GROUP" \
    --query 'nodegroup.[status,scalingConfig.desiredSize,scalingConfig.maxSize]' --output text)
[[ "$group_status" == ACTIVE ]] || fail "node group $NODE_GROUP is $group_status, not ACTIVE"
rollout=$(kube "$DR_KUBE" GET "$ROLLOUT_PATH")
phase=$(jq -r '.status.phase // "Unknown"' <<<"$rollout")
[[ "$phase" == Healthy ]] || fail "payment-service is $phase, not Healthy"
log "cluster $DR_CLUSTER ACTIVE; node group $desired/$max; payment-service $(jq -r '.status.readyReplicas' <<<"$rollout") ready"

echo "▸ Step 2/6: Read the primary's capacity" >&2
read -r p_min p_max p_desired < <(aws eks describe-nodegroup --region "$PRIMARY_REGION" \
    --cluster-name "$PRIMARY_CLUSTER" --nodegroup-name "$NODE_GROUP" \
    --query 'nodegroup.scalingConfig.[minSize,maxSize,desiredSize]' --output text)
declare -A limits
for pool in $NODE_POOLS; do
    if live=$(kube "$PRIMARY_KUBE" GET "$POOL_PATH/$pool"); then
        limits[$pool]=$(jq -c '.spec.limits' <<<"$live")
    fi
done
replicas=$(kube "$PRIMARY_KUBE" GET "$ROLLOUT_PATH" | jq -r '.spec.replicas')
log "primary read live: node group $p_min/$p_desired/$p_max, payment-service $replicas replicas"

echo "▸ Step 3/6: Raise DR capacity to the primary's" >&2
read -r min max desired < <(aws eks describe-nodegroup --region "$DR_REGION" \
    --cluster-name "$DR_CLUSTER" --nodegroup-name "$NODE_GROUP" \
    --query 'nodegroup.scalingConfig.[minSize,maxSize,desiredSize]' --output text)
w_min=$(( min > p_min ? min : p_min ))
w_max=$(( max > p_max ? max : p_max ))
w_desired=$(( desired > p_desired ? desired : p_desired ))
if [[ "$w_min/$w_max/$w_desired" != "$min/$max/$desired" ]]; then
    aws eks update-nodegroup-config --region "$DR_REGION" --cluster-name "$DR_CLUSTER" \
        --nodegroup-name "$NODE_GROUP" \
        --scaling-config "minSize=$w_min,maxSize=$w_max,desiredSize=$w_desired" >/dev/null
    aws eks wait nodegroup-active --region "$DR_REGION" --cluster-name "$DR_CLUSTER" --nodegroup-name "$NODE_GROUP"
fi
for pool in "${!limits[@]}"; do
    kube "$DR_KUBE" GET "$POOL_PATH/$pool" >/dev/null || continue
    kube "$DR_KUBE" PATCH "$POOL_PATH/$pool" "{\"spec\":{\"limits\":${limits[$pool]}}}" >/dev/null
done
kube "$DR_KUBE" PATCH "$ROLLOUT_PATH/scale" "{\"spec\":{\"replicas\":$replicas}}" >/dev/null
deadline=$(( $(date +%s) + TIMEOUT ))
until [[ "$(kube "$DR_KUBE" GET "$ROLLOUT_PATH" | jq -r '.status.readyReplicas // 0')" -ge "$replicas" ]]; do
    (( $(date +%s) < deadline )) || fail "payment-service is not at $replicas ready replicas after ${TIMEOUT}s"
    sleep 0.05
done
after=$(aws eks describe-nodegroup --region "$DR_REGION" --cluster-name "$DR_CLUSTER" \
    --nodegroup-name "$NODE_GROUP" --query 'nodegroup.scalingConfig.desiredSize' --output text)
(( after >= w_desired )) || fail "node group $NODE_GROUP is at $after, wanted $w_desired"
log "node group $w_min/$after/$w_max; payment-service → $replicas"

echo "▸ Step 4/6: Promote the secret replicas here (primary unreachable)" >&2
log "the primary is reachable: its secrets stay primary, nothing to promote"

echo "▸ Step 5/6: Take the primary out of rotation" >&2
alarm_state() {
    aws cloudwatch describe-alarms --region "$DR_REGION" --alarm-names "$1" \
        --query 'MetricAlarms[0].StateValue' --output text
}
[[ "$(alarm_state "$DR_ALARM")" != ALARM ]] || fail "this region is out of rotation too ($DR_ALARM): traffic would have nowhere to go"
if [[ "$(alarm_state "$PRIMARY_ALARM")" == ALARM ]]; then
    log "$PRIMARY_ALARM is already in ALARM"
else
    aws cloudwatch put-metric-data --region "$DR_REGION" --namespace eprun/Rotation \
        --metric-name OutOfRotation --dimensions "Record=api.examplepay.test,Region=$PRIMARY_REGION" --value 1 --unit Count
    aws cloudwatch set-alarm-state --region "$DR_REGION" --alarm-name "$PRIMARY_ALARM" \
        --state-value ALARM --state-reason "failover.sh"
fi

echo "▸ Step 6/6: Verify the primary is out of rotation" >&2
[[ "$(alarm_state "$PRIMARY_ALARM")" == ALARM ]] || fail "$PRIMARY_ALARM is not in ALARM"
[[ "$(alarm_state "$DR_ALARM")" != ALARM ]] || fail "this region's own alarm $DR_ALARM is in ALARM: traffic has nowhere to go"
log "failover complete: traffic moved to $DR_REGION, payment-service $replicas replicas"
