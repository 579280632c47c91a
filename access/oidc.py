"""Sign-in through the organisation's identity provider (OpenID Connect, Streamlit's `st.login`).

The provider says who the person is; this product decides what they may do. An allowlist beside the
accounts (access_dir()/oidc_allowlist.yaml) maps verified e-mail addresses to a role of the access
policy (and, for a role scoped to one region, the region):

    users:
      zhang.san@sfj.city.gov.cn: {role: analyst}
      li.si@dongcheng.gov.cn: {role: liaison, region: 东城区}

Anyone the provider vouches for but the allowlist does not name is refused, as is an address the
provider has not verified. Setting up the provider itself is Streamlit's `[auth]` section of
`.streamlit/secrets.toml` (README, 登录与权限).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from access.policy import Policy, access_dir, load_policy


class AllowlistError(Exception):
    """The allowlist file is not valid: a sentence for the administrator."""


@dataclass(frozen=True)
class Grant:
    email: str
    role: str
    region: str | None


def allowlist_file() -> Path:
    return access_dir() / "oidc_allowlist.yaml"


def load_allowlist(text: str, policy: Policy | None = None) -> dict[str, Grant]:
    policy = policy or load_policy()
    doc = yaml.safe_load(text) or {}
    grants: dict[str, Grant] = {}
    for email, spec in (doc.get("users") or {}).items():
        address = str(email).strip().lower()
        role = policy.roles.get(str((spec or {}).get("role")))
        if role is None:
            raise AllowlistError(f"{email}：角色未定义（可用：{'、'.join(policy.roles)}）")
        region = (spec or {}).get("region")
        if role.scope == "region" and not region:
            raise AllowlistError(f"{email}：角色“{role.name}”须指定 region（县区）")
        grants[address] = Grant(address, role.key, region if role.scope == "region" else None)
    return grants


def grant_for(claims: Mapping[str, object], grants: Mapping[str, Grant]) -> Grant | None:
    """The grant for a signed-in identity's claims, or None: unverified or not on the allowlist."""
    email = claims.get("email")
    if not isinstance(email, str) or not email.strip():
        return None
    if claims.get("email_verified") is not True:
        return None
    return grants.get(email.strip().lower())
