"""The identity provider's claims mapped to a role by the allowlist."""

import pytest

from access.oidc import AllowlistError, grant_for, load_allowlist

ALLOWLIST = """
users:
  Zhang.San@sfj.city.gov.cn: {role: analyst}
  li.si@dongcheng.gov.cn: {role: liaison, region: 东城区}
"""


@pytest.fixture
def grants():
    return load_allowlist(ALLOWLIST)


def test_an_allowlisted_verified_address_gets_its_role(grants):
    g = grant_for({"email": "zhang.san@SFJ.city.gov.cn", "email_verified": True}, grants)
    assert g is not None and (g.role, g.region) == ("analyst", None)
    g = grant_for({"email": "li.si@dongcheng.gov.cn", "email_verified": True}, grants)
    assert g is not None and (g.role, g.region) == ("liaison", "东城区")


@pytest.mark.parametrize(
    "claims",
    [
        {"email": "wang.wu@sfj.city.gov.cn", "email_verified": True},  # not on the list
        {"email": "zhang.san@sfj.city.gov.cn", "email_verified": False},  # not verified by the provider
        {"email": "zhang.san@sfj.city.gov.cn"},  # verification not stated
        {"email_verified": True},  # no address
        {"email": "  ", "email_verified": True},
        {"email": ["zhang.san@sfj.city.gov.cn"], "email_verified": True},
    ],
)
def test_anyone_else_is_refused(grants, claims):
    assert grant_for(claims, grants) is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("users: {a@b.cn: {role: king}}", "角色未定义"),
        ("users: {a@b.cn: {role: liaison}}", "须指定 region"),
    ],
)
def test_a_bad_allowlist_says_what_is_wrong(text, message):
    with pytest.raises(AllowlistError, match=message):
        load_allowlist(text)
