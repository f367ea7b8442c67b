"""Unity Catalog through the official SDK: securables, grants and effective privileges, volumes and their files."""

import io

import pytest
from databricks.sdk.errors import BadRequest, NotFound, PermissionDenied, ResourceConflict
from databricks.sdk.service import catalog

from conftest import USER_NAME


def test_catalogs_schemas_and_tables(w):
    created = w.catalogs.create("compat_uc", comment="for compat")
    assert created.full_name == "compat_uc" and created.owner == "admin@example.com"
    names = [s.name for s in w.schemas.list("compat_uc")]
    assert names == ["default", "information_schema"]
    with pytest.raises(ResourceConflict):
        w.catalogs.create("compat_uc")

    w.schemas.create("bronze", "compat_uc", comment="raw")
    renamed = w.schemas.update("compat_uc.bronze", new_name="raw", comment="landing")
    assert renamed.full_name == "compat_uc.raw" and renamed.comment == "landing"
    with pytest.raises(NotFound):
        w.schemas.get("compat_uc.bronze")

    columns = [catalog.ColumnInfo(name="id", type_name=catalog.ColumnTypeName.LONG, type_text="bigint", position=0)]
    table = w.tables.create(name="events", catalog_name="compat_uc", schema_name="raw", table_type=catalog.TableType.EXTERNAL,
                            data_source_format=catalog.DataSourceFormat.DELTA, storage_location="s3://bucket/events",
                            columns=columns)
    assert w.tables.get("compat_uc.raw.events").columns[0].name == "id"
    assert w.tables.exists("compat_uc.raw.events").table_exists
    assert not w.tables.exists("compat_uc.raw.nothing").table_exists
    assert [t.name for t in w.tables.list("compat_uc", "raw")] == ["events"]
    with pytest.raises(BadRequest):
        w.schemas.delete("compat_uc.raw")
    with pytest.raises(BadRequest):
        w.catalogs.delete("compat_uc")
    w.tables.delete(table.full_name)
    with pytest.raises(NotFound):
        w.tables.get("compat_uc.raw.events")
    w.catalogs.delete("compat_uc", force=True)
    with pytest.raises(NotFound):
        w.catalogs.get("compat_uc")


def test_listings_page_by_token(w):
    for i in range(5):
        w.catalogs.create(f"compat_page_{i}")
    names = [c.name for c in w.catalogs.list(max_results=2) if c.name.startswith("compat_page_")]
    assert names == [f"compat_page_{i}" for i in range(5)]
    for i in range(5):
        w.catalogs.delete(f"compat_page_{i}", force=True)


def test_volumes_hold_files_and_grants_open_them_to_a_user(w, user_w):
    w.catalogs.create("compat_vol")
    volume = w.volumes.create("compat_vol", "default", "landing", catalog.VolumeType.MANAGED)
    assert volume.full_name == "compat_vol.default.landing" and volume.volume_id
    path = "/Volumes/compat_vol/default/landing/a.csv"
    w.files.upload(path, io.BytesIO(b"id\n1\n"), overwrite=True)
    with pytest.raises(NotFound):
        w.files.upload("/Volumes/compat_vol/default/nope/a.csv", io.BytesIO(b"x"), overwrite=True)

    with pytest.raises(PermissionDenied):
        user_w.files.download(path)
    with pytest.raises(PermissionDenied):
        user_w.catalogs.create("theirs")
    w.grants.update("catalog", "compat_vol", changes=[
        catalog.PermissionsChange(principal=USER_NAME, add=[catalog.Privilege.USE_CATALOG, catalog.Privilege.USE_SCHEMA])])
    w.grants.update("volume", "compat_vol.default.landing", changes=[
        catalog.PermissionsChange(principal=USER_NAME, add=[catalog.Privilege.READ_VOLUME])])
    assert user_w.files.download(path).contents.read() == b"id\n1\n"
    with pytest.raises(PermissionDenied):
        user_w.files.upload(path, io.BytesIO(b"mine"), overwrite=True)

    direct = w.grants.get("volume", "compat_vol.default.landing")
    assert [(a.principal, a.privileges) for a in direct.privilege_assignments] == [(USER_NAME, [catalog.Privilege.READ_VOLUME])]
    effective = w.grants.get_effective("volume", "compat_vol.default.landing", principal=USER_NAME)
    held = {(p.privilege, p.inherited_from_name) for p in effective.privilege_assignments[0].privileges}
    assert (catalog.Privilege.READ_VOLUME, None) in held
    assert (catalog.Privilege.USE_CATALOG, "compat_vol") in held
    listed = list(w.grants.list("volume", "compat_vol.default.landing"))
    assert [(a.principal, a.privileges) for a in listed] == [(USER_NAME, [catalog.Privilege.READ_VOLUME])]
    paged = w.grants.list_effective("volume", "compat_vol.default.landing", principal=USER_NAME, page_size=150)
    assert catalog.Privilege.USE_CATALOG in {p.privilege for a in paged for p in a.privileges}
    with pytest.raises(BadRequest):
        w.grants.update("volume", "compat_vol.default.landing", changes=[
            catalog.PermissionsChange(principal=USER_NAME, add=[catalog.Privilege.CREATE_SCHEMA])])

    moved = w.volumes.update("compat_vol.default.landing", new_name="inbox")
    assert moved.full_name == "compat_vol.default.inbox"
    assert w.files.download("/Volumes/compat_vol/default/inbox/a.csv").contents.read() == b"id\n1\n"
    w.volumes.delete("compat_vol.default.inbox")
    with pytest.raises(NotFound):
        w.files.get_metadata("/Volumes/compat_vol/default/inbox/a.csv")
    w.catalogs.delete("compat_vol", force=True)


def test_credentials_locations_functions_and_the_metastore(w, user_w):
    cred = w.storage_credentials.create("compat_cred", aws_iam_role=catalog.AwsIamRoleRequest(role_arn="arn:aws:iam::1:role/r"))
    assert cred.aws_iam_role.role_arn == "arn:aws:iam::1:role/r"
    location = w.external_locations.create("compat_loc", "s3://compat-bucket/data", "compat_cred")
    assert location.url == "s3://compat-bucket/data"
    with pytest.raises(BadRequest):
        w.external_locations.create("compat_overlap", "s3://compat-bucket/data/inner", "compat_cred")
    with pytest.raises(BadRequest):
        w.storage_credentials.delete("compat_cred")
    with pytest.raises(PermissionDenied):
        user_w.storage_credentials.create("theirs", aws_iam_role=catalog.AwsIamRoleRequest(role_arn="arn:aws:iam::1:role/x"))

    w.catalogs.create("compat_ext")
    external = w.volumes.create("compat_ext", "default", "archive", catalog.VolumeType.EXTERNAL,
                                storage_location="s3://compat-bucket/data/archive")
    assert external.storage_location == "s3://compat-bucket/data/archive"
    with pytest.raises(BadRequest):
        w.volumes.create("compat_ext", "default", "stray", catalog.VolumeType.EXTERNAL, storage_location="s3://elsewhere/x")

    info = catalog.CreateFunction(name="double_it", catalog_name="compat_ext", schema_name="default",
                                  input_params=catalog.FunctionParameterInfos(parameters=[catalog.FunctionParameterInfo(
                                      name="x", type_name=catalog.ColumnTypeName.INT, type_text="int", position=0)]),
                                  data_type=catalog.ColumnTypeName.INT, full_data_type="int",
                                  routine_body=catalog.CreateFunctionRoutineBody.SQL, routine_definition="x * 2",
                                  parameter_style=catalog.CreateFunctionParameterStyle.S, is_deterministic=True,
                                  sql_data_access=catalog.CreateFunctionSqlDataAccess.CONTAINS_SQL, is_null_call=False,
                                  security_type=catalog.CreateFunctionSecurityType.DEFINER, specific_name="double_it")
    made = w.functions.create(info)
    assert made.full_name == "compat_ext.default.double_it" and made.routine_definition == "x * 2"
    assert [f.name for f in w.functions.list("compat_ext", "default")] == ["double_it"]
    w.functions.delete(made.full_name)

    current = w.metastores.current()
    assert current.default_catalog_name == "main"
    assert w.metastores.summary().metastore_id == current.metastore_id
    w.catalogs.delete("compat_ext", force=True)
    w.external_locations.delete("compat_loc")
    w.storage_credentials.delete("compat_cred")
