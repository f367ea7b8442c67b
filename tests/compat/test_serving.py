"""Model serving endpoints through the official SDK: deploy and wait, query, change the traffic, tags, permissions."""

import pytest
from databricks.sdk.errors import BadRequest, NotFound, PermissionDenied, ResourceAlreadyExists
from databricks.sdk.service import serving

from conftest import USER_NAME


def entity(name, version, size="Small"):
    return serving.ServedEntityInput(entity_name=name, entity_version=version, workload_size=size,
                                     scale_to_zero_enabled=True)


def test_an_endpoint_deploys_serves_changes_traffic_and_is_guarded(w, user_w):
    config = serving.EndpointCoreConfigInput(name="churn", served_entities=[entity("main.default.churn", "1")])
    endpoint = w.serving_endpoints.create_and_wait(name="churn", config=config,
                                                   tags=[serving.EndpointTag(key="team", value="ml")])
    assert endpoint.state.ready == serving.EndpointStateReady.READY
    assert endpoint.state.config_update == serving.EndpointStateConfigUpdate.NOT_UPDATING
    served = endpoint.config.served_entities[0]
    assert served.name == "main-default-churn-1" and served.state.deployment.value == "DEPLOYMENT_READY"
    assert endpoint.config.traffic_config.routes[0].traffic_percentage == 100
    assert endpoint.permission_level == serving.ServingEndpointDetailedPermissionLevel.CAN_MANAGE
    assert "churn" in [e.name for e in w.serving_endpoints.list()]
    with pytest.raises(ResourceAlreadyExists):
        w.serving_endpoints.create(name="churn", config=config)
    with pytest.raises(NotFound):
        w.serving_endpoints.get("no-such-endpoint")

    answer = w.serving_endpoints.query("churn", dataframe_records=[{"tenure": 3}, {"tenure": 40}])
    assert answer.predictions == [{"tenure": 3}, {"tenure": 40}]
    assert answer.served_model_name == "main-default-churn-1"
    chat = w.serving_endpoints.query("churn", messages=[
        serving.ChatMessage(role=serving.ChatMessageRole.USER, content="hello there")])
    assert chat.choices[0].message.content == "hello there"

    routes = serving.TrafficConfig(routes=[
        serving.Route(served_entity_name="main-default-churn-1", traffic_percentage=80),
        serving.Route(served_entity_name="main-default-churn-2", traffic_percentage=20)])
    updated = w.serving_endpoints.update_config_and_wait(
        "churn", served_entities=[entity("main.default.churn", "1"), entity("main.default.churn", "2")],
        traffic_config=routes)
    assert updated.config.config_version == 2 and len(updated.config.served_entities) == 2
    with pytest.raises(BadRequest):
        w.serving_endpoints.update_config("churn", served_entities=[entity("main.default.churn", "3")],
                                          traffic_config=serving.TrafficConfig(routes=[
                                              serving.Route(served_entity_name="main-default-churn-3",
                                                            traffic_percentage=90)]))
    tags = w.serving_endpoints.patch("churn", add_tags=[serving.EndpointTag(key="tier", value="gold")],
                                     delete_tags=["team"])
    assert [(t.key, t.value) for t in tags.tags] == [("tier", "gold")]

    with pytest.raises(PermissionDenied):
        user_w.serving_endpoints.get("churn")
    assert "churn" not in [e.name for e in user_w.serving_endpoints.list()]
    levels = w.serving_endpoints.get_permission_levels(endpoint.id).permission_levels
    assert [l.permission_level.value for l in levels] == ["CAN_VIEW", "CAN_QUERY", "CAN_MANAGE"]
    w.serving_endpoints.update_permissions(endpoint.id, access_control_list=[
        serving.ServingEndpointAccessControlRequest(user_name=USER_NAME,
                                                    permission_level=serving.ServingEndpointPermissionLevel.CAN_QUERY)])
    assert user_w.serving_endpoints.query("churn", instances=[[1, 2]]).predictions == [[1, 2]]
    assert "churn" in [e.name for e in user_w.serving_endpoints.list()], "granted: listed"
    with pytest.raises(PermissionDenied):
        user_w.serving_endpoints.delete("churn")

    w.serving_endpoints.delete("churn")
    with pytest.raises(NotFound):
        w.serving_endpoints.get("churn")
    with pytest.raises(NotFound):
        w.serving_endpoints.get_permissions(endpoint.id)
