import copy
import json

import pytest

from kubesim import patch
from kubesim.patch import PatchError


def frozen(*objs):
    """Deep copies to compare against after the call: patch functions must not mutate inputs."""
    return [copy.deepcopy(o) for o in objs]


def deployment():
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "demo", "labels": {"app": "web"}},
        "spec": {
            "replicas": 2,
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": "app:1",
                            "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                            "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                        },
                        {"name": "sidecar", "image": "proxy:1", "args": ["--x", "--y"]},
                    ],
                    "tolerations": [{"key": "a", "operator": "Exists"}],
                },
            },
        },
    }


def pod_spec(doc):
    return doc["spec"]["template"]["spec"]


# ------------------------------------------------------------------ JSON patch (RFC 6902)


@pytest.fixture
def doc():
    return {"a": {"b": 1, "c/d": 2, "e~f": 3}, "list": [1, 2, 3]}


def json_patch(doc, ops):
    before, ops_before = frozen(doc, ops)
    result = patch.json_patch(doc, ops)
    assert doc == before and ops == ops_before
    return result


def test_json_add_object_member_and_array(doc):
    result = json_patch(
        doc,
        [
            {"op": "add", "path": "/a/new", "value": {"x": 1}},
            {"op": "add", "path": "/list/0", "value": 0},
            {"op": "add", "path": "/list/-", "value": 4},
            {"op": "add", "path": "/list/5", "value": 5},
        ],
    )
    assert result["a"]["new"] == {"x": 1}
    assert result["list"] == [0, 1, 2, 3, 4, 5]


def test_json_add_replaces_existing_member_and_whole_document(doc):
    assert json_patch(doc, [{"op": "add", "path": "/a/b", "value": 9}])["a"]["b"] == 9
    assert json_patch(doc, [{"op": "add", "path": "", "value": {"z": 1}}]) == {"z": 1}


def test_json_pointer_escapes(doc):
    result = json_patch(
        doc,
        [
            {"op": "replace", "path": "/a/c~1d", "value": 20},
            {"op": "remove", "path": "/a/e~0f"},
            {"op": "add", "path": "/a/~01~10", "value": "odd"},
        ],
    )
    assert result["a"] == {"b": 1, "c/d": 20, "~1/0": "odd"}


def test_json_remove_and_replace(doc):
    result = json_patch(
        doc,
        [
            {"op": "remove", "path": "/list/1"},
            {"op": "replace", "path": "/list/0", "value": "one"},
            {"op": "replace", "path": "/a", "value": None},
        ],
    )
    assert result == {"a": None, "list": ["one", 3]}


def test_json_move_and_copy(doc):
    result = json_patch(
        doc,
        [
            {"op": "copy", "from": "/a", "path": "/copied"},
            {"op": "move", "from": "/a/b", "path": "/moved"},
            {"op": "move", "from": "/list/0", "path": "/list/-"},
        ],
    )
    assert result["copied"] == {"b": 1, "c/d": 2, "e~f": 3}
    assert result["a"] == {"c/d": 2, "e~f": 3}
    assert result["moved"] == 1
    assert result["list"] == [2, 3, 1]
    # the copy is independent of its source
    result["copied"]["b"] = 100
    assert result["a"] == {"c/d": 2, "e~f": 3}


def test_json_move_into_own_child_is_rejected(doc):
    with pytest.raises(PatchError) as err:
        json_patch(doc, [{"op": "move", "from": "/a", "path": "/a/b/c"}])
    assert err.value.code == 422


def test_json_test_op(doc):
    ops = [
        {"op": "test", "path": "/a/b", "value": 1},
        {"op": "test", "path": "/list", "value": [1, 2, 3]},
        {"op": "replace", "path": "/a/b", "value": 2},
    ]
    assert json_patch(doc, ops)["a"]["b"] == 2


@pytest.mark.parametrize(
    "op",
    [
        {"op": "test", "path": "/a/b", "value": 2},
        {"op": "test", "path": "/a/b", "value": True},  # 1 is not true in JSON
        {"op": "test", "path": "/a/missing", "value": None},
        {"op": "test", "path": "/list", "value": [1, 2]},
    ],
)
def test_json_failed_test_is_422_and_nothing_applied(doc, op):
    before = copy.deepcopy(doc)
    with pytest.raises(PatchError) as err:
        patch.json_patch(doc, [{"op": "replace", "path": "/a/b", "value": 5}, op])
    assert err.value.code == 422
    assert "test failed" in str(err.value)
    assert doc == before


@pytest.mark.parametrize(
    "op",
    [
        {"op": "remove", "path": "/nope"},
        {"op": "replace", "path": "/nope", "value": 1},
        {"op": "add", "path": "/nope/deeper", "value": 1},
        {"op": "remove", "path": "/list/3"},
        {"op": "remove", "path": "/list/-"},
        {"op": "add", "path": "/list/4", "value": 1},
        {"op": "add", "path": "/list/01", "value": 1},
        {"op": "add", "path": "/a/b/c", "value": 1},
        {"op": "move", "from": "/nope", "path": "/x"},
        {"op": "copy", "from": "/list/9", "path": "/x"},
        {"op": "remove", "path": ""},
    ],
)
def test_json_unapplicable_op_is_422(doc, op):
    with pytest.raises(PatchError) as err:
        json_patch(doc, [op])
    assert err.value.code == 422


@pytest.mark.parametrize(
    "ops",
    [
        {"op": "add", "path": "/x", "value": 1},
        [{"op": "frobnicate", "path": "/x"}],
        [{"path": "/x", "value": 1}],
        [{"op": "add", "path": "/x"}],
        [{"op": "add", "path": "x", "value": 1}],
        [{"op": "copy", "path": "/x"}],
        [{"op": "remove", "path": "/a~2"}],
        ["add"],
    ],
)
def test_json_malformed_patch_is_400(doc, ops):
    with pytest.raises(PatchError) as err:
        json_patch(doc, ops)
    assert err.value.code == 400
    assert isinstance(err.value, ValueError)


# ------------------------------------------------------------------ JSON merge patch (RFC 7396)


def merge_patch(doc, body):
    before, body_before = frozen(doc, body)
    result = patch.merge_patch(doc, body)
    assert doc == before and body == body_before
    return result


def test_merge_patch_null_deletes_and_maps_merge():
    doc = {"metadata": {"labels": {"a": "1", "b": "2"}, "name": "x"}, "keep": True}
    result = merge_patch(doc, {"metadata": {"labels": {"a": None, "c": "3"}}, "gone": None})
    assert result == {"metadata": {"labels": {"b": "2", "c": "3"}, "name": "x"}, "keep": True}


def test_merge_patch_replaces_lists_and_scalars():
    doc = deployment()
    result = merge_patch(doc, {"spec": {"template": {"spec": {"containers": [{"name": "only"}]}}}})
    assert pod_spec(result)["containers"] == [{"name": "only"}]
    assert pod_spec(result)["tolerations"] == pod_spec(doc)["tolerations"]


def test_merge_patch_rfc7396_examples():
    assert merge_patch({"a": "b"}, {"a": {"b": None}}) == {"a": {}}
    assert merge_patch({"a": [{"b": "c"}]}, {"a": [1]}) == {"a": [1]}
    assert merge_patch({}, {"a": {"bb": {"ccc": None}}}) == {"a": {"bb": {}}}
    assert merge_patch({"e": None}, {"a": 1}) == {"e": None, "a": 1}


def test_merge_patch_result_does_not_share_structure():
    doc = {"a": {"b": [1]}, "c": {"d": 1}}
    result = merge_patch(doc, {"c": {"e": 2}})
    result["a"]["b"].append(2)
    assert doc == {"a": {"b": [1]}, "c": {"d": 1}}


# ------------------------------------------------------------------ strategic merge patch


def smp(doc, body, kind="Deployment"):
    before, body_before = frozen(doc, body)
    result = patch.strategic_merge_patch(doc, body, kind)
    assert doc == before and body == body_before
    return result


def template(spec):
    return {"spec": {"template": {"spec": spec}}}


def test_smp_patching_one_container_keeps_the_other():
    doc = deployment()
    result = smp(doc, template({"containers": [{"name": "app", "image": "app:2"}]}))
    containers = pod_spec(result)["containers"]
    assert [c["name"] for c in containers] == ["app", "sidecar"]
    assert containers[0]["image"] == "app:2"
    assert containers[0]["ports"] == [{"containerPort": 8080, "protocol": "TCP"}]
    assert containers[1] == pod_spec(doc)["containers"][1]


def test_smp_adding_a_container_puts_it_first_like_the_apiserver():
    # normalizeElementOrder: without $setElementOrder, patch entries not in the live list go
    # before the live entries the patch does not mention.
    result = smp(deployment(), template({"containers": [{"name": "debug", "image": "busybox"}]}))
    assert [c["name"] for c in pod_spec(result)["containers"]] == ["debug", "app", "sidecar"]
    result = smp(
        deployment(),
        template({"containers": [{"name": "sidecar", "image": "proxy:2"}, {"name": "debug"}]}),
    )
    assert [c["name"] for c in pod_spec(result)["containers"]] == ["app", "sidecar", "debug"]


def test_smp_nested_merge_keys_env_and_ports():
    body = template(
        {
            "containers": [
                {
                    "name": "app",
                    "env": [{"name": "B", "value": "20"}, {"name": "C", "value": "3"}],
                    "ports": [{"containerPort": 8080, "name": "http"}, {"containerPort": 9090}],
                }
            ]
        }
    )
    app = pod_spec(smp(deployment(), body))["containers"][0]
    assert [(e["name"], e["value"]) for e in app["env"]] == [("A", "1"), ("B", "20"), ("C", "3")]
    assert app["ports"] == [
        {"containerPort": 8080, "protocol": "TCP", "name": "http"},
        {"containerPort": 9090},
    ]


def test_smp_delete_directive_removes_list_element():
    body = template({"containers": [{"name": "sidecar", "$patch": "delete"}]})
    result = smp(deployment(), body)
    assert [c["name"] for c in pod_spec(result)["containers"]] == ["app"]


def test_smp_replace_directive_on_list_and_map():
    body = template({"containers": [{"$patch": "replace"}, {"name": "new", "image": "n:1"}]})
    assert pod_spec(smp(deployment(), body))["containers"] == [{"name": "new", "image": "n:1"}]

    body = {"metadata": {"labels": {"$patch": "replace", "fresh": "yes"}}}
    assert smp(deployment(), body)["metadata"]["labels"] == {"fresh": "yes"}


def test_smp_delete_directive_on_map_empties_it():
    result = smp(deployment(), {"metadata": {"labels": {"$patch": "delete"}}})
    assert result["metadata"]["labels"] == {}


def test_smp_merge_directive_is_rejected_like_the_apiserver():
    with pytest.raises(PatchError) as err:
        smp(deployment(), {"metadata": {"labels": {"$patch": "merge", "x": "y"}}})
    assert err.value.code == 400
    with pytest.raises(PatchError):
        smp(deployment(), template({"containers": [{"$patch": "merge"}]}))


def test_smp_null_deletes_annotation():
    doc = {"metadata": {"name": "x", "annotations": {"keep": "1", "drop": "2"}}}
    result = smp(doc, {"metadata": {"annotations": {"drop": None, "absent": None}}}, "ConfigMap")
    assert result == {"metadata": {"name": "x", "annotations": {"keep": "1"}}}


def test_smp_kubectl_label_namespace_overwrite():
    # kubectl label ns demo istio-injection- istio.io/rev=asm-173-3 --overwrite
    ns = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "demo", "labels": {"istio-injection": "enabled", "team": "a"}},
    }
    body = {"metadata": {"labels": {"istio-injection": None, "istio.io/rev": "asm-173-3"}}}
    result = smp(ns, body, "Namespace")
    assert result["metadata"]["labels"] == {"team": "a", "istio.io/rev": "asm-173-3"}


def test_smp_rollout_restart_annotation_on_template():
    # kubectl rollout restart deployment/web
    body = {
        "spec": {
            "template": {
                "metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": "2024-01-01T00:00:00Z"}}
            }
        }
    }
    doc = deployment()
    result = smp(doc, body)
    tpl = result["spec"]["template"]
    assert tpl["metadata"] == {
        "labels": {"app": "web"},
        "annotations": {"kubectl.kubernetes.io/restartedAt": "2024-01-01T00:00:00Z"},
    }
    assert tpl["spec"] == pod_spec(doc)


def test_smp_finalizers_are_a_set():
    doc = {"metadata": {"name": "x", "finalizers": ["a", "b"]}}
    result = smp(doc, {"metadata": {"finalizers": ["b", "c"]}}, "Pod")
    assert result["metadata"]["finalizers"] == ["a", "b", "c"]
    result = smp(doc, {"metadata": {"finalizers": ["c"]}}, "Pod")
    assert sorted(result["metadata"]["finalizers"]) == ["a", "b", "c"]


def test_smp_namespace_spec_finalizers_are_replaced():
    doc = {"metadata": {"finalizers": ["m"]}, "spec": {"finalizers": ["kubernetes"]}}
    result = smp(doc, {"spec": {"finalizers": ["other"]}}, "Namespace")
    assert result["spec"]["finalizers"] == ["other"]


def test_smp_delete_from_primitive_list():
    doc = {"metadata": {"name": "x", "finalizers": ["a", "b", "c"]}}
    body = {"metadata": {"$deleteFromPrimitiveList/finalizers": ["b", "zzz"]}}
    assert smp(doc, body, "Pod")["metadata"]["finalizers"] == ["a", "c"]
    # no list: nothing to delete from, and nothing is added
    assert "finalizers" not in smp({"metadata": {}}, body, "Pod")["metadata"]


def test_smp_bad_directive_key_is_400():
    with pytest.raises(PatchError) as err:
        smp({"metadata": {}}, {"metadata": {"$deleteFromPrimitiveList": ["a"]}}, "Pod")
    assert err.value.code == 400


def test_smp_set_element_order_as_kubectl_sends_it():
    # kubectl apply/edit send the full order alongside the changed entries
    body = template(
        {
            "$setElementOrder/containers": [{"name": "sidecar"}, {"name": "new"}, {"name": "app"}],
            "containers": [{"name": "new", "image": "n:1"}, {"name": "app", "image": "app:2"}],
        }
    )
    containers = pod_spec(smp(deployment(), body))["containers"]
    assert [c["name"] for c in containers] == ["sidecar", "new", "app"]
    assert containers[2]["image"] == "app:2" and containers[2]["env"]
    assert "$setElementOrder/containers" not in pod_spec(smp(deployment(), body))


def test_smp_set_element_order_must_agree_with_the_patch_list():
    body = template(
        {
            "$setElementOrder/containers": [{"name": "app"}, {"name": "sidecar"}],
            "containers": [{"name": "sidecar", "image": "p:2"}, {"name": "app", "image": "a:2"}],
        }
    )
    with pytest.raises(PatchError) as err:
        smp(deployment(), body)
    assert err.value.code == 400


def test_smp_set_element_order_with_primitive_deletion():
    doc = {"metadata": {"finalizers": ["a", "b", "c"]}}
    body = {
        "metadata": {
            "$setElementOrder/finalizers": ["c", "a", "d"],
            "$deleteFromPrimitiveList/finalizers": ["b"],
            "finalizers": ["d"],
        }
    }
    assert smp(doc, body, "Pod")["metadata"]["finalizers"] == ["c", "a", "d"]


def test_smp_lists_without_merge_key_are_replaced():
    body = template(
        {
            "tolerations": [{"key": "b", "operator": "Exists"}],
            "containers": [{"name": "sidecar", "args": ["--z"]}],
        }
    )
    spec = pod_spec(smp(deployment(), body))
    assert spec["tolerations"] == [{"key": "b", "operator": "Exists"}]
    assert spec["containers"][1]["args"] == ["--z"]


def test_smp_volumes_and_mounts_by_name_and_mount_path():
    doc = {
        "spec": {
            "volumes": [{"name": "data", "emptyDir": {}}, {"name": "cfg", "configMap": {"name": "c"}}],
            "containers": [{"name": "app", "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
        }
    }
    body = {
        "spec": {
            "volumes": [{"name": "cfg", "configMap": {"name": "c2"}}],
            "containers": [{"name": "app", "volumeMounts": [{"name": "cfg", "mountPath": "/data"}]}],
        }
    }
    spec = smp(doc, body, "Pod")["spec"]
    assert spec["volumes"] == [{"name": "data", "emptyDir": {}}, {"name": "cfg", "configMap": {"name": "c2"}}]
    assert spec["containers"][0]["volumeMounts"] == [{"name": "cfg", "mountPath": "/data"}]


def test_smp_retain_keys_drops_other_fields():
    doc = deployment()
    doc["spec"]["strategy"] = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}
    body = {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}
    assert smp(doc, body)["spec"]["strategy"] == {"type": "Recreate"}
    with pytest.raises(PatchError) as err:
        smp(doc, {"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": {}}}})
    assert err.value.code == 400


def test_smp_conditions_owner_references_and_service_ports():
    pod = {
        "metadata": {"ownerReferences": [{"uid": "1", "kind": "ReplicaSet", "name": "rs"}]},
        "status": {
            "conditions": [{"type": "Ready", "status": "False"}, {"type": "Initialized", "status": "True"}]
        },
    }
    body = {
        "metadata": {"ownerReferences": [{"uid": "2", "kind": "Job", "name": "j"}]},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]},
    }
    result = smp(pod, body, "Pod")
    assert [o["uid"] for o in result["metadata"]["ownerReferences"]] == ["2", "1"]
    assert result["status"]["conditions"] == [
        {"type": "Ready", "status": "True"},
        {"type": "Initialized", "status": "True"},
    ]
    svc = {"spec": {"ports": [{"port": 80, "targetPort": 8080}, {"port": 443}]}}
    result = smp(svc, {"spec": {"ports": [{"port": 80, "targetPort": 9090}]}}, "Service")
    assert result["spec"]["ports"] == [{"port": 80, "targetPort": 9090}, {"port": 443}]


def test_smp_webhooks_merge_by_name():
    doc = {"webhooks": [{"name": "a.x.io", "failurePolicy": "Fail"}, {"name": "b.x.io"}]}
    body = {"webhooks": [{"name": "a.x.io", "failurePolicy": "Ignore"}]}
    result = smp(doc, body, "MutatingWebhookConfiguration")
    assert result["webhooks"] == [{"name": "a.x.io", "failurePolicy": "Ignore"}, {"name": "b.x.io"}]


def test_smp_cronjob_pod_template_is_merged_too():
    def cronjob(containers):
        return {"spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": containers}}}}}}

    result = smp(cronjob([{"name": "a"}, {"name": "b"}]), cronjob([{"name": "b", "image": "x"}]), "CronJob")
    assert result["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"] == [
        {"name": "a"},
        {"name": "b", "image": "x"},
    ]


def test_smp_new_values_lose_nulls_and_directives():
    body = template({"containers": [{"name": "new", "image": None, "env": [{"name": "X", "value": None}]}]})
    new = pod_spec(smp(deployment(), body))["containers"][0]
    assert new == {"name": "new", "env": [{"name": "X"}]}
    assert "extra" not in smp({"spec": {}}, {"spec": {"extra": {"$patch": "replace", "a": 1}}}, "Pod")["spec"]


def test_smp_missing_merge_key_is_400():
    with pytest.raises(PatchError) as err:
        smp(deployment(), template({"containers": [{"image": "nameless"}]}))
    assert err.value.code == 400


@pytest.mark.parametrize("kind", ["Widget", "Certificate", "Ingress"])
def test_smp_refused_for_unsupported_kinds(kind):
    assert not patch.supports_strategic_merge(kind)
    with pytest.raises(PatchError) as err:
        patch.strategic_merge_patch({"spec": {}}, {"spec": {"a": 1}}, kind)
    assert err.value.code == 415
    assert "strategic-merge-patch" not in err.value.message


def test_supported_kinds():
    for kind in ("Pod", "Namespace", "Deployment", "CronJob", "PodDisruptionBudget", "Secret"):
        assert patch.supports_strategic_merge(kind)


# ------------------------------------------------------------------ apply_patch dispatch


def test_apply_patch_dispatches_on_media_type():
    doc = deployment()
    before = copy.deepcopy(doc)
    body = json.dumps(template({"containers": [{"name": "app", "image": "app:3"}]})).encode()
    smp_type = "application/strategic-merge-patch+json; charset=utf-8"
    result = patch.apply_patch(doc, body, smp_type, "Deployment")
    assert [c["image"] for c in pod_spec(result)["containers"]] == ["app:3", "proxy:1"]

    result = patch.apply_patch(doc, body.decode(), "application/merge-patch+json", "Deployment")
    assert pod_spec(result)["containers"] == [{"name": "app", "image": "app:3"}]

    ops = [{"op": "replace", "path": "/spec/replicas", "value": 5}]
    assert patch.apply_patch(doc, ops, "application/json-patch+json", "Deployment")["spec"]["replicas"] == 5
    assert doc == before


@pytest.mark.parametrize(
    ("content_type", "kind"),
    [
        ("application/apply-patch+yaml", "Deployment"),
        ("application/json", "Deployment"),
        ("text/plain", "Pod"),
        ("application/strategic-merge-patch+json", "Widget"),
    ],
)
def test_apply_patch_unsupported_media_is_415(content_type, kind):
    with pytest.raises(PatchError) as err:
        patch.apply_patch({}, b"{}", content_type, kind)
    assert err.value.code == 415
    if "apply-patch" in content_type:
        assert "not supported by kubesim" in err.value.message


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"{not json", "application/merge-patch+json"),
        (b"[]", "application/merge-patch+json"),
        (b'{"op": "add"}', "application/json-patch+json"),
        (b'"x"', "application/strategic-merge-patch+json"),
    ],
)
def test_apply_patch_undecodable_body_is_400(body, content_type):
    with pytest.raises(PatchError) as err:
        patch.apply_patch({}, body, content_type, "Pod")
    assert err.value.code == 400
