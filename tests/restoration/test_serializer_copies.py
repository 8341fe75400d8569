"""StrictSerializer's shallow field copies: instances never share bound fields or state."""

from __future__ import annotations

import pytest
from rest_framework.exceptions import ValidationError

from restoration.api.serializers import GenerateJSONRequest


def test_each_instance_has_its_own_bound_fields_and_validation_does_not_leak():
    first = GenerateJSONRequest(data={"upscale": 3, "webhook_events_filter": ["start"]})
    second = GenerateJSONRequest(data={"upscale": 99})
    assert first.is_valid()
    assert not second.is_valid()
    assert set(second.errors) == {"upscale"}
    for name, field in first.fields.items():
        assert field is not second.fields[name]
        assert field.parent is first and second.fields[name].parent is second
        assert field.field_name == name
    assert first.validated_data["upscale"] == 3 and first.validated_data["webhook_events_filter"] == ["start"]
    # The class's declared fields are never bound: a third instance binds fresh copies.
    assert all(field.parent is None for field in GenerateJSONRequest._declared_fields.values())
    third = GenerateJSONRequest(data={"webhook_events_filter": ["nope"]})
    with pytest.raises(ValidationError) as caught:
        third.is_valid(raise_exception=True)
    assert set(caught.value.detail) == {"webhook_events_filter"}
    assert GenerateJSONRequest(data={}).is_valid()
