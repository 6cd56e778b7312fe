"""Settings of the sandbox gateway (`SANDBOX_*` environment variables)."""

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from payments.sandbox.signing import DEV_SECRET


class SandboxSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SANDBOX_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8010
    #: the address payers' browsers use (redirect URLs); default http://{host}:{port}
    public_url: str | None = None
    #: the merchant secret: API key of the payments service and the callbacks' HMAC key
    secret: SecretStr = SecretStr(DEV_SECRET)

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")
