"""A STAND-IN for the Kubernetes API server, for tests: no real control plane runs here.

It serves plain HTTP on 127.0.0.1 (no authentication) from an in-memory store that tests
fill through a Python control API (`add`, `update`, `delete`). What it implements
faithfully, as kube-apiserver 1.32 answers (checked with the real `kubectl` and
kubernetes-asyncio):

- discovery: /api (APIVersions), /api/v1 and /apis/{group}/{version} (APIResourceList:
  name, singularName, namespaced, kind, verbs, shortNames), /apis (APIGroupList),
  /apis/{group} (APIGroup), /version. Aggregated discovery (Accept
  ...as=APIGroupDiscoveryList) is not offered; like servers before 1.26 it answers the
  legacy documents as application/json, and clients fall back to them.
- list: items sorted by namespace then name (etcd key order), without kind/apiVersion on
  items, `metadata.resourceVersion` on the list, `labelSelector` (the Kubernetes grammar; a
  bad one is a 400 Status), `fieldSelector` (metadata.name, metadata.namespace, and
  spec.nodeName / status.phase on pods; =, ==, !=), `limit` and `continue`.
- get: one object with kind and apiVersion; a 404 Status naming it when missing.
- watch (`watch=1|true`): JSON lines {"type", "object"} for changes after
  `resourceVersion`, or ADDED for the current state when it is unset or "0"; label and
  field selectors applied to old and new states (an object leaving the selection is a
  DELETED, entering it an ADDED); `timeoutSeconds`; a BOOKMARK before a timed-out stream
  closes when `allowWatchBookmarks` is set; an ERROR 410 Expired event for a
  resourceVersion older than the kept history.
- output shapes by Accept: the object, `as=PartialObjectMetadata(List)` and `as=Table`
  (meta.k8s.io v1/v1beta1) with kubectl's columns for pods and deployments, 406 when
  nothing acceptable is offered.
- Status errors (kind Status, reason, code) for 400, 404, 405, 406, 410 and 503.

- reviews, the delegated auth an extension API server asks of kube-apiserver:
  POST /apis/authentication.k8s.io/v1/tokenreviews and
  /apis/authorization.k8s.io/v1/subjectaccessreviews take and answer the v1 objects (201,
  the request echoed with `status`; 400 for a body that is not the object, 400 for a
  TokenReview without a token, 422 Invalid for a SubjectAccessReview without exactly one
  kind of attributes or without user and groups). Which tokens are valid (`set_token`)
  and what access is allowed or denied (`allow`, `deny`) are set by tests, and every
  review is counted (`review_calls`) and kept (`reviews`) for caching tests.

Not implemented: writes over HTTP (405), subresources, protobuf, consistent snapshots for
`continue` (it continues in the current state); requests to the stand-in itself are not
authenticated.

`down = True` injects a fault: every request gets a 503 Status and open watches end;
stop() then start() refuses connections and comes back on the same port.

Its parts: resources.py (what is served, /version), server.py (store, HTTP API, watch
fan-out), fields.py (field selectors), watch.py (events), shapes.py (Accept: partial
metadata, Tables), access.py (TokenReview, SubjectAccessReview), errors.py (Status
answers), thread.py (the stand-in on a background thread).
"""

from tests.support.kube_standin.access import AccessRule, TokenUser
from tests.support.kube_standin.resources import K8S_VERSION, ResourceType
from tests.support.kube_standin.server import KubeStandin
from tests.support.kube_standin.shapes import human_duration
from tests.support.kube_standin.thread import KubeStandinThread

__all__ = [
    "K8S_VERSION",
    "AccessRule",
    "KubeStandin",
    "KubeStandinThread",
    "ResourceType",
    "TokenUser",
    "human_duration",
]
