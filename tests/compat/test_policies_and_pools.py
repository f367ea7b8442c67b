"""Cluster policies, policy families and instance pools through the official SDK."""

import json

import pytest
from databricks.sdk.errors import InvalidParameterValue, NotFound, PermissionDenied
from databricks.sdk.service import compute

from conftest import USER_NAME

VERSION = "15.4.x-scala2.12"


def test_a_policy_fills_defaults_refuses_what_it_forbids_and_is_used_only_when_granted(w, user_w):
    definition = {
        "autotermination_minutes": {"type": "range", "maxValue": 60, "defaultValue": 30},
        "node_type_id": {"type": "allowlist", "values": ["i3.xlarge", "m5d.large"]},
        "custom_tags.team": {"type": "fixed", "value": "data"},
    }
    policy_id = w.cluster_policies.create(name="compat-small", definition=json.dumps(definition),
                                          max_clusters_per_user=5).policy_id
    got = w.cluster_policies.get(policy_id)
    assert got.name == "compat-small" and got.creator_user_name == "admin@example.com"
    assert policy_id in [p.policy_id for p in w.cluster_policies.list()]

    cluster = w.clusters.create(spark_version=VERSION, node_type_id="i3.xlarge", num_workers=1,
                                policy_id=policy_id).result()
    assert cluster.autotermination_minutes == 30
    assert cluster.custom_tags["team"] == "data"
    with pytest.raises(InvalidParameterValue):
        w.clusters.create(spark_version=VERSION, node_type_id="r5d.xlarge", num_workers=1, policy_id=policy_id)
    with pytest.raises(InvalidParameterValue):
        w.clusters.create(spark_version=VERSION, node_type_id="i3.xlarge", num_workers=1, policy_id=policy_id,
                          autotermination_minutes=90)

    with pytest.raises(PermissionDenied):
        user_w.cluster_policies.create(name="mine", definition="{}")
    with pytest.raises(PermissionDenied):
        user_w.clusters.create(spark_version=VERSION, node_type_id="i3.xlarge", num_workers=1, policy_id=policy_id)
    w.cluster_policies.update_permissions(policy_id, access_control_list=[compute.ClusterPolicyAccessControlRequest(
        user_name=USER_NAME, permission_level=compute.ClusterPolicyPermissionLevel.CAN_USE)])
    mine = user_w.clusters.create(spark_version=VERSION, node_type_id="m5d.large", num_workers=1,
                                  policy_id=policy_id).result()
    assert mine.autotermination_minutes == 30

    w.cluster_policies.edit(policy_id, name="compat-renamed", definition=json.dumps(definition))
    assert w.cluster_policies.get(policy_id).name == "compat-renamed"
    w.cluster_policies.delete(policy_id)
    with pytest.raises(NotFound):
        w.cluster_policies.get(policy_id)
    for c in (cluster, mine):
        w.clusters.permanent_delete(c.cluster_id)


def test_policy_families_page_and_a_policy_builds_on_one(w):
    families = list(w.policy_families.list(max_results=2))
    assert "personal-vm" in [f.policy_family_id for f in families]
    assert w.policy_families.get("personal-vm").name == "Personal Compute"
    with pytest.raises(NotFound):
        w.policy_families.get("no-such-family")
    policy_id = w.cluster_policies.create(name="compat-personal", policy_family_id="personal-vm").policy_id
    cluster = w.clusters.create(spark_version=VERSION, node_type_id="i3.xlarge", policy_id=policy_id).result()
    assert cluster.num_workers == 0 and cluster.autotermination_minutes == 120
    w.clusters.permanent_delete(cluster.cluster_id)
    w.cluster_policies.delete(policy_id)


def test_instance_pools_lend_their_node_type_and_count_their_clusters(w, user_w):
    pool_id = w.instance_pools.create(instance_pool_name="compat-pool", node_type_id="m5d.xlarge",
                                      max_capacity=3, min_idle_instances=1).instance_pool_id
    pool = w.instance_pools.get(pool_id)
    assert pool.instance_pool_name == "compat-pool" and pool.state == compute.InstancePoolState.ACTIVE
    cluster = w.clusters.create(spark_version=VERSION, instance_pool_id=pool_id, num_workers=1).result()
    assert cluster.node_type_id == "m5d.xlarge"
    assert w.instance_pools.get(pool_id).stats.used_count == 1
    with pytest.raises(InvalidParameterValue):
        w.instance_pools.edit(pool_id, instance_pool_name="compat-pool", node_type_id="i3.xlarge")
    w.instance_pools.edit(pool_id, instance_pool_name="compat-pool-2", node_type_id="m5d.xlarge", max_capacity=3)
    assert w.instance_pools.get(pool_id).instance_pool_name == "compat-pool-2"
    assert pool_id in [p.instance_pool_id for p in w.instance_pools.list()]
    with pytest.raises(PermissionDenied):
        user_w.instance_pools.create(instance_pool_name="mine", node_type_id="m5d.xlarge")
    with pytest.raises(PermissionDenied):
        user_w.instance_pools.delete(pool_id)
    w.clusters.permanent_delete(cluster.cluster_id)
    w.instance_pools.delete(pool_id)
    with pytest.raises(NotFound):
        w.instance_pools.get(pool_id)
