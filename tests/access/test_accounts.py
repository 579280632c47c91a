"""Accounts: hashing, same answer for unknown and wrong, lockout, disable, the users CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from access import accounts as accounts_module
from access.accounts import WRONG, AccountError, Accounts
from access.policy import Policy, SignInSettings, load_policy

PASSWORD = "correct horse 1"


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("FAZHI_ACCESS_DIR", str(tmp_path))
    policy = load_policy()
    quick = Policy(
        policy.roles,
        SignInSettings(idle_minutes=30, max_failures=3, lockout_minutes=15, min_password_length=10),
    )
    s = Accounts(policy=quick)
    s.add("ana", "analyst", PASSWORD)
    s.add("liu", "liaison", PASSWORD, region="东城区")
    return s


def test_passwords_are_stored_only_as_argon2_hashes(store):
    text = store.path.read_text(encoding="utf-8")
    assert PASSWORD not in text
    hashes = [u["password_hash"] for u in json.loads(text)["users"].values()]
    assert all(h.startswith("$argon2id$") for h in hashes)
    assert len(set(hashes)) == 2  # salted: the same password hashes differently
    assert store.path.stat().st_mode & 0o077 == 0


def test_sign_in_and_the_same_answer_for_wrong_password_and_unknown_user(store):
    assert store.sign_in("ana", PASSWORD).account.role == "analyst"
    wrong, unknown = store.sign_in("ana", "nope nope nope"), store.sign_in("nobody", PASSWORD)
    assert wrong.account is None and unknown.account is None
    assert wrong.message == unknown.message == WRONG


def test_failures_in_a_row_lock_the_account_even_for_the_right_password(store):
    for _ in range(2):
        assert store.sign_in("ana", "wrong wrong").message == WRONG
    locked = store.sign_in("ana", "wrong wrong")
    assert locked.locked and "锁定" in locked.message
    assert store.sign_in("ana", PASSWORD).account is None  # still locked
    # unknown names lock the same way, so the answer never tells which names exist
    for _ in range(2):
        store.sign_in("ghost", "x" * 12)
    assert store.sign_in("ghost", "x" * 12).locked


def test_lock_expires(store, monkeypatch):
    for _ in range(3):
        store.sign_in("ana", "wrong wrong")
    later = accounts_module._now() + __import__("datetime").timedelta(minutes=16)
    monkeypatch.setattr(accounts_module, "_now", lambda: later)
    assert store.sign_in("ana", PASSWORD).account is not None


def test_a_success_resets_the_failure_count(store):
    store.sign_in("ana", "wrong wrong")
    store.sign_in("ana", "wrong wrong")
    assert store.sign_in("ana", PASSWORD).account is not None
    store.sign_in("ana", "wrong wrong")
    assert store.sign_in("ana", PASSWORD).account is not None


def test_disabled_accounts_cannot_sign_in_and_read_as_wrong(store):
    store.set_disabled("ana", True)
    result = store.sign_in("ana", PASSWORD)
    assert result.account is None and result.message == WRONG
    assert store.active("ana") is None
    store.set_disabled("ana", False)
    assert store.sign_in("ana", PASSWORD).account is not None


def test_reset_password_and_set_role(store):
    store.reset_password("ana", "another password")
    assert store.sign_in("ana", PASSWORD).account is None
    assert store.sign_in("ana", "another password").account is not None
    store.set_role("ana", "liaison", "西城区")
    assert (store.get("ana").role, store.get("ana").region) == ("liaison", "西城区")


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda s: s.add("x y", "analyst", PASSWORD), "用户名"),
        (lambda s: s.add("new", "king", PASSWORD), "没有这个角色"),
        (lambda s: s.add("new", "liaison", PASSWORD), "--region"),
        (lambda s: s.add("new", "analyst", PASSWORD, region="东城区"), "不需要 --region"),
        (lambda s: s.add("new", "analyst", "short"), "至少"),
        (lambda s: s.add("ana", "analyst", PASSWORD), "已存在"),
        (lambda s: s.set_disabled("nobody", True), "没有用户"),
    ],
)
def test_clear_messages_for_what_cannot_be_done(store, call, message):
    with pytest.raises(AccountError, match=message):
        call(store)


def test_users_cli(tmp_path):
    env = {"FAZHI_ACCESS_DIR": str(tmp_path), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}

    def fazhi(*args, stdin=""):
        return subprocess.run(
            [sys.executable, "-m", "pipelines.cli", "users", *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=env,
        )

    added = fazhi("add", "zhang", "--role", "clerk", "--password-stdin", stdin=PASSWORD + "\n")
    assert added.returncode == 0, added.stderr
    generated = fazhi("add", "li", "--role", "liaison", "--region", "东城区")
    assert generated.returncode == 0 and "初始密码" in generated.stdout
    refused = fazhi("add", "wang", "--role", "liaison", "--password-stdin", stdin=PASSWORD + "\n")
    assert refused.returncode == 2 and "--region" in refused.stderr and "Traceback" not in refused.stderr
    assert fazhi("disable", "li").returncode == 0
    listed = fazhi("list").stdout
    assert "zhang" in listed and "已停用" in listed and "东城区" in listed
    assert fazhi("set-role", "zhang", "analyst").returncode == 0
    assert fazhi("reset-password", "zhang", "--password-stdin", stdin="a new password\n").returncode == 0
    signed = Accounts(path=tmp_path / "users.json").sign_in("zhang", "a new password")
    assert signed.account is not None and signed.account.role == "analyst"
    events = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert [e["action"] for e in events] == ["add", "add", "disable", "set-role", "reset-password"]
    assert PASSWORD not in (tmp_path / "audit.jsonl").read_text()


def _cli(*args, env):
    return subprocess.run(
        [sys.executable, "-m", "pipelines.cli", *args], capture_output=True, text=True, env=env
    )


def test_the_dashboard_does_not_start_without_an_account(tmp_path):
    env = {"FAZHI_ACCESS_DIR": str(tmp_path), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    done = _cli("dashboard", "--port", "8599", env=env)
    assert done.returncode == 2 and "fazhi users add" in done.stdout + done.stderr


def test_demo_accounts_once_per_role_with_the_liaison_in_a_published_region(tmp_path):
    import duckdb

    warehouse = tmp_path / "fazhi.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create schema marts")
        con.execute(
            "create table marts.units as select * from (values ('u1', '清丰县'), ('u2', '范县')) t(unit_id, region)"
        )
    env = {
        "FAZHI_ACCESS_DIR": str(tmp_path / "access"),
        "FAZHI_WAREHOUSE": str(warehouse),
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
    }
    first = _cli("users", "demo", env=env)
    assert first.returncode == 0 and "demo-passwords.txt" in first.stdout
    passwords = tmp_path / "access" / "demo-passwords.txt"
    assert passwords.stat().st_mode & 0o077 == 0
    lines = [line.split("\t") for line in passwords.read_text().splitlines() if not line.startswith("#")]
    assert {name for name, *_ in lines} == {f"demo-{role}" for role in load_policy().roles}
    store = Accounts(path=tmp_path / "access" / "users.json")
    for name, password, _label in lines:
        assert store.sign_in(name, password).account is not None
    assert store.get("demo-liaison").region == "清丰县"
    again = _cli("users", "demo", env=env)
    assert again.returncode == 0 and again.stdout == ""  # already done: nothing changes, nothing said
