"""The cases a review found the suite still lacked, through the official SDK: permissions of objects that do not
exist, Git folder permissions, storage credentials and external locations page by page, a group replaced
whole and a non-admin's group change refused, and pipeline events page by page."""

import pytest
from databricks.sdk.errors import NotFound, PermissionDenied
from databricks.sdk.service import catalog, iam, workspace

from conftest import USER_NAME

PATCH_OP = iam.PatchSchema.URN_IETF_PARAMS_SCIM_API_MESSAGES_2_0_PATCH_OP


def test_permissions_of_missing_objects_are_not_found(w):
    with pytest.raises(NotFound):
        w.jobs.get_permissions("999999999")
    with pytest.raises(NotFound):
        w.warehouses.get_permissions("0123456789abcdef")
    with pytest.raises(NotFound):
        w.cluster_policies.get_permissions("ABCDEF0123456789")
    with pytest.raises(NotFound):
        w.repos.get_permissions("999999999")


def test_git_folder_permissions_are_read_and_changed(w, user_w):
    repo = w.repos.create(url="https://github.com/acme/perms.git", provider="gitHub")
    try:
        levels = {level.permission_level for level in w.repos.get_permission_levels(str(repo.id)).permission_levels}
        assert workspace.RepoPermissionLevel.CAN_MANAGE in levels and workspace.RepoPermissionLevel.CAN_READ in levels
        with pytest.raises(PermissionDenied):
            user_w.repos.get(repo.id)
        edit = workspace.RepoAccessControlRequest(user_name=USER_NAME,
                                                  permission_level=workspace.RepoPermissionLevel.CAN_EDIT)
        acl = w.repos.update_permissions(str(repo.id), access_control_list=[edit]).access_control_list
        assert any(e.user_name == USER_NAME for e in acl)
        user_w.repos.update(repo.id, branch="feature")
        assert w.repos.get(repo.id).branch == "feature"
        with pytest.raises(PermissionDenied):
            user_w.repos.delete(repo.id)
        with pytest.raises(PermissionDenied):
            user_w.repos.set_permissions(str(repo.id), access_control_list=[])
    finally:
        w.repos.delete(repo.id)


def test_storage_credentials_and_external_locations_are_listed_page_by_page(w):
    role = catalog.AwsIamRoleRequest(role_arn="arn:aws:iam::123456789012:role/compat-paged")
    credentials = [f"compat_paged_cred_{i}" for i in range(3)]
    locations = [f"compat_paged_loc_{i}" for i in range(3)]
    for name in credentials:
        w.storage_credentials.create(name, aws_iam_role=role)
    for i, name in enumerate(locations):
        w.external_locations.create(name, f"s3://compat-paged-{i}/data", credentials[0])
    try:
        page = w.api_client.do("GET", "/api/2.1/unity-catalog/storage-credentials", query={"max_results": 1})
        assert len(page["storage_credentials"]) == 1 and "next_page_token" in page
        assert set(credentials) <= {c.name for c in w.storage_credentials.list(max_results=1)}
        page = w.api_client.do("GET", "/api/2.1/unity-catalog/external-locations", query={"max_results": 1})
        assert len(page["external_locations"]) == 1 and "next_page_token" in page
        assert set(locations) <= {loc.name for loc in w.external_locations.list(max_results=1)}
    finally:
        for name in locations:
            w.external_locations.delete(name)
        for name in credentials:
            w.storage_credentials.delete(name)


def test_a_group_is_replaced_whole_and_a_user_changes_none(w, user_w):
    me = w.current_user.me()
    group = w.groups.create(display_name="compat-replaced", members=[iam.ComplexValue(value=me.id)])
    try:
        w.groups.update(group.id, display_name="compat-replaced-2")
        replaced = w.groups.get(group.id)
        assert replaced.display_name == "compat-replaced-2" and not replaced.members
        with pytest.raises(PermissionDenied):
            user_w.groups.patch(group.id, schemas=[PATCH_OP],
                                operations=[iam.Patch(op=iam.PatchOp.ADD, path="members",
                                                      value=[{"value": user_w.current_user.me().id}])])
        with pytest.raises(PermissionDenied):
            user_w.groups.update(group.id, display_name="taken")
        assert not w.groups.get(group.id).members
    finally:
        w.groups.delete(group.id)
    with pytest.raises(NotFound):
        w.groups.update(group.id, display_name="gone")


def test_pipeline_events_are_read_page_by_page(w):
    pipeline_id = w.pipelines.create(name="compat-events", continuous=False).pipeline_id
    try:
        w.pipelines.start_update(pipeline_id)
        everything = [e.id for e in w.pipelines.list_pipeline_events(pipeline_id)]
        assert len(everything) >= 2
        page = w.api_client.do("GET", f"/api/2.0/pipelines/{pipeline_id}/events", query={"max_results": 1})
        assert len(page["events"]) == 1 and "next_page_token" in page
        # The update may log more meanwhile: every event read before is there, none twice.
        paged = [e.id for e in w.pipelines.list_pipeline_events(pipeline_id, max_results=1)]
        assert set(everything) <= set(paged) and len(set(paged)) == len(paged)
    finally:
        w.pipelines.delete(pipeline_id)
