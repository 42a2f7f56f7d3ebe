"""DICOM TLS (PS3.15 Annex B, BCP 195): only TLS 1.2+ clients with a trusted certificate."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
from pynetdicom import AE
from pynetdicom.sop_class import Verification

from app.config import Peer
from app.errors import ConfigError
from app.node import StorageNode, server_tls_context
from tests.tls_material import TlsFiles, make_tls_files


@pytest.fixture
def tls_node(workstation, tmp_path: Path):
    files = make_tls_files(tmp_path / "tls")
    settings = workstation.settings.with_peers((Peer("STORESCU", "127.0.0.1"),))
    for key, value in {
        "node.tls.enabled": True,
        "node.tls.certificate": str(files.server_certificate),
        "node.tls.private_key": str(files.server_key),
        "node.tls.ca_certificates": str(files.ca),
    }.items():
        settings = settings.with_value(key, value)
    node = StorageNode(workstation.store, workstation.audit, settings)
    host, port = node.start(host="127.0.0.1", port=0)
    yield files, host, port
    node.stop()


def _client_context(files: TlsFiles, *, with_certificate: bool = True,
                    maximum: ssl.TLSVersion | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(files.ca))
    if with_certificate:
        context.load_cert_chain(str(files.client_certificate), str(files.client_key))
    if maximum is not None:
        context.minimum_version = ssl.TLSVersion.TLSv1
        context.maximum_version = maximum
    return context


def _echo(host: str, port: int, context: ssl.SSLContext | None) -> bool:
    ae = AE("STORESCU")
    ae.add_requested_context(Verification)
    ae.acse_timeout = ae.network_timeout = 5
    tls_args = (context, "localhost") if context else None
    association = ae.associate(host, port, ae_title="TELERAD", tls_args=tls_args)
    if not association.is_established:
        return False
    status = association.send_c_echo()
    association.release()
    return status.Status == 0x0000


def test_trusted_client_over_tls_is_served(tls_node) -> None:
    files, host, port = tls_node
    assert _echo(host, port, _client_context(files))


def test_client_without_certificate_is_refused(tls_node) -> None:
    files, host, port = tls_node
    assert not _echo(host, port, _client_context(files, with_certificate=False))


def test_plain_tcp_client_is_refused_by_a_tls_node(tls_node) -> None:
    _files, host, port = tls_node
    assert not _echo(host, port, None)


def test_node_never_negotiates_below_tls_1_2(tls_node, workstation) -> None:
    files, _host, _port = tls_node
    settings = workstation.settings.with_value("node.tls.enabled", True)
    settings = settings.with_value("node.tls.certificate", str(files.server_certificate))
    settings = settings.with_value("node.tls.private_key", str(files.server_key))
    settings = settings.with_value("node.tls.ca_certificates", str(files.ca))
    context = server_tls_context(settings)
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert context.verify_mode == ssl.CERT_REQUIRED


def test_missing_certificate_file_is_a_clear_configuration_error(workstation) -> None:
    settings = workstation.settings.with_value("node.tls.enabled", True)
    settings = settings.with_value("node.tls.certificate", "/nonexistent/server.pem")
    with pytest.raises(ConfigError, match="DICOM TLS is enabled but its files cannot be used"):
        server_tls_context(settings)
