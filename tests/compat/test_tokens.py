"""Tokens and token management through the official SDK."""

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.common.types.fieldmask import FieldMask
from databricks.sdk.errors import NotFound, PermissionDenied
from databricks.sdk.service import settings

from conftest import SP_ID, USER_NAME


def client_with(emulator, token: str) -> WorkspaceClient:
    return WorkspaceClient(host=emulator["url"], token=token, auth_type="pat")


def test_a_created_token_works_is_listed_and_stops_working_when_deleted(emulator, w):
    created = w.tokens.create(comment="compat", lifetime_seconds=3600)
    token_id = created.token_info.token_id
    assert created.token_info.comment == "compat"
    assert created.token_info.expiry_time > created.token_info.creation_time
    assert token_id in [t.token_id for t in w.tokens.list()]

    own = client_with(emulator, created.token_value)
    assert own.current_user.me().user_name == "admin@example.com"

    managed = {t.token_id: t for t in w.token_management.list(created_by_username="admin@example.com")}
    assert managed[token_id].created_by_username == "admin@example.com"
    assert w.token_management.get(token_id).token_info.comment == "compat"

    w.tokens.update(token_id, token=settings.PublicTokenInfo(comment="renamed"), update_mask=FieldMask(["comment"]))
    assert {t.token_id: t.comment for t in w.tokens.list()}[token_id] == "renamed"
    by_admin = w.token_management.update_token_management(
        token_id, token=settings.TokenInfo(comment="audited", scopes=["clusters"]),
        update_mask=FieldMask(["comment", "scopes"]))
    assert by_admin.comment == "audited" and by_admin.scopes == ["clusters"]

    w.tokens.delete(token_id)
    with pytest.raises(PermissionDenied):
        own.current_user.me()
    with pytest.raises(NotFound):
        w.token_management.get(token_id)
    with pytest.raises(NotFound):
        w.tokens.delete(token_id)


def test_users_see_their_own_tokens_and_only_admins_manage_others(emulator, w, user_w):
    mine = user_w.tokens.create(comment="mine")
    assert mine.token_info.expiry_time == -1, "no lifetime: never expires"
    assert [t.token_id for t in user_w.tokens.list()] == [mine.token_info.token_id]
    assert mine.token_info.token_id not in [t.token_id for t in w.tokens.list()]
    with pytest.raises(PermissionDenied):
        list(user_w.token_management.list())
    with pytest.raises(PermissionDenied):
        user_w.token_management.delete(mine.token_info.token_id)
    rename = dict(token=settings.PublicTokenInfo(comment="theirs"), update_mask=FieldMask(["comment"]))
    with pytest.raises(NotFound):
        w.tokens.update(mine.token_info.token_id, **rename)
    with pytest.raises(PermissionDenied):
        user_w.token_management.update_token_management(
            mine.token_info.token_id, token=settings.TokenInfo(comment="x"), update_mask=FieldMask(["comment"]))
    # An admin can revoke it.
    listed = [t.token_id for t in w.token_management.list(created_by_username=USER_NAME)]
    assert listed == [mine.token_info.token_id]
    w.token_management.delete(mine.token_info.token_id)
    with pytest.raises(PermissionDenied):
        client_with(emulator, mine.token_value).current_user.me()


def test_an_admin_makes_a_token_on_behalf_of_a_service_principal(emulator, w):
    obo = w.token_management.create_obo_token(application_id=SP_ID, comment="ci", lifetime_seconds=600)
    assert obo.token_info.created_by_username == "admin@example.com"
    as_sp = client_with(emulator, obo.token_value)
    assert as_sp.current_user.me().user_name == SP_ID
    with pytest.raises(NotFound):
        w.token_management.create_obo_token(application_id="no-such-sp", lifetime_seconds=600)
    w.token_management.delete(obo.token_info.token_id)
