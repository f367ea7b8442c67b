"""What a non-admin lists and may change, through the official SDK: catalogs by grant and ownership,
the Git folders they manage, and Git credentials (their own; a service principal's only as an admin)."""

import pytest
from databricks.sdk.errors import BadRequest, PermissionDenied
from databricks.sdk.service import catalog, workspace

from conftest import SP_ID, USER_NAME

ADMIN = "admin@example.com"


def test_a_users_catalog_list_follows_grants_renames_and_owners(w, user_w):
    names = ["seen_granted", "seen_owned", "seen_never"]
    for name in names:
        w.catalogs.create(name=name)
    try:
        use = catalog.PermissionsChange(principal=USER_NAME, add=[catalog.Privilege.USE_CATALOG])
        w.grants.update(securable_type="catalog", full_name="seen_granted", changes=[use])
        w.catalogs.update("seen_owned", owner=USER_NAME)

        def listed():
            # One catalog a page: the SDK follows the tokens.
            return sorted(c.name for c in user_w.catalogs.list(max_results=1) if c.name.startswith("seen_"))

        assert listed() == ["seen_granted", "seen_owned"]
        w.catalogs.update("seen_granted", new_name="seen_renamed")
        names = ["seen_renamed", "seen_owned", "seen_never"]
        w.catalogs.update("seen_owned", owner=ADMIN)
        assert listed() == ["seen_renamed"]
        with pytest.raises(PermissionDenied):
            user_w.catalogs.update("seen_never", comment="not theirs")
    finally:
        for name in names:
            w.catalogs.delete(name, force=True)


def test_a_user_lists_and_changes_only_the_git_folders_they_manage(w, user_w):
    theirs = w.repos.create(url="https://github.com/acme/visible.git", provider="gitHub")
    mine = user_w.repos.create(url="https://github.com/acme/own.git", provider="gitHub")
    elsewhere = w.repos.create(url="https://github.com/acme/away.git", provider="gitHub", path="/Archive/away")
    try:
        assert [r.id for r in user_w.repos.list()] == [mine.id]
        read = workspace.RepoAccessControlRequest(user_name=USER_NAME,
                                                  permission_level=workspace.RepoPermissionLevel.CAN_READ)
        w.repos.set_permissions(str(theirs.id), access_control_list=[read])
        assert user_w.repos.get(theirs.id).id == theirs.id
        assert [r.id for r in user_w.repos.list()] == [mine.id], "read, not managed: not listed"
        with pytest.raises(PermissionDenied):
            user_w.repos.update(theirs.id, branch="feature")
        with pytest.raises(PermissionDenied):
            user_w.repos.delete(theirs.id)
        # Without a prefix the admin lists the folders under /Repos; a prefix reaches the others.
        everywhere = [r.id for r in w.repos.list()]
        assert theirs.id in everywhere and mine.id in everywhere and elsewhere.id not in everywhere
        assert [r.id for r in w.repos.list(path_prefix="/Workspace/Archive")] == [elsewhere.id]
    finally:
        for repo in (theirs, mine, elsewhere):
            w.repos.delete(repo.id)


def test_a_service_principals_git_credentials_are_kept_by_an_admin_only(w, user_w):
    sp = next(iter(w.service_principals.list(filter=f'applicationId eq "{SP_ID}"')))
    sp_id, user_id = int(sp.id), int(user_w.current_user.me().id)
    with pytest.raises(PermissionDenied):
        list(user_w.git_credentials.list(principal_id=sp_id))
    with pytest.raises(PermissionDenied):
        user_w.git_credentials.create(git_provider="gitHub", git_username="intruder", principal_id=sp_id)
    # By id, a service principal's credentials only: never a user's.
    with pytest.raises(BadRequest):
        w.git_credentials.create(git_provider="gitHub", git_username="for-a-user", principal_id=user_id)
    made = w.git_credentials.create(git_provider="gitLab", git_username="robot", principal_id=sp_id)
    try:
        assert [c.git_username for c in w.git_credentials.list(principal_id=sp_id)] == ["robot"]
        assert made.credential_id not in [c.credential_id for c in w.git_credentials.list()]
    finally:
        w.git_credentials.delete(made.credential_id, principal_id=sp_id)
