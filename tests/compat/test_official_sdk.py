"""The official databricks-sdk (a client no one here wrote) against the emulator."""

import base64
import io
import json
import time
import urllib.error
import urllib.request

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import (AlreadyExists, BadRequest, NotFound, OperationFailed, PermissionDenied, ResourceAlreadyExists,
                                   ResourceConflict, ResourceDoesNotExist, InvalidParameterValue)
from databricks.sdk.service import compute, iam, jobs, workspace
from databricks.sdk.service.sql import StatementState

NOTEBOOK_OK = "# Databricks notebook source\nprint('hi')\ndbutils.notebook.exit('rows=' + '42')\n"
NOTEBOOK_FAIL = "# Databricks notebook source\nraise ValueError(\"bad input\")\n"


def cluster_spec(w: WorkspaceClient) -> compute.ClusterSpec:
    return compute.ClusterSpec(
        spark_version=w.clusters.select_spark_version(long_term_support=True),
        node_type_id=w.clusters.select_node_type(local_disk=True),
        num_workers=1,
    )


def upload_notebook(w: WorkspaceClient, path: str, source: str) -> None:
    w.workspace.mkdirs(path.rsplit("/", 1)[0])
    w.workspace.import_(path, content=base64.b64encode(source.encode()).decode(),
                        format=workspace.ImportFormat.SOURCE, language=workspace.Language.PYTHON, overwrite=True)


def test_current_user(w):
    assert w.current_user.me().user_name == "admin@example.com"


def test_cluster_lifecycle(w):
    spec = cluster_spec(w)
    cluster = w.clusters.create_and_wait(cluster_name="compat", spark_version=spec.spark_version,
                                         node_type_id=spec.node_type_id, num_workers=1, autotermination_minutes=10)
    assert cluster.state == compute.State.RUNNING
    assert cluster.cluster_id in {c.cluster_id for c in w.clusters.list()}
    with pytest.raises(BadRequest) as start_err:
        w.clusters.start(cluster.cluster_id)
    assert "unexpected state" in str(start_err.value)
    stopped = w.clusters.delete_and_wait(cluster.cluster_id)
    assert stopped.state == compute.State.TERMINATED
    assert stopped.termination_reason.code == compute.TerminationReasonCode.USER_REQUEST
    w.clusters.permanent_delete(cluster.cluster_id)
    with pytest.raises(ResourceDoesNotExist):
        w.clusters.get(cluster.cluster_id)


def test_job_run_now_and_wait_returns_notebook_output(w):
    path = "/Users/admin@example.com/compat/ok"
    upload_notebook(w, path, NOTEBOOK_OK)
    job = w.jobs.create(name="compat-ok", tasks=[jobs.Task(
        task_key="main", notebook_task=jobs.NotebookTask(notebook_path=path), new_cluster=cluster_spec(w))])
    run = w.jobs.run_now_and_wait(job_id=job.job_id)
    assert run.state.result_state == jobs.RunResultState.SUCCESS
    output = w.jobs.get_run_output(run_id=run.tasks[0].run_id)
    assert output.notebook_output.result == "rows=42"
    got = w.jobs.get(job_id=job.job_id)
    assert got.settings.name == "compat-ok" and got.settings.tasks[0].task_key == "main"
    w.jobs.delete(job_id=job.job_id)
    with pytest.raises(ResourceDoesNotExist):
        w.jobs.get(job_id=job.job_id)


def test_submit_and_wait_with_failing_task_raises(w):
    path = "/Users/admin@example.com/compat/fail"
    upload_notebook(w, path, NOTEBOOK_FAIL)
    with pytest.raises(OperationFailed) as err:
        w.jobs.submit_and_wait(run_name="compat-fail", tasks=[jobs.SubmitTask(
            task_key="main", notebook_task=jobs.NotebookTask(notebook_path=path), new_cluster=cluster_spec(w))])
    assert "ValueError: bad input" in str(err.value)


def test_job_list_paginates(w):
    ids = [w.jobs.create(name=f"compat-page-{i}", tasks=[jobs.Task(
        task_key="t", notebook_task=jobs.NotebookTask(notebook_path="/x"), existing_cluster_id="none")]).job_id
        for i in range(23)]
    listed = [j.job_id for j in w.jobs.list(limit=5) if j.settings.name.startswith("compat-page-")]
    assert sorted(listed) == sorted(ids)
    assert len(listed) == len(set(listed))
    by_name = list(w.jobs.list(name="COMPAT-PAGE-7"))
    assert [j.job_id for j in by_name] == [ids[7]]
    for job_id in ids:
        w.jobs.delete(job_id=job_id)


def test_job_validation_errors_are_typed(w):
    with pytest.raises(InvalidParameterValue) as err:
        w.jobs.create(name="bad", tasks=[
            jobs.Task(task_key="a", notebook_task=jobs.NotebookTask(notebook_path="/x"), existing_cluster_id="c",
                      depends_on=[jobs.TaskDependency(task_key="missing")])])
    assert "does not exist" in str(err.value)


def test_a_job_over_the_task_cap_is_a_typed_error(w):
    tasks = [jobs.Task(task_key=f"t{i}", notebook_task=jobs.NotebookTask(notebook_path="/x"), existing_cluster_id="c")
             for i in range(2000)]
    with pytest.raises(InvalidParameterValue, match="at most 1000 tasks"):
        w.jobs.create(name="huge", tasks=tasks)


def test_the_admin_api_needs_the_admin_token(emulator, w):
    for token in (None, emulator["token"]):
        headers = {"Authorization": "Bearer " + token} if token else {}
        request = urllib.request.Request(emulator["url"] + "/__admin/counters", headers=headers)
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request)
        assert refused.value.code == 401
    assert w.current_user.me().user_name  # the workspace still serves


def test_workspace_import_export_and_missing_paths(w):
    upload_notebook(w, "/Users/admin@example.com/compat/nb", NOTEBOOK_OK)
    status = w.workspace.get_status("/Users/admin@example.com/compat/nb")
    assert status.object_type == workspace.ObjectType.NOTEBOOK and status.language == workspace.Language.PYTHON
    exported = w.workspace.export("/Users/admin@example.com/compat/nb", format=workspace.ExportFormat.SOURCE)
    assert base64.b64decode(exported.content).decode() == NOTEBOOK_OK
    names = {o.path for o in w.workspace.list("/Users/admin@example.com/compat")}
    assert "/Users/admin@example.com/compat/nb" in names
    with pytest.raises(NotFound):
        w.workspace.get_status("/Users/admin@example.com/nope")
    with pytest.raises(ResourceAlreadyExists):
        w.workspace.import_("/Users/admin@example.com/compat/nb", content=base64.b64encode(b"x").decode(),
                            format=workspace.ImportFormat.SOURCE, language=workspace.Language.PYTHON)


def test_workspace_upload_and_download_of_notebooks_and_large_files(w):
    # workspace.upload sends multipart/form-data; download asks for direct_download.
    folder = "/Users/admin@example.com/compat-upload"
    w.workspace.mkdirs(folder)
    w.workspace.upload(f"{folder}/etl.py", io.BytesIO(NOTEBOOK_OK.encode()), format=workspace.ImportFormat.AUTO)
    status = w.workspace.get_status(f"{folder}/etl")
    assert status.object_type == workspace.ObjectType.NOTEBOOK and status.language == workspace.Language.PYTHON
    assert w.workspace.download(f"{folder}/etl").read().decode() == NOTEBOOK_OK
    # A workspace file past the 10 MB of a JSON import.
    data = bytes(range(256)) * (12 * 4096)
    w.workspace.upload(f"{folder}/data.bin", data, format=workspace.ImportFormat.RAW)
    assert w.workspace.get_status(f"{folder}/data.bin").object_type == workspace.ObjectType.FILE
    assert w.workspace.download(f"{folder}/data.bin", format=workspace.ExportFormat.AUTO).read() == data
    with pytest.raises(ResourceAlreadyExists):
        w.workspace.upload(f"{folder}/data.bin", b"other", format=workspace.ImportFormat.RAW)
    w.workspace.upload(f"{folder}/data.bin", b"other", format=workspace.ImportFormat.RAW, overwrite=True)
    assert w.workspace.download(f"{folder}/data.bin", format=workspace.ExportFormat.AUTO).read() == b"other"


def test_scim_users_groups_and_service_principals(w):
    user = w.users.create(user_name="compat-user@example.com", display_name="Compat User")
    assert w.users.get(id=user.id).display_name == "Compat User"
    found = list(w.users.list(filter='userName eq "compat-user@example.com"'))
    assert [u.id for u in found] == [user.id]
    assert list(w.users.list(filter='displayName eq "compat-user@example.com"')) == []
    with pytest.raises(ResourceConflict):
        w.users.create(user_name="compat-user@example.com")
    sp = w.service_principals.create(display_name="compat-bot")
    assert sp.application_id
    group = w.groups.create(display_name="compat-group", members=[iam.ComplexValue(value=user.id)])
    w.groups.patch(id=group.id, schemas=[iam.PatchSchema.URN_IETF_PARAMS_SCIM_API_MESSAGES_2_0_PATCH_OP],
                   operations=[iam.Patch(op=iam.PatchOp.ADD, path="members", value=[{"value": sp.id}])])
    assert sorted(m.value for m in w.groups.get(id=group.id).members) == sorted([user.id, sp.id])
    assert any(g.display == "compat-group" for g in w.users.get(id=user.id).groups)
    w.users.delete(id=user.id)
    with pytest.raises(NotFound):
        w.users.get(id=user.id)
    w.groups.delete(id=group.id)
    w.service_principals.delete(id=sp.id)


def test_secrets(w):
    w.secrets.create_scope(scope="compat")
    with pytest.raises(ResourceAlreadyExists):
        w.secrets.create_scope(scope="compat")
    w.secrets.put_secret(scope="compat", key="db-password", string_value="s3cr3t")
    assert [s.key for s in w.secrets.list_secrets(scope="compat")] == ["db-password"]
    assert base64.b64decode(w.secrets.get_secret(scope="compat", key="db-password").value) == b"s3cr3t"
    w.secrets.delete_secret(scope="compat", key="db-password")
    w.secrets.delete_scope(scope="compat")
    with pytest.raises(ResourceDoesNotExist):
        list(w.secrets.list_secrets(scope="compat"))


def test_bad_token_is_permission_denied(emulator):
    bad = WorkspaceClient(host=emulator["url"], token="not-a-token", auth_type="pat")
    with pytest.raises(PermissionDenied):
        bad.current_user.me()


def test_oauth_m2m_login(emulator):
    sp = WorkspaceClient(host=emulator["url"], client_id=emulator["client_id"],
                         client_secret=emulator["client_secret"], auth_type="oauth-m2m")
    assert sp.current_user.me().user_name == emulator["client_id"]


def test_sql_statement(w):
    wh = w.warehouses.create_and_wait(name="compat-wh", cluster_size="2X-Small", max_num_clusters=1, auto_stop_mins=10)
    response = w.statement_execution.execute_statement(statement="SELECT 1 AS x, 'a' AS y", warehouse_id=wh.id,
                                                       wait_timeout="30s")
    assert response.status.state == StatementState.SUCCEEDED
    assert [c.name for c in response.manifest.schema.columns] == ["x", "y"]
    assert response.result.data_array == [["1", "a"]]
    w.warehouses.delete(wh.id)


def test_files_upload_from_download_and_download_to(emulator, tmp_path):
    w = WorkspaceClient(host=emulator["url"], token=emulator["token"], auth_type="pat")
    # 3 MiB and a bit: below the SDK's multipart threshold for the upload; with
    # the thresholds lowered, download_to asks for a presigned download URL
    # and then reads the file in ranged parts.
    w.config.files_ext_parallel_download_min_file_size = 512 * 1024
    w.config.files_ext_parallel_download_default_part_size = 1024 * 1024
    data = bytes((i * 31 ^ (i >> 8)) & 0xFF for i in range(3 * 1024 * 1024 + 7))
    path = "/Volumes/main/default/v/compat.bin"
    source = tmp_path / "source.bin"
    source.write_bytes(data)
    w.files.upload_from(path, str(source), overwrite=True, use_parallel=False)
    assert w.files.download(path).contents.read() == data
    target = tmp_path / "target.bin"
    w.files.download_to(path, str(target), use_parallel=True, parallelism=4)
    assert target.read_bytes() == data


class _OneWayStream(io.RawIOBase):
    """A pipe-like source: readable, not seekable, so its size is unknown."""

    def __init__(self, data: bytes):
        self._data = io.BytesIO(data)

    def readable(self):
        return True

    def readinto(self, buffer):
        chunk = self._data.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)


def open_uploads(emulator) -> int:
    request = urllib.request.Request(
        emulator["url"] + "/__admin/counters", headers={"Authorization": "Bearer " + emulator["admin_token"]})
    with urllib.request.urlopen(request) as answer:
        return json.load(answer)["open_uploads"]


def test_files_multipart_uploads_parallel_sequential_and_from_a_pipe(emulator, tmp_path):
    from databricks.sdk.core import Config
    config = Config(host=emulator["url"], token=emulator["token"], auth_type="pat")
    # Thresholds lowered so a 15 MiB file goes multipart in 5 MiB parts (the
    # smallest S3 takes, as the emulator checks at completion):
    # initiate-upload, create-upload-part-urls, PUTs to the emulator's own
    # presigned URLs, complete-upload.
    part = 5 * 1024 * 1024
    config.files_ext_multipart_upload_min_stream_size = part
    w = WorkspaceClient(config=config)
    # A 251-byte cycle: no part starts where another does.
    size = 3 * part + 3
    data = (bytes(range(251)) * (size // 251 + 1))[:size]
    source = tmp_path / "big.bin"
    source.write_bytes(data)

    w.files.upload_from("/Volumes/main/default/v/parallel.bin", str(source), part_size=part,
                        use_parallel=True, parallelism=4)
    w.files.upload("/Volumes/main/default/v/sequential.bin", io.BytesIO(data), part_size=part, use_parallel=False)
    w.files.upload("/Volumes/main/default/v/pipe.bin", _OneWayStream(data), part_size=part, use_parallel=False)
    for name in ("parallel", "sequential", "pipe"):
        path = f"/Volumes/main/default/v/{name}.bin"
        assert w.files.get_metadata(path).content_length == len(data), name
        assert w.files.download(path).contents.read() == data, name
    assert open_uploads(emulator) == 0

    # overwrite=False on an existing file is refused (409 ALREADY_EXISTS, as
    # a single-shot PUT is), and leaves no upload open.
    with pytest.raises(AlreadyExists):
        w.files.upload_from("/Volumes/main/default/v/parallel.bin", str(source), part_size=part,
                            overwrite=False, use_parallel=True, parallelism=2)
    assert open_uploads(emulator) == 0
