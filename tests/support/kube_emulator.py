#!/usr/bin/env python3
"""A Kubernetes API server for eprun's tests, built on kmock's KubernetesEmulator (kmock==0.8).

    python tests/support/kube_emulator.py --port PORT    # 0 picks a free port

It serves plain HTTP on 127.0.0.1 and prints ``listening on PORT`` as its first stdout line;
one line per request goes to stderr. Bearer tokens are accepted and never checked.

kmock gives us the HTTP server, the request parsing, the discovery endpoints, the reaction DSL
and the in-memory object store (with each object's history). It is a mock, not an API server,
so the writes are done here, the way a real API server does them:

- server-side apply (``application/apply-patch+yaml``) creates a missing object, and merges
  into an existing one (no managedFields: omitted fields are kept, not pruned);
  merge and strategic-merge patches are RFC 7386 merge patches (``null`` removes a key),
  ``application/json-patch+json`` is a JSON patch; PUT replaces;
- the server owns ``metadata.uid``, ``resourceVersion`` (one counter, bumped by every write that
  changes something), ``creationTimestamp`` and ``generation`` (bumped when anything but
  metadata and status changes); ``metadata.resourceVersion`` in a PUT or a patch body is a
  precondition (409 Conflict);
- ``/status`` writes change only ``status``, and the main endpoint leaves ``status`` alone for a
  resource that has a status subresource (so a create drops it): the tests play the
  controllers through ``/status``;
- ``/scale`` speaks ``autoscaling/v1`` Scale and writes the parent's ``spec.replicas``;
- pods: ``/log`` answers the pod's ``kmock.test/log`` annotation as text; ``/eviction``
  respects PodDisruptionBudgets (429 when ``status.disruptionsAllowed`` is 0 or absent, and an
  allowed eviction uses one disruption up, like the real eviction API);
- lists filter by ``labelSelector`` (``k=v``, ``k!=v``, ``k``, ``!k``, ``k in (a,b)``,
  ``k notin (a,b)``) and ``fieldSelector`` (``path=v``, ``path!=v``, e.g. ``spec.nodeName``,
  ``metadata.name``); namespaced objects need their Namespace to exist (``default``,
  ``kube-system``, ``kube-public`` and ``kube-node-lease`` do from the start);
- ``dryRun=All`` computes the answer and stores nothing; finalizers delay deletion;
  deleting a Namespace does not delete what is in it;
- every error is a ``Status`` with ``code``, ``reason`` and a one-line ``message``.

Watches are kmock's own (every write here is published to its event buses), without selectors.
"""

import argparse
import asyncio
import copy
import datetime
import json
import re
import signal
import sys
import traceback
import uuid
from typing import Any

import aiohttp.web
import attrs
import jsonpatch
import kmock
# Private kmock modules, used in two places only: the path parser (see _parse_path) and the
# plain reaction dispatcher (see KubeEmulator._handle).
from kmock._internal import apps, parsing

# ---------------------------------------------------------------------------------------------
# What the server serves

# group/version, plural, kind, namespaced, subresources, short names.
# The subresources are those of a real cluster (EKS 1.29 and the add-ons' CRDs).
RESOURCES = [
    ('v1', 'namespaces', 'Namespace', False, ['status'], ['ns']),
    ('v1', 'pods', 'Pod', True, ['status', 'log', 'eviction'], ['po']),
    ('v1', 'nodes', 'Node', False, ['status'], ['no']),
    ('v1', 'services', 'Service', True, ['status'], ['svc']),
    ('v1', 'serviceaccounts', 'ServiceAccount', True, [], ['sa']),
    ('v1', 'configmaps', 'ConfigMap', True, [], ['cm']),
    ('v1', 'secrets', 'Secret', True, [], []),
    ('v1', 'events', 'Event', True, [], ['ev']),
    ('apps/v1', 'deployments', 'Deployment', True, ['status', 'scale'], ['deploy']),
    ('apps/v1', 'statefulsets', 'StatefulSet', True, ['status', 'scale'], ['sts']),
    ('apps/v1', 'daemonsets', 'DaemonSet', True, ['status'], ['ds']),
    ('policy/v1', 'poddisruptionbudgets', 'PodDisruptionBudget', True, ['status'], ['pdb']),
    ('karpenter.sh/v1', 'nodepools', 'NodePool', False, ['status'], []),
    ('karpenter.sh/v1', 'nodeclaims', 'NodeClaim', False, ['status'], []),
    ('karpenter.k8s.aws/v1', 'ec2nodeclasses', 'EC2NodeClass', False, ['status'], ['ec2nc']),
    ('argoproj.io/v1alpha1', 'rollouts', 'Rollout', True, ['status', 'scale'], ['ro']),
    ('argoproj.io/v1alpha1', 'analysistemplates', 'AnalysisTemplate', True, [], []),
    ('argoproj.io/v1alpha1', 'analysisruns', 'AnalysisRun', True, ['status'], []),
    ('argoproj.io/v1alpha1', 'clusteranalysistemplates', 'ClusterAnalysisTemplate', False, [], []),
    ('kyverno.io/v1', 'clusterpolicies', 'ClusterPolicy', False, ['status'], ['cpol']),
    ('cilium.io/v2', 'ciliumnetworkpolicies', 'CiliumNetworkPolicy', True, ['status'], ['cnp']),
    ('cilium.io/v2', 'ciliumclusterwidenetworkpolicies', 'CiliumClusterwideNetworkPolicy', False,
     ['status'], ['ccnp']),
    ('external-secrets.io/v1beta1', 'clustersecretstores', 'ClusterSecretStore', False, ['status'],
     ['css']),
    ('external-secrets.io/v1beta1', 'externalsecrets', 'ExternalSecret', True, ['status'], ['es']),
    ('external-secrets.io/v1beta1', 'secretstores', 'SecretStore', True, ['status'], ['ss']),
    ('monitoring.coreos.com/v1', 'prometheusrules', 'PrometheusRule', True, [], ['promrule']),
    ('monitoring.coreos.com/v1', 'servicemonitors', 'ServiceMonitor', True, [], ['smon']),
    ('networking.k8s.io/v1', 'networkpolicies', 'NetworkPolicy', True, [], ['netpol']),
]
OBJECT_VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch']
# Subresource: (apiVersion of its kind or None for the parent's, kind or None, verbs).
SUBRESOURCES = {
    'status': (None, None, ['get', 'patch', 'update']),
    'scale': ('autoscaling/v1', 'Scale', ['get', 'patch', 'update']),
    'log': (None, 'Pod', ['get']),
    'eviction': ('policy/v1', 'Eviction', ['create']),
}
# A fresh cluster has these.
INITIAL_NAMESPACES = ['default', 'kube-system', 'kube-public', 'kube-node-lease']

NAMESPACES = kmock.resource('', 'v1', 'namespaces')
PDBS = kmock.resource('policy', 'v1', 'poddisruptionbudgets')
LOG_ANNOTATION = 'kmock.test/log'


# ---------------------------------------------------------------------------------------------
# kmock 0.8 reads /api/v1/namespaces/NAME as "everything in namespace NAME" and fails on
# /api/v1/namespaces itself, so the Namespace objects are unreachable. Its request parser looks
# the path parser up at call time: put ours in front of it.

_kmock_parse_path = parsing.parse_path


def _parse_path(path: str) -> parsing.ParsedPath:
    parts = path.strip('/').split('/')
    if parts[:3] == ['api', 'v1', 'namespaces']:
        rest = parts[3:]
        # namespaces, namespaces/NAME, namespaces/NAME/status (not namespaces/NAME/pods).
        if len(rest) <= 1 or (len(rest) == 2 and rest[1] in ('status', 'finalize')):
            return parsing.ParsedPath(
                group='', version='v1', plural='namespaces', namespace=None,
                name=rest[0] if rest else None, subresource=rest[1] if len(rest) == 2 else None)
    return _kmock_parse_path(path)


parsing.parse_path = _parse_path


# ---------------------------------------------------------------------------------------------
# Errors


class ApiError(Exception):
    """An answer that is a Kubernetes ``Status`` failure."""

    def __init__(self, code: int, reason: str, message: str, details: dict | None = None):
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details

    def status(self) -> dict:
        status = {'apiVersion': 'v1', 'kind': 'Status', 'metadata': {}, 'status': 'Failure',
                  'message': self.message, 'reason': self.reason, 'code': self.code}
        if self.details:
            status['details'] = self.details
        return status

    def response(self) -> aiohttp.web.Response:
        # A real server turns details.retryAfterSeconds into Retry-After, which clients honour.
        retry_after = (self.details or {}).get('retryAfterSeconds')
        headers = {'Retry-After': str(retry_after)} if retry_after else None
        return aiohttp.web.json_response(self.status(), status=self.code, headers=headers)


def no_such_endpoint() -> ApiError:
    return ApiError(404, 'NotFound', 'the server could not find the requested resource')


def bad_request(message: str) -> ApiError:
    return ApiError(400, 'BadRequest', message)


def not_allowed() -> ApiError:
    return ApiError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource')


def invalid(res: kmock.resource, info: kmock.ResourceInfo, name: str, message: str) -> ApiError:
    return ApiError(422, 'Invalid', f'{info.kind}.{res.group or "core"} "{name}" is invalid: {message}',
                    {'name': name, 'group': res.group, 'kind': info.kind})


def _qualified(res: kmock.resource) -> str:
    return f'{res.plural}.{res.group}' if res.group else res.plural


def details(res: kmock.resource, name: str) -> dict:
    return {'name': name, 'group': res.group, 'kind': res.plural} if res.group else {'name': name, 'kind': res.plural}


def not_found(res: kmock.resource, name: str) -> ApiError:
    return ApiError(404, 'NotFound', f'{_qualified(res)} "{name}" not found',
                    details(res, name))


def already_exists(res: kmock.resource, name: str) -> ApiError:
    return ApiError(409, 'AlreadyExists', f'{_qualified(res)} "{name}" already exists',
                    details(res, name))


def conflict(res: kmock.resource, name: str) -> ApiError:
    return ApiError(409, 'Conflict',
                    f'Operation cannot be fulfilled on {_qualified(res)} "{name}": the object has been'
                    ' modified; please apply your changes to the latest version and try again',
                    details(res, name))


# ---------------------------------------------------------------------------------------------
# Object helpers


def now() -> str:
    return datetime.datetime.now(tz=datetime.UTC).strftime('%Y-%m-%dT%H:%M:%SZ')


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 (kmock's own merge refuses to replace a dict by a scalar)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def generation_part(obj: dict) -> dict:
    """What a change of bumps metadata.generation."""
    return {k: v for k, v in obj.items() if k not in ('apiVersion', 'kind', 'metadata', 'status')}


def labels_of(obj: dict) -> dict:
    return (obj.get('metadata') or {}).get('labels') or {}


def split_selector(text: str) -> list[str]:
    """Split on the commas that are not inside ``in (a,b)``."""
    return [term.strip() for term in re.split(r',(?![^()]*\))', text) if term.strip()]


def label_selector(text: str):
    """A predicate on a label dict, from a ``labelSelector=`` query."""
    tests = []
    for term in split_selector(text):
        if m := re.fullmatch(r'([\w./-]+)\s*(==|=|!=)\s*([\w.-]*)', term):
            key, op, value = m.groups()
            tests.append((lambda k, v: lambda ls: ls.get(k) != v)(key, value) if op == '!=' else
                         (lambda k, v: lambda ls: ls.get(k) == v)(key, value))
        elif m := re.fullmatch(r'([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)', term):
            key, op, values = m.groups()
            values = {v.strip() for v in values.split(',')}
            tests.append((lambda k, vs: lambda ls: ls.get(k) not in vs)(key, values) if op == 'notin' else
                         (lambda k, vs: lambda ls: ls.get(k) in vs)(key, values))
        elif m := re.fullmatch(r'(!?)\s*([\w./-]+)', term):
            negate, key = m.groups()
            tests.append((lambda k, n: lambda ls: (k in ls) != n)(key, bool(negate)))
        else:
            raise bad_request(f'unable to parse requirement: {term!r} in labelSelector {text!r}')
    return lambda labels: all(test(labels) for test in tests)


def selector_object(selector: dict | None):
    """A predicate on a label dict, from a LabelSelector object (a PDB's spec.selector)."""
    if selector is None:
        return lambda labels: False  # policy/v1: no selector selects nothing, {} selects all
    terms = [f'{k}={v}' for k, v in (selector.get('matchLabels') or {}).items()]
    for e in selector.get('matchExpressions') or []:
        op = e.get('operator')
        values = ','.join(e.get('values') or [])
        terms.append({'In': f'{e["key"]} in ({values})', 'NotIn': f'{e["key"]} notin ({values})',
                      'Exists': e['key'], 'DoesNotExist': f'!{e["key"]}'}[op])
    return label_selector(','.join(terms))


def field_value(obj: dict, path: str) -> str:
    value: Any = obj
    for part in path.split('.'):
        value = value.get(part) if isinstance(value, dict) else None
    if value is None:
        return ''  # an absent field compares as empty, as in spec.nodeName= for unscheduled pods
    return json.dumps(value) if isinstance(value, bool) else str(value)


def field_selector(text: str):
    """A predicate on an object, from a ``fieldSelector=`` query."""
    tests = []
    for term in split_selector(text):
        m = re.fullmatch(r'([\w.]+)\s*(==|=|!=)\s*(.*)', term)
        if not m:
            raise bad_request(f'invalid selector: {term!r} in fieldSelector {text!r}')
        path, op, value = m.groups()
        tests.append((lambda p, v, eq: lambda obj: (field_value(obj, p) == v) == eq)(path, value, op != '!='))
    return lambda obj: all(test(obj) for test in tests)


def ok(payload: Any, status: int = 200, headers: dict | None = None) -> kmock.Response:
    # Always state the status: kmock remembers the last status a reaction answered with.
    return kmock.Response(status=status, payload=payload, headers=headers)


# ---------------------------------------------------------------------------------------------
# The server


@attrs.define(kw_only=True)
class KubeEmulator(kmock.KubernetesEmulator):
    _resource_version: int = attrs.field(default=0, init=False)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        for group_version, plural, kind, namespaced, subresources, shortnames in RESOURCES:
            self.resources[f'{group_version}/{plural}'] = kmock.ResourceInfo(
                kind=kind, singular=kind.lower(), namespaced=namespaced,
                verbs=[v for v in OBJECT_VERBS if not (plural == 'namespaces' and v == 'deletecollection')],
                subresources=subresources, shortnames=shortnames)
        for name in INITIAL_NAMESPACES:
            self._objects[NAMESPACES, None, name] = self._new_namespace(name)

        # kmock's own fallbacks stay for discovery (adjusted below) and watches; the rest is here.
        api = self[self._is_object_api]
        api[kmock.action.LIST] << self._list
        # A reaction keeps the headers it once answered with, so the text one has its own.
        # Reactions of the same priority are tried in the order they are added: log first.
        api[kmock.action.FETCH, kmock.subresource('log')] << self._get_log
        api[kmock.action.FETCH] << self._get  # the object, its status or its scale
        api[kmock.method.POST] << self._post  # create, or a pod's eviction
        api[kmock.method.PUT] << self._put  # replace the object, its status or its scale
        api[kmock.method.PATCH] << self._patch  # the same, as a patch (an apply may create)
        api[kmock.method.DELETE] << self._delete  # an object, or a collection

    @staticmethod
    def _is_object_api(request: kmock.Request) -> bool:
        return request.resource is not None and request.resource.plural is not None

    async def _handle(self, request: kmock.Request) -> aiohttp.web.StreamResponse:
        # kmock's KubernetesEmulator._handle applies creates, patches and deletes itself before any
        # reaction runs (a 404 for an apply on a missing object, a subresource write applied to
        # the whole object): skip it and go straight to the reactions, which own the writes here.
        try:
            response = await apps.RawHandler._handle(self, request)
        except ApiError as e:
            response = e.response()
        except kmock.KubernetesError as e:  # from kmock's discovery: unknown group or version
            response = (no_such_endpoint() if e.status == 404 else
                        ApiError(e.status, 'InternalError', e.message or type(e).__name__)).response()
        print(f'{request.method.value} {request.url.path_qs} {response.status}', file=sys.stderr, flush=True)
        # kmock keeps every request for assertions, and matching a new one walks all it kept
        # (per reaction): keep only the requests still in flight, or every request gets slower.
        self._requests[:] = [r for r in self._requests if r is not request]
        return response

    async def _render_error(self, exc: Exception) -> aiohttp.web.StreamResponse:
        # A bug here (not a client mistake): the traceback goes to the log, one line to the client.
        traceback.print_exception(exc, file=sys.stderr)
        self.errors.clear()  # kmock collects them to raise at exit, which a server never reaches
        first_line = (str(exc).strip().splitlines() or [''])[0]
        return ApiError(500, 'InternalError', f'{type(exc).__name__}: {first_line}').response()

    # --- discovery: kmock's, with what clients (kube-rs, kubectl) need that it leaves out

    async def _serve_api(self, request: kmock.Request) -> kmock.Response:
        if self._wants_aggregated(request):
            return self._aggregated([''])
        return ok({'kind': 'APIVersions', 'apiVersion': 'v1', 'versions': ['v1'],
                   'serverAddressByClientCIDRs': [{'clientCIDR': '0.0.0.0/0',
                                                   'serverAddress': f'{request.url.host}:{request.url.port}'}]},
                  headers={'Content-Type': 'application/json'})

    async def _serve_apis(self, request: kmock.Request) -> kmock.Response:
        if self._wants_aggregated(request):
            return self._aggregated(sorted({res.group for res in self.resources} - {''}))
        return ok(await super()._serve_apis(request), headers={'Content-Type': 'application/json'})

    @staticmethod
    def _wants_aggregated(request: kmock.Request) -> bool:
        # Aggregated discovery (kubectl, kube-rs's Discovery::run_aggregated) asks for it in Accept;
        # a client that gets the plain lists back instead may silently see no resources at all.
        accept = next((v for k, v in request.headers.items() if k.lower() == 'accept'), '')
        return 'as=APIGroupDiscoveryList' in accept

    def _aggregated(self, groups: list[str]) -> kmock.Response:
        """/api or /apis as an apidiscovery.k8s.io/v2 APIGroupDiscoveryList."""
        items = []
        for group in groups:
            versions = {}
            for res in sorted(self.resources, key=lambda r: r.plural):
                if res.group != group:
                    continue
                info = self.resources[res]
                subresources = []
                for sub in sorted(info.subresources):
                    sub_api_version, sub_kind, verbs = SUBRESOURCES[sub]
                    sub_group, _, sub_version = (sub_api_version or self._api_version(res)).rpartition('/')
                    subresources.append({'subresource': sub, 'verbs': verbs, 'responseKind': {
                        'group': sub_group, 'version': sub_version, 'kind': sub_kind or info.kind}})
                versions.setdefault(res.version, []).append({
                    'resource': res.plural, 'singularResource': info.singular,
                    'scope': 'Namespaced' if info.namespaced else 'Cluster',
                    'responseKind': {'group': group, 'version': res.version, 'kind': info.kind},
                    'verbs': sorted(info.verbs), 'shortNames': sorted(info.shortnames),
                    'subresources': subresources})
            items.append({'metadata': {'name': group} if group else {},
                          'versions': [{'version': v, 'resources': r, 'freshness': 'Current'}
                                       for v, r in versions.items()]})
        return ok({'apiVersion': 'apidiscovery.k8s.io/v2', 'kind': 'APIGroupDiscoveryList', 'metadata': {},
                   'items': items},
                  headers={'Content-Type': 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList'})

    async def _serve_server_version(self, request: kmock.Request) -> dict:
        return {'major': '1', 'minor': '29', 'gitVersion': 'v1.29.0-kmock', 'gitCommit': 'kmock',
                'gitTreeState': 'clean', 'buildDate': '2024-01-01T00:00:00Z', 'goVersion': 'go1.21',
                'compiler': 'gc', 'platform': 'linux/amd64'}

    async def _serve_version(self, request: kmock.Request) -> dict:
        # kmock gives a subresource its parent's kind and verbs (and orders them randomly).
        group, version = request.resource.group, request.resource.version
        entries = []
        for res in sorted(self.resources, key=lambda r: r.plural):
            if (res.group, res.version) != (group, version):
                continue
            info = self.resources[res]
            entry = {'name': res.plural, 'singularName': info.singular, 'namespaced': info.namespaced,
                     'kind': info.kind, 'verbs': sorted(info.verbs)}
            if info.shortnames:
                entry['shortNames'] = sorted(info.shortnames)
            entries.append(entry)
            for sub in sorted(info.subresources):
                sub_api_version, sub_kind, verbs = SUBRESOURCES[sub]
                entry = {'name': f'{res.plural}/{sub}', 'singularName': '', 'namespaced': info.namespaced,
                         'kind': sub_kind or info.kind, 'verbs': verbs}
                if sub_api_version:
                    entry['group'], _, entry['version'] = sub_api_version.rpartition('/')
                entries.append(entry)
        if not entries:
            raise no_such_endpoint()
        return {'apiVersion': 'v1', 'kind': 'APIResourceList',
                'groupVersion': f'{group}/{version}' if group else version, 'resources': entries}

    # --- reading

    def _resolve(self, request: kmock.Request) -> tuple[kmock.resource, kmock.ResourceInfo]:
        """The resource a request is about, or 404 as a real server says for a bad path."""
        res = request.resource
        if res not in self.resources:  # (not self.resources[res]: that would declare it)
            raise no_such_endpoint()
        info = self.resources[res]
        if info.namespaced and request.namespace is None and (request.name is not None
                                                               or request.method != kmock.method.GET):
            raise no_such_endpoint()
        if not info.namespaced and request.namespace is not None:
            raise no_such_endpoint()
        if request.subresource is not None and request.subresource not in info.subresources:
            raise no_such_endpoint()
        return res, info

    def _find(self, res: kmock.resource, namespace: str | None, name: str) -> dict | None:
        """A copy of the stored object, or None."""
        key = (res, namespace, name)
        if not name or key not in self._objects or self._objects[key].deleted:
            return None
        return copy.deepcopy(self._objects[key].raw)

    def _existing(self, request: kmock.Request) -> tuple[kmock.resource, kmock.ResourceInfo, dict]:
        res, info = self._resolve(request)
        obj = self._find(res, request.namespace, request.name)
        if obj is None:
            raise not_found(res, request.name)
        return res, info, obj

    async def _list(self, request: kmock.Request) -> kmock.Response:
        res, info = self._resolve(request)
        labels_ok = label_selector(request.params.get('labelSelector', ''))
        fields_ok = field_selector(request.params.get('fieldSelector', ''))
        items = [copy.deepcopy(obj.raw)
                 for (r, namespace, _), obj in self._objects.items()
                 if r == res and not obj.deleted
                 if request.namespace is None or namespace == request.namespace]
        items = [o for o in items if labels_ok(labels_of(o)) and fields_ok(o)]
        items.sort(key=lambda o: (o['metadata'].get('namespace', ''), o['metadata']['name']))
        return ok({'apiVersion': self._api_version(res), 'kind': f'{info.kind}List',
                   'metadata': {'resourceVersion': str(self._resource_version)}, 'items': items})

    async def _get(self, request: kmock.Request) -> kmock.Response:
        res, info, obj = self._existing(request)
        match request.subresource:
            case None | 'status':
                return ok(obj)
            case 'scale':
                return ok(self._scale_of(obj))
            case _:  # pods/eviction
                raise not_allowed()

    async def _get_log(self, request: kmock.Request) -> kmock.Response:
        res, info, pod = self._existing(request)
        text = (pod['metadata'].get('annotations') or {}).get(LOG_ANNOTATION, '')
        if (tail := request.params.get('tailLines', '')).isdigit():
            text = ''.join(text.splitlines(keepends=True)[-int(tail):] if int(tail) else [])
        return ok(text.encode(), headers={'Content-Type': 'text/plain; charset=utf-8'})

    # --- writing

    @staticmethod
    def _api_version(res: kmock.resource) -> str:
        return f'{res.group}/{res.version}' if res.group else res.version

    @classmethod
    def _typed(cls, obj: dict, res: kmock.resource, info: kmock.ResourceInfo) -> dict:
        """The object with its apiVersion and kind (first, where a real server writes them)."""
        rest = {k: v for k, v in obj.items() if k not in ('apiVersion', 'kind')}
        return {'apiVersion': cls._api_version(res), 'kind': info.kind, **rest}

    @staticmethod
    def _dry_run(request: kmock.Request) -> bool:
        body = request.data if isinstance(request.data, dict) else {}
        return request.params.get('dryRun') == 'All' or 'All' in (body.get('dryRun') or [])

    @staticmethod
    def _body(request: kmock.Request) -> Any:
        if request.data is not None:
            return request.data
        if not request.text.strip():
            raise bad_request('the request body is empty')
        try:  # an apply body may be YAML (kubectl sends YAML, kube-rs JSON)
            import yaml
            return yaml.safe_load(request.text)
        except Exception as e:
            raise bad_request(f'the request body is neither JSON nor YAML: {str(e).splitlines()[0]}')

    def _object_body(self, request: kmock.Request, res: kmock.resource, info: kmock.ResourceInfo,
                     *, need_type: bool = False) -> dict:
        """A request's object, checked against the URL the way a real server checks it."""
        body = self._body(request)
        if not isinstance(body, dict):
            raise bad_request('the request body is not an object')
        api_version, kind = body.get('apiVersion'), body.get('kind')
        if need_type and not (api_version and kind):
            raise bad_request('apiVersion and kind must be set in an apply body')
        if api_version and api_version != self._api_version(res):
            raise bad_request(f'the API version in the data ({api_version}) does not match the expected'
                              f' API version ({self._api_version(res)})')
        if kind and kind != info.kind:
            raise bad_request(f'the kind in the data ({kind}) does not match the expected kind ({info.kind})')
        meta = body.setdefault('metadata', {})
        if not isinstance(meta, dict):
            raise bad_request('metadata must be an object')
        if request.name is not None and meta.get('name', request.name) != request.name:
            raise bad_request(f'the name of the object ({meta.get("name")}) does not match the name'
                              f' on the URL ({request.name})')
        if request.name is not None:
            meta['name'] = request.name
        if meta.get('namespace') not in (None, request.namespace) and info.namespaced:
            raise bad_request('the namespace of the provided object does not match the namespace'
                              ' sent on the request')
        return body

    def _check_precondition(self, res: kmock.resource, old: dict, body: Any) -> None:
        wanted = ((body.get('metadata') or {}) if isinstance(body, dict) else {}).get('resourceVersion')
        if wanted and wanted != old['metadata'].get('resourceVersion'):
            raise conflict(res, old['metadata']['name'])

    def _next_version(self) -> str:
        self._resource_version += 1
        return str(self._resource_version)

    def _new_namespace(self, name: str) -> dict:
        return self._stamp_created({'apiVersion': 'v1', 'kind': 'Namespace', 'metadata': {'name': name}},
                                   NAMESPACES, self.resources[NAMESPACES], None)

    def _stamp_created(self, obj: dict, res: kmock.resource, info: kmock.ResourceInfo,
                       namespace: str | None) -> dict:
        """The object as a real server stores it when created."""
        meta = obj['metadata']
        for key in ('uid', 'resourceVersion', 'creationTimestamp', 'deletionTimestamp', 'generation',
                    'managedFields', 'selfLink'):
            meta.pop(key, None)
        if not meta.get('name'):
            if not meta.get('generateName'):
                raise invalid(res, info, '', 'metadata.name: Required value: name or generateName is required')
            meta['name'] = meta['generateName'] + uuid.uuid4().hex[:5]
        if info.namespaced:
            meta['namespace'] = namespace
        else:
            meta.pop('namespace', None)
        obj = self._typed(obj, res, info)
        meta.update(uid=str(uuid.uuid4()), creationTimestamp=now(), generation=1,
                    resourceVersion=self._next_version())
        if 'status' in info.subresources:
            obj.pop('status', None)  # owned by the controller, which writes it through /status
        # The few defaults a real server (or its admission) adds that tests look at.
        if res == NAMESPACES:
            meta.setdefault('labels', {})['kubernetes.io/metadata.name'] = meta['name']
            obj['status'] = {'phase': 'Active'}
        elif res == kmock.resource('', 'v1', 'pods'):
            obj['status'] = {'phase': 'Pending'}
        return obj

    def _stamp_updated(self, old: dict, new: dict, res: kmock.resource, info: kmock.ResourceInfo, *,
                       keep: str) -> dict:
        """The object as a real server stores it after an update of `keep` ('spec' or 'status')."""
        if keep == 'status':  # a write to /status: only status changes
            new = dict(copy.deepcopy(old), status=new.get('status'))
            if new['status'] is None:
                del new['status']
        else:
            meta = new.setdefault('metadata', {})
            for key in ('uid', 'creationTimestamp', 'deletionTimestamp', 'generation', 'name', 'namespace'):
                if key in old['metadata']:
                    meta[key] = old['metadata'][key]
                else:
                    meta.pop(key, None)
            meta.pop('managedFields', None)
            new = self._typed(new, res, info)
            if 'status' in info.subresources:  # the main endpoint does not write status
                new.pop('status', None)
                if 'status' in old:
                    new['status'] = old['status']
            if generation_part(new) != generation_part(old):
                meta['generation'] = old['metadata'].get('generation', 1) + 1
        new['metadata']['resourceVersion'] = old['metadata'].get('resourceVersion')
        if new != old:  # a write that changes nothing keeps the resourceVersion, as on a real server
            new['metadata']['resourceVersion'] = self._next_version()
        return new

    async def _store(self, res: kmock.resource, namespace: str | None, obj: dict, *, created: bool) -> None:
        name = obj['metadata']['name']
        meta = obj['metadata']
        if meta.get('deletionTimestamp') and not meta.get('finalizers'):
            await self._remove(res, namespace, name)  # its last finalizer is gone
            return
        key = (res, namespace, name)
        if key in self._objects:
            # kmock's create() appends a version to the object's history; every write here
            # computes the whole next version, so it serves for updates too.
            self._objects[key].create(obj)
        else:
            self._objects[key] = obj
        await self._buses[res].put({'type': 'ADDED' if created else 'MODIFIED', 'object': copy.deepcopy(obj)})

    async def _remove(self, res: kmock.resource, namespace: str | None, name: str) -> None:
        stored = self._objects[res, namespace, name]
        last = copy.deepcopy(stored.raw)
        stored.delete()  # kmock's soft delete: gone for the API, kept in the history
        await self._buses[res].put({'type': 'DELETED', 'object': last})

    async def _create(self, request: kmock.Request, res: kmock.resource, info: kmock.ResourceInfo,
                      body: dict) -> kmock.Response:
        obj = self._stamp_created(body, res, info, request.namespace)
        name = obj['metadata']['name']
        if info.namespaced and self._find(NAMESPACES, None, request.namespace) is None:
            raise not_found(NAMESPACES, request.namespace)
        if self._find(res, request.namespace, name) is not None:
            raise already_exists(res, name)
        if not self._dry_run(request):
            await self._store(res, request.namespace, obj, created=True)
        return ok(obj, 201)

    async def _post(self, request: kmock.Request) -> kmock.Response:
        res, info = self._resolve(request)
        if request.subresource == 'eviction':
            return await self._evict(request, res)
        if request.name is not None:
            raise not_allowed()
        async with self._lock:
            return await self._create(request, res, info, self._object_body(request, res, info))

    async def _put(self, request: kmock.Request) -> kmock.Response:
        if request.name is None:
            raise not_allowed()
        async with self._lock:
            res, info, old = self._existing(request)
            if request.subresource == 'scale':
                scale = self._body(request)
                self._check_precondition(res, old, scale)
                return await self._write_scale(request, res, info, old, scale)
            body = self._object_body(request, res, info)
            self._check_precondition(res, old, body)
            keep = 'status' if request.subresource == 'status' else 'spec'
            return await self._write(request, res, info, old, body, keep=keep)

    async def _patch(self, request: kmock.Request) -> kmock.Response:
        content_type = next((v for k, v in request.headers.items() if k.lower() == 'content-type'), '')
        content_type = content_type.split(';')[0].strip()
        if content_type not in ('application/apply-patch+yaml', 'application/merge-patch+json',
                                'application/strategic-merge-patch+json', 'application/json-patch+json'):
            raise ApiError(415, 'UnsupportedMediaType', f'the body of the request was in an unknown format'
                           f' - accepted media types include: application/json-patch+json,'
                           f' application/merge-patch+json, application/apply-patch+yaml')
        if request.name is None:
            raise not_allowed()
        apply = content_type == 'application/apply-patch+yaml'
        async with self._lock:
            res, info = self._resolve(request)
            if apply and not request.params.get('fieldManager'):
                raise invalid(res, info, request.name, 'fieldManager: Required value: is required for apply patch')
            if apply and request.subresource is None:
                body = self._object_body(request, res, info, need_type=True)
                if self._find(res, request.namespace, request.name) is None:
                    return await self._create(request, res, info, body)  # a real server's apply creates
            old = self._find(res, request.namespace, request.name)
            if old is None:
                raise not_found(res, request.name)
            base = self._scale_of(old) if request.subresource == 'scale' else old
            patch = self._body(request)
            if content_type == 'application/json-patch+json':
                try:
                    patched = jsonpatch.apply_patch(base, patch)
                except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException, TypeError) as e:
                    raise invalid(res, info, request.name, f'the JSON patch does not apply: {e}')
            else:
                self._check_precondition(res, old, patch)
                if not isinstance(patch, dict):
                    raise bad_request('a merge patch must be an object')
                patched = merge_patch(base, patch)
            if request.subresource == 'scale':
                return await self._write_scale(request, res, info, old, patched)
            keep = 'status' if request.subresource == 'status' else 'spec'
            return await self._write(request, res, info, old, patched, keep=keep)

    async def _write(self, request: kmock.Request, res: kmock.resource, info: kmock.ResourceInfo,
                     old: dict, new: dict, *, keep: str) -> kmock.Response:
        obj = self._stamp_updated(old, new, res, info, keep=keep)
        if obj['metadata']['resourceVersion'] != old['metadata']['resourceVersion'] and not self._dry_run(request):
            await self._store(res, request.namespace, obj, created=False)
        return ok(obj)

    # --- /scale

    @staticmethod
    def _scale_of(obj: dict) -> dict:
        meta = obj['metadata']
        match_labels = ((obj.get('spec') or {}).get('selector') or {}).get('matchLabels') or {}
        status = {'replicas': (obj.get('status') or {}).get('replicas', 0)}
        if match_labels:
            status['selector'] = ','.join(f'{k}={v}' for k, v in match_labels.items())
        return {'apiVersion': 'autoscaling/v1', 'kind': 'Scale',
                'metadata': {k: meta[k] for k in ('name', 'namespace', 'uid', 'resourceVersion',
                                                  'creationTimestamp') if k in meta},
                'spec': {'replicas': (obj.get('spec') or {}).get('replicas', 1)},
                'status': status}

    async def _write_scale(self, request: kmock.Request, res: kmock.resource, info: kmock.ResourceInfo,
                           old: dict, scale: Any) -> kmock.Response:
        replicas = ((scale.get('spec') or {}) if isinstance(scale, dict) else {}).get('replicas')
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            raise invalid(res, info, request.name, f'spec.replicas: Invalid value: {json.dumps(replicas)}:'
                                                   ' must be a non-negative integer')
        new = copy.deepcopy(old)
        new.setdefault('spec', {})['replicas'] = replicas
        response = await self._write(request, res, info, old, new, keep='spec')
        return ok(self._scale_of(response.payload))

    # --- deleting

    async def _delete(self, request: kmock.Request) -> kmock.Response:
        async with self._lock:
            if request.name is None:
                return await self._delete_collection(request)
            res, info, obj = self._existing(request)
            return ok(await self._delete_one(request, res, obj))

    async def _delete_one(self, request: kmock.Request, res: kmock.resource, obj: dict) -> dict:
        """Deletes (or, with finalizers, marks for deletion) and answers the object's last state."""
        meta = obj['metadata']
        if self._dry_run(request):
            return obj
        if meta.get('finalizers'):
            if not meta.get('deletionTimestamp'):
                meta.update(deletionTimestamp=now(), deletionGracePeriodSeconds=0,
                            resourceVersion=self._next_version())
                await self._store(res, request.namespace, obj, created=False)
            return obj
        await self._remove(res, request.namespace, meta['name'])
        return obj

    async def _delete_collection(self, request: kmock.Request) -> kmock.Response:
        res, info = self._resolve(request)
        listed = (await self._list(request)).payload
        deleted = [await self._delete_one(request, res, obj) for obj in listed['items']]
        return ok(dict(listed, items=deleted, metadata={'resourceVersion': str(self._resource_version)}))

    # --- pods/eviction

    async def _evict(self, request: kmock.Request, res: kmock.resource) -> kmock.Response:
        async with self._lock:
            pod = self._find(res, request.namespace, request.name)
            if pod is None:
                raise not_found(res, request.name)
            success = ok({'apiVersion': 'v1', 'kind': 'Status', 'metadata': {}, 'status': 'Success',
                          'code': 201}, 201)
            # A finished pod disrupts nothing: a real server evicts it whatever the budgets say.
            if (pod.get('status') or {}).get('phase') in ('Succeeded', 'Failed'):
                await self._delete_one(request, res, pod)
                return success
            budgets = [copy.deepcopy(obj.raw)
                       for (r, namespace, _), obj in self._objects.items()
                       if r == PDBS and namespace == request.namespace and not obj.deleted
                       if selector_object((obj.raw.get('spec') or {}).get('selector'))(labels_of(pod))]
            if len(budgets) > 1:
                raise ApiError(500, 'InternalError', 'This pod has more than one PodDisruptionBudget,'
                                                     ' which the eviction subresource does not support.')
            if budgets:
                pdb = budgets[0]
                status = pdb.get('status') or {}
                if (status.get('disruptionsAllowed') or 0) <= 0:
                    raise ApiError(
                        429, 'TooManyRequests', "Cannot evict pod as it would violate the pod's disruption budget.",
                        {'causes': [{'reason': 'DisruptionBudget', 'message':
                                     f'The disruption budget {pdb["metadata"]["name"]} needs'
                                     f' {status.get("desiredHealthy", 0)} healthy pods and has'
                                     f' {status.get("currentHealthy", 0)} currently'}],
                         'retryAfterSeconds': 10})
                if not self._dry_run(request):
                    # The eviction API takes the disruption from the budget; the PDB controller
                    # (here: the test) gives it back later.
                    used = dict(status, disruptionsAllowed=status['disruptionsAllowed'] - 1)
                    new = dict(copy.deepcopy(pdb), status=used)
                    updated = self._stamp_updated(pdb, new, PDBS, self.resources[PDBS], keep='status')
                    await self._store(PDBS, request.namespace, updated, created=False)
            await self._delete_one(request, res, pod)
            return success


# ---------------------------------------------------------------------------------------------


async def serve(host: str, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    emulator = KubeEmulator()
    async with emulator, kmock.Server(emulator, host=host, port=port or None) as server:
        print(f'listening on {server.port}', flush=True)
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--port', type=int, default=0, help='the port to listen on (0: a free one)')
    parser.add_argument('--host', default='127.0.0.1')
    args = parser.parse_args()
    asyncio.run(serve(args.host, args.port))


if __name__ == '__main__':
    main()
