"""Roles and visibility (kb/roles.py): the one declaration every layer asks."""

import pytest

from kb import roles
from kb.errors import QueryError


def test_each_role_reads_its_levels_and_an_unknown_role_is_a_field_error():
    assert roles.visibilities_for("support") == ("support",)
    assert roles.visibilities_for("engineer") == ("support", "engineering")
    assert roles.visibilities_for("admin") == ("support", "engineering", "restricted")
    with pytest.raises(QueryError) as err:
        roles.visibilities_for("guest")
    assert err.value.field == "role" and "support, engineer, admin" in str(err.value)


def test_can_read_and_can_read_case():
    class Case:
        visibility = "engineering"

    assert roles.can_read("engineer", "engineering") and not roles.can_read(
        "support", "engineering"
    )
    assert roles.can_read_case(Case(), "admin") and not roles.can_read_case(Case(), "support")
    assert not roles.can_read_case(None, "admin")  # a missing case is never readable
    assert not roles.can_read("admin", "typo")


def test_editors_and_who_sees_everything():
    assert [r for r in roles.ROLES if roles.can_edit(r)] == ["engineer", "admin"]
    assert [r for r in roles.ROLES if roles.sees_everything(r)] == ["admin"]


def test_roles_within_counts_only_roles_that_see_no_more():
    assert roles.roles_within("support") == ("support",)
    assert roles.roles_within("engineer") == ("support", "engineer")
    assert roles.roles_within("admin") == ("support", "engineer", "admin")
    with pytest.raises(QueryError):
        roles.roles_within("guest")


def test_highest_role_ranks_by_privilege_and_ignores_unknown_names():
    assert roles.highest_role(["support", "admin", "engineer"]) == "admin"
    assert roles.highest_role({"support", "guest"}) == "support"
    assert roles.highest_role(["guest"]) is None and roles.highest_role([]) is None


def test_reader_levels():
    assert roles.reader_levels("support") == ("support",)
    assert roles.reader_levels("engineering") == ("support", "engineering")
    assert roles.reader_levels("restricted") == ("support", "engineering", "restricted")
    assert roles.reader_levels("typo") == ("support",)  # an unknown level: the narrowest audience
