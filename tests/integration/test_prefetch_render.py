"""Prefetch templates are rendered the way a CDS client renders them (CDS Hooks 2.0
"Prefetch tokens"): root-level primitive context fields and the four user tokens."""

from __future__ import annotations

from cds.hooks.prefetch import render_prefetch, user_tokens

CONTEXT = {
    "userId": "Practitioner/dr-1",
    "patientId": "p1",
    "encounterId": "e9",
    "draftOrders": {"resourceType": "Bundle", "entry": []},
    "count": 3,
    "flag": True,
}


def test_context_tokens_are_replaced_by_root_level_values() -> None:
    rendered = render_prefetch(
        {"obs": "Observation?patient={{context.patientId}}&encounter={{context.encounterId}}",
         "n": "Observation?_count={{context.count}}&flag={{context.flag}}"},
        CONTEXT,
    )
    assert rendered == {"obs": "Observation?patient=p1&encounter=e9",
                        "n": "Observation?_count=3&flag=true"}


def test_a_template_with_a_nested_or_unknown_field_is_left_out() -> None:
    rendered = render_prefetch(
        {"nested": "Bundle/{{context.draftOrders.id}}",
         "object": "Bundle?x={{context.draftOrders}}",
         "unknown": "Appointment?patient={{context.appointmentId}}",
         "ok": "Patient/{{context.patientId}}"},
        CONTEXT,
    )
    assert rendered == {"ok": "Patient/p1"}


def test_user_tokens_come_from_the_type_of_context_user_id() -> None:
    assert user_tokens("Practitioner/1") == {"userPractitionerId": "1"}
    assert user_tokens("PractitionerRole/2") == {"userPractitionerRoleId": "2"}
    assert user_tokens("Patient/3") == {"userPatientId": "3"}
    assert user_tokens("RelatedPerson/4") == {"userRelatedPersonId": "4"}
    assert user_tokens("Device/5") == {}
    assert user_tokens("not-a-reference") == {}
    assert user_tokens(None) == {}


def test_a_user_token_for_another_kind_of_user_leaves_its_template_out() -> None:
    templates = {"me": "Practitioner/{{userPractitionerId}}",
                 "role": "PractitionerRole?_id={{userPractitionerRoleId}}"}
    assert render_prefetch(templates, CONTEXT) == {"me": "Practitioner/dr-1"}


def test_user_tokens_may_be_given_explicitly() -> None:
    rendered = render_prefetch({"role": "PractitionerRole?_id={{userPractitionerRoleId}}"},
                               CONTEXT, {"userPractitionerRoleId": "r7"})
    assert rendered == {"role": "PractitionerRole?_id=r7"}


def test_values_are_percent_encoded_so_they_cannot_add_parameters() -> None:
    rendered = render_prefetch({"q": "Observation?patient={{context.patientId}}&code=1"},
                               {"patientId": "p1&_include=*"})
    assert rendered == {"q": "Observation?patient=p1%26_include%3D%2A&code=1"}


def test_spaces_inside_the_braces_are_tolerated() -> None:
    assert render_prefetch({"p": "Patient/{{ context.patientId }}"}, CONTEXT) == {"p": "Patient/p1"}
