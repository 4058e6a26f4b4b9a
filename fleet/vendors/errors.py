"""The one vendor error type (``permanent`` disables the account) and its two special cases."""


class VendorError(Exception):
    """Anything a vendor did wrong. ``permanent`` errors (bad credentials) disable the account."""

    def __init__(self, message: str, permanent: bool = False, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.status = status  # the HTTP status that said so, when one did
        self.detail = ""  # the first line of the vendor's error body (masked, at most 200 characters), when read


class RateLimited(VendorError):
    def __init__(self, retry_after: float) -> None:
        super().__init__(f"rate limited by the vendor, retry after {retry_after:g} s")
        self.retry_after = retry_after


class AuthExpired(VendorError):
    """The session ended (401 on a call that worked before): log in again once."""
