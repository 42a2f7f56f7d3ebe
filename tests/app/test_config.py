"""Settings: one documented TOML file per profile; a value that cannot work is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.config import DEFAULTS, Peer, Settings, load_settings, save_settings, validate_ae_title
from app.errors import ConfigError


def settings_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "settings.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_missing_file_means_every_default(tmp_path: Path) -> None:
    settings = load_settings(tmp_path / "settings.toml")

    assert settings["node.ae_title"] == "TELERAD"
    assert settings["node.port"] == 11112
    assert settings["security.key_source"] == "keyring"
    assert settings.peers == ()
    assert {source for _, _, source, _ in settings.describe()} == {"default"}


def test_every_setting_is_documented(tmp_path: Path) -> None:
    described = load_settings(tmp_path / "settings.toml").describe()
    assert [key for key, *_ in described] == list(DEFAULTS)
    assert all(len(explanation) > 10 for *_, explanation in described)


def test_settings_and_peers_survive_a_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    peers = (
        Peer("CT_SCANNER", "10.1.2.3"),
        Peer("TRUST_PACS", "10.1.2.4", 104, "pacs"),
        Peer("ANYWHERE"),
    )
    original = (
        load_settings(path)
        .with_value("node.ae_title", "HOME_RAD")
        .with_value("node.port", 11113)
        .with_value("node.tls.enabled", True)
        .with_value("assignment.by_called_ae", {"NEURO_AE": "dr.neuro"})
        .with_peers(peers)
    )
    save_settings(original, path)

    loaded = load_settings(path)
    assert loaded.values == original.values
    assert loaded.peers == peers
    assert loaded.peer("TRUST_PACS") == Peer("TRUST_PACS", "10.1.2.4", 104, "pacs")
    sources = {key: source for key, _, source, _ in loaded.describe()}
    assert sources["node.port"] == "settings.toml"
    assert sources["node.host"] == "default"


def test_unknown_key_in_the_file_is_refused_by_name(tmp_path: Path) -> None:
    path = settings_file(tmp_path, '[node]\nae_title = "X"\nae_titel = "TYPO"\n')
    with pytest.raises(ConfigError, match=r"node\.ae_titel"):
        load_settings(path)


def test_unknown_key_cannot_be_set() -> None:
    with pytest.raises(ConfigError, match="unknown setting"):
        Settings(values={}).with_value("node.colour", "blue")


def test_value_of_the_wrong_type_is_refused(tmp_path: Path) -> None:
    path = settings_file(tmp_path, '[node]\nport = "eleven"\n')
    with pytest.raises(ConfigError, match=r"node\.port must be int"):
        load_settings(path)


def test_file_that_is_not_toml_is_refused(tmp_path: Path) -> None:
    path = settings_file(tmp_path, "[node\nport = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(path)


def test_peer_entry_with_an_unknown_key_is_refused(tmp_path: Path) -> None:
    path = settings_file(tmp_path, '[[peers]]\nae_title = "CT"\ncolour = "red"\n')
    with pytest.raises(ConfigError, match="unknown key"):
        load_settings(path)


@pytest.mark.parametrize(
    "title",
    ["", "   ", "SEVENTEEN_LETTERS", "BACK\\SLASH", "RÖNTGEN", "TAB\tBED"],
    ids=["empty", "blank", "17 characters", "backslash", "non-ASCII", "control character"],
)
def test_invalid_ae_title_is_refused(title: str) -> None:
    with pytest.raises(ConfigError, match="AE title"):
        validate_ae_title(title)
    with pytest.raises(ConfigError, match="AE title"):
        Peer(title)


def test_ae_title_of_sixteen_characters_is_accepted() -> None:
    assert validate_ae_title("SIXTEEN_LETTERS_") == "SIXTEEN_LETTERS_"
    assert Peer("SIXTEEN_LETTERS_").ae_title == "SIXTEEN_LETTERS_"


@pytest.mark.parametrize(
    ("host", "port"), [("", 104), ("10.1.2.4", 0), ("", 0)],
    ids=["no host", "no port", "neither"],
)
def test_pacs_peer_needs_host_and_port(host: str, port: int) -> None:
    with pytest.raises(ConfigError, match="needs --host and --port"):
        Peer("TRUST_PACS", host, port, "pacs")


def test_peer_role_must_be_sender_or_pacs() -> None:
    with pytest.raises(ConfigError, match="role"):
        Peer("CT_SCANNER", role="printer")


def test_peer_port_must_be_a_tcp_port() -> None:
    with pytest.raises(ConfigError, match="not a TCP port"):
        Peer("TRUST_PACS", "10.1.2.4", 70000, "pacs")


def test_invalid_node_ae_title_in_the_file_is_refused(tmp_path: Path) -> None:
    """Our own AE title obeys the same rule as a peer's (PS3.5 §6.2 AE)."""
    path = settings_file(tmp_path, '[node]\nae_title = "WORKSTATION_HOME_RAD"\n')
    with pytest.raises(ConfigError, match="AE title"):
        load_settings(path)


@pytest.mark.parametrize("port", ["true", "70000"])
def test_node_port_in_the_file_must_be_a_tcp_port(tmp_path: Path, port: str) -> None:
    path = settings_file(tmp_path, f"[node]\nport = {port}\n")
    with pytest.raises(ConfigError, match="port"):
        load_settings(path)
