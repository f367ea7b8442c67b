"""Listings that page (the first page ends in a token, the SDK's iterator reads them all), SCIM writes and
the Permissions API on pipelines and tokens, each with its typed errors, through the official SDK."""

import pytest
from databricks.sdk.errors import NotFound, PermissionDenied
from databricks.sdk.service import catalog, iam, pipelines, settings

from conftest import USER_NAME

PATCH_OP = iam.PatchSchema.URN_IETF_PARAMS_SCIM_API_MESSAGES_2_0_PATCH_OP


def first_page(w, path, **query):
    """The raw first page of a listing, to see that it really pages."""
    return w.api_client.do("GET", path, query=query)


def test_pipelines_page_and_their_permissions_gate_a_user(w, user_w):
    ids = [w.pipelines.create(name=f"compat-page-{i}", catalog="main", schema="default").pipeline_id for i in range(3)]
    assert "next_page_token" in first_page(w, "/api/2.0/pipelines", max_results=1)
    listed = [p.pipeline_id for p in w.pipelines.list_pipelines(max_results=1, filter="name LIKE 'compat-page-%'")]
    assert sorted(listed) == sorted(ids)

    with pytest.raises(PermissionDenied):
        user_w.pipelines.get(ids[0])
    w.pipelines.update_permissions(ids[0], access_control_list=[pipelines.PipelineAccessControlRequest(
        user_name=USER_NAME, permission_level=pipelines.PipelinePermissionLevel.CAN_VIEW)])
    acl = w.pipelines.get_permissions(ids[0]).access_control_list
    assert any(e.user_name == USER_NAME and e.all_permissions[0].permission_level.value == "CAN_VIEW" for e in acl)
    assert user_w.pipelines.get(ids[0]).name == "compat-page-0"
    with pytest.raises(PermissionDenied):
        user_w.pipelines.start_update(ids[0])
    with pytest.raises(PermissionDenied):
        user_w.pipelines.delete(ids[0])
    for pid in ids:
        w.pipelines.delete(pid)
    with pytest.raises(NotFound):
        w.pipelines.get_permissions(ids[0])


def test_unity_catalog_schemas_tables_and_volumes_page(w):
    w.catalogs.create("compat_paged")
    for i in range(3):
        w.schemas.create(f"s{i}", "compat_paged")
        w.volumes.create("compat_paged", "s0", f"v{i}", volume_type=catalog.VolumeType.MANAGED)
    assert "next_page_token" in first_page(w, "/api/2.1/unity-catalog/schemas", catalog_name="compat_paged",
                                           max_results=1)
    schemas = [s.name for s in w.schemas.list("compat_paged", max_results=1)]
    assert sorted(schemas) == ["default", "information_schema", "s0", "s1", "s2"]
    volumes = [v.name for v in w.volumes.list("compat_paged", "s0", max_results=1)]
    assert sorted(volumes) == ["v0", "v1", "v2"]
    assert "next_page_token" in first_page(w, "/api/2.1/unity-catalog/volumes", catalog_name="compat_paged",
                                           schema_name="s0", max_results=1)
    w.catalogs.delete("compat_paged", force=True)
    with pytest.raises(NotFound):
        list(w.schemas.list("compat_paged"))


def test_scim_users_page_are_replaced_and_patched_and_only_admins_write(w, user_w):
    made = [w.users.create(user_name=f"compat-page-{i}@example.com") for i in range(3)]
    page = first_page(w, "/api/2.0/preview/scim/v2/Users", startIndex=1, count=1)
    assert page["itemsPerPage"] == 1 and page["totalResults"] >= 3
    listed = {u.user_name for u in w.users.list(count=1)}
    assert {u.user_name for u in made} <= listed

    w.users.update(made[0].id, user_name=made[0].user_name, display_name="Replaced")
    assert w.users.get(made[0].id).display_name == "Replaced"
    w.users.patch(made[0].id, schemas=[PATCH_OP],
                  operations=[iam.Patch(op=iam.PatchOp.REPLACE, path="displayName", value="Patched")])
    assert w.users.get(made[0].id).display_name == "Patched"

    with pytest.raises(PermissionDenied):
        user_w.users.create(user_name="sneaky@example.com")
    with pytest.raises(PermissionDenied):
        user_w.users.patch(made[1].id, schemas=[PATCH_OP],
                           operations=[iam.Patch(op=iam.PatchOp.REPLACE, path="displayName", value="x")])
    with pytest.raises(PermissionDenied):
        user_w.groups.create(display_name="sneaky-group")
    with pytest.raises(PermissionDenied):
        user_w.users.delete(made[2].id)
    for user in made:
        w.users.delete(user.id)
    with pytest.raises(NotFound):
        w.users.get(made[0].id)
    with pytest.raises(NotFound):
        w.groups.get("0")


def test_token_permissions_decide_who_may_create_tokens(w, user_w):
    w.token_management.set_permissions(access_control_list=[settings.TokenAccessControlRequest(
        group_name="admins", permission_level=settings.TokenPermissionLevel.CAN_USE)])
    with pytest.raises(PermissionDenied):
        user_w.tokens.create(comment="not allowed", lifetime_seconds=600)
    w.token_management.update_permissions(access_control_list=[settings.TokenAccessControlRequest(
        user_name=USER_NAME, permission_level=settings.TokenPermissionLevel.CAN_USE)])
    acl = w.token_management.get_permissions().access_control_list
    assert any(e.user_name == USER_NAME for e in acl)
    made = user_w.tokens.create(comment="allowed", lifetime_seconds=600)
    user_w.tokens.delete(made.token_info.token_id)


def test_repos_page_past_a_hundred(w):
    ids = [w.repos.create(url=f"https://github.com/acme/page-{i}.git", provider="gitHub").id for i in range(101)]
    page = first_page(w, "/api/2.0/repos", path_prefix="/Repos/admin@example.com")
    assert len(page["repos"]) == 100 and "next_page_token" in page
    listed = [r.id for r in w.repos.list(path_prefix="/Repos/admin@example.com")]
    assert set(ids) <= set(listed) and len(listed) == len(set(listed))
    for repo_id in ids:
        w.repos.delete(repo_id)
