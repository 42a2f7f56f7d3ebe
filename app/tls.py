"""TLS client contexts for the trust's services (syslog collector, RIS): BCP 195 settings."""

from __future__ import annotations

import ssl

from app.errors import ConfigError


def client_tls_context(ca_certificates: str, client_certificate: str, client_key: str, *,
                       setting: str) -> ssl.SSLContext:
    """TLS ≥ 1.2 with the server's certificate and name verified; an optional client
    certificate. ``setting`` names the settings group in the error a bad file raises."""
    try:
        context = ssl.create_default_context(cafile=ca_certificates or None)
        if client_certificate:
            context.load_cert_chain(client_certificate, client_key or None)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"{setting} certificates cannot be loaded: {exc}") from exc
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context
