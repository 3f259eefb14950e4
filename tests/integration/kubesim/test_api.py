"""API-level fidelity of kubesim, driven by the real `kubernetes` Python client against a real kubesim process.

Nothing is mocked: every request goes over HTTPS to `python -m kubesim`. Each test names the Kubernetes rule it
checks. Sources: kubernetes/community `contributors/devel/sig-architecture/api-conventions.md` ("api-conventions"),
kubernetes.io "API Concepts" (`docs/reference/using-api/api-concepts`), and the kube-apiserver code that implements
the behaviour (`k8s.io/apiserver/pkg/...`, `pkg/registry/...`).
"""

from __future__ import annotations

import json
import threading
import time

import pytest
from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException


# -- helpers ---------------------------------------------------------------------------------------
def apis(sim, context: str | None = None) -> tuple[client.CoreV1Api, client.AppsV1Api, client.PolicyV1Api]:
    api_client = sim.api_client(context=context)
    return client.CoreV1Api(api_client), client.AppsV1Api(api_client), client.PolicyV1Api(api_client)


def raw(response) -> dict:
    """The JSON body of a `_preload_content=False` response."""
    return json.loads(response.data)


def api_error(fn, *args, **kwargs) -> tuple[int, dict]:
    """Call fn, expect an ApiException; return (HTTP status, decoded Status body)."""
    with pytest.raises(ApiException) as info:
        fn(*args, **kwargs)
    return info.value.status, json.loads(info.value.body)


def eventually(check, timeout: float = 10.0, interval: float = 0.1, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out after {timeout}s waiting for {what}"
        time.sleep(interval)


def absent(fn, *args) -> bool:
    try:
        fn(*args)
    except ApiException as exc:
        if exc.status == 404:
            return True
        raise
    return False


def cm(name: str, labels: dict | None = None, data: dict | None = None) -> dict:
    return {"metadata": {"name": name, **({"labels": labels} if labels else {})}, "data": data or {}}


def names(items) -> list[str]:
    return [i["metadata"]["name"] if isinstance(i, dict) else i.metadata.name for i in items]


def new_namespace(core: client.CoreV1Api, name: str) -> None:
    core.create_namespace({"metadata": {"name": name}})


def deployment(name: str, containers: list[dict], replicas: int = 1) -> dict:
    return {"metadata": {"name": name, "labels": {"app": name}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": containers}}}}


# -- CRUD, errors ----------------------------------------------------------------------------------
def test_namespaced_crud_already_exists_and_not_found(seed):
    """Create answers 201, update is PUT of the whole object, delete of a ConfigMap answers a Status whose details
    name the deleted object (registry/store.go finalizeDelete: Kind is set to the resource, plus uid); a repeated
    create is 409 AlreadyExists and a missing object 404 NotFound, both as a metav1.Status with details
    (api-conventions "Response Status Kind"; StatusDetails fields are omitempty, so no empty group)."""
    core, _, _ = apis(seed)
    created, code, _ = core.create_namespaced_config_map_with_http_info("demo", cm("crud", {"a": "1"}, {"k": "v1"}))
    assert code == 201
    assert created.metadata.uid and created.metadata.resource_version and created.metadata.creation_timestamp
    assert created.metadata.namespace == "demo"

    got = core.read_namespaced_config_map("crud", "demo")
    assert (got.metadata.uid, got.data) == (created.metadata.uid, {"k": "v1"})

    status, body = api_error(core.create_namespaced_config_map, "demo", cm("crud"))
    assert status == 409
    assert body["kind"] == "Status" and body["status"] == "Failure"
    assert (body["reason"], body["code"]) == ("AlreadyExists", 409)
    assert body["message"] == 'configmaps "crud" already exists'
    assert body["details"] == {"name": "crud", "kind": "configmaps"}

    got.data = {"k": "v2"}
    replaced = core.replace_namespaced_config_map("crud", "demo", got)
    assert replaced.data == {"k": "v2"} and replaced.metadata.uid == created.metadata.uid
    assert replaced.metadata.labels == {"a": "1"}
    assert "crud" in names(core.list_namespaced_config_map("demo").items)

    response = core.delete_namespaced_config_map("crud", "demo", _preload_content=False)
    assert response.status == 200
    assert raw(response) == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                             "details": {"name": "crud", "kind": "configmaps", "uid": created.metadata.uid}}

    status, body = api_error(core.read_namespaced_config_map, "crud", "demo")
    assert status == 404
    assert body == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                    "message": 'configmaps "crud" not found', "reason": "NotFound", "code": 404,
                    "details": {"name": "crud", "kind": "configmaps"}}


def test_not_found_names_the_group_resource(seed):
    """For a non-core group the NotFound message and details carry the group: `deployments.apps "x" not found`
    (apierrors.NewNotFound(qualifiedResource, name))."""
    core, apps, _ = apis(seed)
    status, body = api_error(apps.read_namespaced_deployment, "nope", "demo")
    assert status == 404
    assert body["message"] == 'deployments.apps "nope" not found'
    assert body["details"] == {"name": "nope", "group": "apps", "kind": "deployments"}
    status, body = api_error(core.read_namespaced_pod, "debug-shell", "legacy")  # exists, but in another namespace
    assert (status, body["reason"]) == (404, "NotFound")


def test_cluster_scoped_crud(seed):
    """Namespaces are cluster-scoped: created without a namespace, labelled `kubernetes.io/metadata.name` by
    defaulting (NamespaceDefaultLabelName, 1.22+), and a delete marks them Terminating with a deletionTimestamp
    until the namespace controller has emptied them (namespace lifecycle, 200 with the object)."""
    core, _, _ = apis(seed)
    created, code, _ = core.create_namespace_with_http_info({"metadata": {"name": "team-a", "labels": {"x": "1"}}})
    assert code == 201
    assert created.metadata.namespace is None
    assert created.metadata.labels == {"x": "1", "kubernetes.io/metadata.name": "team-a"}
    assert created.status.phase == "Active"

    status, body = api_error(core.create_namespace, {"metadata": {"name": "team-a"}})
    assert (status, body["reason"], body["details"]) == (409, "AlreadyExists", {"name": "team-a", "kind": "namespaces"})

    ns = core.read_namespace("team-a")
    ns.metadata.labels["x"] = "2"
    replaced = core.replace_namespace("team-a", ns)
    assert replaced.metadata.labels["x"] == "2"
    assert int(replaced.metadata.resource_version) > int(created.metadata.resource_version)
    assert "team-a" in names(core.list_namespace().items)
    core.create_namespaced_config_map("team-a", cm("inside"))

    response = core.delete_namespace("team-a", _preload_content=False)
    assert response.status == 200
    body = raw(response)
    assert body["kind"] == "Namespace" and body["metadata"]["deletionTimestamp"]
    assert body["status"]["phase"] == "Terminating"
    eventually(lambda: absent(core.read_namespace, "team-a"), what="namespace team-a to be removed")
    assert absent(core.read_namespaced_config_map, "inside", "team-a")

    status, body = api_error(core.read_namespace, "nope")
    assert (status, body["message"], body["details"]) == (404, 'namespaces "nope" not found',
                                                          {"name": "nope", "kind": "namespaces"})


def test_typed_list_items_have_no_type_meta_and_list_has_resource_version(seed):
    """Items of a typed list (PodList, DeploymentList) carry no apiVersion/kind -- only the list does -- and the list
    metadata has a resourceVersion at least as new as every item (api-conventions "Lists and Simple kinds",
    "Concurrency Control and Consistency")."""
    core, apps, _ = apis(seed)
    for response, kind, api_version in (
            (core.list_namespaced_pod("demo", _preload_content=False), "PodList", "v1"),
            (apps.list_namespaced_deployment("demo", _preload_content=False), "DeploymentList", "apps/v1"),
            (core.list_namespace(_preload_content=False), "NamespaceList", "v1")):
        body = raw(response)
        assert (body["kind"], body["apiVersion"]) == (kind, api_version)
        assert body["items"]
        for item in body["items"]:
            assert "kind" not in item and "apiVersion" not in item
        list_rv = body["metadata"]["resourceVersion"]
        assert list_rv.isdigit()
        assert int(list_rv) >= max(int(i["metadata"]["resourceVersion"]) for i in body["items"])
        assert "continue" not in body["metadata"] and "remainingItemCount" not in body["metadata"]
    # A single object does carry its TypeMeta.
    one = raw(core.read_namespaced_pod("debug-shell", "demo", _preload_content=False))
    assert (one["kind"], one["apiVersion"]) == ("Pod", "v1")


# -- selectors -------------------------------------------------------------------------------------
SELECTOR_CASES = [
    ("tier=web", {"a", "c"}),
    ("tier==web", {"a", "c"}),
    ("tier!=web", {"b", "d", "e"}),  # != also matches objects without the key
    ("env in (prod,dev)", {"a", "b", "c"}),
    ("env notin (prod)", {"c", "d", "e"}),  # notin matches objects without the key
    ("env", {"a", "b", "c"}),
    ("!env", {"d", "e"}),
    ("tier=web,env=prod", {"a"}),
    ("tier,!env", {"d"}),
    ("tier in (web, db), env!=dev", {"a", "b"}),
]


def test_label_selectors(seed):
    """labelSelector semantics of k8s.io/apimachinery/pkg/labels/selector.go: `=`/`==`, `!=`, `in`, `notin`,
    existence `key`, `!key`, comma is AND; `!=` and `notin` also match objects lacking the key."""
    core, _, _ = apis(seed)
    new_namespace(core, "sel")
    for name, labels in {"a": {"tier": "web", "env": "prod"}, "b": {"tier": "db", "env": "prod"},
                         "c": {"tier": "web", "env": "dev"}, "d": {"tier": "cache"}, "e": None}.items():
        core.create_namespaced_config_map("sel", cm(name, labels))
    for selector, expected in SELECTOR_CASES:
        got = set(names(core.list_namespaced_config_map("sel", label_selector=selector).items))
        assert got == expected, selector


def test_field_selectors_and_selector_errors(seed):
    """fieldSelector supports metadata.name/metadata.namespace and the per-type fields (pods: status.phase,
    spec.nodeName, ... -- pod strategy ToSelectableFields); anything else is 400 BadRequest `field label not
    supported`, and an unparsable labelSelector is 400 BadRequest (list handler: DecodeParameters ->
    errors.NewBadRequest)."""
    core, _, _ = apis(seed)
    pods = core.list_namespaced_pod("demo").items
    assert len(pods) == 12
    assert names(core.list_namespaced_pod("demo", field_selector="metadata.name=debug-shell").items) == [
        "debug-shell"]
    running = core.list_namespaced_pod("demo", field_selector="status.phase=Running").items
    assert sorted(names(running)) == sorted(names(pods))
    assert core.list_namespaced_pod("demo", field_selector="status.phase!=Running").items == []
    assert core.list_namespaced_pod("demo", field_selector="status.phase=Pending").items == []
    reviews = core.list_namespaced_pod("demo", label_selector="app=reviews", field_selector="status.phase=Running")
    assert len(reviews.items) == 3 and all(n.startswith("reviews-") for n in names(reviews.items))
    node = pods[0].spec.node_name
    on_node = core.list_pod_for_all_namespaces(field_selector=f"spec.nodeName={node}").items
    assert on_node and {p.spec.node_name for p in on_node} == {node}
    assert names(core.list_namespace(field_selector="metadata.name=legacy").items) == ["legacy"]
    everywhere = core.list_pod_for_all_namespaces(field_selector="metadata.namespace=legacy").items
    assert len(everywhere) == 2 and {p.metadata.namespace for p in everywhere} == {"legacy"}

    for fn, args, selector in ((core.list_namespaced_pod, ("demo",), "spec.containers=x"),
                               (core.list_namespaced_config_map, ("demo",), "data.k=v")):
        status, body = api_error(fn, *args, field_selector=selector)
        assert (status, body["reason"], body["code"]) == (400, "BadRequest", 400)
        assert f"field label not supported: {selector.split('=')[0]}" in body["message"]
    for selector in ("app in (a,b", "app b", "=x"):
        status, body = api_error(core.list_namespaced_pod, "demo", label_selector=selector)
        assert (status, body["reason"]) == (400, "BadRequest"), selector


# -- pagination --------------------------------------------------------------------------------------
def test_pagination_is_a_consistent_snapshot(seed):
    """limit/continue (API Concepts "Retrieving large results sets in chunks"): pages are served from the
    resourceVersion of the first page, so every page reports that resourceVersion, nothing is duplicated or lost,
    objects created or deleted between pages do not change the paged result, remainingItemCount counts what is
    left, and the last page has neither continue nor remainingItemCount."""
    core, _, _ = apis(seed)
    new_namespace(core, "paging")
    created = [f"cm-{i:02d}" for i in range(25)]
    for name in created:
        core.create_namespaced_config_map("paging", cm(name))

    page1 = core.list_namespaced_config_map("paging", limit=10)
    rv = page1.metadata.resource_version
    assert names(page1.items) == created[:10]
    assert page1.metadata.remaining_item_count == 15 and page1.metadata._continue

    page2 = core.list_namespaced_config_map("paging", limit=10, _continue=page1.metadata._continue)
    assert names(page2.items) == created[10:20]
    assert page2.metadata.remaining_item_count == 5 and page2.metadata.resource_version == rv

    # Changes after the snapshot: a new object that sorts last, and a deletion inside the unread page.
    core.create_namespaced_config_map("paging", cm("cm-99"))
    core.delete_namespaced_config_map("cm-20", "paging")

    page3 = core.list_namespaced_config_map("paging", limit=10, _continue=page2.metadata._continue)
    assert names(page3.items) == created[20:]
    assert page3.metadata.resource_version == rv
    assert page3.metadata._continue is None and page3.metadata.remaining_item_count is None

    seen = names(page1.items) + names(page2.items) + names(page3.items)
    assert seen == created and len(set(seen)) == 25
    fresh = names(core.list_namespaced_config_map("paging").items)
    assert "cm-99" in fresh and "cm-20" not in fresh and len(fresh) == 25
    # With a selector the server cannot know how many remain: remainingItemCount is unset.
    selected = core.list_namespaced_config_map("paging", limit=5, label_selector="!nope")
    assert selected.metadata._continue and selected.metadata.remaining_item_count is None


def test_continue_token_after_compaction_is_410_expired(seed):
    """A continue token whose resourceVersion has been compacted cannot be served: 410 Gone with reason Expired
    (api-conventions "410 StatusGone"; API Concepts: "a continue token will expire ... and return a 410 Gone")."""
    core, _, _ = apis(seed)
    page = core.list_namespaced_pod("demo", limit=5)
    assert page.metadata._continue and page.metadata.remaining_item_count == 7
    core.create_namespaced_config_map("demo", cm("after-list"))  # the store moves past the list's revision
    seed.faults(compact=True)
    status, body = api_error(core.list_namespaced_pod, "demo", limit=5, _continue=page.metadata._continue)
    assert (status, body["reason"], body["code"]) == (410, "Expired", 410)
    assert "continue" in body["message"]
    assert len(core.list_namespaced_pod("demo").items) == 12  # a fresh list still works


# -- resourceVersion and conflicts -------------------------------------------------------------------
def test_resource_version_changes_on_writes_and_stale_update_conflicts(seed):
    """resourceVersion changes on every modification (etcd revision: monotonically increasing); an update carrying
    an older resourceVersion is rejected with 409 Conflict (api-conventions "Concurrency Control and Consistency");
    a no-op update is not written, so its resourceVersion stays (etcd3 store GuaranteedUpdate skips unchanged
    data)."""
    core, _, _ = apis(seed)
    obj = core.create_namespaced_config_map("demo", cm("rv", data={"n": "0"}))
    versions = [int(obj.metadata.resource_version)]
    for i in range(1, 4):
        obj.data = {"n": str(i)}
        obj = core.replace_namespaced_config_map("rv", "demo", obj)
        versions.append(int(obj.metadata.resource_version))
    obj = core.patch_namespaced_config_map("rv", "demo", {"data": {"n": "patched"}})
    versions.append(int(obj.metadata.resource_version))
    assert versions == sorted(set(versions)), versions

    unchanged = core.patch_namespaced_config_map("rv", "demo", {"data": {"n": "patched"}})
    assert unchanged.metadata.resource_version == obj.metadata.resource_version

    stale = core.read_namespaced_config_map("rv", "demo")
    stale.metadata.resource_version = str(versions[0])
    stale.data = {"n": "lost update"}
    status, body = api_error(core.replace_namespaced_config_map, "rv", "demo", stale)
    assert (status, body["reason"], body["code"]) == (409, "Conflict", 409)
    assert body["message"] == ('Operation cannot be fulfilled on configmaps "rv": the object has been modified; '
                               "please apply your changes to the latest version and try again")
    assert body["details"] == {"name": "rv", "kind": "configmaps"}
    # A patch may carry a resourceVersion precondition too.
    status, body = api_error(core.patch_namespaced_config_map, "rv", "demo",
                             {"metadata": {"resourceVersion": str(versions[0])}, "data": {"n": "x"}})
    assert (status, body["reason"]) == (409, "Conflict")
    assert core.read_namespaced_config_map("rv", "demo").data == {"n": "patched"}


# -- patch -------------------------------------------------------------------------------------------
CONTAINERS = [{"name": "app", "image": "docker.io/library/nginx:1.27"},
              {"name": "helper", "image": "docker.io/library/busybox:1.37", "command": ["sleep", "infinity"]}]


def test_strategic_merge_merge_and_json_patch(seed):
    """The three patch types (API Concepts "Patch operations"): strategic merge patch merges `containers` by their
    patchMergeKey `name`; a JSON merge patch (RFC 7396) replaces lists wholesale, after which the server applies
    defaulting again; a JSON patch (RFC 6902) applies operations in order and a failing `test` is 422."""
    core, apps, _ = apis(seed)
    new_namespace(core, "patching")
    apps.create_namespaced_deployment("patching", deployment("web", CONTAINERS))

    def containers_patch(image: str) -> dict:
        return {"spec": {"template": {"spec": {"containers": [{"name": "helper", "image": image}]}}}}

    smp = containers_patch("docker.io/library/busybox:1.36")
    d = apps.patch_namespaced_deployment("web", "patching", smp)  # a dict body: the client sends strategic merge
    containers = {c.name: c for c in d.spec.template.spec.containers}
    assert list(containers) == ["app", "helper"]
    assert containers["app"].image == "docker.io/library/nginx:1.27"
    assert containers["helper"].image == "docker.io/library/busybox:1.36"
    assert containers["helper"].command == ["sleep", "infinity"]

    merge = containers_patch("docker.io/library/busybox:1.35")
    d = apps.patch_namespaced_deployment("web", "patching", merge, _content_type="application/merge-patch+json")
    (only,) = d.spec.template.spec.containers
    assert (only.name, only.image, only.command) == ("helper", "docker.io/library/busybox:1.35", None)
    assert only.termination_message_path == "/dev/termination-log"  # defaulted again after the patch
    assert only.image_pull_policy == "IfNotPresent"

    ops = [{"op": "replace", "path": "/spec/replicas", "value": 3},
           {"op": "add", "path": "/metadata/labels/team", "value": "blue"},
           {"op": "test", "path": "/spec/replicas", "value": 3}]
    d = apps.patch_namespaced_deployment("web", "patching", ops)  # a list body: the client sends JSON patch
    assert d.spec.replicas == 3 and d.metadata.labels == {"app": "web", "team": "blue"}

    status, body = api_error(apps.patch_namespaced_deployment, "web", "patching",
                             [{"op": "test", "path": "/spec/replicas", "value": 7},
                              {"op": "replace", "path": "/spec/replicas", "value": 7}])
    assert (status, body["reason"]) == (422, "Invalid")
    assert apps.read_namespaced_deployment("web", "patching").spec.replicas == 3


def test_seed_namespace_label_patch(seed):
    """The seed page's `kubectl label namespace ... istio-injection- istio.io/rev=asm-173-3 --overwrite` as a
    patch: `null` deletes a key in both merge patch (RFC 7396) and strategic merge patch."""
    core, _, _ = apis(seed)
    body = {"metadata": {"labels": {"istio-injection": None, "istio.io/rev": "asm-173-3"}}}
    assert core.read_namespace("legacy").metadata.labels == {"istio-injection": "enabled",
                                                            "kubernetes.io/metadata.name": "legacy"}
    merged = core.patch_namespace("legacy", body, _content_type="application/merge-patch+json")
    assert merged.metadata.labels == {"kubernetes.io/metadata.name": "legacy", "istio.io/rev": "asm-173-3"}

    core.patch_namespace("demo", {"metadata": {"labels": {"istio-injection": "enabled"}}})
    strategic = core.patch_namespace("demo", body)  # strategic merge patch
    assert strategic.metadata.labels == {"kubernetes.io/metadata.name": "demo", "istio.io/rev": "asm-173-3"}
    assert core.read_namespace("demo").metadata.labels == strategic.metadata.labels


def test_generation_and_observed_generation(seed):
    """metadata.generation is bumped by changes to the desired state -- for a Deployment its spec or its
    annotations (apps deployment strategy PrepareForUpdate) -- never by a label change; the controller reports the
    generation it acted on in status.observedGeneration (api-conventions "metadata.generation",
    "status.observedGeneration")."""
    _, apps, _ = apis(seed)

    def observed(generation):
        return eventually(lambda: apps.read_namespaced_deployment("ratings", "demo").status.observed_generation
                          == generation, what=f"observedGeneration {generation}")

    start = apps.read_namespaced_deployment("ratings", "demo")
    gen = start.metadata.generation
    assert start.status.observed_generation == gen
    labelled = apps.patch_namespaced_deployment("ratings", "demo", {"metadata": {"labels": {"team": "blue"}}})
    assert labelled.metadata.generation == gen
    assert labelled.metadata.resource_version != start.metadata.resource_version

    scaled = apps.patch_namespaced_deployment("ratings", "demo", {"spec": {"replicas": 3}})
    assert scaled.metadata.generation == gen + 1
    observed(gen + 1)
    annotated = apps.patch_namespaced_deployment("ratings", "demo", {"metadata": {"annotations": {"note": "x"}}})
    assert annotated.metadata.generation == gen + 2
    observed(gen + 2)
    eventually(lambda: apps.read_namespaced_deployment("ratings", "demo").status.ready_replicas == 3,
               what="3 ready replicas")
    # A ReplicaSet's generation follows its spec only.
    rs = apps.list_namespaced_replica_set("demo", label_selector="app=ratings").items[0]
    relabelled = apps.patch_namespaced_replica_set(rs.metadata.name, "demo", {"metadata": {"labels": {"x": "y"}}})
    assert relabelled.metadata.generation == rs.metadata.generation


# -- watch -------------------------------------------------------------------------------------------
def test_watch_from_list_resource_version_sees_changes(seed):
    """Watching from a list's resourceVersion delivers every change after it, in order: ADDED, MODIFIED, DELETED
    (API Concepts "Efficient detection of changes"), and live changes reach an open watch."""
    core, _, _ = apis(seed)
    rv = core.list_namespaced_config_map("demo").metadata.resource_version
    obj = core.create_namespaced_config_map("demo", cm("w1", data={"v": "1"}))
    obj.data = {"v": "2"}
    updated = core.replace_namespaced_config_map("w1", "demo", obj)
    core.delete_namespaced_config_map("w1", "demo")

    w = watch.Watch()
    events = []
    for event in w.stream(core.list_namespaced_config_map, "demo", resource_version=rv, timeout_seconds=5):
        events.append(event)
        if event["type"] == "DELETED":
            w.stop()
    assert [(e["type"], e["object"].metadata.name) for e in events] == [
        ("ADDED", "w1"), ("MODIFIED", "w1"), ("DELETED", "w1")]
    assert isinstance(events[0]["object"], client.V1ConfigMap)
    assert events[1]["object"].data == {"v": "2"}
    assert events[1]["object"].metadata.resource_version == updated.metadata.resource_version
    versions = [int(e["object"].metadata.resource_version) for e in events]
    assert versions == sorted(set(versions)) and versions[0] > int(rv)

    # Live: a change made while the watch is open.
    rv = core.list_namespaced_config_map("demo").metadata.resource_version
    timer = threading.Timer(0.3, core.create_namespaced_config_map, ("demo", cm("w2")))
    timer.start()
    try:
        w = watch.Watch()
        live = []
        for event in w.stream(core.list_namespaced_config_map, "demo", resource_version=rv, timeout_seconds=5):
            live.append((event["type"], event["object"].metadata.name))
            w.stop()
    finally:
        timer.join()
    assert live == [("ADDED", "w2")]


def test_watch_from_compacted_resource_version_is_410(seed):
    """A watch from a resourceVersion older than the compacted history answers one ERROR event carrying a 410
    Expired Status (cacher: "too old resource version"); the Python client raises ApiException(410)."""
    core, _, _ = apis(seed)
    rv = core.list_namespaced_config_map("demo").metadata.resource_version
    core.create_namespaced_config_map("demo", cm("moves-on"))
    seed.faults(compact=True)

    response = core.list_namespaced_config_map("demo", watch=True, resource_version=rv, _preload_content=False)
    assert response.status == 200
    first = json.loads(response.data.splitlines()[0])
    assert first["type"] == "ERROR"
    assert {k: first["object"][k] for k in ("kind", "status", "reason", "code")} == {
        "kind": "Status", "status": "Failure", "reason": "Expired", "code": 410}

    with pytest.raises(ApiException) as info:
        for _ in watch.Watch().stream(core.list_namespaced_config_map, "demo", resource_version=rv,
                                      timeout_seconds=5):
            pass
    assert info.value.status == 410
    with pytest.raises(ApiException) as info:  # without a timeout the client retries once, then gives up
        for _ in watch.Watch().stream(core.list_namespaced_config_map, "demo", resource_version=rv):
            pass
    assert info.value.status == 410


def test_watch_with_label_selector_turns_leaving_the_selector_into_deleted(seed):
    """With a label selector, a modification that makes an object stop matching is delivered as DELETED carrying
    the previous (still matching) object at the event's resourceVersion, and starting to match again is ADDED
    (storage cacher cacheWatcher.convertToWatchEvent)."""
    core, _, _ = apis(seed)
    core.create_namespaced_config_map("demo", cm("sel-w", {"watch": "yes"}))
    other = core.create_namespaced_config_map("demo", cm("never", {"watch": "no"}))
    rv = core.list_namespaced_config_map("demo", label_selector="watch=yes").metadata.resource_version
    left = core.patch_namespaced_config_map("sel-w", "demo", {"metadata": {"labels": {"watch": "no"}}})
    core.patch_namespaced_config_map("never", "demo", {"data": {"x": "y"}})  # never matches: no event
    back = core.patch_namespaced_config_map("sel-w", "demo", {"metadata": {"labels": {"watch": "yes"}}})

    w = watch.Watch()
    events = []
    for event in w.stream(core.list_namespaced_config_map, "demo", label_selector="watch=yes", resource_version=rv,
                          timeout_seconds=3):
        events.append(event)
        if len(events) == 2:
            w.stop()
    assert [(e["type"], e["object"].metadata.name) for e in events] == [("DELETED", "sel-w"), ("ADDED", "sel-w")]
    deleted, added = (e["object"] for e in events)
    assert deleted.metadata.labels == {"watch": "yes"}
    assert deleted.metadata.resource_version == left.metadata.resource_version
    assert added.metadata.resource_version == back.metadata.resource_version
    assert other.metadata.name not in {e["object"].metadata.name for e in events}


def test_watch_timeout_seconds_ends_the_stream(seed):
    """timeoutSeconds bounds a watch: the server closes the stream after it, with no events if nothing changed
    (ListOptions.timeoutSeconds)."""
    core, _, _ = apis(seed)
    rv = core.list_namespaced_config_map("legacy").metadata.resource_version
    started = time.monotonic()
    events = list(watch.Watch().stream(core.list_namespaced_config_map, "legacy", resource_version=rv,
                                       timeout_seconds=1))
    elapsed = time.monotonic() - started
    assert events == []
    assert 0.9 <= elapsed < 4, elapsed


# -- deletion, garbage collection --------------------------------------------------------------------
def _owned_replicasets(apps, app: str):
    return apps.list_namespaced_replica_set("demo", label_selector=f"app={app}").items


def test_background_deletion_removes_dependents(seed):
    """Background cascading deletion (the default for apps/v1): the API server removes the owner at once -- a
    Deployment delete answers a Status -- and the garbage collector deletes the ReplicaSets and their pods
    (docs "Garbage collection", ownerReferences)."""
    core, apps, _ = apis(seed)
    (rs,) = _owned_replicasets(apps, "productpage")
    deploy = apps.read_namespaced_deployment("productpage", "demo")
    assert rs.metadata.owner_references[0].uid == deploy.metadata.uid
    assert rs.metadata.owner_references[0].controller is True
    pods = core.list_namespaced_pod("demo", label_selector="app=productpage").items
    assert len(pods) == 1 and pods[0].metadata.owner_references[0].uid == rs.metadata.uid

    response = apps.delete_namespaced_deployment("productpage", "demo", _preload_content=False)
    assert response.status == 200
    body = raw(response)
    assert (body["kind"], body["status"]) == ("Status", "Success")
    assert body["details"] == {"name": "productpage", "group": "apps", "kind": "deployments",
                               "uid": deploy.metadata.uid}
    assert absent(apps.read_namespaced_deployment, "productpage", "demo")
    eventually(lambda: not _owned_replicasets(apps, "productpage"), what="ReplicaSet garbage-collected")
    eventually(lambda: not core.list_namespaced_pod("demo", label_selector="app=productpage").items,
               what="pods garbage-collected")


def test_orphan_deletion_keeps_dependents_without_owner_reference(seed):
    """propagationPolicy=Orphan: the garbage collector removes the owner's ownerReference from the dependents and
    then the owner goes; the ReplicaSet and its pods stay (docs "Garbage collection": orphan finalizer)."""
    core, apps, _ = apis(seed)
    (rs,) = _owned_replicasets(apps, "ratings")
    apps.delete_namespaced_deployment("ratings", "demo", propagation_policy="Orphan")
    eventually(lambda: absent(apps.read_namespaced_deployment, "ratings", "demo"), what="Deployment gone")
    kept = apps.read_namespaced_replica_set(rs.metadata.name, "demo")
    assert kept.metadata.uid == rs.metadata.uid
    assert kept.metadata.owner_references is None
    pods = core.list_namespaced_pod("demo", label_selector="app=ratings").items
    assert len(pods) == 2
    assert all(p.metadata.owner_references[0].uid == rs.metadata.uid for p in pods)
    time.sleep(0.5)
    assert len(core.list_namespaced_pod("demo", label_selector="app=ratings").items) == 2


def test_foreground_deletion_waits_for_dependents(seed):
    """propagationPolicy=Foreground: the owner stays visible with deletionTimestamp and the foregroundDeletion
    finalizer until the garbage collector has deleted its blocking dependents, then it goes (docs "Garbage
    collection": foreground cascading deletion)."""
    core, apps, _ = apis(seed)
    response = apps.delete_namespaced_deployment("reviews", "demo", propagation_policy="Foreground",
                                                 _preload_content=False)
    assert response.status == 200
    body = raw(response)
    assert body["kind"] == "Deployment"
    assert body["metadata"]["deletionTimestamp"] and body["metadata"]["finalizers"] == ["foregroundDeletion"]
    pending = apps.read_namespaced_deployment("reviews", "demo")
    assert pending.metadata.deletion_timestamp is not None
    assert pending.metadata.finalizers == ["foregroundDeletion"]
    eventually(lambda: absent(apps.read_namespaced_deployment, "reviews", "demo"), what="Deployment gone")
    assert _owned_replicasets(apps, "reviews") == []
    assert core.list_namespaced_pod("demo", label_selector="app=reviews").items == []


def test_graceful_and_immediate_pod_deletion(seed):
    """Deleting a running pod is graceful: the API answers 200 with the pod, now carrying deletionTimestamp and
    deletionGracePeriodSeconds (pods return the deleted object), and the pod disappears once the kubelet has
    stopped it; gracePeriodSeconds=0 removes it at once (pod strategy CheckGracefulDelete; DELETE answers 202 only
    for orphanDependents=false -- handlers/delete.go)."""
    core, _, _ = apis(seed)
    response = core.delete_namespaced_pod("debug-shell", "demo", _preload_content=False)
    assert response.status == 200
    body = raw(response)
    assert body["kind"] == "Pod" and body["metadata"]["deletionTimestamp"]
    assert body["metadata"]["deletionGracePeriodSeconds"] == 30
    terminating = core.read_namespaced_pod("debug-shell", "demo")
    assert terminating.metadata.deletion_timestamp is not None
    eventually(lambda: absent(core.read_namespaced_pod, "debug-shell", "demo"), what="pod to terminate")

    victim = core.list_namespaced_pod("demo", label_selector="app=reviews").items[0].metadata.name
    response = core.delete_namespaced_pod(victim, "demo", grace_period_seconds=0, _preload_content=False)
    assert response.status == 200
    assert absent(core.read_namespaced_pod, victim, "demo")


# -- eviction ----------------------------------------------------------------------------------------
def _pdb(name: str, app: str, max_unavailable: int) -> dict:
    return {"metadata": {"name": name},
            "spec": {"maxUnavailable": max_unavailable, "selector": {"matchLabels": {"app": app}}}}


def _evict(core, name: str):
    return core.create_namespaced_pod_eviction_with_http_info(
        name, "demo", {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": name, "namespace": "demo"}})


def _pdb_observed(policy, name: str, allowed: int):
    def check():
        status = policy.read_namespaced_pod_disruption_budget(name, "demo").status
        return status and status.observed_generation == 1 and status.disruptions_allowed == allowed
    eventually(check, what=f"PDB {name} status")


def test_eviction_blocked_by_pdb_is_429(seed):
    """An eviction that would violate a PodDisruptionBudget is refused with 429 TooManyRequests and a
    DisruptionBudget cause (registry/core/pod/storage/eviction.go checkAndDecrement); the pod is untouched."""
    core, _, policy = apis(seed)
    policy.create_namespaced_pod_disruption_budget("demo", _pdb("reviews-pdb", "reviews", 0))
    _pdb_observed(policy, "reviews-pdb", 0)
    victim = core.list_namespaced_pod("demo", label_selector="app=reviews").items[0].metadata.name
    status, body = api_error(_evict, core, victim)
    assert status == 429
    assert (body["reason"], body["code"]) == ("TooManyRequests", 429)
    assert body["message"] == "Cannot evict pod as it would violate the pod's disruption budget."
    assert body["details"]["causes"] == [{"reason": "DisruptionBudget", "message": (
        "The disruption budget reviews-pdb needs 3 healthy pods and has 3 currently")}]
    assert core.read_namespaced_pod(victim, "demo").metadata.deletion_timestamp is None


def test_eviction_allowed_by_pdb_and_without_pdb(seed):
    """An eviction the budget allows answers 201 and deletes the pod gracefully; the budget is then spent, so a
    second eviction right away is 429: the evicted pod no longer counts as healthy and the expected count is the
    controller's scale, not the pods left (disruption controller getExpectedPodCount/countHealthyPods). The
    StatefulSet re-creates its pod only once the old one is gone, so nothing refills the budget meanwhile. A pod no
    budget covers is evicted."""
    core, _, policy = apis(seed)
    policy.create_namespaced_pod_disruption_budget("demo", _pdb("mysql-pdb", "mysql", 1))
    _pdb_observed(policy, "mysql-pdb", 1)
    old_uid = core.read_namespaced_pod("mysql-1", "demo").metadata.uid
    _, code, _ = _evict(core, "mysql-1")
    assert code == 201
    assert core.read_namespaced_pod("mysql-1", "demo").metadata.deletion_timestamp is not None
    status, body = api_error(_evict, core, "mysql-0")
    assert (status, body["reason"]) == (429, "TooManyRequests")
    assert body["details"]["causes"][0]["message"] == (
        "The disruption budget mysql-pdb needs 1 healthy pods and has 1 currently")

    def replaced():
        try:
            return core.read_namespaced_pod("mysql-1", "demo").metadata.uid != old_uid
        except ApiException as exc:
            return exc.status == 404
    eventually(replaced, what="evicted pod to terminate")

    _, code, _ = _evict(core, "debug-shell")
    assert code == 201
    eventually(lambda: absent(core.read_namespaced_pod, "debug-shell", "demo"), what="debug-shell evicted")


# -- authentication, authorization -------------------------------------------------------------------
def test_unauthenticated_requests_are_401(seed):
    """Without valid credentials the API answers 401 Unauthorized with a Status (authentication filter; kubesim
    behaves like a server with --anonymous-auth=false, so a missing token is 401 too)."""
    for token in (None, "not-a-valid-token"):
        configuration = client.Configuration(host=seed.url, ssl_ca_cert=str(seed.ca_file))
        if token:
            configuration.api_key = {"authorization": token}
            configuration.api_key_prefix = {"authorization": "Bearer"}
        core = client.CoreV1Api(client.ApiClient(configuration))
        status, body = api_error(core.list_namespace)
        assert status == 401
        assert (body["kind"], body["reason"], body["code"], body["message"]) == (
            "Status", "Unauthorized", 401, "Unauthorized")


def test_read_only_user_is_forbidden_to_write(seed):
    """RBAC denials are 403 Forbidden with the apiserver's message (responsewriters.forbiddenMessage): user, verb,
    resource (with subresource) and API group, then `in the namespace "<ns>"` -- which for a namespace object is
    the namespace itself (RequestInfo: /api/v1/namespaces/demo has Namespace "demo") -- or `at the cluster
    scope`; the subject before `is forbidden` is the group-qualified resource (apierrors.NewForbidden)."""
    core, apps, _ = apis(seed, context="kubesim-ci-reader")
    assert len(core.list_namespaced_pod("demo").items) == 12
    assert "demo" in names(core.list_namespace().items)
    assert apps.read_namespaced_deployment("reviews", "demo").spec.replicas == 3

    status, body = api_error(core.patch_namespace, "demo", {"metadata": {"labels": {"istio.io/rev": "asm-173-3"}}})
    assert status == 403
    assert (body["reason"], body["code"]) == ("Forbidden", 403)
    assert body["message"] == ('namespaces "demo" is forbidden: User "ci-reader" cannot patch resource "namespaces" '
                               'in API group "" in the namespace "demo"')
    assert body["details"] == {"name": "demo", "kind": "namespaces"}

    cases = [
        (lambda: core.create_namespace({"metadata": {"name": "x"}}),
         'namespaces is forbidden: User "ci-reader" cannot create resource "namespaces" in API group "" at the '
         'cluster scope'),
        (lambda: core.create_namespaced_config_map("demo", cm("x")),
         'configmaps is forbidden: User "ci-reader" cannot create resource "configmaps" in API group "" in the '
         'namespace "demo"'),
        (lambda: apps.delete_namespaced_deployment("reviews", "demo"),
         'deployments.apps "reviews" is forbidden: User "ci-reader" cannot delete resource "deployments" in API '
         'group "apps" in the namespace "demo"'),
        (lambda: _evict(core, "debug-shell"),
         'pods "debug-shell" is forbidden: User "ci-reader" cannot create resource "pods/eviction" in API group "" '
         'in the namespace "demo"'),
    ]
    for call, message in cases:
        status, body = api_error(call)
        assert (status, body["message"]) == (403, message)
    admin, _, _ = apis(seed)
    assert "istio.io/rev" not in admin.read_namespace("demo").metadata.labels


# -- audit, dry run ----------------------------------------------------------------------------------
def test_audit_log_and_dry_run(seed):
    """Every request is audited with verb, resource, namespace, user and response code (like the apiserver's audit
    events: verb, objectRef, user, responseStatus); a dryRun=All create answers 201 but persists nothing (API
    Concepts "Dry-run"), and is still audited as a create."""
    core, _, _ = apis(seed)
    reader, _, _ = apis(seed, context="kubesim-ci-reader")
    mark = seed.audit_mark()
    core.list_namespaced_pod("demo")
    _, code, _ = core.create_namespaced_config_map_with_http_info("demo", cm("dry"), dry_run="All")
    assert code == 201
    assert absent(core.read_namespaced_config_map, "dry", "demo")
    assert "dry" not in names(core.list_namespaced_config_map("demo").items)
    api_error(reader.patch_namespace, "demo", {"metadata": {"labels": {"a": "b"}}})

    def row(e):
        return (e["verb"], e["resource"], e["namespace"], e["name"], e["user"], e["code"])

    rows = [row(e) for e in seed.audit(mark)]
    assert rows == [
        ("list", "pods", "demo", None, "admin", 200),
        ("create", "configmaps", "demo", None, "admin", 201),
        ("get", "configmaps", "demo", "dry", "admin", 404),
        ("list", "configmaps", "demo", None, "admin", 200),
        ("patch", "namespaces", "demo", "demo", "ci-reader", 403),
    ]
    (dry_create,) = [e for e in seed.writes(mark) if e["code"] == 201]
    assert "dryRun=All" in dry_create["query"] and dry_create["method"] == "POST"


# -- TLS ---------------------------------------------------------------------------------------------
def test_tls_verifies_the_server_with_the_kubeconfig_ca(seed, tmp_path):
    """The client verifies the serving certificate against the kubeconfig's certificate-authority-data (verify on by
    default); a client trusting another CA fails the TLS handshake."""
    import trustme

    good = seed.api_client()
    assert good.configuration.verify_ssl is True and good.configuration.ssl_ca_cert
    assert client.VersionApi(good).get_code().git_version.startswith("v1.32")

    wrong_ca = tmp_path / "wrong-ca.pem"
    wrong_ca.write_bytes(trustme.CA().cert_pem.bytes())
    configuration = client.Configuration(host=seed.url, ssl_ca_cert=str(wrong_ca), retries=False)
    configuration.api_key = {"authorization": seed.token}
    configuration.api_key_prefix = {"authorization": "Bearer"}
    with pytest.raises(ApiException) as info:  # the client wraps urllib3's SSLError as ApiException(status=0)
        client.CoreV1Api(client.ApiClient(configuration)).list_namespace()
    assert info.value.status == 0
    assert "SSLError" in info.value.reason and "CERTIFICATE_VERIFY_FAILED" in info.value.reason
