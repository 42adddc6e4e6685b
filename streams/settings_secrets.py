"""Where secret settings may come from: the process environment or a secrets file, never the env file.

The env file (``config/opel.env``, ``OPEL_CONFIG``) is the kind of file that ends up committed
with a deployment, so a secret written there is refused with a message naming the variable.
The secrets file, named by ``OPEL_KAFKA_SECRETS_FILE``, is YAML mapping ``NAME: value`` as the
routing file's ``secrets_file`` is (docs/alerting.md), so one file can hold both; names it
does not know are left for the other reader. Its content never appears in a message.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import yaml
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, DotEnvSettingsSource, PydanticBaseSettingsSource

SECRET_FIELDS: Final = ("kafka_sasl_password", "kafka_ssl_key_password")
"""Settings that are secrets: read from the environment or the secrets file only."""

SECRETS_FILE_FIELD: Final = "kafka_secrets_file"


class SecretSettingError(ValueError):
    """A secret in the wrong place, or a secrets file that cannot be read; names the variable."""


def _variable(field: str) -> str:
    return f"OPEL_{field.upper()}"


class EnvFileWithoutSecrets(DotEnvSettingsSource):
    """The env file, refused when it holds a secret setting."""

    def __call__(self) -> dict[str, Any]:
        values = super().__call__()
        for name in SECRET_FIELDS:
            if name in values:
                raise SecretSettingError(
                    f"{_variable(name)}: a secret is never read from the env file {self.env_file}; "
                    f"set it in the process environment or in the file named by "
                    f"{_variable(SECRETS_FILE_FIELD)}"
                )
        return values


class SecretsFileSource(PydanticBaseSettingsSource):
    """The secret settings found in the secrets file; ``path`` gives the file (None: no file)."""

    def __init__(self, settings_cls: type[BaseSettings], path: Callable[[], Any]) -> None:
        super().__init__(settings_cls)
        self._path = path

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # everything is read at once in __call__

    def __call__(self) -> dict[str, Any]:
        named = self._path()
        if named is None or not str(named).strip():
            return {}
        values = read_secrets_file(Path(str(named).strip()))
        found: dict[str, Any] = {}
        for name in SECRET_FIELDS:
            value = values.get(_variable(name))
            if value is not None:
                found[name] = value
        return found


def read_secrets_file(path: Path) -> dict[str, str]:
    """``NAME: value`` pairs of a YAML secrets file (names upper-cased, values as text)."""
    where = _variable(SECRETS_FILE_FIELD)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SecretSettingError(f"{where}: cannot read {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError:
        # Not YAML's own message: it quotes the offending line, which holds a secret here.
        raise SecretSettingError(f"{where}: {path} is not valid YAML") from None
    if data is None:
        return {}
    if not isinstance(data, dict) or not all(isinstance(key, str) for key in data):
        raise SecretSettingError(f"{where}: {path} must be a mapping of NAME: value")
    return {key.upper(): str(value) for key, value in data.items() if value is not None}
