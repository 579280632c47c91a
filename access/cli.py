"""`fazhi users …`: manage the dashboard's accounts from the server's shell."""

from __future__ import annotations

import argparse
import getpass
import sys

from access import audit
from access.accounts import AccountError, Accounts, new_password
from access.policy import access_dir, load_policy

DEMO_FILE = "demo-passwords.txt"


def add_parser(sub) -> None:
    u = sub.add_parser("users", help="管理看板的登录账户")
    users = u.add_subparsers(dest="users_command", required=True)
    roles = ", ".join(load_policy().roles)

    a = users.add_parser("add", help="新建账户")
    a.add_argument("name")
    a.add_argument("--role", required=True, help=f"角色：{roles}")
    a.add_argument("--region", help="县区联络员所属的县区")
    a.add_argument("--display-name", default="")
    a.add_argument("--password-stdin", action="store_true", help="从标准输入读取密码")

    users.add_parser("list", help="列出账户")
    for name, text in (("disable", "停用账户"), ("enable", "恢复停用的账户")):
        users.add_parser(name, help=text).add_argument("name")

    r = users.add_parser("reset-password", help="重设密码（同时解除锁定）")
    r.add_argument("name")
    r.add_argument("--password-stdin", action="store_true")

    s = users.add_parser("set-role", help="修改角色（及县区）")
    s.add_argument("name")
    s.add_argument("role", help=f"角色：{roles}")
    s.add_argument("--region")

    users.add_parser("demo", help="首次运行时为每个角色建一个演示账户（已有账户时不做任何事）")


def _password(args) -> tuple[str, bool]:
    """The new password and whether it was generated (and must be shown once)."""
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n"), False
    if sys.stdin.isatty():
        first = getpass.getpass("新密码：")
        if first != getpass.getpass("再输入一次："):
            raise AccountError("两次输入的密码不一致。")
        return first, False
    return new_password(), True


def operator() -> str:
    return f"shell:{getpass.getuser()}"


def _demo(accounts: Accounts) -> int:
    """One account per role, passwords random and written once to a file only the owner can read."""
    if accounts.all():
        return 0
    policy = accounts.policy
    lines = ["# 看板演示账户（仅供演示；正式使用请用 fazhi users 建立个人账户，并停用这些账户）"]
    regions = _demo_regions()
    for key, role in policy.roles.items():
        password = new_password()
        region = regions[0] if role.scope == "region" and regions else None
        if role.scope == "region" and region is None:
            continue  # no published regions yet: the liaison's account waits for data
        accounts.add(f"demo-{key}", key, password, region=region, display_name=f"演示·{role.name}")
        where = f"（{region}）" if region else ""
        lines.append(f"demo-{key}\t{password}\t{role.name}{where}")
    path = access_dir() / DEMO_FILE
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    path.chmod(0o600)
    audit.record("accounts", operator(), None, action="demo", accounts=len(lines) - 1)
    print(f"已为每个角色建立演示账户，用户名和密码在：{path}")
    return 0


def _demo_regions() -> list[str]:
    import duckdb

    from pipelines.lib.warehouse import Paths

    try:
        with duckdb.connect(str(Paths.from_env(None, None).warehouse), read_only=True) as con:
            rows = con.execute(
                "select distinct region from marts.units where region is not null order by 1"
            ).fetchall()
    except (duckdb.Error, OSError):
        return []
    return [r[0] for r in rows]


def run(args: argparse.Namespace) -> int:
    accounts = Accounts()
    command = args.users_command
    try:
        if command == "demo":
            return _demo(accounts)
        if command == "list":
            found = accounts.all()
            if not found:
                print(f"还没有账户（{accounts.path}）。用 fazhi users add 新建。")
            for a in sorted(found, key=lambda a: a.name):
                role = accounts.policy.roles.get(a.role)
                state = (
                    "已停用"
                    if a.disabled
                    else (f"锁定至 {a.locked_until[:16]}" if a.locked_until else "正常")
                )
                print(
                    f"{a.name:<24}{a.display_name:<16}{role.name if role else a.role:<12}"
                    f"{a.region or '全市':<10}{state:<24}最近登录 {(a.last_sign_in_at or '—')[:16]}"
                )
            return 0
        if command == "add":
            password, generated = _password(args)
            a = accounts.add(args.name, args.role, password, args.region, args.display_name)
            print(
                f"已新建账户 {a.name}（{accounts.policy.role(a.role).name}{'，' + a.region if a.region else ''}）。"
            )
        elif command in ("disable", "enable"):
            a = accounts.set_disabled(args.name, command == "disable")
            print(f"账户 {a.name} 已{'停用' if a.disabled else '恢复'}。")
            generated = False
        elif command == "reset-password":
            password, generated = _password(args)
            a = accounts.reset_password(args.name, password)
            print(f"账户 {a.name} 的密码已重设，锁定已解除。")
        elif command == "set-role":
            a = accounts.set_role(args.name, args.role, args.region)
            print(
                f"账户 {a.name} 的角色已改为 {accounts.policy.role(a.role).name}{'（' + a.region + '）' if a.region else ''}。"
            )
            generated = False
        else:
            return 2
    except AccountError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    if generated:
        print(f"初始密码（只显示这一次，请当面或通过安全渠道交给本人）：{password}")
    audit.record("accounts", operator(), None, action=command, account=args.name)
    return 0
