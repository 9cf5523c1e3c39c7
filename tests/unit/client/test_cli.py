"""The command line: expected conditions end in one line on stderr and a meaningful exit code,
never a traceback; what the client keeps on disk names no account next to the tokens."""

from __future__ import annotations

import io
import json
import stat
from pathlib import Path

import pytest

from phoenix.client.cli import main
from phoenix.client.tunnel import Tunnel
from phoenix.client.wallet import (
    Session,
    StoredToken,
    Wallet,
    load_wallet,
    save_session,
    save_wallet,
)
from phoenix.dev.probes import free_port


def run(home: Path, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    port = free_port()  # nothing listens there
    code = main(
        [
            "--home",
            str(home),
            "--auth-url",
            f"http://127.0.0.1:{port}",
            "--config-url",
            f"http://127.0.0.1:{port}",
            "--firebase-emulator",
            f"127.0.0.1:{port}",
            *argv,
        ]
    )
    out, err = capsys.readouterr()
    return code, out, err


def one_line(err: str) -> str:
    assert err.startswith("phoenix-client: ")
    assert err.count("\n") == 1, err
    assert "Traceback" not in err
    return err


def test_without_a_session_the_account_command_says_sign_in(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(tmp_path, capsys, "account")
    assert code == 1
    assert "not signed in: run phoenix-client signup" in one_line(err)


def test_connect_with_an_empty_wallet_says_fetch_tokens(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(tmp_path, capsys, "connect", "--location", "de-fra")
    assert code == 1
    assert "no tokens left: run phoenix-client tokens fetch" in one_line(err)


def test_an_unreachable_server_exits_3_and_keeps_the_token(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    save_wallet(tmp_path, Wallet([StoredToken("dG9rZW4=", "Y2hhbGxlbmdl")]))
    code, _, err = run(tmp_path, capsys, "connect", "--location", "de-fra")
    assert code == 3
    assert "cannot reach config at http://127.0.0.1:" in one_line(err)
    assert len(load_wallet(tmp_path).tokens) == 1
    code, _, err = run(tmp_path, capsys, "locations")
    assert code == 3
    one_line(err)
    monkeypatch.setattr("sys.stdin", io.StringIO("a password\n"))
    code, _, err = run(tmp_path, capsys, "login", "--email", "a@example.com", "--password-stdin")
    assert code == 3
    assert "cannot reach Firebase at http://127.0.0.1:" in one_line(err)


def test_bad_arguments_and_damaged_files_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(tmp_path, capsys, "tokens", "fetch", "--count", "0")
    assert code == 2
    assert "--count is 1 to 10000" in one_line(err)
    (tmp_path / "tokens.json").write_text("{not json")
    code, _, err = run(tmp_path, capsys, "tokens", "count")
    assert code == 2
    assert "tokens.json is damaged" in one_line(err)


def test_the_token_file_names_no_account_and_only_its_owner_reads_it(tmp_path: Path) -> None:
    save_session(tmp_path, Session("a@example.com", "uid-1", "id-token", "refresh-token"))
    save_wallet(tmp_path, Wallet([StoredToken("dG9rZW4=", "Y2hhbGxlbmdl")]))
    stored = json.loads((tmp_path / "tokens.json").read_text())
    assert stored == {"tokens": [{"token": "dG9rZW4=", "challenge": "Y2hhbGxlbmdl"}]}
    for name in ("tokens.json", "session.json"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600
    assert "a@example.com" not in (tmp_path / "tokens.json").read_text()


def test_the_wg_quick_file_carries_the_private_key_and_the_node() -> None:
    tunnel = Tunnel(
        private_key="cHJpdmF0ZQ==",
        addresses=["10.64.0.2/32", "fd10::2/128"],
        dns=["10.64.0.1"],
        peer_public_key="bm9kZQ==",
        endpoint="192.0.2.10:51820",
        allowed_ips=["0.0.0.0/0", "::/0"],
        keepalive=25,
        expires_at="2026-11-24T14:00:00Z",
    )
    text = tunnel.wg_quick()
    assert "[Interface]\nPrivateKey = cHJpdmF0ZQ==\nAddress = 10.64.0.2/32, fd10::2/128\n" in text
    assert "DNS = 10.64.0.1\n" in text
    assert "[Peer]\nPublicKey = bm9kZQ==\nEndpoint = 192.0.2.10:51820\n" in text
    assert text.endswith("PersistentKeepalive = 25\n")
