"""What every chat webhook client shares: the session, posting, reading answers, the one retry.

Each platform reads its own answer codes; what is the same everywhere lives here: a transport
failure or a 5xx may pass on a second try within the send, a rate limit never does (it lasts
minutes), and no error text carries a secret the client knows, even one the service echoed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ..ports import DEFAULT_TIMEOUTS, DeliveryError, Timeouts
from ..redact import mask, scrub

if TYPE_CHECKING:
    from requests import Response

EXCERPT = 200  # characters of an answer quoted in an error
JSON: Mapping[str, str] = {"Content-Type": "application/json; charset=utf-8"}


class Poster:
    """One platform's HTTP side: ``post`` raises DeliveryError for transport failures,
    ``with_retry`` runs one attempt again once if its error is transient."""

    def __init__(
        self,
        platform: str,
        secrets: Iterable[str | None] = (),
        *,
        timeouts: Timeouts = DEFAULT_TIMEOUTS,
        sleep: Callable[[float], None] = time.sleep,
        retries: int = 1,
    ) -> None:
        import requests  # here, not at import: the cold path (GET /healthz) never loads it

        self._requests = requests
        self._session = requests.Session()
        self._session.trust_env = False  # no proxy from the environment for a webhook call
        self.platform = platform
        # Longest first, so a secret that contains another is masked whole.
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)
        self._timeout = (timeouts.chat_connect, timeouts.chat_read)
        self._backoff = timeouts.chat_backoff
        self._sleep = sleep
        self._retries = retries

    def post(
        self, url: str, data: bytes, headers: Mapping[str, str], params: Mapping[str, str] | None = None
    ) -> Response:
        try:
            # No redirects: one would carry the body, and a signature, to a host nobody configured.
            return self._session.post(
                url, params=params, data=data, headers=dict(headers), timeout=self._timeout, allow_redirects=False
            )
        except self._requests.Timeout:
            raise DeliveryError(f"{self.platform} timed out", retryable=True) from None
        except self._requests.RequestException as err:
            raise DeliveryError(f"{self.platform} unreachable: {type(err).__name__}", retryable=True) from None

    def with_retry(self, attempt: Callable[[], None]) -> None:
        tries = 0
        while True:
            try:
                attempt()
                return
            except DeliveryError as err:
                # Only busy/5xx/timeouts are worth a second try now; a rate limit lasts minutes.
                if not err.retryable or err.rate_limited or tries >= self._retries:
                    raise
                tries += 1
                self._sleep(self._backoff * tries)

    def deliver(self, url: str, data: bytes, check: Callable[[Response], None]) -> None:
        """``data`` posted as JSON, its answer read by ``check`` (which raises DeliveryError), all
        once more if that error is transient. For a body that is the same on every attempt: a
        signed one is built again for each (``with_retry``), as its timestamp must be fresh."""
        self.with_retry(lambda: check(self.post(url, data, JSON)))

    def excerpt(self, text: object) -> str:
        """An answer's text fit for an error: its secrets masked (before the cut, so none is cut
        into a piece that no longer matches), then cut short."""
        cleaned = scrub(str(text))
        for secret in self._secrets:
            cleaned = cleaned.replace(secret, mask(secret))
        return cleaned[:EXCERPT]

    def json_object(self, response: Response) -> dict[str, Any]:
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise DeliveryError(f"{self.platform} answered something that is not its JSON", retryable=True)
        return answer

    def status_error(self, response: Response) -> DeliveryError:
        """What a non-2xx answer means: 429 a rate limit, 5xx worth another try, any other no."""
        status = response.status_code
        said = self.excerpt(response.text)
        if status == 429:
            retry_after = response.headers.get("Retry-After")
            wait = f", Retry-After {self.excerpt(retry_after)} s" if retry_after else ""
            return DeliveryError(
                f"{self.platform} rate limit (HTTP 429{wait}); the changes stay pending",
                retryable=True,
                code=status,
                rate_limited=True,
            )
        return DeliveryError(f"{self.platform} answered HTTP {status}: {said}", retryable=status >= 500, code=status)

    def code_error(
        self, code: int, said: str, *, label: str, rate_limit: tuple[int, str], refused: Mapping[int, str]
    ) -> DeliveryError:
        """What a non-zero answer code means: the platform's rate limit (``rate_limit``: its code
        and what it counts), a setting to change (``refused``), or else worth another try."""
        if code == rate_limit[0]:
            return DeliveryError(
                f"{self.platform} rate limit ({code}: {rate_limit[1]}); the changes stay pending",
                retryable=True,
                code=code,
                rate_limited=True,
            )
        name = f"{self.platform} {label} {code}"
        if code in refused:
            return DeliveryError(f"{name}: {refused[code]} ({said})", retryable=False, code=code)
        return DeliveryError(f"{name}: {said}", retryable=True, code=code)

    def check_errcode(self, answer: dict[str, Any], *, rate_limit: tuple[int, str], refused: Mapping[int, str]) -> None:
        """The robots' answer (DingTalk's, WeCom's): ``{"errcode": N, "errmsg": ...}``, 0 = accepted."""
        try:
            code = int(answer["errcode"])
        except (KeyError, TypeError, ValueError):
            raise DeliveryError(f"{self.platform} answered something that is not its JSON", retryable=True) from None
        if code != 0:
            errmsg = self.excerpt(answer.get("errmsg", ""))
            raise self.code_error(code, errmsg, label="errcode", rate_limit=rate_limit, refused=refused)
