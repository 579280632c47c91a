"""The access policy (policy.yaml): roles, their scope and capabilities, and the sign-in settings."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
POLICY_FILE = Path(__file__).with_name("policy.yaml")
CAPABILITIES = frozenset(
    {"view", "export", "export_quality", "export_circular", "console", "recompute", "upload", "audit"}
)
SCOPES = frozenset({"all", "region"})


class PolicyError(Exception):
    """policy.yaml is not a valid policy."""


@dataclass(frozen=True)
class Role:
    key: str
    name: str
    scope: str
    can: frozenset[str]


@dataclass(frozen=True)
class SignInSettings:
    idle_minutes: float
    max_failures: int
    lockout_minutes: float
    min_password_length: int


@dataclass(frozen=True)
class Policy:
    roles: dict[str, Role]
    sign_in: SignInSettings

    def role(self, key: str) -> Role:
        try:
            return self.roles[key]
        except KeyError:
            raise PolicyError(f"没有这个角色：{key}（可用：{'、'.join(self.roles)}）") from None


def parse_policy(doc: dict, idle_minutes: str | None = None) -> Policy:
    """The policy in `doc`; `idle_minutes`, when given, replaces the idle time it sets."""
    roles = {}
    for key, spec in (doc.get("roles") or {}).items():
        can = frozenset(spec.get("can") or ())
        if unknown := can - CAPABILITIES:
            raise PolicyError(f"角色 {key} 的权限未定义：{'、'.join(sorted(unknown))}")
        if spec.get("scope") not in SCOPES:
            raise PolicyError(f"角色 {key} 的范围应为 {' 或 '.join(sorted(SCOPES))}")
        roles[key] = Role(key=key, name=str(spec["name"]), scope=spec["scope"], can=can)
    if not roles:
        raise PolicyError("没有定义任何角色")
    s = doc.get("sign_in") or {}
    settings = SignInSettings(
        idle_minutes=float(idle_minutes or s.get("idle_minutes", 30)),
        max_failures=int(s.get("max_failures", 5)),
        lockout_minutes=float(s.get("lockout_minutes", 15)),
        min_password_length=int(s.get("min_password_length", 10)),
    )
    return Policy(roles=roles, sign_in=settings)


def load_policy() -> Policy:
    # FAZHI_IDLE_MINUTES: an install's own idle time, without editing the policy
    return _load_policy(os.environ.get("FAZHI_IDLE_MINUTES"))


@cache
def _load_policy(idle_minutes: str | None) -> Policy:
    return parse_policy(yaml.safe_load(POLICY_FILE.read_text(encoding="utf-8")), idle_minutes)


def access_dir() -> Path:
    """Accounts and the audit trail: outside git and outside the warehouse (a publication never touches
    them). FAZHI_ACCESS_DIR, or data/access in the checkout."""
    return Path(os.environ.get("FAZHI_ACCESS_DIR") or ROOT / "data" / "access")
