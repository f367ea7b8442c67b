"""The Permissions API and its checks, through the official SDK, as an admin and as a user."""

import pytest
from databricks.sdk.errors import InvalidParameterValue, NotFound, PermissionDenied
from databricks.sdk.service import compute, jobs, sql, workspace

from conftest import USER_NAME


def test_cluster_permissions_set_read_and_enforced(w, user_w):
    cluster = w.clusters.create(spark_version=w.clusters.select_spark_version(long_term_support=True),
                                node_type_id=w.clusters.select_node_type(local_disk=True), num_workers=1,
                                cluster_name="acl").result()
    with pytest.raises(PermissionDenied):
        user_w.clusters.restart(cluster.cluster_id)
    granted = w.clusters.update_permissions(cluster.cluster_id, access_control_list=[
        compute.ClusterAccessControlRequest(user_name=USER_NAME,
                                            permission_level=compute.ClusterPermissionLevel.CAN_RESTART)])
    levels = {e.user_name: e.all_permissions[0].permission_level for e in granted.access_control_list if e.user_name}
    assert levels[USER_NAME] == compute.ClusterPermissionLevel.CAN_RESTART
    user_w.clusters.restart(cluster.cluster_id).result()
    with pytest.raises(PermissionDenied):
        user_w.clusters.get_permissions(cluster.cluster_id)
    generic = w.permissions.get(request_object_type="clusters", request_object_id=cluster.cluster_id)
    assert generic.object_id == f"/clusters/{cluster.cluster_id}"
    assert [l.permission_level.value for l in w.clusters.get_permission_levels(cluster.cluster_id).permission_levels] == [
        "CAN_ATTACH_TO", "CAN_RESTART", "CAN_MANAGE"]
    w.clusters.permanent_delete(cluster.cluster_id)
    with pytest.raises(NotFound):
        w.clusters.get_permissions(cluster.cluster_id)


def test_job_permissions_need_one_owner_and_gate_what_a_user_sees(w, user_w):
    job = w.jobs.create(name="acl-job")
    with pytest.raises(PermissionDenied):
        user_w.jobs.get(job.job_id)
    assert job.job_id not in [j.job_id for j in user_w.jobs.list()]
    with pytest.raises(InvalidParameterValue):
        w.jobs.set_permissions(str(job.job_id), access_control_list=[
            jobs.JobAccessControlRequest(user_name=USER_NAME, permission_level=jobs.JobPermissionLevel.CAN_VIEW)])
    w.jobs.set_permissions(str(job.job_id), access_control_list=[
        jobs.JobAccessControlRequest(user_name="admin@example.com", permission_level=jobs.JobPermissionLevel.IS_OWNER),
        jobs.JobAccessControlRequest(user_name=USER_NAME, permission_level=jobs.JobPermissionLevel.CAN_VIEW)])
    assert user_w.jobs.get(job.job_id).settings.name == "acl-job"
    with pytest.raises(PermissionDenied):
        user_w.jobs.run_now(job.job_id)
    w.jobs.delete(job.job_id)


def test_notebook_and_warehouse_permissions(w, user_w):
    folder = "/Users/admin@example.com/acl"
    w.workspace.mkdirs(folder)
    status = w.workspace.get_status(folder)
    with pytest.raises(PermissionDenied):
        list(user_w.workspace.list(folder))
    w.workspace.update_permissions("directories", str(status.object_id), access_control_list=[
        workspace.WorkspaceObjectAccessControlRequest(user_name=USER_NAME,
                                                permission_level=workspace.WorkspaceObjectPermissionLevel.CAN_READ)])
    assert list(user_w.workspace.list(folder)) == []

    warehouse = w.warehouses.create(name="acl-wh", cluster_size="2X-Small").result()
    assert warehouse.id not in [x.id for x in user_w.warehouses.list()]
    w.warehouses.update_permissions(warehouse.id, access_control_list=[
        sql.WarehouseAccessControlRequest(user_name=USER_NAME, permission_level=sql.WarehousePermissionLevel.CAN_USE)])
    assert warehouse.id in [x.id for x in user_w.warehouses.list()]
    with pytest.raises(PermissionDenied):
        user_w.warehouses.delete(warehouse.id)
    w.warehouses.delete(warehouse.id)


def test_a_job_created_with_an_access_control_list_follows_it(w, user_w):
    job = w.jobs.create(name="shared-at-birth", access_control_list=[
        jobs.JobAccessControlRequest(user_name=USER_NAME, permission_level=jobs.JobPermissionLevel.CAN_MANAGE_RUN)])
    assert user_w.jobs.get(job.job_id).settings.name == "shared-at-birth"
    user_w.jobs.cancel_all_runs(job_id=job.job_id)
    with pytest.raises(PermissionDenied):
        user_w.jobs.delete(job.job_id)
    with pytest.raises(InvalidParameterValue):
        w.jobs.create(name="bad-acl", access_control_list=[
            jobs.JobAccessControlRequest(user_name="nobody@example.com",
                                         permission_level=jobs.JobPermissionLevel.CAN_VIEW)])
    assert "bad-acl" not in [j.settings.name for j in w.jobs.list()]
    w.jobs.delete(job.job_id)


def test_statements_need_can_use_on_their_warehouse(w, user_w):
    warehouse = w.warehouses.create(name="acl-sql", cluster_size="2X-Small").result()
    with pytest.raises(PermissionDenied):
        user_w.statement_execution.execute_statement(statement="SELECT 1", warehouse_id=warehouse.id)
    w.warehouses.update_permissions(warehouse.id, access_control_list=[
        sql.WarehouseAccessControlRequest(user_name=USER_NAME, permission_level=sql.WarehousePermissionLevel.CAN_USE)])
    answer = user_w.statement_execution.execute_statement(statement="SELECT 1", warehouse_id=warehouse.id,
                                                          wait_timeout="30s")
    assert answer.status.state == sql.StatementState.SUCCEEDED
    assert answer.result.data_array == [["1"]]
    w.warehouses.delete(warehouse.id)
