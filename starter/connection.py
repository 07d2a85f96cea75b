"""Where the Temporal server is, as Temporal's own tools find it: ``temporalio.envconfig``.

A profile of the TOML config file (``TEMPORAL_CONFIG_FILE``, else ``~/.config/temporalio/temporal.toml``;
``TEMPORAL_PROFILE``, else ``default``) overlaid with the ``TEMPORAL_*`` variables (``TEMPORAL_ADDRESS``,
``TEMPORAL_NAMESPACE``, ``TEMPORAL_API_KEY``, ``TEMPORAL_TLS``, ``TEMPORAL_TLS_CLIENT_CERT_PATH``,
``TEMPORAL_TLS_CLIENT_KEY_PATH``, ``TEMPORAL_TLS_SERVER_CA_CERT_PATH``, ``TEMPORAL_TLS_SERVER_NAME``,
``TEMPORAL_GRPC_META_*``...), exactly as the ``temporal`` CLI and every SDK read them. Read once, by
``Settings.from_env``, from the mapping the entry point hands it; certificate files are read here too,
so nothing later touches the environment or the file system for the connection.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from temporalio.envconfig import ClientConfigProfile

from ductape_jobs.activities.config.product_config import ConfigError


def profile_values(environ: Mapping[str, str]) -> dict[str, Any]:
    """The ``Settings`` fields the selected profile sets (``address``, ``namespace``, ``api_key``, ``tls``,
    ``tls_config``, ``rpc_metadata``); fields it leaves unset are absent, so defaults and flags apply.

    Raises:
        ConfigError: the named config file does not exist, the profile is missing or malformed, or a
            certificate file cannot be read.
    """
    config_file = environ.get("TEMPORAL_CONFIG_FILE")
    if config_file and not Path(config_file).is_file():
        # envconfig silently ignores a missing file: a typo would connect to localhost instead.
        raise ConfigError(f"TEMPORAL_CONFIG_FILE {config_file}: no such file")
    try:
        profile = ClientConfigProfile.load(override_env_vars=dict(environ))  # the bridge takes a dict only
        tls = None if profile.tls is None else profile.tls.to_connect_tls_config()
    except RuntimeError as err:  # the bridge's envconfig ConfigError: unknown profile, bad TOML
        raise ConfigError(f"Temporal client profile: {err}") from None
    except OSError as err:
        raise ConfigError(f"Temporal client profile: cannot read {err.filename}: {err.strerror}") from None
    values: dict[str, Any] = {}
    if profile.address:
        values["address"] = profile.address
    if profile.namespace:
        values["namespace"] = profile.namespace
    if profile.api_key:
        values["api_key"] = profile.api_key
    if tls is not None:
        values["tls"] = tls is not False
        if tls is not False:
            values["tls_config"] = tls
    if profile.grpc_meta:
        values["rpc_metadata"] = dict(profile.grpc_meta)
    return values


class TemporalUnreachableError(RuntimeError):
    """``Client.connect`` failed: the server cannot be reached, or refused the credentials."""
