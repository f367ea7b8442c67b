"""Updates and paged listings the other compat files leave out, through the official SDK: service principals
and groups, warehouses, storage credentials and external locations, instance pool permissions, jobs update and
reset, and a user's run list; each with the typed error of a missing object and of a user without the grant."""

import pytest
from databricks.sdk.errors import InvalidParameterValue, NotFound, PermissionDenied
from databricks.sdk.service import catalog, compute, iam, jobs, sql

from conftest import USER_NAME

PATCH_OP = iam.PatchSchema.URN_IETF_PARAMS_SCIM_API_MESSAGES_2_0_PATCH_OP


def test_service_principals_and_groups_are_updated_patched_and_paged(w, user_w):
    made = [w.service_principals.create(display_name=f"compat-sp-{i}") for i in range(3)]
    page = w.api_client.do("GET", "/api/2.0/preview/scim/v2/ServicePrincipals", query={"startIndex": 2, "count": 1})
    assert page["itemsPerPage"] == 1 and page["totalResults"] >= 3
    listed = {sp.id for sp in w.service_principals.list(count=1)}
    assert {sp.id for sp in made} <= listed

    first = made[0]
    w.service_principals.update(first.id, application_id=first.application_id, display_name="replaced")
    assert w.service_principals.get(first.id).display_name == "replaced"
    w.service_principals.patch(first.id, schemas=[PATCH_OP],
                               operations=[iam.Patch(op=iam.PatchOp.REPLACE, path="displayName", value="patched")])
    assert w.service_principals.get(first.id).display_name == "patched"
    with pytest.raises(PermissionDenied):
        user_w.service_principals.create(display_name="sneaky-sp")
    with pytest.raises(PermissionDenied):
        user_w.service_principals.patch(first.id, schemas=[PATCH_OP],
                                        operations=[iam.Patch(op=iam.PatchOp.REPLACE, path="active", value=False)])

    groups = [w.groups.create(display_name=f"compat-group-{i}") for i in range(3)]
    assert {g.id for g in groups} <= {g.id for g in w.groups.list(count=1)}
    w.groups.patch(groups[0].id, schemas=[PATCH_OP],
                   operations=[iam.Patch(op=iam.PatchOp.ADD, path="members", value=[{"value": first.id}])])
    assert [m.value for m in w.groups.get(groups[0].id).members] == [first.id]
    w.groups.patch(groups[0].id, schemas=[PATCH_OP],
                   operations=[iam.Patch(op=iam.PatchOp.REMOVE, path=f'members[value eq "{first.id}"]')])
    assert not w.groups.get(groups[0].id).members

    for sp in made:
        w.service_principals.delete(sp.id)
    for group in groups:
        w.groups.delete(group.id)
    with pytest.raises(NotFound):
        w.service_principals.get(first.id)
    with pytest.raises(NotFound):
        w.groups.get(groups[0].id)


def test_warehouses_are_edited_and_listed_page_by_page(w, user_w):
    made = [w.warehouses.create(name=f"compat-wh-{i}", cluster_size="2X-Small", max_num_clusters=1,
                                auto_stop_mins=10).response for i in range(3)]
    page = w.api_client.do("GET", "/api/2.0/sql/warehouses", query={"page_size": 1})
    assert len(page["warehouses"]) == 1 and "next_page_token" in page
    assert {wh.id for wh in made} <= {wh.id for wh in w.warehouses.list(page_size=1)}

    edited = w.warehouses.edit(made[0].id, name="compat-wh-0", cluster_size="Small", max_num_clusters=2,
                               auto_stop_mins=30).result()
    assert (edited.cluster_size, edited.max_num_clusters, edited.auto_stop_mins) == ("Small", 2, 30)
    with pytest.raises(PermissionDenied):
        user_w.warehouses.edit(made[0].id, name="taken-over", cluster_size="Small")
    assert made[0].id not in {wh.id for wh in user_w.warehouses.list()}, "a user lists only what is granted"
    w.warehouses.update_permissions(made[1].id, access_control_list=[sql.WarehouseAccessControlRequest(
        user_name=USER_NAME, permission_level=sql.WarehousePermissionLevel.CAN_USE)])
    assert [wh.id for wh in user_w.warehouses.list(page_size=1)] == [made[1].id]

    for wh in made:
        w.warehouses.delete(wh.id)
    with pytest.raises(NotFound):
        w.warehouses.get(made[0].id)


def test_storage_credentials_and_external_locations_are_updated(w, user_w):
    role = catalog.AwsIamRoleRequest(role_arn="arn:aws:iam::123456789012:role/compat-update")
    w.storage_credentials.create("compat_upd_cred", aws_iam_role=role, comment="first")
    updated = w.storage_credentials.update("compat_upd_cred", comment="second", read_only=True)
    assert (updated.comment, updated.read_only) == ("second", True)
    w.external_locations.create("compat_upd_loc", "s3://compat-update/data", "compat_upd_cred", comment="first")
    location = w.external_locations.update("compat_upd_loc", comment="second", read_only=True)
    assert (location.comment, location.read_only) == ("second", True)
    assert w.external_locations.get("compat_upd_loc").comment == "second"

    with pytest.raises(PermissionDenied):
        user_w.external_locations.update("compat_upd_loc", comment="mine now")
    with pytest.raises(PermissionDenied):
        user_w.storage_credentials.update("compat_upd_cred", comment="mine now")
    with pytest.raises(NotFound):
        w.external_locations.update("compat_no_such_loc", comment="x")
    with pytest.raises(NotFound):
        w.storage_credentials.update("compat_no_such_cred", comment="x")
    w.external_locations.delete("compat_upd_loc")
    w.storage_credentials.delete("compat_upd_cred")


def test_instance_pool_permissions_gate_a_user(w, user_w):
    pool = w.instance_pools.create("compat-perm-pool", "i3.xlarge").instance_pool_id
    with pytest.raises(PermissionDenied):
        user_w.instance_pools.edit(pool, "taken-over", "i3.xlarge")
    w.instance_pools.update_permissions(pool, access_control_list=[compute.InstancePoolAccessControlRequest(
        user_name=USER_NAME, permission_level=compute.InstancePoolPermissionLevel.CAN_MANAGE)])
    acl = w.instance_pools.get_permissions(pool).access_control_list
    assert any(e.user_name == USER_NAME and e.all_permissions[0].permission_level.value == "CAN_MANAGE" for e in acl)
    user_w.instance_pools.edit(pool, "renamed-by-user", "i3.xlarge")
    assert w.instance_pools.get(pool).instance_pool_name == "renamed-by-user"

    w.instance_pools.set_permissions(pool, access_control_list=[])
    with pytest.raises(PermissionDenied):
        user_w.instance_pools.edit(pool, "again", "i3.xlarge")
    w.instance_pools.delete(pool)
    with pytest.raises(NotFound):
        w.instance_pools.get_permissions(pool)


def test_jobs_are_updated_and_reset(w, user_w):
    task = jobs.Task(task_key="a", notebook_task=jobs.NotebookTask(notebook_path="/Shared/none"),
                     new_cluster=compute.ClusterSpec(spark_version="15.4.x-scala2.12", node_type_id="i3.xlarge",
                                                     num_workers=1))
    job_id = w.jobs.create(name="compat-update", tasks=[task], max_concurrent_runs=1, description="first").job_id

    w.jobs.update(job_id, new_settings=jobs.JobSettings(max_concurrent_runs=3), fields_to_remove=["description"])
    got = w.jobs.get(job_id).settings
    assert (got.name, got.max_concurrent_runs, got.description) == ("compat-update", 3, None)
    w.jobs.reset(job_id, new_settings=jobs.JobSettings(name="compat-reset", tasks=[task]))
    got = w.jobs.get(job_id).settings
    assert (got.name, got.max_concurrent_runs) == ("compat-reset", 1), "reset replaces every setting"

    with pytest.raises(PermissionDenied):
        user_w.jobs.update(job_id, new_settings=jobs.JobSettings(name="taken-over"))
    with pytest.raises(PermissionDenied):
        user_w.jobs.reset(job_id, new_settings=jobs.JobSettings(name="taken-over"))
    w.jobs.delete(job_id)
    with pytest.raises(InvalidParameterValue):
        w.jobs.update(job_id, new_settings=jobs.JobSettings(name="gone"))


def test_a_users_run_list_holds_the_runs_they_may_see(w, user_w):
    def once(client, name):
        return client.jobs.submit(run_name=name, tasks=[jobs.SubmitTask(
            task_key="a", existing_cluster_id="none",
            notebook_task=jobs.NotebookTask(notebook_path="/Shared/none"))]).run_id

    task = jobs.Task(task_key="a", notebook_task=jobs.NotebookTask(notebook_path="/Shared/none"),
                     new_cluster=compute.ClusterSpec(spark_version="15.4.x-scala2.12", node_type_id="i3.xlarge",
                                                     num_workers=1))
    shared = w.jobs.create(name="compat-runs-shared", tasks=[task]).job_id
    hidden = w.jobs.create(name="compat-runs-hidden", tasks=[task]).job_id
    w.jobs.update_permissions(str(shared), access_control_list=[
        jobs.JobAccessControlRequest(user_name=USER_NAME, permission_level=jobs.JobPermissionLevel.CAN_VIEW)])
    of_shared = {w.jobs.run_now(shared).run_id for _ in range(3)}
    unseen = {w.jobs.run_now(hidden).run_id, once(w, "admin-only")}
    own = once(user_w, "mine")

    listed = [r.run_id for r in user_w.jobs.list_runs(limit=1)]
    assert of_shared | {own} <= set(listed) and not unseen & set(listed), (listed, of_shared, own, unseen)
    assert listed == sorted(set(listed), reverse=True), "newest first, without repeats"
    assert {r.run_id for r in user_w.jobs.list_runs(job_id=shared)} == of_shared
    assert list(user_w.jobs.list_runs(job_id=hidden)) == []
    for job_id in (shared, hidden):
        w.jobs.cancel_all_runs(job_id=job_id)
        w.jobs.delete(job_id)
