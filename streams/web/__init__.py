"""The HTTP API and live status board over the status view (``streams.web.server.WebServer``)."""

from streams.web.auth import ApiConfig, AuthConfig, BoardConfig, load_api_config
from streams.web.server import WebServer

__all__ = ["ApiConfig", "AuthConfig", "BoardConfig", "WebServer", "load_api_config"]
