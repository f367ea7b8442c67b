"""What the other compat files left out, through the official SDK: deleting workspace folders, notebook and file
permissions, the legacy SQL endpoints name written to, and Unity Catalog tables and functions paged, missing and
denied."""

import base64

import pytest
from databricks.sdk.errors import BadRequest, NotFound, PermissionDenied
from databricks.sdk.service import catalog, workspace

from conftest import USER_NAME


def put(w, path, source=b"print(1)\n", language=workspace.Language.PYTHON):
    w.workspace.import_(path, content=base64.b64encode(source).decode(), format=workspace.ImportFormat.SOURCE,
                        language=language, overwrite=True)


def test_folders_are_deleted_and_notebooks_and_files_follow_their_permissions(w, user_w):
    folder = "/Users/admin@example.com/compat-gaps"  # not /Shared: every user manages what it holds
    w.workspace.mkdirs(f"{folder}/inner")
    put(w, f"{folder}/inner/nb")
    w.workspace.upload(f"{folder}/data.txt", b"rows", format=workspace.ImportFormat.AUTO)
    nb = w.workspace.get_status(f"{folder}/inner/nb")
    data = w.workspace.get_status(f"{folder}/data.txt")

    # A notebook and a file each take their own grant, and a non-admin holds none until given one.
    w.workspace.set_permissions("notebooks", str(nb.object_id), access_control_list=[])
    w.workspace.set_permissions("files", str(data.object_id), access_control_list=[])
    for kind, got in (("notebooks", nb), ("files", data)):
        with pytest.raises(PermissionDenied):
            user_w.workspace.get_permissions(kind, str(got.object_id))
        levels = [l.permission_level.value for l in w.workspace.get_permission_levels(kind, str(got.object_id)).permission_levels]
        assert levels == ["CAN_READ", "CAN_RUN", "CAN_EDIT", "CAN_MANAGE"], levels
    w.workspace.update_permissions("notebooks", str(nb.object_id), access_control_list=[
        workspace.WorkspaceObjectAccessControlRequest(user_name=USER_NAME,
                                                      permission_level=workspace.WorkspaceObjectPermissionLevel.CAN_READ)])
    assert user_w.workspace.export(f"{folder}/inner/nb", format=workspace.ExportFormat.SOURCE).content
    with pytest.raises(PermissionDenied):
        user_w.workspace.delete(f"{folder}/inner/nb")

    # A folder with something in it goes only recursively; then it and all it held are gone.
    with pytest.raises(BadRequest):
        w.workspace.delete(folder)
    w.workspace.delete(folder, recursive=True)
    for path in (folder, f"{folder}/inner/nb", f"{folder}/data.txt"):
        with pytest.raises(NotFound):
            w.workspace.get_status(path)
    with pytest.raises(NotFound):
        w.workspace.get_permissions("notebooks", str(nb.object_id))
    with pytest.raises(NotFound):
        w.workspace.delete(folder)


def test_the_legacy_endpoints_name_creates_edits_and_refuses(w, user_w):
    made = w.api_client.do("POST", "/api/2.0/sql/endpoints", body={"name": "compat-legacy", "cluster_size": "2X-Small"})
    endpoint_id = made["id"]
    w.api_client.do("POST", f"/api/2.0/sql/endpoints/{endpoint_id}/edit",
                    body={"name": "compat-legacy", "cluster_size": "Small"})
    assert w.warehouses.get(endpoint_id).cluster_size == "Small", "one warehouse under both names"
    with pytest.raises(PermissionDenied):
        user_w.api_client.do("GET", f"/api/2.0/sql/endpoints/{endpoint_id}")
    with pytest.raises(PermissionDenied):
        user_w.api_client.do("POST", f"/api/2.0/sql/endpoints/{endpoint_id}/edit", body={"cluster_size": "Large"})
    w.api_client.do("DELETE", f"/api/2.0/sql/endpoints/{endpoint_id}")
    with pytest.raises(NotFound):
        w.api_client.do("GET", f"/api/2.0/sql/endpoints/{endpoint_id}")


def test_tables_and_functions_page_and_are_missing_or_denied_as_unity_catalog_says(w, user_w):
    w.catalogs.create("compat_gaps")
    columns = [catalog.ColumnInfo(name="id", type_name=catalog.ColumnTypeName.LONG, type_text="bigint", position=0)]
    for i in range(5):
        w.tables.create(name=f"t{i}", catalog_name="compat_gaps", schema_name="default",
                        table_type=catalog.TableType.EXTERNAL, data_source_format=catalog.DataSourceFormat.DELTA,
                        storage_location=f"s3://compat-gaps/t{i}", columns=columns)
    assert [t.name for t in w.tables.list("compat_gaps", "default", max_results=2)] == [f"t{i}" for i in range(5)]
    summaries = [t.full_name for t in w.tables.list_summaries("compat_gaps", max_results=2)]
    assert summaries == [f"compat_gaps.default.t{i}" for i in range(5)], summaries
    for i in range(3):
        w.functions.create(catalog.CreateFunction(
            name=f"f{i}", catalog_name="compat_gaps", schema_name="default",
            input_params=catalog.FunctionParameterInfos(parameters=[]), data_type=catalog.ColumnTypeName.INT,
            full_data_type="int", routine_body=catalog.CreateFunctionRoutineBody.SQL, routine_definition="1",
            parameter_style=catalog.CreateFunctionParameterStyle.S, is_deterministic=True,
            sql_data_access=catalog.CreateFunctionSqlDataAccess.CONTAINS_SQL, is_null_call=False,
            security_type=catalog.CreateFunctionSecurityType.DEFINER, specific_name=f"f{i}"))
    assert [f.name for f in w.functions.list("compat_gaps", "default", max_results=1)] == ["f0", "f1", "f2"]
    with pytest.raises(NotFound):
        w.functions.get("compat_gaps.default.nothing")
    with pytest.raises(NotFound):
        w.tables.delete("compat_gaps.default.nothing")

    with pytest.raises(PermissionDenied):
        user_w.tables.get("compat_gaps.default.t0")
    with pytest.raises(PermissionDenied):
        user_w.grants.update(catalog.SecurableType.TABLE.value, "compat_gaps.default.t0", changes=[
            catalog.PermissionsChange(principal=USER_NAME, add=[catalog.Privilege.SELECT])])
    w.catalogs.delete("compat_gaps", force=True)
