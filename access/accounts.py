"""Accounts: one JSON file (access_dir()/users.json), passwords only as argon2id hashes.

Every change is read-modify-write under an exclusive file lock and lands with an atomic rename, so the
dashboard's sessions and `fazhi users` can change it at the same time without losing an update.
A wrong password and an unknown user get the same answer and take the same time; failures in a row
lock the name for a while (unknown names too, in memory, so the answer never tells which names exist).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import functools
import json
import os
import re
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from access.policy import Policy, PolicyError, access_dir, load_policy

_HASHER = PasswordHasher()
_NAME = re.compile(r"^[A-Za-z0-9_.@-]{2,64}$")
WRONG = "用户名或密码不正确。"


class AccountError(Exception):
    """A request about accounts that cannot be done, in a sentence for the person who made it."""


@dataclass
class Account:
    name: str
    role: str
    region: str | None = None
    display_name: str = ""
    password_hash: str = ""
    disabled: bool = False
    failures: int = 0
    locked_until: str | None = None
    created_at: str = ""
    password_changed_at: str = ""
    last_sign_in_at: str | None = None


@dataclass(frozen=True)
class SignIn:
    """The outcome of a sign-in attempt: the account when it succeeded, else the message to show."""

    account: Account | None
    message: str = ""
    locked: bool = False


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the name is unknown; made on first need, not when any `fazhi` command starts."""
    return _HASHER.hash(secrets.token_urlsafe(16))


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def users_file() -> Path:
    return access_dir() / "users.json"


def _read(path: Path) -> dict[str, Account]:
    if not path.exists():
        return {}
    doc = json.loads(path.read_text(encoding="utf-8"))
    return {name: Account(**fields) for name, fields in doc.get("users", {}).items()}


@contextmanager
def _locked(path: Path, write: bool) -> Iterator[dict[str, Account]]:
    if not write and not path.parent.exists():  # nothing written yet: no accounts, nothing to create
        yield {}
        return
    if write:
        path.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(path.parent, 0o700)
    with open(path.with_suffix(".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX if write else fcntl.LOCK_SH)
        accounts = _read(path)
        yield accounts
        if write:
            tmp = path.with_suffix(".tmp")
            body = {"version": 1, "users": {n: asdict(a) for n, a in sorted(accounts.items())}}
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(body, out, ensure_ascii=False, indent=1)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)


class Accounts:
    """The accounts of one access directory."""

    def __init__(self, path: Path | None = None, policy: Policy | None = None):
        self.path = path or users_file()
        self.policy = policy or load_policy()
        self._unknown_failures: dict[str, tuple[int, dt.datetime | None]] = {}
        self._guard = threading.Lock()

    # -- reading ------------------------------------------------------------------------------------
    def all(self) -> list[Account]:
        with _locked(self.path, write=False) as accounts:
            return list(accounts.values())

    def get(self, name: str) -> Account | None:
        with _locked(self.path, write=False) as accounts:
            return accounts.get(name)

    def active(self, name: str) -> Account | None:
        """The account if it exists and is not disabled: sessions re-check this on every interaction."""
        account = self.get(name)
        return account if account and not account.disabled else None

    # -- managing -----------------------------------------------------------------------------------
    def _check_role(self, role: str, region: str | None) -> None:
        try:
            r = self.policy.role(role)
        except PolicyError as exc:
            raise AccountError(str(exc)) from None
        if r.scope == "region" and not region:
            raise AccountError(f"角色“{r.name}”只能看本县区的数据：请用 --region 指定县区。")
        if r.scope != "region" and region:
            raise AccountError(f"角色“{r.name}”看全市数据，不需要 --region。")

    def _check_password(self, password: str) -> None:
        minimum = self.policy.sign_in.min_password_length
        if len(password) < minimum:
            raise AccountError(f"密码至少 {minimum} 个字符。")

    def add(
        self, name: str, role: str, password: str, region: str | None = None, display_name: str = ""
    ) -> Account:
        if not _NAME.match(name):
            raise AccountError("用户名只能用字母、数字和 _ . @ -，2 到 64 个字符。")
        self._check_role(role, region)
        self._check_password(password)
        with _locked(self.path, write=True) as accounts:
            if name in accounts:
                raise AccountError(f"用户 {name} 已存在。要改密码请用 reset-password，改角色请用 set-role。")
            now = _now().isoformat()
            accounts[name] = Account(
                name=name,
                role=role,
                region=region,
                display_name=display_name or name,
                password_hash=_HASHER.hash(password),
                created_at=now,
                password_changed_at=now,
            )
            return accounts[name]

    def _change(self, name: str, change) -> Account:
        with _locked(self.path, write=True) as accounts:
            account = accounts.get(name)
            if account is None:
                raise AccountError(f"没有用户 {name}。用 fazhi users list 查看现有用户。")
            change(account)
            return account

    def set_disabled(self, name: str, disabled: bool) -> Account:
        return self._change(name, lambda a: setattr(a, "disabled", disabled))

    def reset_password(self, name: str, password: str) -> Account:
        self._check_password(password)

        def change(a: Account) -> None:
            a.password_hash = _HASHER.hash(password)
            a.password_changed_at = _now().isoformat()
            a.failures, a.locked_until = 0, None

        return self._change(name, change)

    def set_role(self, name: str, role: str, region: str | None = None) -> Account:
        self._check_role(role, region)

        def change(a: Account) -> None:
            a.role, a.region = role, region

        return self._change(name, change)

    # -- signing in ---------------------------------------------------------------------------------
    def _locked_message(self, until: dt.datetime) -> str:
        minutes = max(1, int((until - _now()).total_seconds() // 60) + 1)
        return f"连续登录失败次数过多，该账户已暂时锁定，请约 {minutes} 分钟后再试，或请系统管理员重置密码。"

    def sign_in(self, name: str, password: str) -> SignIn:
        settings = self.policy.sign_in
        lock_for = dt.timedelta(minutes=settings.lockout_minutes)
        with _locked(self.path, write=True) as accounts:
            account = accounts.get(name)
            if account is None:
                # The same work as a real check, so the time taken does not tell which names exist.
                with contextlib.suppress(VerificationError):
                    _HASHER.verify(_dummy_hash(), password)
                return self._unknown_failure(name, lock_for)
            if account.locked_until and dt.datetime.fromisoformat(account.locked_until) > _now():
                return SignIn(
                    None, self._locked_message(dt.datetime.fromisoformat(account.locked_until)), True
                )
            ok: bool
            try:
                ok = _HASHER.verify(account.password_hash, password)
            except (VerificationError, InvalidHashError):
                ok = False
            if not ok or account.disabled:
                # A disabled account answers like a wrong password: nothing tells it apart.
                account.failures += 1
                if account.failures >= settings.max_failures:
                    until = _now() + lock_for
                    account.failures, account.locked_until = 0, until.isoformat()
                    return SignIn(None, self._locked_message(until), True)
                return SignIn(None, WRONG)
            if _HASHER.check_needs_rehash(account.password_hash):
                account.password_hash = _HASHER.hash(password)
            account.failures, account.locked_until = 0, None
            account.last_sign_in_at = _now().isoformat()
            return SignIn(account)

    def _unknown_failure(self, name: str, lock_for: dt.timedelta) -> SignIn:
        with self._guard:
            if len(self._unknown_failures) > 10_000:  # bounded: a flood of names cannot grow it
                self._unknown_failures.clear()
            count, until = self._unknown_failures.get(name, (0, None))
            if until and until > _now():
                return SignIn(None, self._locked_message(until), True)
            count += 1
            if count >= self.policy.sign_in.max_failures:
                until = _now() + lock_for
                self._unknown_failures[name] = (0, until)
                return SignIn(None, self._locked_message(until), True)
            self._unknown_failures[name] = (count, None)
            return SignIn(None, WRONG)


def new_password() -> str:
    return secrets.token_urlsafe(12)
